"""The names a sweep file may give: each model with its options, and the activations. Free of
torch, so checking a sweep file, `status` and `report` start without importing it (2 s). The
registry builds exactly these; `tests/test_models.py` holds the two together."""

from __future__ import annotations

from typing import Any

from se_train.errors import UserError

# Each model and the keywords it takes beyond what the data and the grid give it.
MODEL_OPTIONS: dict[str, tuple[str, ...]] = {
    "simple_cnn": ("se_reduction",),
    "resnet50": ("se_reduction", "stem", "head", "zero_init_last_bn"),
}
ACTIVATION_NAMES = ("relu", "selu", "study_selu")


def model_names() -> list[str]:
    """Registered model names, in registration order."""
    return list(MODEL_OPTIONS)


def option_names() -> set[str]:
    """Every keyword some registered model takes as an option."""
    return {p for takes in MODEL_OPTIONS.values() for p in takes}


def options_taken(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """`options` for model `name` without those that are None (the model's default); a UserError
    names an option the model does not take. Checked by name, not by calling the constructor, so
    a sweep is checked before it starts and a TypeError inside a constructor stays the bug it is."""
    try:
        takes = MODEL_OPTIONS[name]
    except KeyError:
        raise UserError(f"model {name!r} is not one of {', '.join(MODEL_OPTIONS)}") from None
    options = {k: v for k, v in options.items() if v is not None}
    if unknown := sorted(set(options) - set(takes)):
        raise UserError(f"model {name!r} takes no option {unknown[0]!r} (it takes {', '.join(takes)})")
    return options
