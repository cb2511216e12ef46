"""The teacher's server config `cnnlab.toml`: limits for a class, import limits, the pages shown, the teacher.

Read with tomllib from $CNNLAB_CONFIG or cnnlab.toml in CNN Lab's home folder (./cnnlab.toml in a checkout,
the user data folder when installed; no file: no class limits, single-user defaults; the import limits always
apply). It fails closed: a wrong type, an unknown section or key (with "did you mean"),
or a section that is not a table is a ConfigError naming the key, and the app shows it instead of running
without limits. A secret's value never appears in a message.

    [limits]
    max_epochs = 5
    max_train_images = 2000          # per run; a run on more must set train_subset at most this
    datasets = ["shapes", "digits"]  # allowed datasets (empty or missing: all)
    presets = ["cnn3_bn", "lenet5"]  # allowed model presets (empty or missing: all; custom specs allowed)
    jobs_per_device = 1
    queue_per_owner = 5              # queued jobs one owner may have waiting

    [imports]                        # everything imported (run zips, dataset zips, specs) is bounded by these
    max_params = 50_000_000          # parameters of one network, counted from its spec before it is built
    max_input_size = 1024            # height and width of a network's input, in pixels
    max_input_channels = 64
    max_classes = 1000
    max_json_mb = 16                 # one JSON member of a run zip, read with this cap while streaming
    max_image_mb = 32                # one image of a dataset zip, read with this cap while streaming

    [class]
    require_names = true             # students must type a name before training
    pages = ["Home", "Training runner", "Class board"]   # pages shown (missing: all)
    teacher_password_sha256 = "..."  # `python -m cnnkit class hash-password` prints this line
    teacher_password = "..."         # plain text still works (hashed in memory); or $CNNLAB_TEACHER_PASSWORD
    teacher_group = "teachers"       # an OIDC group (in st.user's "groups" claim) that is teacher

    [privacy]
    retention_days = 180             # runs and uploaded datasets older than this are removed at start
                                     # (missing: kept until deleted); cnnkit.classroom.student_data
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from cnnkit.paths import home_dir

CONFIG_ENV = "CNNLAB_CONFIG"
TEACHER_PASSWORD_ENV = "CNNLAB_TEACHER_PASSWORD"
DEFAULT_CONFIG_FILE = "cnnlab.toml"


class OverLimit(ValueError):
    """A run or an import the class's limits refuse; the message says which limit and what to change."""


class ConfigError(ValueError):
    """cnnlab.toml cannot be read, holds a value of the wrong type or a key this version does not know."""


def hash_password(password: str) -> str:
    """The hex SHA-256 of a teacher password, as `teacher_password_sha256` holds it."""
    return hashlib.sha256(str(password).encode("utf-8")).hexdigest()


@dataclass
class ImportLimits:
    """Bounds on anything imported or built from outside data, checked before anything is built."""

    max_params: int = 50_000_000
    max_input_size: int = 1024
    max_input_channels: int = 64
    max_classes: int = 1000
    max_json_mb: int = 16
    max_image_mb: int = 32

    @property
    def max_json_bytes(self) -> int:
        return self.max_json_mb * 1024 * 1024

    @property
    def max_image_bytes(self) -> int:
        return self.max_image_mb * 1024 * 1024


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
    teacher_password_sha256: str = ""                   # never the plain password (hashed as it is read)
    teacher_group: str = ""
    imports: ImportLimits = field(default_factory=ImportLimits)
    retention_days: Optional[int] = None                # None: runs and uploads are kept until deleted
    source: str = ""                                    # the file it came from ("" = defaults)

    def __repr__(self) -> str:  # the hash stays out of logs and tracebacks too
        return f"ClassroomConfig(source={self.source!r}, limits={self.limits_text()!r})"

    @property
    def has_limits(self) -> bool:
        return bool(self.max_epochs or self.max_train_images or self.datasets or self.presets)

    @property
    def has_teacher_password(self) -> bool:
        return bool(self.teacher_password_sha256)

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
    """Where the class config is read from: $CNNLAB_CONFIG (`cnn-lab --config`), else cnnlab.toml in CNN Lab's
    home (cnnkit.paths.home_dir: the working directory in a checkout, the user data folder when installed)."""
    override = os.environ.get(CONFIG_ENV)
    return Path(override).expanduser() if override else home_dir() / DEFAULT_CONFIG_FILE


