"""The sections only a study report has (several experiments or reports read as one): test
accuracy per activation with and without SE (the README's headline table), the study's Table 2
against ours, and the same cell run on two devices."""

from __future__ import annotations

from pathlib import Path

from se_train.report import reference, tables
from se_train.results import Results


def study_sections(exp: Results, out: Path) -> list[str]:
    return _headline(exp, out) + _against_study(exp, out) + _devices(exp, out)


def _headline(exp: Results, out: Path) -> list[str]:
    table = tables.test_table(exp.runs, exp.axes)
    table.to_csv(out / "test_table.csv", index=False)
    text = tables.to_markdown(table)
    (out / "test_table.md").write_text(text + "\n")
    return ["## Test accuracy (%) of the final model, mean ± std (n) over seeds", "", text, ""]


def _against_study(exp: Results, out: Path) -> list[str]:
    tidy, table, left_out = reference.compare(exp.runs, exp.axes)
    if tidy.empty:
        return []  # no experiment here ran a model on data of the study's
    tidy.to_csv(out / "study_comparison.csv", index=False)
    return [
        "## Against the study's Table 2",
        "",
        "The study's rows (its Table 2: min loss and max accuracy over the epochs, train and valid, one run each) with ours "
        "below them where the model and the data match: mean ± std (n) over seeds. \"ours − study\" is our mean minus the "
        "study's value; ∈ means the study's value lies inside our seeds' range (min to max), ∉ outside it (one seed has no range). The study's SELU "
        "columns are compared with our `selu` (PyTorch's SELU with LeCun init). Its ImageNet rows are left out: it never ran them"
        + (f"; so are its rows no experiment here ran ({', '.join(left_out)})." if left_out else "."),
        "",
        *table,
        "",
    ]


def _devices(exp: Results, out: Path) -> list[str]:
    dev = tables.devices(exp.runs, exp.axes)
    dev.to_csv(out / "devices.csv", index=False)
    return [
        "## Same cell on two devices",
        "",
        "Best valid accuracy of a cell run with the same settings on two devices or precisions (bf16 against fp32 is the "
        "usual suspect), with Welch's 95% interval over the seeds of both.",
        "",
        tables.devices_markdown(dev),
        "",
    ]
