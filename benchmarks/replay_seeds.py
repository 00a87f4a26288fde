"""Replay a committed adaptive sweep's seeds under another `seeds.method`: what that method would
have decided, with how many seeds and trials, from the runs the sweep already made.

    python benchmarks/replay_seeds.py results/decisive_mnist sign-flip

Valid as a rerun wherever the method stops at or before the seeds the sweep ran: a run's value
depends only on its cell and seed (training on the CPU is deterministic per seed). An effect that
would need a seed the sweep never ran is shown as open at the last seed there is.
"""

from __future__ import annotations

import sys

from se_train import cell
from se_train.progress import comparisons_of, effects_of
from se_train.report.collect import read
from se_train.report.effects import effects, markdown


def replay(report: str, method: str) -> str:
    exp = read(report)
    (record,) = exp.sources  # one adaptive sweep
    record.spec.seeds = record.spec.seeds.model_copy(update={"method": method, "rho": None})
    eff, methods, _ = effects(exp)
    # `effects` lists them in this order; a cell runs as many seeds as the longest of its effects.
    cells = {cell.key(r, exp.axes): r for r in exp.runs.to_dict("records")}
    found = effects_of(list(cells.values()), exp.axes, comparisons_of(record.spec))
    seeds: dict[str, int] = {}
    for effect, taken in zip(found, eff["seeds"]):
        for key in (effect.treated, effect.control):
            seeds[key] = max(seeds.get(key, 0), int(taken))
    names = {k: " ".join(f"{v}" for a, v in cells[k].items() if a in ("activation", "se")) for k in seeds}
    return "\n".join([
        f"{report} replayed under seeds.method: {method}: {sum(seeds.values())} trials (the sweep ran {len(exp.runs)})",
        "",
        markdown(eff),
        "",
        *methods,
        "",
        "seeds per cell (activation, se): " + ", ".join(f"{names[k]}: {n}" for k, n in seeds.items()),
    ])


if __name__ == "__main__":
    print(replay(sys.argv[1], sys.argv[2]))
