"""Lesson files: one TOML file is one lesson. The course's ship in cnnkit/lessons/course/; a teacher's own go in
<data dir>/lessons/*.toml and are listed beside them (source "teacher"). Every file is checked before use and a
broken one gets a message naming the file and the field, e.g.

    my_lesson.toml: arms[1].config.lr: must be a number, got str "fast"

A broken teacher file never breaks the listing: it is left out of list_lessons() and listed by
lesson_file_errors(). (A broken course file is a bug: the course's tests load every one.)

The format (docs/lessons.md has a whole example)::

    id = "bn-demo"                       # letters, digits, '-' and '_'; unique among all lessons
    title = "Batch norm"
    topic = "regularisation"             # one of cnnkit.lessons.TOPICS
    question = "Does batch norm help, and why does it train faster?"
    report = "002"                       # optional: where it comes from
    section = "002-Q4"
    look_at = ["the first epoch's train accuracy", "the val-loss curve"]   # optional lists of text
    conclusion = "BN trains faster and ends higher."
    filled_in = ["batch size 64: the report does not give one"]
    inconsistencies = []
    substitutes = []

    [defaults]                           # optional: training settings every arm shares (a TrainConfig's fields)
    dataset = "cifar10"
    epochs = 10
    optimizer = "adam"
    lr = 0.001

    [quick]                              # optional: quick-mode overrides every arm shares
    train_subset = 2000
    epochs = 3

    [[arms]]                             # one table per arm, at least 1, at most MAX_ARMS
    id = "base"
    label = "Base CNN"
    kind = "train"                       # "train" (default) or "resolution_lab"
    config = { model = "cnn3" }          # the arm's own settings (over [defaults])
    quick = { }                          # the arm's own quick overrides (over [quick])
    [arms.reported]                      # the report's figures: accuracies in percent, P/R/F1 as 0-1
    test_accuracy = 73.79
    macro_f1 = 0.7389
    precision = 0.7429
    recall = 0.7379
    notes = ""
    [arms.reported.curves]               # one value per epoch (as many as the full config's epochs)
    train_loss = [1.4393, 1.0006]        # also val_loss, train_acc and val_acc (percent), first_layer_grad
    [arms.reported.per_class.cat]        # optional per-class figures: precision, recall, f1, accuracy (percent)
    f1 = 0.55

A transfer arm (config.model = { kind = "transfer", source = "efficientnet_lite0", ... }) may add
`original_source = "resnet18"` (a cnnkit.models.pretrained name) and `original_model = { strategy = "last:2" }`:
that network, with those model settings, runs instead when its weights are in the torch cache
(LessonArm.runs_original); the ArmResult's `backbone` records which one ran.

A resolution_lab arm's config is a ResolutionLabConfig: `resolutions = [32, 16, 8]`, `mode`, `native_size` and
`base` (the training settings; [defaults] are merged into it, and quick overrides that are not lab fields go into
it too). Its reported figures per resolution go in `[arms.reported.by_resolution.TOTV.16]` (test_accuracy,
precision, recall, macro_f1, and a per_class table).
"""

from __future__ import annotations

import math
import re
import threading
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional

from cnnkit.fileio import file_signature
from cnnkit.lessons.schema import (ARM_KINDS, ARM_SOURCE_PREFIX, CURVE_NAMES, FRACTION_METRICS, LAB_FIELDS,
                                   LESSON_DEFAULTS, PER_CLASS_FIELDS,
                                   PERCENT_METRICS, RESOLUTION_METHODS, TOPICS, Lesson, LessonArm, LessonFileError,
                                   ReportedFigures, _with_quick)
from cnnkit.fileio import DamagedFile, data_depth, nesting_depth, read_text_bounded
from cnnkit.paths import data_dir

COURSE_DIR = Path(__file__).resolve().parent / "course"
TEACHER_FOLDER = "lessons"       # under the data directory

