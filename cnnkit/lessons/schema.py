"""What a lesson is, as dataclasses: the report's figures, the arms, the lesson itself.

The loader (cnnkit.lessons.loader) builds these from TOML files and checks them; nothing here reads files.
Units follow the reports: accuracies in percent (73.79), precision/recall/F1 as 0-1 (0.7389), losses raw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Union

TOPICS = ("data and splits", "architecture and depth", "optimisation", "regularisation",
          "resolution", "transfer", "explanation")
MODES = ("quick", "full")
ARM_KINDS = ("train", "resolution_lab")
SOURCES = ("course", "teacher")

# The figures an arm may report and compare (ReportedFigures fields and ArmResult.metrics keys).
PERCENT_METRICS = ("test_accuracy", "val_accuracy", "train_accuracy")     # 0-100
FRACTION_METRICS = ("macro_f1", "precision", "recall")                    # 0-1
COMPARED_METRICS = ("test_accuracy", "macro_f1", "precision", "recall")   # what a run of ours measures on test
CURVE_NAMES = ("train_loss", "val_loss", "train_acc", "val_acc", "first_layer_grad")  # *_acc in percent
PER_CLASS_FIELDS = ("precision", "recall", "f1", "accuracy")               # accuracy in percent, others 0-1
RESOLUTION_METHODS = ("TOTV", "TVTV")
# What a lesson trains with where its file says nothing (under its [defaults] and each arm's config): the reports'
# plain recipe, not the Training runner's one-cycle demo defaults (TrainConfig's), so a teacher's lesson never
# inherits a schedule, weight decay or label smoothing it did not ask for. docs/lessons.md lists them; the page
# shows the ones a lesson takes (Lesson.defaulted).
LESSON_DEFAULTS = {"optimizer": "adam", "lr": 0.001, "batch_size": 64, "scheduler": "constant",
                   "weight_decay": 0.0, "label_smoothing": 0.0, "nesterov": False}
ARM_SOURCE_PREFIX = "arm:"   # a chained arm's transfer source before the run it starts from exists
# resolution_lab arm settings that are the lab's own (everything else in its quick overrides goes to `base`)
LAB_FIELDS = ("base", "resolutions", "mode", "native_size", "name")


@dataclass
class ReportedFigures:
    """The report's numbers for one arm; None where the report gives none."""

    test_accuracy: Optional[float] = None      # percent
    macro_f1: Optional[float] = None           # 0-1 (the reports seldom say "macro"; see notes)
    precision: Optional[float] = None          # 0-1
    recall: Optional[float] = None             # 0-1
    val_accuracy: Optional[float] = None       # percent
    train_accuracy: Optional[float] = None     # percent
    val_loss: Optional[float] = None
    curves: dict[str, list[float]] = field(default_factory=dict)        # CURVE_NAMES -> one value per epoch
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)  # class -> PER_CLASS_FIELDS
    # resolution_lab arms: method ("TOTV"/"TVTV") -> resolution in px as text ("16") ->
    # {"test_accuracy", "precision", "recall", "macro_f1": numbers, "per_class": {class: {...}}}
    by_resolution: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    notes: str = ""                            # e.g. "the text says 76.1, a typo"

    def value(self, metric: str) -> Optional[float]:
        return getattr(self, metric, None)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LessonArm:
    id: str
    label: str
    kind: str                      # "train" (a TrainConfig) or "resolution_lab" (a ResolutionLabConfig)
    config: dict                   # full mode: the report's settings (lesson defaults merged in)
    quick: dict                    # overrides for quick mode (lesson-wide quick merged in)
    reported: ReportedFigures = field(default_factory=ReportedFigures)
    differs: list[str] = field(default_factory=list)   # settings that differ from the lesson's first arm
    description: str = ""          # one line under the label (optional)
    # Transfer arms: the report's own pretrained network (a cnnkit.models.pretrained name, e.g. "resnet18"). It runs
    # in place of the config's source (e.g. the bundled efficientnet_lite0) when its weights are in the torch cache;
    # original_model holds the model settings that go with it (its blocks differ: e.g. strategy = "last:2").
    original_source: str = ""
    original_model: dict = field(default_factory=dict)
    # A lesson chain (000-P4): the id of an earlier train arm whose trained network this arm starts from. Its
    # config.model is a transfer model ({kind = "transfer", strategy = "last:1"}: which layers train) whose source
    # is "arm:<that id>" until its run of the same seed has finished; the runner then puts that run's folder there.
    start_from: str = ""

    def runs_original(self, original: Optional[bool] = None) -> bool:
        """Whether this arm runs its original_source: `original` None decides by original_weights_offline()."""
        if not self.original_source or self.kind != "train":
            return False
        return original_weights_offline(self.original_source) if original is None else bool(original)

    def train_settings(self, mode: str = "full") -> dict:
        """The TrainConfig fields of this arm in `mode` (a resolution lab's shared `base`)."""
        config = _with_quick(self.kind, self.config, self.quick if mode == "quick" else {})
        return dict(config["base"]) if self.kind == "resolution_lab" else config

    def to_dict(self) -> dict:
        return asdict(self)


