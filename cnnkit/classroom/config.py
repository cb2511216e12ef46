"""The teacher's server config `cnnlab.toml`: limits for a class, the pages shown, the teacher password.

Read with tomllib from $CNNLAB_CONFIG or ./cnnlab.toml (no file: no limits, single-user defaults).
`check_run_allowed(config, limits)` is the one check pages, the job manager and the CLI apply.

    [limits]
    max_epochs = 5
    max_train_images = 2000          # per run; a run on more must set train_subset at most this
    datasets = ["shapes", "digits"]  # allowed datasets (empty or missing: all)
    presets = ["cnn3_bn", "lenet5"]  # allowed model presets (empty or missing: all; custom specs allowed)
    jobs_per_device = 1
    queue_per_owner = 5              # queued jobs one owner may have waiting

    [class]
    require_names = true             # students must type a name before training
    pages = ["Home", "Training runner", "Class board"]   # pages shown (missing: all)
    teacher_password = "..."         # or $CNNLAB_TEACHER_PASSWORD
    teacher_group = "teachers"       # an OIDC group (in st.user's "groups" claim) that is teacher

    [privacy]
    retention_days = 180             # runs and uploaded datasets older than this are removed at start
                                     # (missing: kept until deleted); cnnkit.classroom.student_data
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

CONFIG_ENV = "CNNLAB_CONFIG"
TEACHER_PASSWORD_ENV = "CNNLAB_TEACHER_PASSWORD"
DEFAULT_CONFIG_FILE = "cnnlab.toml"


class OverLimit(ValueError):
    """A run the class's limits refuse; the message says which limit and what to change."""


class ConfigError(ValueError):
    """cnnlab.toml cannot be read or holds a value of the wrong type."""


@dataclass
class ClassroomConfig:
    max_epochs: Optional[int] = None
    max_train_images: Optional[int] = None
    datasets: list[str] = field(default_factory=list)   # empty: every dataset
    presets: list[str] = field(default_factory=list)    # empty: every preset
    jobs_per_device: Optional[int] = None               # None: $CNNKIT_JOBS_PER_DEVICE or 1
    queue_per_owner: Optional[int] = None               # None: no cap
    require_names: bool = False
    pages: list[str] = field(default_factory=list)      # empty: every page
    teacher_password: str = ""
    teacher_group: str = ""
    retention_days: Optional[int] = None                # None: runs and uploads are kept until deleted
    source: str = ""                                    # the file it came from ("" = defaults)

    @property
    def has_limits(self) -> bool:
        return bool(self.max_epochs or self.max_train_images or self.datasets or self.presets)

    def shows_page(self, title: str) -> bool:
        return not self.pages or title in self.pages or title == "Home"

    def limits_text(self) -> str:
        """One line for students: what this class allows."""
        parts = []
        if self.max_epochs:
            parts.append(f"at most {self.max_epochs} epochs")
        if self.max_train_images:
            parts.append(f"at most {self.max_train_images:,} training images")
        if self.datasets:
            parts.append("datasets: " + ", ".join(self.datasets))
        if self.presets:
            parts.append("models: " + ", ".join(self.presets))
        return "Class limits: " + "; ".join(parts) if parts else ""


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE).expanduser()


def _typed(section: dict, key: str, kind: type, path: Path, default: Any) -> Any:
    value = section.get(key, default)
    if value is default:
        return value
    if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{path}: {key} must be a whole number of at least 1, not {value!r}")
    if kind is list and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise ConfigError(f"{path}: {key} must be a list of names in quotes, not {value!r}")
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{path}: {key} must be true or false, not {value!r}")
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{path}: {key} must be text in quotes, not {value!r}")
    return value


def load_classroom_config(path: Optional[str | Path] = None) -> ClassroomConfig:
    """The class config from `path`, $CNNLAB_CONFIG or ./cnnlab.toml; defaults (no limits) when there is none.
    The teacher password from $CNNLAB_TEACHER_PASSWORD wins over the file's."""
    path = Path(path).expanduser() if path else config_path()
    data: dict = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    elif os.environ.get(CONFIG_ENV):
        raise ConfigError(f"{CONFIG_ENV} points to {path}, which does not exist")
    limits, klass, privacy = data.get("limits", {}), data.get("class", {}), data.get("privacy", {})
    config = ClassroomConfig(
        max_epochs=_typed(limits, "max_epochs", int, path, None),
        max_train_images=_typed(limits, "max_train_images", int, path, None),
        datasets=_typed(limits, "datasets", list, path, []),
        presets=_typed(limits, "presets", list, path, []),
        jobs_per_device=_typed(limits, "jobs_per_device", int, path, None),
        queue_per_owner=_typed(limits, "queue_per_owner", int, path, None),
        require_names=_typed(klass, "require_names", bool, path, False),
        pages=_typed(klass, "pages", list, path, []),
        teacher_password=_typed(klass, "teacher_password", str, path, ""),
        teacher_group=_typed(klass, "teacher_group", str, path, ""),
        retention_days=_typed(privacy, "retention_days", int, path, None),
        source=str(path) if data else "")
    config.teacher_password = os.environ.get(TEACHER_PASSWORD_ENV, config.teacher_password)
    return config


def check_run_allowed(train_config: Any, limits: ClassroomConfig) -> None:
    """Raise OverLimit when a training (a cnnkit.train.TrainConfig) is over the class's limits.

    max_train_images counts the images a run trains on: its train_subset, which must be set (0 = all
    would be over any limit on a big dataset), so the message says to set it."""
    epochs, subset = int(train_config.epochs), int(train_config.train_subset or 0)
    if limits.max_epochs and epochs > limits.max_epochs:
        raise OverLimit(f"{epochs} epochs is over this class's limit of {limits.max_epochs}: "
                        f"lower the epochs to {limits.max_epochs} or fewer")
    if limits.max_train_images and (subset == 0 or subset > limits.max_train_images):
        asked = "all the training images" if subset == 0 else f"{subset:,} training images"
        raise OverLimit(f"{asked} is over this class's limit of {limits.max_train_images:,} per run: "
                        f"set the training subset to {limits.max_train_images:,} or fewer")
    if limits.datasets and train_config.dataset not in limits.datasets:
        raise OverLimit(f"dataset {train_config.dataset!r} is not used in this class: choose one of "
                        + ", ".join(limits.datasets))
    model = train_config.model
    if limits.presets and isinstance(model, str) and model not in limits.presets:
        raise OverLimit(f"model {model!r} is not used in this class: choose one of " + ", ".join(limits.presets))
