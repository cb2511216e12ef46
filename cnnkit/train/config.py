"""TrainConfig: every setting of a training run, as one JSON-serialisable dataclass."""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional, Union

from cnnkit.data.resolution import RESIZE_MODES

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULERS = ("constant", "step", "cosine", "onecycle", "exponential", "plateau")
LOSSES = ("cross_entropy", "mse", "l1")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SPLIT_STRATEGIES = ("stratified", "random")


def model_label(model: Any) -> str:
    """A config's `model` (preset name, spec dict or {"kind": ...} dict) as a short name for lists and runs."""
    if isinstance(model, str):
        return model
    if isinstance(model, dict):
        return str(model.get("name") or model.get("source") or model.get("kind") or "custom")
    return "?"
def _about(help: str = "", choices: tuple = (), flag: str = "", user_facing: bool = True) -> dict:
    """Field metadata for the CLI flag builder (cnnkit.cli.common.add_config_flags) and the settings
    form: help text, allowed values, a flag other than --field-name; user_facing=False for a field
    that neither the CLI nor the form sets."""
    about = {k: v for k, v in (("help", help), ("choices", choices), ("flag", flag)) if v}
    return about if user_facing else about | {"user_facing": False}


@dataclass
class TrainConfig:
    """Defaults train the built-in Shapes set to a good accuracy in under a minute on a 2-core CPU.

    A new field gets its CLI flag (train and transfer) from its type and metadata; the settings
    form needs one row in ui/train_settings.py's FORM table (tests check both)."""

    dataset: str = field(default="shapes", metadata=_about("dataset name (see `python -m cnnkit datasets`)"))
    # model: a preset name, a ModelSpec dict (has "layers"), or {"kind": ..., ...} for a registered builder
    # (e.g. transfer learning from a pretrained backbone). Its flags are the commands' own (--preset, --spec, --source).
    # The defaults are issue 17's "teaches in seconds" recipe: a small BN net (cnn3_fast), Nesterov SGD
    # at a high rate under a one-cycle schedule, label smoothing and weight decay; on Shapes it passes
    # 90% test accuracy in 6 epochs (benchmarks/bench_demo.py measures it). lr 0.2 ends ~2 points higher
    # but its validation curve dips mid-run; 0.1 rises steadily, which is what a class should see.
    model: Union[str, dict] = "cnn3_fast"
    epochs: int = 8
    batch_size: int = 128
    optimizer: str = field(default="sgd", metadata=_about(choices=OPTIMIZERS))
    lr: float = field(default=0.1, metadata=_about("learning rate (transfer: the new head's)"))
    momentum: float = field(default=0.9, metadata=_about("SGD and RMSprop"))
    nesterov: bool = field(default=True, metadata=_about("SGD only"))
    weight_decay: float = 5e-4
    l1: float = field(default=0.0, metadata=_about("L1 penalty on weights, added to the loss"))
    dropout: Optional[float] = field(default=None, metadata=_about("overrides every dropout layer's p when set"))
    label_smoothing: float = 0.1
    loss: str = field(default="cross_entropy", metadata=_about(choices=LOSSES))
    scheduler: str = field(default="onecycle", metadata=_about(choices=SCHEDULERS))
    step_size: int = field(default=5, metadata=_about("step schedule: epochs between decays"))
    gamma: float = field(default=0.5, metadata=_about("step and exponential schedules: decay factor"))
    plateau_patience: int = field(default=2, metadata=_about("reduce-on-plateau: epochs without improvement"))
    warmup_epochs: int = field(default=0, metadata=_about("linear warm-up from lr/10, before the schedule"))
    augment: dict = field(default_factory=dict)   # cnnkit.data.AugmentConfig fields (one flag each)
    val_fraction: float = field(default=0.1, metadata=_about("share of the training split held out for validation"))
    split_strategy: str = field(default="stratified", metadata=_about(choices=SPLIT_STRATEGIES))
    image_size: Optional[int] = field(default=None, metadata=_about("the network's input size (none = the dataset's own)"))
    train_resolution: Optional[int] = field(
        default=None, metadata=_about("train on images downsampled to this size (none = image size)"))
    test_resolution: Optional[int] = field(default=None, metadata=_about("test on images downsampled to this size"))
    resize_mode: str = field(default="area", metadata=_about("filter for downsampling", choices=RESIZE_MODES))
    restore_size: bool = field(default=True, metadata=_about("resample low resolutions back up to the image size"))
    train_subset: int = field(default=0, metadata=_about("train on this many images (0 = all), for quick demos"))
    test_subset: int = field(default=0, metadata=_about(
        "evaluate on this many test images (0 = all), a stratified subset, the same for every run: for quick runs"))
    early_stopping: int = field(default=0, metadata=_about("patience in epochs on validation accuracy (0 = off)"))
    flip_tta: bool = field(default=False, metadata=_about(
        "test-time augmentation: average each test image's prediction with its mirror image's "
        "(for classes that survive a left-right flip)"))
    seed: int = 0
    device: str = field(default="auto", metadata=_about("auto, cpu, cuda or cuda:N"))
    precision: str = field(default="auto", metadata=_about(choices=PRECISIONS))
    log_every: int = field(default=10, metadata=_about("a training-loss point every this many steps"))
    name: str = field(default="", metadata=_about("a label for the run list"))

    def validate(self) -> None:
        """Raise ValueError saying what to change."""
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1 (got {self.epochs})")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1 (got {self.batch_size})")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be above 0 (got {self.lr})")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("scheduler", self.scheduler, SCHEDULERS)
        _choice("loss", self.loss, LOSSES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("split strategy", self.split_strategy, SPLIT_STRATEGIES)
        if self.weight_decay < 0 or self.l1 < 0:
            raise ValueError("weight decay and L1 penalty must be 0 or more")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1) (got {self.dropout})")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label smoothing must be in [0, 1) (got {self.label_smoothing})")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"validation share must be in [0, 1) (got {self.val_fraction})")
        for name in ("image_size", "train_resolution", "test_resolution"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1 pixel (got {value})")
        if self.step_size < 1 or not 0 < self.gamma <= 1:
            raise ValueError("step size must be at least 1 and gamma in (0, 1]")
        if self.warmup_epochs < 0 or self.early_stopping < 0 or self.train_subset < 0 or self.test_subset < 0:
            raise ValueError("warm-up, early-stopping patience, train subset and test subset must be 0 or more")
        if self.log_every < 1:
            raise ValueError("log_every must be at least 1")
        if not 0 <= self.seed < 2 ** 32:
            raise ValueError(f"seed must be a whole number from 0 to {2 ** 32 - 1} (got {str(self.seed)[:24]})")
        from cnnkit.data import AugmentConfig

        AugmentConfig.from_dict(self.augment).validate()

    def model_label(self) -> str:
        return model_label(self.model)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """A config from JSON-like data; a wrong type names the field and the type it expects."""
        if not isinstance(data, dict):
            raise ValueError("training settings must be a JSON object of setting: value "
                             f"(got {type(data).__name__ if data is not None else 'null'})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**{name: _checked(name, value) for name, value in data.items()})

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        return cls.from_dict(json.loads(text))


_INT_FIELDS = {"epochs", "batch_size", "step_size", "plateau_patience", "warmup_epochs", "train_subset", "test_subset",
               "early_stopping", "seed", "log_every"}
_OPTIONAL_INT_FIELDS = {"image_size", "train_resolution", "test_resolution"}
_FLOAT_FIELDS = {"lr", "momentum", "weight_decay", "l1", "label_smoothing", "gamma", "val_fraction"}
_BOOL_FIELDS = {"nesterov", "restore_size"}
_TEXT_FIELDS = {"dataset", "optimizer", "loss", "scheduler", "split_strategy", "resize_mode", "device",
                "precision", "name"}


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {json.dumps(value)[:40]}" if value is not None else "null"


def _checked(name: str, value: Any) -> Any:
    """value as field `name` takes it, or ValueError naming the field and the expected type."""
    def wrong(expected: str) -> ValueError:
        return ValueError(f"training setting {name!r} must be {expected} (got {_shown(value)})")

    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if name in _INT_FIELDS or (name in _OPTIONAL_INT_FIELDS and value is not None):
        if is_number and float(value).is_integer():
            return int(value)
        raise wrong("a whole number" + (" or null" if name in _OPTIONAL_INT_FIELDS else ""))
    if name in _FLOAT_FIELDS or (name == "dropout" and value is not None):
        if is_number and math.isfinite(float(value)):
            return float(value)
        raise wrong("a number" + (" or null" if name == "dropout" else ""))
    if name in _BOOL_FIELDS and not isinstance(value, bool):
        raise wrong("true or false")
    if name in _TEXT_FIELDS and not isinstance(value, str):
        raise wrong("text")
    if name == "augment" and not isinstance(value, dict):
        raise wrong("a JSON object of augmentation settings")
    if name == "model" and not isinstance(value, (str, dict)):
        raise wrong("a preset name or a model spec object")
    return value


def _choice(label: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {label} {value!r}; choose one of {', '.join(allowed)}")


# Settings that do not change what a run learns (where and how fast it ran, its label): ignored when two runs'
# settings are compared.
_NOT_LEARNING = ("name", "device", "log_every", "precision")
# Settings only some optimizers read (TrainConfig's field notes): ignored for the others.
_OPTIMIZER_ONLY = {"nesterov": ("sgd",), "momentum": ("sgd", "rmsprop")}


def learning_settings(config: dict) -> dict:
    """A training config's settings that decide what it learns (a saved config.json or TrainConfig.to_dict()):
    two runs with equal learning settings learn the same thing (a finished one can stand for the other)."""
    optimizer = str(config.get("optimizer", "")).lower()
    return {key: value for key, value in config.items()
            if key not in _NOT_LEARNING and optimizer in _OPTIMIZER_ONLY.get(key, (optimizer,))}
