# `make run`: set up the virtual environment and run the default job.
# `make test`: set up the virtual environment and run the test suite.
# Each target does the whole set-up on a fresh clone; later calls reuse the environment.
PYTHON ?= python3
VENV ?= .venv
INSTALLED := $(VENV)/.installed

.PHONY: run test

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[test]'
	touch $@

run: $(INSTALLED)
	$(VENV)/bin/se-sweep run sweeps/smoke.yaml
	$(VENV)/bin/se-sweep report experiments/smoke

test: $(INSTALLED)
	$(VENV)/bin/pytest