def original_weights_offline(name: str) -> bool:
    """Are the pretrained network's weights here without a network (bundled, or a file in the torch cache)?

    Offline only: a lesson never starts a 500 MB download on its own. Tests monkeypatch this."""
    from cnnkit.models.pretrained import pretrained_info

    try:
        return pretrained_info(name, check_network=False).available
    except (KeyError, ValueError):
        return False


def _with_original(config: dict, arm: "LessonArm") -> dict:
    """config whose transfer model is the arm's original network (with its own model settings)."""
    model = config.get("model")
    if not isinstance(model, dict):
        return config
    return {**config, "model": {**model, **arm.original_model, "source": arm.original_source}}


def _with_quick(kind: str, config: dict, quick: dict) -> dict:
    """config with quick-mode overrides applied (a resolution lab: training settings go into its base)."""
    if kind != "resolution_lab":
        return {**config, **quick}
    merged = {**config, "base": dict(config.get("base", {}))}
    for key, value in quick.items():
        if key in LAB_FIELDS and key != "base":
            merged[key] = value
        elif key == "base" and isinstance(value, dict):
            merged["base"].update(value)
        else:
            merged["base"][key] = value
    return merged


@dataclass
class Lesson:
    id: str
    title: str
    topic: str                     # one of TOPICS
    question: str
    report: str = ""               # "002"
    section: str = ""              # "002-Q4"
    arms: list[LessonArm] = field(default_factory=list)
    look_at: list[str] = field(default_factory=list)
    conclusion: str = ""
    filled_in: list[str] = field(default_factory=list)         # values the report does not give: ours and why
    inconsistencies: list[str] = field(default_factory=list)   # where the report contradicts itself
    substitutes: list[str] = field(default_factory=list)       # data/weights not offline and what runs instead
    # Quick mode in words, shown on screen beside the Mode choice: how its settings differ from the report's
    # (e.g. "3,000 images at 24 px for 6 epochs, not 43,750 at 32 px for 10").
    quick_note: str = ""
    # Non-empty when quick mode cannot show the report's effect in its 3 minutes: why, with figures. The page shows
    # it before Run and leads with the full-mode result.
    quick_limit: str = ""
    source: str = "course"         # "course" or "teacher"
    path: str = ""                 # the file it was read from
    # LESSON_DEFAULTS this lesson takes because its file sets them nowhere (no arm's config, nor [defaults])
    defaulted: dict = field(default_factory=dict)

    def arm(self, arm_id: str) -> LessonArm:
        for arm in self.arms:
            if arm.id == arm_id:
                return arm
        raise KeyError(f"lesson {self.id!r} has no arm {arm_id!r} (arms: {', '.join(a.id for a in self.arms)})")

    def arm_config(self, arm: Union[str, LessonArm], mode: str = "full", seed: Optional[int] = None,
                   device: Optional[str] = None, original: Optional[bool] = None) -> Any:
        """One arm's TrainConfig (or ResolutionLabConfig) in `mode`; seed None keeps the arm's own seed. A transfer
        arm with an original_source runs that network when `original` is True, or None and its weights are offline
        (LessonArm.runs_original); its config's source otherwise."""
        from cnnkit.labs import ResolutionLabConfig
        from cnnkit.train import TrainConfig

        if mode not in MODES:
            raise ValueError(f"unknown lesson mode {mode!r}; choose one of {', '.join(MODES)}")
        arm = self.arm(arm) if isinstance(arm, str) else arm
        config = _with_quick(arm.kind, arm.config, arm.quick if mode == "quick" else {})
        name = f"{self.id} · {arm.id}" + (" · quick" if mode == "quick" else "")
        if arm.kind == "resolution_lab":
            base = dict(config.get("base", {}))
            if seed is not None:
                base["seed"] = int(seed)
            if device is not None:
                base["device"] = device
            base.setdefault("name", name)
            lab = ResolutionLabConfig.from_dict({**config, "base": TrainConfig.from_dict(base).to_dict()})
            lab.name = lab.name or name
            return lab
        settings = _with_original(config, arm) if arm.runs_original(original) else dict(config)
        if seed is not None:
            settings["seed"] = int(seed)
        if device is not None:
            settings["device"] = device
        settings.setdefault("name", name)
        return TrainConfig.from_dict(settings)

    def configs(self, mode: str = "full", seed: Optional[int] = None, device: str = "auto",
                original: Optional[bool] = None) -> list[tuple[str, Any]]:
        """(arm id, TrainConfig or ResolutionLabConfig) for every arm in `mode` ("quick" applies the quick
        overrides); `seed` None keeps each arm's own seed (default 0); `device` is set on every config; `original`
        as in arm_config."""
        return [(arm.id, self.arm_config(arm, mode, seed, device, original)) for arm in self.arms]

    def arm_seed(self, arm: LessonArm) -> int:
        """The seed an arm's first repeat uses (its config's own, default 0)."""
        seed = arm.train_settings("full").get("seed", 0)
        return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else 0

    def quick_changes(self) -> list[str]:
        """How quick mode's settings differ from full mode's, per setting, for every arm alike (what quick_note says
        in words; the page can list both): e.g. "epochs: 10 → 12", "train_subset: all → 5000" (an arm's own quick
        overrides are prefixed with its id)."""
        out: list[str] = []

        def shown(key: str, value: Any) -> str:
            if key in ("train_subset", "test_subset") and not value:
                return "all"
            if key == "image_size" and value is None:
                return "native"
            return "default" if value is None else str(value)

        shared: Optional[dict] = None
        for arm in self.arms:
            full, quick = arm.train_settings("full"), arm.train_settings("quick")
            changes = {k: (full.get(k), quick.get(k)) for k in sorted(set(full) | set(quick))
                       if full.get(k) != quick.get(k) and k != "name"}
            if shared is None:
                shared = changes
                out += [f"{k}: {shown(k, a)} → {shown(k, b)}" for k, (a, b) in changes.items()]
            else:
                out += [f"{arm.id} {k}: {shown(k, a)} → {shown(k, b)}" for k, (a, b) in changes.items()
                        if shared.get(k) != (a, b)]
        return out

    def summary(self) -> dict:
        """The listing's JSON: who, what, arms with their reported figures (no curves or per-class tables)."""
        return {"id": self.id, "title": self.title, "topic": self.topic, "question": self.question,
                "report": self.report, "section": self.section, "source": self.source,
                "quick_note": self.quick_note, "quick_limit": self.quick_limit, "quick_changes": self.quick_changes(),
                "arms": [{"id": a.id, "label": a.label, "kind": a.kind, "differs": a.differs,
                          **({"original_source": a.original_source} if a.original_source else {}),
                          "reported": {m: a.reported.value(m) for m in COMPARED_METRICS + ("val_accuracy",
                                                                                         "train_accuracy", "val_loss")
                                       if a.reported.value(m) is not None}}
                         for a in self.arms]}

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(eq=False)
class LessonFileError(ValueError):
    """A lesson file that cannot be used: which file, which field, what is wrong."""

    path: str
    field: str
    message: str

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        from pathlib import Path

        where = f"{Path(self.path).name}: " if self.path else ""
        return f"{where}{self.field}: {self.message}" if self.field else f"{where}{self.message}"

    def to_dict(self) -> dict:
        return {"path": self.path, "field": self.field, "message": self.message, "text": str(self)}