# Bounds: a teacher's file is input from outside; nothing unbounded is read or built.
MAX_FILE_BYTES = 256 * 1024
MAX_TEACHER_FILES = 200
MAX_ARMS = 12
MAX_EPOCHS = 300                 # full mode (the course's longest run is 150 epochs)
MAX_SHORT_TEXT = 200             # id, title, labels, topic, report, section
MAX_LONG_TEXT = 4000             # question, conclusion, notes
MAX_LIST_ITEMS = 30              # look_at, filled_in, ...
MAX_CLASSES = 200                # per-class rows
MAX_RESOLUTIONS = 8
MAX_NESTING = 16                 # brackets/tables deep; the deepest real lesson nests 7
MAX_IMAGE_SIDE = 1024            # image_size, train_resolution, test_resolution (as cnnlab.toml's max_input_size)
MAX_BATCH_SIZE = 4096
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

_LESSON_KEYS = {"id", "title", "topic", "question", "report", "section", "look_at", "conclusion", "filled_in",
                "inconsistencies", "substitutes", "defaults", "quick", "arms", "quick_note",
                "quick_limit"}
_ARM_KEYS = {"id", "label", "kind", "config", "quick", "reported", "description", "original_source", "original_model",
             "start_from"}
_REPORTED_KEYS = {f.name for f in fields(ReportedFigures)}


