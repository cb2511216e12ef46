"""The resolution lab: TOTV (train on the original resolution, test on various) against TVTV (train and
test on each resolution).

One lab = one TOTV model trained at the dataset's native size and evaluated at every resolution, plus
one TVTV model per lower resolution (the native row of TVTV is the TOTV model itself: both train and
test at the native size). Every model is an ordinary saved run (cnnkit.store); the lab itself is
checkpoint_dir()/labs/<lab_id>/lab.json, rewritten after every step so a finished lab reopens
without retraining and an interrupted one keeps what it had.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from cnnkit.data import dataset_info, transform_resolution
from cnnkit.data.resolution import RESIZE_MODES
from cnnkit.device import resolve_device
from cnnkit.evaluate import evaluate_run
from cnnkit.fileio import check_required_fields
from cnnkit import store
from cnnkit.labs.saved import LabKind, labs_dir, load_lab, register_lab_kind, save_lab
from cnnkit.models import build_bundle
from cnnkit.train import TrainConfig, learning_settings, train
from cnnkit.cancellation import Cancelled

ProgressCallback = Callable[[dict], None]
DEFAULT_RESOLUTIONS = (32, 16, 8)
KIND = "resolution"            # this kind's name in lab.json and in the registry of lab kinds


WAIT_POLL_S = 5.0               # how often a lab looks whether a model another process trains has ended
LAB_EPOCHS = 5                 # per model: enough for TVTV at 8 px to pull clearly ahead of TOTV there (4 was not)


def default_lab_training(**overrides: Any) -> TrainConfig:
    """The lab's default training, shared by every model (the page, the CLI and ResolutionLabConfig()):
    Shapes with the Training runner's quick recipe (TrainConfig's defaults), LAB_EPOCHS epochs each."""
    return TrainConfig(**{"dataset": "shapes", "epochs": LAB_EPOCHS, **overrides})


@dataclass
class ResolutionLabConfig:
    """base: TrainConfig fields shared by every model (its resolution fields are set by the lab).
    native_size: feed the small images directly instead of resampling them back up (global-pooling nets)."""

    base: dict = field(default_factory=lambda: default_lab_training().to_dict())
    resolutions: list[int] = field(default_factory=lambda: list(DEFAULT_RESOLUTIONS))
    mode: str = "area"
    native_size: bool = False
    name: str = ""

    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(dict(self.base))

    def sorted_resolutions(self) -> list[int]:
        return sorted({int(r) for r in self.resolutions}, reverse=True)

    def validate(self) -> None:
        """Raise ValueError saying what to change (the dataset-dependent checks run in run_resolution_lab)."""
        if not self.resolutions:
            raise ValueError("give at least one resolution, e.g. 32,16,8")
        for r in self.resolutions:
            if not isinstance(r, int) or isinstance(r, bool) or r < 1:
                raise ValueError(f"resolutions must be whole numbers of pixels, at least 1 (got {r!r})")
        if len(set(self.resolutions)) != len(self.resolutions):
            raise ValueError(f"resolutions must differ from each other (got {self.resolutions})")
        if self.mode not in RESIZE_MODES:
            raise ValueError(f"unknown downsampling filter {self.mode!r}; choose one of {', '.join(RESIZE_MODES)}")
        self.train_config().validate()

    def plan(self, native: Optional[int] = None) -> "LabPlan":
        """What the lab trains and tests where; native = the dataset's image size (looked up when None).

        Raises ValueError saying what to change (bad settings, a resolution above the native size)."""
        self.validate()
        base = self.train_config()
        if native is None:
            native = int(dataset_info(base.dataset).height)
        resolutions = self.sorted_resolutions()
        too_big = [r for r in resolutions if r > native]
        if too_big:
            raise ValueError(f"{base.dataset} images are {native}×{native} px; resolutions above that "
                             f"({', '.join(map(str, too_big))}) cannot be made by downsampling: choose {native} or less")
        # TOTV: trained at the native size, tested at every resolution; where that is the native size the
        # training's own test result fills both tables (TVTV at native = train and test at native).
        totv_tests = []
        for r in resolutions:
            totv_tests.append(PlannedTest("TOTV", r, own_test=r == native))
            if r == native:
                totv_tests.append(PlannedTest("TVTV", r, own_test=True))
        trainings = [PlannedTraining("TOTV", native, f"TOTV {native} px", totv_tests)]
        # TVTV: one model per lower resolution, its own test result (at that resolution) is its row.
        trainings += [PlannedTraining("TVTV", r, f"TVTV {r} px", [PlannedTest("TVTV", r, own_test=True)])
                      for r in resolutions if r != native]
        return LabPlan(dataset=base.dataset, native=native, resolutions=resolutions, epochs=base.epochs,
                       trainings=trainings)

    def training_config(self, planned: "PlannedTraining", name: str = "") -> TrainConfig:
        """The TrainConfig of one planned training (what run_resolution_lab trains, and what is estimated)."""
        return TrainConfig.from_dict({
            **self.train_config().to_dict(), "train_resolution": planned.train_resolution, "test_resolution": None,
            "resize_mode": self.mode, "restore_size": not self.native_size, "name": name})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ResolutionLabConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown resolution-lab setting(s): {', '.join(unknown)}")
        return cls(**data)


@dataclass
class PlannedTest:
    """One row of the lab's tables: which table it fills, the resolution it is tested at, and whether it is
    the model's own test result (no extra work) or an evaluation on downsampled test images."""

    method: str                      # the table: "TOTV" | "TVTV"
    resolution: int                  # tested at (px)
    own_test: bool                   # True: the training's own test result; False: evaluate_run at `resolution`