# section -> key -> (kind, secret). Kinds: "count" (whole number >= 1), "names" (list of text), "bool", "text",
# "sha256" (64 hex digits).
SCHEMA: dict[str, dict[str, tuple[str, bool]]] = {
    "limits": {"max_epochs": ("count", False), "max_train_images": ("count", False), "datasets": ("names", False),
               "presets": ("names", False), "jobs_per_device": ("count", False),
               "queue_per_owner": ("count", False)},
    "imports": {name: ("count", False) for name in ImportLimits.__dataclass_fields__},
    "class": {"require_names": ("bool", False), "pages": ("names", False), "teacher_password": ("text", True),
              "teacher_password_sha256": ("sha256", True), "teacher_group": ("text", False)},
    "privacy": {"retention_days": ("count", False)},
}
# The largest value each count may take: anything above cannot be used (retention_days of 1 followed by 400 zeros
# passed as "a whole number" and then overflowed every page's retention), so check-config refuses it.
MAX_COUNTS: dict[str, int] = {
    "max_epochs": 100_000, "max_train_images": 1_000_000_000, "jobs_per_device": 256, "queue_per_owner": 100_000,
    "max_params": 10_000_000_000, "max_input_size": 16_384, "max_input_channels": 4096, "max_classes": 1_000_000,
    "max_json_mb": 4096, "max_image_mb": 4096, "retention_days": 36_500}
MAX_CONFIG_BYTES = 1024 * 1024    # cnnlab.toml is a few lines
MAX_CONFIG_NESTING = 8            # sections of settings: two levels; lists of names: three
_EXPECTED = {"count": "a whole number of at least 1", "names": "a list of names in quotes",
             "bool": "true or false", "text": "text in quotes", "sha256": "64 hexadecimal digits"}


def _did_you_mean(word: str, known) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"


def _shown(value: Any) -> str:
    """A value in a message, cut short (a number of 400 digits is shown by its first ones and its length)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** 24:
        return f"{str(value)[:12]}… ({len(str(abs(value)))} digits)"
    return repr(value)[:70]


def _valid(kind: str, value: Any) -> bool:
    if kind == "count":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if kind == "names":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "sha256":
        return isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{64}", value) is not None
    return isinstance(value, str)


def check_config_data(data: Any, path: Path | str) -> dict[str, dict[str, Any]]:
    """The parsed TOML checked against SCHEMA; ConfigError naming the first wrong section or key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: should hold [limits], [imports], [class] and [privacy] sections")
    checked: dict[str, dict[str, Any]] = {name: {} for name in SCHEMA}
    for section, body in data.items():
        if section not in SCHEMA:
            raise ConfigError(f"{path}: unknown section [{section}]{_did_you_mean(section, SCHEMA)}")
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: {section} should be a section ([{section}] on a line of its own, its "
                              f"settings below it), not a single value")
        for key, value in body.items():
            if key not in SCHEMA[section]:
                raise ConfigError(f"{path}: unknown key {key!r} in [{section}]{_did_you_mean(key, SCHEMA[section])}")
            kind, secret = SCHEMA[section][key]
            if not _valid(kind, value):
                shown = "" if secret else f", not {_shown(value)}"
                raise ConfigError(f"{path}: [{section}] {key} must be {_EXPECTED[kind]}{shown}")
            if kind == "count" and value > MAX_COUNTS.get(key, value):
                raise ConfigError(f"{path}: [{section}] {key} must be a whole number from 1 to "
                                  f"{MAX_COUNTS[key]:,}, not {_shown(value)}")
            checked[section][key] = value
    return checked


def _read_config(path: Path) -> Any:
    """cnnlab.toml parsed, its size and nesting bounded before tomllib sees it; ConfigError naming it otherwise
    (a folder, a pipe or a device link is refused, never read)."""
    from cnnkit.fileio import DamagedFile, data_depth, nesting_depth, read_text_bounded

    try:
        text = read_text_bounded(path, MAX_CONFIG_BYTES)
    except DamagedFile as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror})") from None
    if nesting_depth(text, "toml", MAX_CONFIG_NESTING) > MAX_CONFIG_NESTING:
        raise ConfigError(f"{path} nests more than {MAX_CONFIG_NESTING} levels of brackets; it holds four sections")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message quotes no values, only where the syntax breaks
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # e.g. a number of 5000 digits
        raise ConfigError(f"{path} cannot be read as TOML ({str(exc)[:60]})") from None
    if data_depth(data, MAX_CONFIG_NESTING) > MAX_CONFIG_NESTING:
        raise ConfigError(f"{path} nests more than {MAX_CONFIG_NESTING} levels of tables; it holds four sections")
    return data