class _Check:
    """Raises LessonFileError for one file, naming the field."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, message: str) -> LessonFileError:
        return LessonFileError(str(self.path), where, message)

    def text(self, data: dict, key: str, where: str, required: bool = False, limit: int = MAX_SHORT_TEXT) -> str:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(where, "is missing")
            return ""
        if not isinstance(value, str):
            raise self.fail(where, f"must be text, got {_shown(value)}")
        value = value.strip()
        if required and not value:
            raise self.fail(where, "must not be empty")
        if len(value) > limit:
            raise self.fail(where, f"is {len(value)} characters long; at most {limit}")
        return value

    def texts(self, data: dict, key: str, where: str) -> list[str]:
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list of text, got {_shown(value)}")
        if len(value) > MAX_LIST_ITEMS:
            raise self.fail(where, f"has {len(value)} items; at most {MAX_LIST_ITEMS}")
        return [self.text({"v": item}, "v", f"{where}[{i}]", limit=MAX_LONG_TEXT) for i, item in enumerate(value)]

    def table(self, data: dict, key: str, where: str) -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a table of settings, got {_shown(value)}")
        return value

    def number(self, value: Any, where: str, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"must be a number, got {_shown(value)}")
        if not math.isfinite(value) or not low <= value <= high:
            raise self.fail(where, f"must be between {low:g} and {high:g}, got {value}")
        return float(value)

    def unknown(self, data: dict, known: set[str], where: str) -> None:
        extra = sorted(set(data) - known)
        if extra:
            prefix = f"{where}." if where else ""
            raise self.fail(f"{prefix}{extra[0]}", f"unknown field; known fields: {', '.join(sorted(known))}")


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return f"{type(value).__name__} {text[:40]}"


# --- training settings ------------------------------------------------------------------------------------------
_SETTING_ERROR = re.compile(r"^training setting '(\w+)' (must be .*) \(got (.*)\)$")


def _check_setting_types(check: _Check, settings: dict, where: str, skip: tuple[str, ...] = ()) -> None:
    """Each training setting alone, so the message names the field it is in."""
    from cnnkit.train import TrainConfig

    known = {f.name for f in fields(TrainConfig)}
    for key, value in settings.items():
        if key in skip:
            continue
        if key not in known:
            raise check.fail(f"{where}.{key}", "unknown training setting (see `python -m cnnkit train --help`)")
        try:
            TrainConfig.from_dict({key: value})
        except ValueError as error:
            match = _SETTING_ERROR.match(str(error))
            message = f"{match.group(2)}, got {match.group(3)}" if match else str(error)
            raise check.fail(f"{where}.{key}", message) from None
        if key == "augment":
            # AugmentConfig.from_dict drops names it does not know: in a file, a typo would silently do nothing.
            from dataclasses import fields as dataclass_fields

            from cnnkit.data import AugmentConfig

            names = {f.name for f in dataclass_fields(AugmentConfig)}
            for name in value:
                if name not in names:
                    raise check.fail(f"{where}.augment.{name}", f"unknown augmentation; known: {', '.join(sorted(names))}")


def _check_train_settings(check: _Check, settings: dict, where: str) -> None:
    """Each field alone (so the message names it), then the whole config (TrainConfig.validate), then the model."""
    from cnnkit.train import TrainConfig

    _check_setting_types(check, settings, where)
    try:
        config = TrainConfig.from_dict(settings)
        config.validate()
    except (ValueError, TypeError) as error:
        raise check.fail(where, str(error)) from None
    if config.epochs > MAX_EPOCHS:
        raise check.fail(f"{where}.epochs", f"is {config.epochs}; at most {MAX_EPOCHS}")
    _check_sizes(check, config, where)
    _check_model(check, config.model, f"{where}.model")


def _check_sizes(check: _Check, config: Any, where: str) -> None:
    """What a run would refuse, refused when the file is listed: a dataset that cannot be a dataset's name (a path),
    an image side or batch too large to build."""
    from cnnkit.data.registry import check_dataset_reference

    try:
        check_dataset_reference(config.dataset)
    except ValueError as error:
        raise check.fail(f"{where}.dataset", str(error)) from None
    for name in ("image_size", "train_resolution", "test_resolution"):
        value = getattr(config, name)
        if value is not None and value > MAX_IMAGE_SIDE:
            raise check.fail(f"{where}.{name}", f"is {value} pixels; at most {MAX_IMAGE_SIDE}")
    if config.batch_size > MAX_BATCH_SIZE:
        raise check.fail(f"{where}.batch_size", f"is {config.batch_size}; at most {MAX_BATCH_SIZE}")


def _check_model(check: _Check, model: Any, where: str) -> None:
    from cnnkit.models import MODEL_KINDS, PRESETS, ModelSpec, SpecError

    if isinstance(model, str):
        if model not in PRESETS:
            raise check.fail(where, f"unknown preset \"{model[:40]}\"; presets: {', '.join(PRESETS)}")
        return
    if "kind" in model:
        import cnnkit.transfer  # noqa: F401  registers the "transfer" kind

        kind = model.get("kind")
        if not isinstance(kind, str) or kind not in MODEL_KINDS:
            raise check.fail(f"{where}.kind", f"unknown model kind {_shown(kind)}; known: {', '.join(MODEL_KINDS)}")
        if kind == "transfer":
            from cnnkit.transfer.builder import TransferSettings

            try:
                TransferSettings.from_dict(model)
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                raise check.fail(where, str(error)) from None
        return
    try:
        spec = ModelSpec.from_dict(model)
    except (SpecError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise check.fail(where, str(error)) from None
    if len(spec.layers) > 200:
        raise check.fail(f"{where}.layers", f"has {len(spec.layers)} layers; at most 200")


def _check_lab_settings(check: _Check, config: dict, where: str) -> None:
    from cnnkit.labs import ResolutionLabConfig

    for key in config:
        if key not in LAB_FIELDS:
            raise check.fail(f"{where}.{key}", f"unknown resolution-lab setting; known: {', '.join(LAB_FIELDS)}")
    base = config.get("base", {})
    if not isinstance(base, dict):
        raise check.fail(f"{where}.base", f"must be a table of training settings, got {_shown(base)}")
    _check_train_settings(check, base, f"{where}.base")
    resolutions = config.get("resolutions", [32, 16, 8])
    if not isinstance(resolutions, list) or not 1 <= len(resolutions) <= MAX_RESOLUTIONS:
        raise check.fail(f"{where}.resolutions", f"must be a list of 1 to {MAX_RESOLUTIONS} sizes in pixels")
    for i, r in enumerate(resolutions):
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= 1024:
            raise check.fail(f"{where}.resolutions[{i}]", f"must be a whole number of pixels (1-1024), got {_shown(r)}")
    if "native_size" in config and not isinstance(config["native_size"], bool):
        raise check.fail(f"{where}.native_size", f"must be true or false, got {_shown(config['native_size'])}")
    try:
        ResolutionLabConfig.from_dict({**config, "base": base}).validate()
    except (ValueError, TypeError) as error:
        raise check.fail(where, str(error)) from None


# --- reported figures -------------------------------------------------------------------------------------------
def _metric_range(metric: str) -> tuple[float, float]:
    if metric in PERCENT_METRICS:
        return 0.0, 100.0
    if metric in FRACTION_METRICS:
        return 0.0, 1.0
    return 0.0, 1e6  # losses


def _per_class(check: _Check, table: Any, where: str) -> dict[str, dict[str, float]]:
    if not isinstance(table, dict):
        raise check.fail(where, f"must be a table of class = {{ precision, recall, f1, accuracy }}, got {_shown(table)}")
    if len(table) > MAX_CLASSES:
        raise check.fail(where, f"has {len(table)} classes; at most {MAX_CLASSES}")
    out = {}
    for name, row in table.items():
        if len(name) > MAX_SHORT_TEXT:
            raise check.fail(where, f"a class name is {len(name)} characters long; at most {MAX_SHORT_TEXT}")
        if not isinstance(row, dict):
            raise check.fail(f"{where}.{name}", f"must be a table of {', '.join(PER_CLASS_FIELDS)}, got {_shown(row)}")
        check.unknown(row, set(PER_CLASS_FIELDS), f"{where}.{name}")
        out[name] = {key: check.number(value, f"{where}.{name}.{key}", 0.0, 100.0 if key == "accuracy" else 1.0)
                     for key, value in row.items()}
    return out


def _reported(check: _Check, data: Any, where: str, epochs: int) -> ReportedFigures:
    if not isinstance(data, dict):
        raise check.fail(where, f"must be a table of the report's figures, got {_shown(data)}")
    check.unknown(data, _REPORTED_KEYS, where)
    figures = ReportedFigures()
    for metric in PERCENT_METRICS + FRACTION_METRICS + ("val_loss",):
        if data.get(metric) is not None:
            low, high = _metric_range(metric)
            setattr(figures, metric, check.number(data[metric], f"{where}.{metric}", low, high))
    curves = data.get("curves", {})
    if not isinstance(curves, dict):
        raise check.fail(f"{where}.curves", f"must be a table of per-epoch lists, got {_shown(curves)}")
    check.unknown(curves, set(CURVE_NAMES), f"{where}.curves")
    for name, values in curves.items():
        if not isinstance(values, list):
            raise check.fail(f"{where}.curves.{name}", f"must be a list of numbers (one per epoch), got {_shown(values)}")
        if len(values) != epochs:
            raise check.fail(f"{where}.curves.{name}", f"has {len(values)} values but the arm trains {epochs} "
                                                       "epochs in full mode: give one value per epoch")
        high = 100.0 if name.endswith("_acc") else 1e6
        figures.curves[name] = [check.number(v, f"{where}.curves.{name}[{i}]", 0.0, high) for i, v in enumerate(values)]
    if "per_class" in data:
        figures.per_class = _per_class(check, data["per_class"], f"{where}.per_class")
    by_resolution = data.get("by_resolution", {})
    if not isinstance(by_resolution, dict):
        raise check.fail(f"{where}.by_resolution", "must be a table: TOTV/TVTV -> resolution -> figures")
    check.unknown(by_resolution, set(RESOLUTION_METHODS), f"{where}.by_resolution")
    for method, rows in by_resolution.items():
        if not isinstance(rows, dict) or len(rows) > MAX_RESOLUTIONS:
            raise check.fail(f"{where}.by_resolution.{method}", "must be a table of resolution (px) -> figures")
        figures.by_resolution[method] = {}
        for res, row in rows.items():
            at = f"{where}.by_resolution.{method}.{res}"
            if not res.isdigit() or not 1 <= int(res) <= 1024:
                raise check.fail(at, "the key must be a resolution in pixels, e.g. 16")
            if not isinstance(row, dict):
                raise check.fail(at, f"must be a table of figures, got {_shown(row)}")
            check.unknown(row, {"test_accuracy", "precision", "recall", "macro_f1", "per_class"}, at)
            entry: dict[str, Any] = {}
            for metric, value in row.items():
                if metric == "per_class":
                    entry["per_class"] = _per_class(check, value, f"{at}.per_class")
                else:
                    entry[metric] = check.number(value, f"{at}.{metric}", *_metric_range(metric))
            figures.by_resolution[method][str(int(res))] = entry
    figures.notes = check.text(data, "notes", f"{where}.notes", limit=MAX_LONG_TEXT)
    return figures


# --- one file ---------------------------------------------------------------------------------------------------
def _differs(first: dict, other: dict) -> list[str]:
    """Settings whose value differs between two arms' full configs (a lab's base is compared field by field)."""
    def flat(config: dict) -> dict:
        out = {k: v for k, v in config.items() if k != "base"}
        out.update({k: v for k, v in config.get("base", {}).items()} if isinstance(config.get("base"), dict) else {})
        out.pop("name", None)
        return out

    a, b = flat(first), flat(other)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def parse_lesson(text: str, path: Path | str = "lesson.toml", source: str = "course") -> Lesson:
    """A Lesson from a TOML text; LessonFileError naming the file and the field when it is not a valid one."""
    path = Path(path)
    check = _Check(path)
    if len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise check.fail("", f"is larger than {MAX_FILE_BYTES // 1024} KB; a lesson file is a few KB")
    text = text.removeprefix("\ufeff")   # a BOM (some Windows editors write one) is not part of the TOML
    # Depth is bounded before the parser sees it (tomllib recurses per bracket), and after (dotted keys nest too).
    if nesting_depth(text, "toml", MAX_NESTING) > MAX_NESTING:
        raise check.fail("", f"nests more than {MAX_NESTING} levels of brackets; a lesson file needs a few")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise check.fail("", f"is not valid TOML ({error})") from None
    except (ValueError, RecursionError) as error:  # e.g. a number of 5000 digits
        raise check.fail("", f"cannot be read as TOML ({str(error)[:80] or type(error).__name__})") from None
    if data_depth(data, MAX_NESTING) > MAX_NESTING:
        raise check.fail("", f"nests more than {MAX_NESTING} levels of tables; a lesson file needs a few")
    return lesson_from_data(data, path, source)


def lesson_from_data(data: Any, path: Path | str = "lesson.toml", source: str = "course") -> Lesson:
    """A Lesson from a lesson file's parsed contents (a dict); LessonFileError naming the file and the field."""
    path = Path(path)
    check = _Check(path)
    if not isinstance(data, dict):
        raise check.fail("", f"must hold a table of lesson fields, got {_shown(data)}")
    check.unknown(data, _LESSON_KEYS, "")
    lesson_id = check.text(data, "id", "id", required=True)
    if not ID_RE.match(lesson_id):
        raise check.fail("id", f"\"{lesson_id[:40]}\" must be 1-64 letters, digits, '-' or '_', starting with a "
                               "letter or digit")
    topic = check.text(data, "topic", "topic", required=True)
    if topic not in TOPICS:
        raise check.fail("topic", f"\"{topic[:40]}\" is not a topic; choose one of {', '.join(TOPICS)}")
    defaults = check.table(data, "defaults", "defaults")
    shared_quick = check.table(data, "quick", "quick")
    _check_setting_types(check, defaults, "defaults")
    defaults, defaulted = _with_lesson_defaults(defaults, data.get("arms"))
    _check_setting_types(check, shared_quick, "quick", skip=LAB_FIELDS)
    arms_data = data.get("arms")
    if not isinstance(arms_data, list) or not arms_data:
        raise check.fail("arms", "give at least one [[arms]] table")
    if len(arms_data) > MAX_ARMS:
        raise check.fail("arms", f"has {len(arms_data)} arms; at most {MAX_ARMS}")
    arms: list[LessonArm] = []
    for index, arm_data in enumerate(arms_data):
        where = f"arms[{index}]"
        if not isinstance(arm_data, dict):
            raise check.fail(where, f"must be a table, got {_shown(arm_data)}")
        check.unknown(arm_data, _ARM_KEYS, where)
        arm_id = check.text(arm_data, "id", f"{where}.id", required=True)
        if not ID_RE.match(arm_id):
            raise check.fail(f"{where}.id", f"\"{arm_id[:40]}\" must be 1-64 letters, digits, '-' or '_'")
        if any(arm.id == arm_id for arm in arms):
            raise check.fail(f"{where}.id", f"\"{arm_id}\" is used by an earlier arm; arm ids must differ")
        kind = check.text(arm_data, "kind", f"{where}.kind") or "train"
        if kind not in ARM_KINDS:
            raise check.fail(f"{where}.kind", f"\"{kind[:40]}\" is not an arm kind; choose one of {', '.join(ARM_KINDS)}")
        own = check.table(arm_data, "config", f"{where}.config")
        quick = {**shared_quick, **check.table(arm_data, "quick", f"{where}.quick")}
        if kind == "resolution_lab":
            base = own.get("base", {})
            if not isinstance(base, dict):
                raise check.fail(f"{where}.config.base", f"must be a table of training settings, got {_shown(base)}")
            config = {**own, "base": {**defaults, **base}}
            _check_lab_settings(check, config, f"{where}.config")
            _check_lab_settings(check, _with_quick(kind, config, quick), f"{where}.quick")
        else:
            config = {**defaults, **own}
            start_from = _start_from(check, arm_data, config, arms, where)
            _check_train_settings(check, config, f"{where}.config")
            _check_train_settings(check, _with_quick(kind, config, quick), f"{where}.quick")
        original_source, original_model = _original(check, arm_data, kind, config, quick, where)
        epochs = int((config["base"] if kind == "resolution_lab" else config).get("epochs", _default_epochs(kind)))
        reported = _reported(check, arm_data.get("reported", {}), f"{where}.reported", epochs)
        arms.append(LessonArm(id=arm_id, label=check.text(arm_data, "label", f"{where}.label") or arm_id, kind=kind,
                              config=config, quick=quick, reported=reported,
                              description=check.text(arm_data, "description", f"{where}.description",
                                                     limit=MAX_LONG_TEXT),
                              original_source=original_source, original_model=original_model,
                              start_from=start_from if kind == "train" else ""))
    for arm in arms:
        arm.differs = _differs(arms[0].config, arm.config) if arm is not arms[0] else []
    return Lesson(
        id=lesson_id, title=check.text(data, "title", "title", required=True), topic=topic,
        question=check.text(data, "question", "question", required=True, limit=MAX_LONG_TEXT),
        report=check.text(data, "report", "report"), section=check.text(data, "section", "section"), arms=arms,
        look_at=check.texts(data, "look_at", "look_at"),
        conclusion=check.text(data, "conclusion", "conclusion", limit=MAX_LONG_TEXT),
        filled_in=check.texts(data, "filled_in", "filled_in"),
        inconsistencies=check.texts(data, "inconsistencies", "inconsistencies"),
        substitutes=check.texts(data, "substitutes", "substitutes"), defaulted=defaulted,
        quick_note=check.text(data, "quick_note", "quick_note", limit=MAX_LONG_TEXT),
        quick_limit=check.text(data, "quick_limit", "quick_limit", limit=MAX_LONG_TEXT), source=source, path=str(path))


