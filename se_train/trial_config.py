"""A trial's fields, typed: `TrialConfig`, the plain dict a Tune trial receives, with each field's
type and range (the 2017 study's defaults), and the name types a sweep file's values are checked
against (a plain name, a registered model or activation). A grid axis, a `train` setting and a
search's bounds take exactly a field's type (`field_type`). Free of torch and Ray."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Callable, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationInfo, model_validator

from se_train.models.catalog import Model, activation_names, get_model, list_models, model_names, type_name
from se_train.errors import UserError
from se_train.validation import STRICT, PlainName, as_recorded, extras_checked


def _one_of(choices, plugins_add: bool = False) -> AfterValidator:
    """One of `choices()`; where `plugins_add` to them, any name a record holds `AS_RECORDED`."""
    def check(value: str, info: ValidationInfo) -> str:
        if value not in choices() and not (plugins_add and as_recorded(info)):
            raise ValueError(f"{value!r} is not one of {', '.join(choices())}")
        return value
    return AfterValidator(check)


ModelName = Annotated[str, _one_of(model_names, plugins_add=True)]  # asked at each check: a plugin may register more
ActivationName = Annotated[str, _one_of(activation_names, plugins_add=True)]


# A model's own options (a plugin's `width: int = 64`, no trial field) are fields of a trial, a
# grid and train too, of their declared types: they are known only once the plugins are imported,
# so these blocks take them as extra fields, each checked as strictly as a declared field.
OPEN = {**STRICT, "extra": "allow"}


def _own_fields(field: Callable[[Any], Any] = lambda kind: kind):
    """The validator of a block's extra fields: each a model's own option, as `field` of its
    annotated type or None (the model's default)."""
    return model_validator(mode="wrap")(extras_checked(lambda: {n: field(kind | None) for n, kind in own_options().items()}))


class TrialConfig(BaseModel):
    """Everything one trial needs. Defaults are the 2017 study's (its constant.py); a model's own
    options (`catalog.own_options`) are its extra fields."""

    model_config = OPEN

    model: ModelName
    dataset: PlainName  # a folder under data_root
    activation: ActivationName
    se: bool
    seed: int = Field(0, ge=0, lt=2**32)
    se_reduction: int | None = Field(None, ge=1)  # None: the model's default (simple_cnn 4 = 16 hidden, resnet50 16)
    image_size: int | None = Field(None, ge=8, le=2048)  # None: the dataset's native size; else bicubic resize on the device
    # resnet50 only; None: the model's default (imagenet, standard, False)
    stem: Literal["imagenet", "cifar"] | None = None
    head: Literal["standard", "study"] | None = None
    zero_init_last_bn: bool | None = None
    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(50, ge=1, le=65_536)  # per worker
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(1e-4, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)  # sgd only (Nesterov off)
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["exponential", "cosine", "constant"] = "exponential"
    decay_rate: float = Field(0.96, gt=0)  # exponential: lr * decay_rate ** (step / decay_steps), as tf.train.exponential_decay
    decay_steps: int = Field(100_000, ge=1)
    grad_clip: float | None = Field(None, gt=0)  # max global gradient norm
    augment: bool = False  # random crop + horizontal flip (not for digits)
    # standard: pixels scaled to [0, 1] and standardised by the train mean/std. raw: the 0-255
    # values fed as they are, to reproduce pipelines that forgot to scale (see StudySELU).
    inputs: Literal["standard", "raw"] = "standard"
    loss_ceiling: float = Field(1e3, gt=0)  # a training loss above this counts as diverged
    # torch.compile the model in the training loop. On 2 CPU cores compiling costs ~45 s for the
    # SimpleCNN and 92-110 s for ResNet-50 (6-10% faster after): long cells only, not 10-second ones.
    compile: bool = False
    # Autocast dtype of the forward pass. auto: bf16 on a GPU, fp32 on a CPU. fp16 trains with a
    # gradient scaler, whose skipped steps (an overflowed gradient) are not divergence.
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    # Read the test split and evaluate the final model on it. Off in a search's tries, so the test
    # split never chooses anything.
    test_split: bool = True
    # The final checkpoint keeps the optimizer state too, to train on from it; by default it holds
    # the weights only (a third of the disk with Adam), as a finished trial resumes no more.
    keep_optimizer_state: bool = False

    own_options_checked = _own_fields()

    @classmethod
    def planned(cls, config: dict[str, Any], field: str) -> Any:
        """A trial config's `field`, or its default where the config leaves it out (a grid axis
        some grids do not set; a model's own option: None, the model's default)."""
        return config.get(field, cls.model_fields[field].default if field in cls.model_fields else None)

    def option_fields(self) -> dict[str, Any]:
        """The options of this trial's model, for `build_model`; None takes its default."""
        return {name: getattr(self, name, None) for name in get_model(self.model).options}


def own_options() -> dict[str, Any]:
    """The options that are some model's own (an option named as a trial field receives that
    field), and their types; one unannotated, or typed otherwise than another model's option of
    its name, is refused, naming the model."""
    return _own_options(tuple(list_models()))


@functools.cache  # once per set of registered models: every trial config's check asks
def _own_options(models: tuple[Model, ...]) -> dict[str, Any]:
    own: dict[str, tuple[Any, str]] = {}  # option -> its type, and the model that first declared it
    for model in models:
        if isinstance(model.builder, str):
            continue  # a built-in registered by its place: its options are all trial fields
        names = [n for n in model.options if n not in TrialConfig.model_fields]
        types = model.option_types() if names else {}
        for name in names:
            if name not in types:
                raise UserError(f"model {model.name!r}: option {name!r} has no type; annotate it, e.g. {name}: int = 64, "
                                "so a sweep file's values are checked as the trial's own fields are")
            kind, by = own.setdefault(name, (types[name], model.name))
            if kind != types[name]:
                raise UserError(f"model {model.name!r}: option {name!r} is {type_name(types[name])} here but {type_name(kind)} "
                                f"in model {by!r}; one option name has one type")
    return {name: kind for name, (kind, _) in own.items()}


def model_only_options() -> set[str]:
    """The options only a model reads (the built-ins' and the models' own; not a trial field that
    some model also takes, such as image_size): a cell whose model does not take one leaves it unset."""
    return {p for model in list_models() if isinstance(model.builder, str) for p in model.options} | set(own_options())


def field_type(name: str) -> Any:
    """TrialConfig field `name`'s type with its constraints, to type a value given elsewhere for
    it (a grid axis's values, a train setting, a search's bounds) exactly as a trial takes it."""
    field = TrialConfig.model_fields[name]
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


GRID_AXES_REQUIRED = ("model", "dataset", "activation", "se")
Seed = field_type("seed")