@dataclass
class PlannedTraining:
    """One model the lab trains (one saved run) and the rows it fills."""

    method: str                      # "TOTV" | "TVTV"
    resolution: int                  # trained at (px)
    label: str                       # "TVTV 16 px": run name suffix, progress label, curve tab
    tests: list[PlannedTest]

    @property
    def train_resolution(self) -> Optional[int]:
        """TrainConfig.train_resolution: None for TOTV (the dataset's own images, untouched)."""
        return None if self.method == "TOTV" else self.resolution


@dataclass
class LabPlan:
    dataset: str
    native: int                      # the dataset's own image size
    resolutions: list[int]           # highest first
    epochs: int                      # per model
    trainings: list[PlannedTraining]  # in training order, TOTV first

    def evaluations(self) -> list[PlannedTest]:
        """The rows that need an evaluation on downsampled test images (TOTV below the native size)."""
        return [test for training in self.trainings for test in training.tests if not test.own_test]

    def text(self) -> str:
        """What the lab will train, in one line."""
        text = f"Trains {len(self.trainings)} model(s) of {self.epochs} epoch(s): " + ", ".join(
            f"{method} at " + ", ".join(f"{t.resolution} px" for t in self.trainings if t.method == method)
            for method in ("TOTV", "TVTV") if any(t.method == method for t in self.trainings))
        return text + "."

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ResolutionRow:
    """One method at one resolution: test metrics of one model on the test split at that resolution."""

    resolution: int
    accuracy: float
    precision: float                 # macro
    recall: float                    # macro
    f1: float                        # macro
    per_class: list[dict]            # {class, accuracy, precision, recall, f1, support}
    run_dir: str                     # the model that was tested
    num_test: int = 0