def _start_from(check: _Check, arm_data: dict, config: dict, earlier: list[LessonArm], where: str) -> str:
    """The earlier arm a chained arm starts from ("" for none); sets its transfer model's source to "arm:<id>"
    (the runner replaces it with that arm's run of the same seed)."""
    start_from = check.text(arm_data, "start_from", f"{where}.start_from")
    model = config.get("model")
    source = model.get("source", "") if isinstance(model, dict) else ""
    if not start_from:
        if isinstance(source, str) and source.startswith(ARM_SOURCE_PREFIX):
            raise check.fail(f"{where}.config.model.source", f"\"{source[:40]}\" names an arm: write "
                                                             f"start_from = \"{source[len(ARM_SOURCE_PREFIX):][:40]}\" instead")
        return ""
    if arm_data.get("kind", "train") != "train":
        raise check.fail(f"{where}.start_from", "is for train arms")
    ids = [arm.id for arm in earlier]
    if start_from not in ids:
        raise check.fail(f"{where}.start_from", f"\"{start_from[:40]}\" is not an earlier arm of this lesson"
                                                + (f"; earlier arms: {', '.join(ids)}" if ids else
                                                   " (the first arm cannot start from another)"))
    if earlier[ids.index(start_from)].kind != "train":
        raise check.fail(f"{where}.start_from", f"arm \"{start_from}\" is a resolution lab: start from a train arm")
    if not isinstance(model, dict) or model.get("kind") != "transfer":
        raise check.fail(f"{where}.config.model", "an arm with start_from needs a transfer model, e.g. "
                                                  "{ kind = \"transfer\", strategy = \"last:1\" } (which layers train)")
    wanted = ARM_SOURCE_PREFIX + start_from
    if source and source != wanted:
        raise check.fail(f"{where}.config.model.source", f"leave it out: start_from = \"{start_from}\" gives it")
    config["model"] = {**model, "source": wanted}
    return start_from


