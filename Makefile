# `make run`: set up the virtual environment and run the default job.
# `make test`: set up the virtual environment and run the test suite.
# Each target does the whole set-up on a fresh clone; later calls reuse the environment.
PYTHON ?= python3
VENV ?= .venv
INSTALLED := $(VENV)/.installed

.PHONY: run test

# Bytecode is written as Python imports each module, even where the machine says not to
# (PYTHONDONTWRITEBYTECODE): a sweep and the suite start hundreds of processes, each of which would
# otherwise compile torch and Ray again. Nothing is compiled up front: the suite imports 8,700 of
# the 21,800 files pip installs (~19 CPU-s to compile, once), where compiling them all took 33 s
# of the install on both cores (results/bench/README.md).
unexport PYTHONDONTWRITEBYTECODE

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --no-compile -e '.[test]'
	touch $@

# The experiment and its report go to git-ignored folders (experiments/, reports/); the committed
# sample, results/smoke/, is rewritten only on purpose (results/README.md says how).
run: $(INSTALLED)
	$(VENV)/bin/se-sweep run sweeps/smoke.yaml
	$(VENV)/bin/se-sweep report experiments/smoke --out reports/smoke

# The docs site first: `--strict` fails on a dead link or a page left out of the nav. Then the
# suite, a test file per process (a file's fixtures built once), each process with its own local
# Ray: the suite is CPU-bound, so one process per core, up to 4 (results/bench/README.md: its time).
# The files go out slowest first, as tests/conftest.py orders them.
test: $(INSTALLED)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet
	$(VENV)/bin/pytest --numprocesses auto --maxprocesses 4 --dist loadfile --no-loadscope-reorder