@dataclass
class ResolutionLabResult:
    lab_id: str
    lab_dir: str
    status: str                      # running | done | cancelled | failed
    dataset: str
    model: str
    classes: list[str]
    native: int                      # the dataset's own image size
    resolutions: list[int]           # highest first
    mode: str
    native_size: bool
    config: dict                     # the ResolutionLabConfig
    totv: list[ResolutionRow] = field(default_factory=list)
    tvtv: list[ResolutionRow] = field(default_factory=list)
    # every model of the lab: {method: "TOTV"|"TVTV", resolution (trained at), run_dir, label}
    runs: list[dict] = field(default_factory=list)
    created: float = 0.0
    seconds: float = 0.0
    message: str = ""
    kind: str = KIND
    owner: str = ""                  # who ran it ("" = a guest); its runs are theirs too

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ResolutionLabResult":
        """ValueError/TypeError naming what is wrong when `data` is not a whole resolution lab."""
        data = dict(data)
        if data.get("kind", KIND) != KIND:
            raise ValueError(f"a {data['kind']!r} lab is not a resolution lab")
        check_required_fields(cls, data)
        data["totv"] = [ResolutionRow(**r) for r in data.get("totv", [])]
        data["tvtv"] = [ResolutionRow(**r) for r in data.get("tvtv", [])]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def title(self) -> str:
        """One line for pickers and listings."""
        return f"{self.model} on {self.dataset} · {'/'.join(map(str, self.resolutions))} px"

    def summary(self) -> dict:
        """The CLI's JSON: both tables, the run folders, no bulky configs."""
        data = self.to_dict()
        data.pop("config")
        return data

    def metric_rows(self) -> list[dict]:
        """Long table for charts: {method, resolution, metric, value} over accuracy, precision, F1."""
        rows = []
        for method, table in (("TOTV", self.totv), ("TVTV", self.tvtv)):
            for row in table:
                for metric in ("accuracy", "precision", "f1"):
                    rows.append({"method": method, "resolution": row.resolution, "metric": metric,
                                 "value": getattr(row, metric)})
        return rows

    def per_class_rows(self) -> list[dict]:
        """Long table for the heatmap: {method, resolution, class, accuracy}."""
        rows = []
        for method, table in (("TOTV", self.totv), ("TVTV", self.tvtv)):
            for row in table:
                for entry in row.per_class:
                    rows.append({"method": method, "resolution": row.resolution, "class": entry["class"],
                                 "accuracy": entry["accuracy"]})
        return rows


class LabCancelled(Exception):
    pass


register_lab_kind(LabKind(KIND, ResolutionLabResult, "TOTV against TVTV at several resolutions"))


def estimate_lab(config: ResolutionLabConfig, device: Optional[str] = None, measure=None) -> float:
    """Seconds the lab will take: each planned training's measured estimate (cnnkit.train.estimate), one after
    another as the lab runs them; the extra TOTV test passes at lower resolutions are a forward pass over the
    test split each. Raises ValueError like plan()."""
    from cnnkit.train.estimate import estimate_training

    plan = config.plan()
    info = dataset_info(config.train_config().dataset)
    total = 0.0
    for planned in plan.trainings:
        estimate = estimate_training(config.training_config(planned), info=info, device=device, measure=measure)
        extra_tests = sum(1 for test in planned.tests if not test.own_test)
        total += estimate.total_seconds + extra_tests * estimate.test_images * estimate.eval_seconds_per_image
    return total