def _with_lesson_defaults(defaults: dict, arms_data: Any) -> tuple[dict, dict]:
    """([defaults] over LESSON_DEFAULTS, the LESSON_DEFAULTS taken: those no arm's config or base sets either)."""
    own: set[str] = set(defaults)
    for arm in arms_data if isinstance(arms_data, list) else []:
        config = arm.get("config") if isinstance(arm, dict) else None
        if isinstance(config, dict):
            own |= set(config)
            if isinstance(config.get("base"), dict):
                own |= set(config["base"])
    taken = {k: v for k, v in LESSON_DEFAULTS.items() if k not in own}
    return {**LESSON_DEFAULTS, **defaults}, taken


def _original(check: _Check, arm_data: dict, kind: str, config: dict, quick: dict,
              where: str) -> tuple[str, dict]:
    """(original_source, original_model) of a transfer arm: a known pretrained network, and model settings that
    make a valid transfer model with it, in full and quick mode. ("", {}) when the arm names none."""
    source = check.text(arm_data, "original_source", f"{where}.original_source")
    model_overrides = check.table(arm_data, "original_model", f"{where}.original_model")
    if not source:
        if model_overrides:
            raise check.fail(f"{where}.original_model", "goes with original_source; give that too or remove it")
        return "", {}
    model = config.get("model") if kind == "train" else None
    if not isinstance(model, dict) or model.get("kind") != "transfer":
        raise check.fail(f"{where}.original_source", "is for transfer arms: their config.model has "
                                                     "kind = \"transfer\"")
    from cnnkit.models.pretrained import PRETRAINED

    if source not in PRETRAINED:
        raise check.fail(f"{where}.original_source",
                         f"\"{source[:40]}\" is not a pretrained network; choose one of {', '.join(PRETRAINED)}")
    if "source" in model_overrides:
        raise check.fail(f"{where}.original_model.source", "is original_source; give the network there")
    for mode_where, settings in ((f"{where}.original_model", config), (f"{where}.quick", _with_quick(kind, config, quick))):
        swapped = settings.get("model")
        if isinstance(swapped, dict):
            _check_model(check, {**swapped, **model_overrides, "source": source}, mode_where)
    return source, model_overrides