# The last config read from config_path(), by the file's signature and the settings that change it: every page
# run reads the class config (a teacher's edit applies at once), and parsing it each time was a twentieth of a
# class's first renders. A file written in the last seconds is read again (fileio.signature_settled).
_LAST: dict = {}


def load_classroom_config(path: Optional[str | Path] = None) -> ClassroomConfig:
    """The class config from `path`, else config_path(); defaults (no class limits) when there is
    none. The teacher password from $CNNLAB_TEACHER_PASSWORD wins over the file's. ConfigError when wrong."""
    if path:
        return _load_classroom_config(path)
    from cnnkit.fileio import file_signature, signature_settled

    # the signature names the file (config_path(): CNNLAB_CONFIG or CNN Lab's home); CNNLAB_CONFIG also decides
    # whether a missing file is an error
    key = (file_signature([config_path()]), os.environ.get(CONFIG_ENV), os.environ.get(TEACHER_PASSWORD_ENV))
    if _LAST.get("key") == key and signature_settled(key[0]):
        return copy.deepcopy(_LAST["config"])  # callers may change their copy
    config = _load_classroom_config(None)
    _LAST.update(key=key, config=copy.deepcopy(config))
    return config


def _load_classroom_config(path: Optional[str | Path]) -> ClassroomConfig:
    from_env = not path and bool(os.environ.get(CONFIG_ENV))
    path = Path(path).expanduser() if path else config_path()
    data: dict = {}
    if path.exists() or path.is_symlink():
        data = _read_config(path)
    elif from_env:
        raise ConfigError(f"{CONFIG_ENV} points to {path}, which does not exist")
    checked = check_config_data(data, path)
    limits, imports, klass, privacy = checked["limits"], checked["imports"], checked["class"], checked["privacy"]
    password_hash = str(klass.get("teacher_password_sha256", "")).lower()
    if klass.get("teacher_password"):
        password_hash = hash_password(klass["teacher_password"])  # the plain text is not kept
    if os.environ.get(TEACHER_PASSWORD_ENV):
        password_hash = hash_password(os.environ[TEACHER_PASSWORD_ENV])
    return ClassroomConfig(
        max_epochs=limits.get("max_epochs"), max_train_images=limits.get("max_train_images"),
        datasets=limits.get("datasets", []), presets=limits.get("presets", []),
        jobs_per_device=limits.get("jobs_per_device"), queue_per_owner=limits.get("queue_per_owner"),
        require_names=klass.get("require_names", False), pages=klass.get("pages", []),
        teacher_password_sha256=password_hash, teacher_group=klass.get("teacher_group", ""),
        imports=ImportLimits(**imports), retention_days=privacy.get("retention_days"),
        source=str(path) if data else "")


def import_limits() -> ImportLimits:
    """The import limits of the current class config (ConfigError when cnnlab.toml is wrong: fail closed)."""
    return load_classroom_config().imports


def _get(thing: Any, name: str, default: Any = None) -> Any:
    return thing.get(name, default) if isinstance(thing, dict) else getattr(thing, name, default)


def check_run_allowed(train_config: Any, limits: ClassroomConfig) -> None:
    """Raise OverLimit when a training (a cnnkit.train.TrainConfig or its dict) is over the class's limits.

    max_train_images counts the images a run trains on: its train_subset, which must be set (0 = all
    would be over any limit on a big dataset), so the message says to set it."""
    try:
        epochs, subset = int(_get(train_config, "epochs", 0)), int(_get(train_config, "train_subset", 0) or 0)
    except (TypeError, ValueError):
        raise OverLimit("the training settings' epochs and train_subset must be whole numbers") from None
    if limits.max_epochs and epochs > limits.max_epochs:
        raise OverLimit(f"{epochs} epochs is over this class's limit of {limits.max_epochs}: "
                        f"lower the epochs to {limits.max_epochs} or fewer")
    if limits.max_train_images and (subset <= 0 or subset > limits.max_train_images):
        asked = "all the training images" if subset <= 0 else f"{subset:,} training images"
        raise OverLimit(f"{asked} is over this class's limit of {limits.max_train_images:,} per run: "
                        f"set the training subset to {limits.max_train_images:,} or fewer")
    dataset = _get(train_config, "dataset", "")
    if limits.datasets and dataset not in limits.datasets:
        raise OverLimit(f"dataset {dataset!r} is not used in this class: choose one of " + ", ".join(limits.datasets))
    model = _get(train_config, "model")
    if limits.presets and isinstance(model, str) and model not in limits.presets:
        raise OverLimit(f"model {model!r} is not used in this class: choose one of " + ", ".join(limits.presets))