def _new_lab_id(dataset: str, model: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{model}-{dataset}")[:40]
    return f"{time.strftime('%Y%m%d-%H%M%S')}-res-{safe}-{secrets.token_hex(2)}"


# --- the lab ---------------------------------------------------------------------------------------
def _row(resolution: int, results: dict, run_dir: str) -> ResolutionRow:
    per_class = [{"class": c["class"], "accuracy": float(c["accuracy"]), "precision": float(c["precision"]),
                  "recall": float(c["recall"]), "f1": float(c["f1"]), "support": int(c["support"])}
                 for c in results["per_class"]]
    return ResolutionRow(resolution=int(resolution), accuracy=float(results["accuracy"]),
                         precision=float(results["macro_precision"]), recall=float(results["macro_recall"]),
                         f1=float(results["macro_f1"]), per_class=per_class, run_dir=str(run_dir),
                         num_test=int(results.get("num_test", 0)))


def _check_native_size(config: TrainConfig, channels: int, size: int, num_classes: int,
                       resolutions: list[int]) -> None:
    """Feeding small images directly only works for networks whose weights do not depend on the input
    size (global pooling before the classifier): try the network at every resolution before training."""
    bundle = build_bundle(config.model, (channels, size, size), num_classes, config,
                          image_size_given=config.image_size is not None)
    model = bundle.model.eval()
    for r in resolutions:
        try:
            with torch.no_grad():
                model(torch.zeros(2, channels, r, r))
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(
                f"{bundle.name} cannot take {r}×{r} images directly ({first[:160]}); native size needs a network "
                "that ends in global pooling and keeps at least 1 pixel (try resnet_small), or turn native size "
                "off so small images are resampled back up") from None


def _relay(on_progress: Optional[ProgressCallback], stage: int, stages: int, label: str) -> Optional[ProgressCallback]:
    """Forward one model's training events, tagged with the model and with the lab's overall fraction."""
    if on_progress is None:
        return None

    def relay(event: dict) -> None:
        kind = event.get("kind")
        if kind == "epoch":
            on_progress({"kind": "epoch", "row": {**event["row"], "model": label}})
        elif kind == "status":
            on_progress({**event, "message": f"{label}: {event.get('message', '')}"})
        elif kind == "step":
            on_progress(event)
            within = ((event["epoch"] - 1) + event["epoch_step"] / max(1, event["steps_per_epoch"])) / max(1, event["epochs"])
            on_progress({"kind": "lab", "lab_fraction": (stage + min(1.0, within)) / stages})
        else:
            on_progress(event)

    return relay


def _checked_plan(config: ResolutionLabConfig) -> tuple[LabPlan, Any]:
    """The lab's plan and its dataset's info, after every check that needs no training.

    Raises ValueError (bad settings, unavailable data, a resolution above the native size, a network that cannot
    take small images directly)."""
    config.validate()
    base = config.train_config()
    info = dataset_info(base.dataset)
    if not info.available:
        raise ValueError(f"{base.dataset} cannot be loaded: {info.reason}")
    plan = config.plan(native=int(info.height))
    if config.native_size:
        _check_native_size(base, int(info.channels), int(base.image_size or plan.native), len(info.classes),
                           [r for r in plan.resolutions if r != plan.native])
    return plan, info


def run_resolution_lab(config: ResolutionLabConfig, on_progress: Optional[ProgressCallback] = None,
                       cancel_event: Optional[threading.Event] = None,
                       root: Optional[Path] = None, owner: str = "") -> ResolutionLabResult:
    """Train and evaluate the whole lab; returns its result (status done or cancelled) and saves it.

    Raises ValueError (bad settings, a resolution above the native size, a network that cannot take
    small images directly) before anything is trained."""
    plan, info = _checked_plan(config)
    base = config.train_config()
    lab_id = _new_lab_id(base.dataset, base.model_label())
    lab_dir = labs_dir(root) / lab_id
    lab_dir.mkdir(parents=True, exist_ok=False)
    result = ResolutionLabResult(
        lab_id=lab_id, lab_dir=str(lab_dir), status="running", dataset=base.dataset, model=base.model_label(),
        classes=list(info.classes), native=plan.native, resolutions=plan.resolutions, mode=config.mode,
        native_size=config.native_size, config=config.to_dict(), created=time.time(), owner=owner)
    save_lab(result)
    return _run_plan(result, config, plan, on_progress, cancel_event)


def resume_resolution_lab(lab: str | Path, on_progress: Optional[ProgressCallback] = None,
                          cancel_event: Optional[threading.Event] = None,
                          root: Optional[Path] = None) -> ResolutionLabResult:
    """Go on with a lab that ended before its last model (the app or the machine stopped, or it was stopped):
    the models it finished keep their rows, the one it was training goes on after its last finished epoch (one
    that never finished an epoch starts afresh), the rest train as planned. Returns the result, saved.

    ValueError when the lab is done, still training in another process, or its data or settings no longer
    check out (nothing is changed then)."""
    result = load_lab(lab, root, kind=KIND)
    _check_stopped(result)
    config = ResolutionLabConfig.from_dict(result.config)
    plan, _ = _checked_plan(config)
    if plan.native != result.native or plan.resolutions != list(result.resolutions):
        raise ValueError(f"resolution lab {result.lab_id} was planned for {result.dataset} at {result.native} px; "
                         f"the dataset now has {plan.native} px images, so the lab cannot go on: run it anew")
    return _run_plan(result, config, plan, on_progress, cancel_event)


def train_lab_model(lab: str | Path, label: str, on_progress: Optional[ProgressCallback] = None,
                    cancel_event: Optional[threading.Event] = None) -> store.RunRecord:
    """Train one of a lab's planned models (by its label, e.g. "TVTV 8 px") in this process, as the run the lab
    takes when it gets to that model: a machine with a spare core trains a lab's models side by side, the lab's
    own process (or a later resume) finding this one by its name. A model this began before goes on after its
    last finished epoch; a finished one is returned as it is. Returns the model's run record.

    The lab's process needs no stop for this: should it reach the model while this trains it, it waits for this
    to end. ValueError: the lab is done or has the model's rows, plans no such model, or a process trains that
    model now."""
    result = load_lab(lab, kind=KIND)
    if result.status == "done":
        raise ValueError(f"resolution lab {result.lab_id} is done: there is nothing to train")
    config = ResolutionLabConfig.from_dict(result.config)
    plan, _ = _checked_plan(config)
    planned = next((training for training in plan.trainings if training.label == label), None)
    if planned is None:
        raise ValueError(f"resolution lab {result.lab_id} plans no model {label!r}; its models: "
                         + ", ".join(repr(training.label) for training in plan.trainings))
    if _has_rows(result, planned):
        raise ValueError(f"the lab has trained and tested its {label} model already")
    training = config.training_config(planned, name=_training_name(result, config, planned))
    earlier, finished = _earlier_run(result, planned, training)
    if not finished:
        earlier = train(training, on_progress=on_progress, cancel_event=cancel_event, owner=result.owner,
                        resume_from=earlier).run_dir
    return store.load_run(Path(earlier))


def lab_is_training(result: ResolutionLabResult) -> bool:
    """Whether a live process is training one of the lab's models now (another app, a shell): such a lab has not
    stopped, whatever its lab.json says."""
    for entry in result.runs:
        try:
            if store.load_run(Path(entry["run_dir"])).status in store.ACTIVE_STATUSES:
                return True
        except (FileNotFoundError, KeyError, TypeError):
            continue
    return False


def submit_lab_resume(lab: str | Path, manager: Any, by: str = "", teacher: bool = False) -> str:
    """Queue a job that goes on with a stopped lab (resume_resolution_lab) on `manager` (a cnnkit.jobs queue),
    asked by `by`: the lab's owner or the teacher, else NotAllowed. The job is the lab's owner's, as its runs are.
    Returns the job id. ValueError saying why when it cannot: the lab is done, a job is on it already, or its
    settings no longer check out."""
    from cnnkit.classroom import gate

    result = load_lab(lab, kind=KIND)
    gate.check("resume", gate.Actor(by or "", teacher), manager.class_config, target_owner=result.owner,
               what=f"lab {result.lab_id}")
    _check_stopped(result)
    if any(snap.meta.get("lab_id") == result.lab_id for snap in manager.active()):
        raise ValueError(f"resolution lab {result.lab_id} is already queued or training; wait for it")
    config = ResolutionLabConfig.from_dict(result.config)
    _checked_plan(config)
    base = config.train_config()

    def job(context: Any) -> ResolutionLabResult:
        return resume_resolution_lab(result.lab_dir, on_progress=context.progress, cancel_event=context.cancel_event)

    return manager.submit(job, label=f"Resolution lab: {result.title()}, resumed",
                          device=str(resolve_device(base.device)), group="resolution-lab",
                          meta={"kind": "lab", "config": base.to_dict(), "resolutions": list(result.resolutions),
                                "lab_id": result.lab_id, "lab_dir": result.lab_dir},
                          owner=result.owner, teacher=teacher)


def _check_stopped(result: ResolutionLabResult) -> None:
    """ValueError unless the lab stopped before its end: it is done, or a process is training it now."""
    if result.status == "done":
        raise ValueError(f"resolution lab {result.lab_id} is done: there is nothing to go on with")
    if lab_is_training(result):
        raise ValueError(f"resolution lab {result.lab_id} is training in another process now: let it finish, or "
                         "stop it there")


def _training_name(result: ResolutionLabResult, config: ResolutionLabConfig, planned: PlannedTraining) -> str:
    """The run name of one of the lab's models: how a resumed lab finds the run it was training."""
    prefix = (config.name or config.train_config().name or f"reslab {result.lab_id[-4:]}").strip()
    return f"{prefix} · {planned.label}"


def _has_rows(result: ResolutionLabResult, planned: PlannedTraining) -> bool:
    """Whether every row this training fills is in the result (it was trained and tested before a stop)."""
    filled = {("TOTV", row.resolution) for row in result.totv} | {("TVTV", row.resolution) for row in result.tvtv}
    return all((test.method, test.resolution) in filled for test in planned.tests)


def _earlier_run(result: ResolutionLabResult, planned: PlannedTraining, training: TrainConfig,
                 wait: Optional[Callable[[Path], None]] = None) -> tuple[Optional[str], bool]:
    """(run folder, finished) of the lab model `planned` (trained with `training`) that the lab trained or began
    before a stop, or that a process beside it trained (train_lab_model); (None, False) when there is none to go
    on with. The lab records each model's folder when its training starts; another run is taken when it has the
    model's name, was made since the lab began, is the lab owner's and learns the same (learning_settings), so a
    namesake of another lab is never taken. A run that stopped before its first epoch is deleted: it has nothing
    to go on from. A model another process trains now: `wait(run_dir)` until that ends, else ValueError."""
    recorded = next((r["run_dir"] for r in result.runs
                     if (r.get("method"), r.get("resolution")) == (planned.method, planned.resolution)), None)
    try:
        record = store.load_run(Path(recorded)) if recorded else store.find_run_named(training.name)
    except FileNotFoundError:                         # deleted since: train it afresh
        return None, False
    if record is None:
        return None, False
    if not recorded and (record.created < result.created - 1.0 or record.owner != result.owner
                         or learning_settings(record.config) != learning_settings(training.to_dict())):
        return None, False
    if record.status in store.WRITING_STATUSES:
        if wait is None:
            raise ValueError(f"its model {training.name!r} is still training (another process has it): let it "
                             "finish, or stop it")
        wait(record.run_dir)
        return _earlier_run(result, planned, training)   # it ended: finished, stopped, or gone
    if record.status in store.FINISHED_STATUSES and store.load_results(record.run_dir):
        return str(record.run_dir), True
    if record.epochs_done > 0:
        return str(record.run_dir), False
    store.delete_run(record.run_dir, by=result.owner, teacher=True)   # the lab's own empty run, not a user's delete
    return None, False


def _epochs_seconds(result: ResolutionLabResult) -> float:
    """The seconds of every finished epoch of the lab's models (their histories keep the epochs before a stop)."""
    total = 0.0
    for entry in result.runs:
        try:
            epochs = store.load_history(Path(entry["run_dir"])).get("epochs", [])
        except (FileNotFoundError, KeyError, TypeError, ValueError):
            continue
        if isinstance(epochs, list):
            total += sum(float(row.get("seconds") or 0.0) for row in epochs if isinstance(row, dict))
    return total


def _run_plan(result: ResolutionLabResult, config: ResolutionLabConfig, plan: LabPlan,
              on_progress: Optional[ProgressCallback], cancel_event: Optional[threading.Event]
              ) -> ResolutionLabResult:
    """Train and test every planned model the result has no rows for yet, saving the lab after each one, going
    on with the models the lab trained (or began) before a stop and taking those trained beside it."""
    base = config.train_config()
    device = str(resolve_device(base.device))
    emit = on_progress or (lambda event: None)
    result.status, result.message = "running", ""
    save_lab(result)
    emit({"kind": "lab", "lab_id": result.lab_id, "lab_dir": result.lab_dir, "lab_fraction": 0.0})
    # a lab stopped before it saved its seconds still has its models' epochs: never count less than those
    started, seconds_before = time.monotonic(), max(float(result.seconds or 0.0), _epochs_seconds(result))
    stages = len(plan.trainings)

    def record_run(planned: PlannedTraining, run_dir: str) -> None:
        result.runs = [r for r in result.runs if (r.get("method"), r.get("resolution")) != (planned.method,
                                                                                             planned.resolution)]
        result.runs.append({"method": planned.method, "resolution": planned.resolution, "run_dir": run_dir,
                            "label": planned.label})

    def wait_for(run_dir: Path, planned: PlannedTraining) -> None:
        emit({"kind": "status", "phase": "waiting", "fraction": None,
              "message": f"waiting for the {planned.label} model, which another process is training"})
        stop = cancel_event or threading.Event()      # no cancel event: a plain wait between looks
        while store.load_run(run_dir).status in store.WRITING_STATUSES:
            if stop.wait(WAIT_POLL_S):
                raise LabCancelled()

    def fit(planned: PlannedTraining, stage: int) -> tuple[str, dict]:
        training = config.training_config(planned, name=_training_name(result, config, planned))
        emit({"kind": "lab", "lab_stage": stage + 1, "lab_stages": stages, "lab_model": planned.label,
              "lab_fraction": stage / stages})
        # a resumed lab goes on with its own earlier run; any lab takes one trained beside it (train_lab_model)
        earlier, finished = _earlier_run(result, planned, training, wait=lambda run_dir: wait_for(run_dir, planned))
        if finished:
            record_run(planned, earlier)
            return earlier, store.load_results(earlier)
        relay = _relay(on_progress, stage, stages, planned.label)

        def watch(event: dict) -> None:
            if event.get("kind") in ("run_dir", "epoch"):   # saved at once: a stopped lab knows where to go on
                if event["kind"] == "run_dir":
                    record_run(planned, str(event["run_dir"]))
                result.seconds = round(seconds_before + time.monotonic() - started, 2)
                save_lab(result)
            if relay is not None:
                relay(event)

        try:
            trained = train(training, on_progress=watch,
                            cancel_event=cancel_event, owner=result.owner, resume_from=earlier)
        except Cancelled:
            raise LabCancelled() from None
        record_run(planned, trained.run_dir)
        if trained.status == "cancelled":
            raise LabCancelled()
        return trained.run_dir, trained.results

    try:
        for stage, planned in enumerate(plan.trainings):
            if _has_rows(result, planned):
                continue                              # trained and tested before a stop
            run_dir, results = fit(planned, stage)
            for test in planned.tests:
                if test.own_test:
                    evaluation = results
                else:
                    if cancel_event is not None and cancel_event.is_set():
                        raise LabCancelled()
                    emit({"kind": "status", "phase": "evaluating",
                          "message": f"testing the {planned.method} model at {test.resolution} px", "fraction": None})
                    evaluation = evaluate_run(run_dir, resolution=test.resolution, mode=config.mode,
                                              restore=not config.native_size, device=device,
                                              test_subset=base.test_subset)[0].to_dict()
                table = result.totv if test.method == "TOTV" else result.tvtv
                table[:] = [row for row in table if row.resolution != test.resolution]   # a stop's partial row
                table.append(_row(test.resolution, evaluation, run_dir))
                table.sort(key=lambda row: -row.resolution)
            result.seconds = round(seconds_before + time.monotonic() - started, 2)
            save_lab(result)
        result.status = "done"
        result.message = f"{len(result.runs)} model(s) trained"
    except LabCancelled:
        result.status = "cancelled"
        result.message = "stopped; the rows finished before the stop are kept (it can go on from there)"
    except BaseException as error:
        result.status = "failed"
        result.message = str(error) or type(error).__name__
        result.seconds = round(seconds_before + time.monotonic() - started, 2)
        save_lab(result)
        raise
    # a model trained beside the lab ran in time this process did not count: never less than its models' epochs
    result.seconds = round(max(seconds_before + time.monotonic() - started, _epochs_seconds(result)), 2)
    save_lab(result)
    emit({"kind": "lab", "lab_fraction": 1.0 if result.status == "done" else None})
    return result


# --- pictures --------------------------------------------------------------------------------------
def network_views(x_uint8: torch.Tensor, resolutions: list[int], mode: str = "area", native_size: bool = False,
                  image_size: Optional[int] = None) -> list[tuple[int, torch.Tensor]]:
    """[(resolution, uint8 batch)]: the images as the network gets them at each resolution (downsampled with
    `mode`, then resampled back up to image_size unless native_size), the same transform as training."""
    size = int(image_size or x_uint8.shape[-1])
    return [(int(r), transform_resolution(x_uint8, size, None if r == x_uint8.shape[-1] else int(r), mode,
                                          not native_size))
            for r in sorted(set(resolutions), reverse=True)]