def _default_epochs(kind: str) -> int:
    if kind == "resolution_lab":
        from cnnkit.labs.resolution import LAB_EPOCHS

        return LAB_EPOCHS
    from cnnkit.train import TrainConfig

    return TrainConfig().epochs


def load_lesson_file(path: Path, source: str = "teacher") -> Lesson:
    """Read and check one lesson file: a regular file (a pipe or a link to a device is refused, never read), its
    size bounded before it is read, UTF-8 (a BOM is dropped)."""
    path = Path(path)
    check = _Check(path)
    try:
        text = read_text_bounded(path, MAX_FILE_BYTES)
    except DamagedFile as error:
        raise check.fail("", str(error).removeprefix(f"{path} ")) from None
    except OSError as error:
        raise check.fail("", f"cannot be read ({error.strerror or error})") from None
    return parse_lesson(text, path, source)


# --- every lesson -----------------------------------------------------------------------------------------------
def teacher_lessons_dir() -> Path:
    """Where a teacher's own lesson files go: <data dir>/lessons."""
    return data_dir() / TEACHER_FOLDER


def _files(folder: Path, limit: Optional[int] = None) -> list[Path]:
    if not folder.is_dir():
        return []
    # Everything named *.toml but folders: a pipe or a link to a device is listed, so load_lesson_file names it.
    found = sorted(p for p in folder.glob("*.toml") if not p.is_dir() and not p.name.startswith("."))
    return found[:limit] if limit else found


# Every page run lists the lessons (Home's course, the Lessons index, a pinned lesson): parsing and checking ~20
# TOML files costs ~30 ms of CPU, so the parsed list is kept per process and read again only when a lesson
# file (the course's or the teacher's) is added, removed or written: the next listing sees the change.
_LOADED: dict = {}
_LOADED_LOCK = threading.Lock()


def _load_all() -> tuple[list[Lesson], list[LessonFileError]]:
    teacher_folder = teacher_lessons_dir()
    teacher_files = _files(teacher_folder)
    key = (str(COURSE_DIR), str(teacher_folder), len(teacher_files),
           file_signature(_files(COURSE_DIR) + teacher_files[:MAX_TEACHER_FILES]))
    with _LOADED_LOCK:
        if _LOADED.get("key") != key:
            _LOADED.update(key=key, value=_read_all())
        lessons, errors = _LOADED["value"]
    return list(lessons), list(errors)


def _read_all() -> tuple[list[Lesson], list[LessonFileError]]:
    lessons: list[Lesson] = []
    errors: list[LessonFileError] = []
    seen: set[str] = set()
    for path in _files(COURSE_DIR):
        lesson = load_lesson_file(path, "course")   # a broken course file is a bug: let it raise
        if lesson.id in seen:
            raise LessonFileError(str(path), "id", f"\"{lesson.id}\" is used by another course lesson")
        seen.add(lesson.id)
        lessons.append(lesson)
    folder = teacher_lessons_dir()
    files = _files(folder)
    if len(files) > MAX_TEACHER_FILES:
        errors.append(LessonFileError(str(folder), "", f"holds {len(files)} lesson files; only the first "
                                                       f"{MAX_TEACHER_FILES} are read"))
    for path in files[:MAX_TEACHER_FILES]:
        try:
            lesson = load_lesson_file(path, "teacher")
        except LessonFileError as error:
            errors.append(error)
            continue
        except Exception as error:  # noqa: BLE001  a teacher's file fails alone, never the listing
            errors.append(LessonFileError(str(path), "", f"cannot be checked ({type(error).__name__}: "
                                                         f"{str(error)[:120]})"))
            continue
        if lesson.id in seen:
            errors.append(LessonFileError(str(path), "id", f"\"{lesson.id}\" is already a lesson's id; "
                                                           "give this one another id"))
            continue
        seen.add(lesson.id)
        lessons.append(lesson)
    return lessons, errors


def list_lessons() -> list[Lesson]:
    """The course's lessons (in file-name order), then the teacher's valid ones."""
    return _load_all()[0]


def lesson_file_errors() -> list[LessonFileError]:
    """The teacher's lesson files that cannot be used, each with file, field and message."""
    return _load_all()[1]


def lessons_by_topic(lessons: Optional[list[Lesson]] = None) -> dict[str, list[Lesson]]:
    """The lessons grouped by topic, topics in TOPICS order (empty topics left out), each in listing order."""
    lessons = list_lessons() if lessons is None else lessons
    return {topic: [l for l in lessons if l.topic == topic] for topic in TOPICS if any(l.topic == topic for l in lessons)}


def get_lesson(lesson_id: str) -> Lesson:
    """One lesson by id; KeyError saying where to find the ids."""
    for lesson in list_lessons():
        if lesson.id == lesson_id:
            return lesson
    raise KeyError(f"no lesson {str(lesson_id)[:64]!r}: see `python -m cnnkit lessons`")
