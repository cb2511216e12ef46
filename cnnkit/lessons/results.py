"""A lesson's results: per arm, ours (mean ± std over seeds) of what the report measured, saved as a lab of kind
"lesson" (checkpoint_dir()/labs/<lab_id>/lab.json), and the results that ship with the install
(assets/lesson_results/<lesson_id>-<mode>/lab.json, read-only).

A result holds everything its page needs (metrics per seed, per-epoch histories, the confusion matrix, per-class
figures), so a shipped result opens at once with no run folders. Units follow the reports: test accuracy in
percent, precision/recall/F1 as 0-1.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from cnnkit import store
from cnnkit.classroom.identity import same_person
from cnnkit.fileio import (check_field_types, check_required_fields, file_signature, signature_settled,
                            value_matches)
from cnnkit.labs.saved import LAB_FILE, LabKind, labs_dir, list_labs, load_lab, register_lab_kind, save_lab
from cnnkit.lessons.schema import COMPARED_METRICS, MODES, Lesson
from cnnkit.paths import lesson_results_dir

KIND = "lesson"
SHIPPED_FILE = "lab.json"
RESULT_STATUSES = ("running", "done", "partial", "failed", "cancelled")


def metric_summary(values: list[float]) -> dict:
    """{"mean", "std", "n", "per_seed"}: std is the sample standard deviation (n - 1), None for one seed."""
    clean = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not clean:
        return {"mean": None, "std": None, "n": 0, "per_seed": list(values)}
    return {"mean": statistics.fmean(clean), "std": statistics.stdev(clean) if len(clean) > 1 else None,
            "n": len(clean), "per_seed": [float(v) if v is not None else None for v in values]}


@dataclass
class ArmResult:
    arm_id: str
    run_ids: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    # "test_accuracy" (percent), "macro_f1", "precision", "recall" (0-1): {"mean", "std", "n", "per_seed"}
    metrics: dict[str, dict] = field(default_factory=dict)
    histories: list[list[dict]] = field(default_factory=list)   # per seed: the run's per-epoch rows (as trained)
    confusion: Optional[list[list[int]]] = None                  # summed over seeds; rows = true class
    classes: list[str] = field(default_factory=list)
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)  # class -> precision/recall/f1 (0-1),
                                                                          # accuracy (percent): means over seeds
    # resolution-lab arms: method -> resolution (px, as text) -> metric -> summary (as `metrics`)
    by_resolution: dict[str, dict[str, dict[str, dict]]] = field(default_factory=dict)
    seconds: float = 0.0                                         # training time of its runs, summed
    status: str = "done"                                         # done | partial (some seeds) | failed
    message: str = ""
    # transfer arms: the pretrained network its runs started from ("efficientnet_lite0", or the arm's
    # original_source such as "resnet18" when its weights were in the torch cache); "" for other arms
    backbone: str = ""

    def mean(self, metric: str) -> Optional[float]:
        return (self.metrics.get(metric) or {}).get("mean")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LessonResult:
    lesson_id: str
    mode: str                      # "quick" | "full"
    device: str                    # where its runs trained ("cpu", "cuda", "cuda (NVIDIA H200)")
    seeds: list[int]               # the first arm's seeds (each arm lists its own)
    arms: list[ArmResult] = field(default_factory=list)
    seconds: float = 0.0           # wall time from the first run's start to the last one's end
    owner: str = ""
    shipped: bool = False          # read from assets/lesson_results (never written or deleted by the app)
    created: float = 0.0           # time.time() when it was started (labs sort by it)
    # as a saved lab (cnnkit.labs.saved's LabResult protocol)
    lab_id: str = ""
    lab_dir: str = ""
    kind: str = KIND
    status: str = "running"        # running | done | partial | failed | cancelled
    group: str = ""                # the job group of its runs
    plan: list[dict] = field(default_factory=list)    # {arm_id, kind, seed, job_id, name} per queued job
    runs: list[dict] = field(default_factory=list)    # {run_dir, label, arm_id, seed} (delete_lab(runs=True))
    lesson_title: str = ""
    message: str = ""
    device_label: str = ""         # e.g. "GPU: NVIDIA H200, 140 GB" or "CPU (1 thread)": where figures were measured
    # a CPU result's vector instructions (cnnkit.device.cpu_instructions, e.g. "AVX512"; "" where not recorded): its
    # seeds repeat their figures only on a CPU with the same (arithmetic_note)
    cpu_instructions: str = ""
    # which data made it, per dataset in words (e.g. "cifar10: the 6,000 + 1,000-image subset that ships with CNN
    # Lab ..."): a fresh offline install trains on the shipped subset, so the page can say what its figures rest on
    data: str = ""
    # "host:pid" of the process that queues its jobs ("" before results recorded it): a running result whose process
    # is gone stopped before its end (cnnkit.lessons.resume.stopped_groups), and can go on
    runner: str = ""

    def arm(self, arm_id: str) -> Optional[ArmResult]:
        return next((a for a in self.arms if a.arm_id == arm_id), None)

    def title(self) -> str:
        label = "quick" if self.mode == "quick" else "full"
        return f"Lesson {self.lesson_title or self.lesson_id} · {label} · {len(self.seeds)} seed(s)"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LessonResult":
        """ValueError/TypeError naming what is wrong when `data` is not a whole lesson result."""
        data = dict(data)
        if data.get("kind", KIND) != KIND:
            raise ValueError(f"a {data.get('kind')!r} lab is not a lesson result")
        check_required_fields(cls, data)
        if data.get("mode") not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)} (got {str(data.get('mode'))[:40]!r})")
        check_field_types(cls, data, skip=("arms",))
        if data.get("status", "running") not in RESULT_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RESULT_STATUSES)} (got {str(data['status'])[:40]!r})")
        arm_fields = {f.name for f in fields(ArmResult)}
        arms = data.get("arms", [])
        if not isinstance(arms, list):
            raise ValueError("arms must be a list")
        for index, arm in enumerate(arms):
            try:
                _check_arm_data(arm)
            except ValueError as error:
                raise ValueError(f"arms[{index}]: {error}") from None
        data["arms"] = [ArmResult(**{k: v for k, v in arm.items() if k in arm_fields}) for arm in arms]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> dict:
        """The CLI's JSON: per arm the compared metrics (mean, std, per seed), no histories or matrices."""
        return {"lesson_id": self.lesson_id, "mode": self.mode, "quick": self.mode == "quick",
                "device": self.device, "device_label": self.device_label, "seeds": self.seeds, "seconds": self.seconds, "status": self.status,
                "shipped": self.shipped, "lab_id": self.lab_id, "message": self.message,
                "arms": [{"arm_id": a.arm_id, "seeds": a.seeds, "status": a.status,
                          **({"backbone": a.backbone} if a.backbone else {}),
                          "metrics": {m: a.metrics[m] for m in COMPARED_METRICS if m in a.metrics},
                          **({"by_resolution": a.by_resolution} if a.by_resolution else {})}
                         for a in self.arms]}


_NUMBER = Optional[float]
# a run's epoch row as the pages read it: these figures numbers (or null), its grad table numbers per layer
_HISTORY_FIGURES = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s")


def _history_row_ok(row: Any) -> bool:
    return (isinstance(row, dict) and all(value_matches(row.get(key), _NUMBER) for key in _HISTORY_FIGURES)
            and value_matches(row.get("grad"), Optional[dict[str, _NUMBER]]))


def _check_summary(summary: Any, where: str) -> None:
    """A metric_summary() read back: mean and std numbers (or null), n a count, per_seed numbers (or null)."""
    if not isinstance(summary, dict):
        raise ValueError(f"{where} must be a table of mean, std, n and per_seed, got {type(summary).__name__}")
    for key, kind in (("mean", _NUMBER), ("std", _NUMBER), ("n", int), ("per_seed", list[_NUMBER])):
        if key in summary and not value_matches(summary[key], kind):
            raise ValueError(f"{where}.{key} must be {'a count' if kind is int else 'numbers or null'}, got "
                             f"{type(summary[key]).__name__} {repr(summary[key])[:40]}")


def _check_arm_data(arm: Any) -> None:
    """One arm of a saved result, every field of the type the pages use it as (ValueError naming the field)."""
    if not isinstance(arm, dict):
        raise ValueError(f"must be a table, got {type(arm).__name__}")
    check_required_fields(ArmResult, arm)
    check_field_types(ArmResult, arm, skip=("metrics", "by_resolution", "histories"))
    for key, kind, shape in (("metrics", dict, "a table"), ("by_resolution", dict[str, dict[str, dict]], "tables of tables"),
                             ("histories", list[list], "a list of lists")):
        if key in arm and not value_matches(arm[key], kind):
            raise ValueError(f"{key} must be {shape}, got {type(arm[key]).__name__} {repr(arm[key])[:40]}")
    for metric, summary in arm.get("metrics", {}).items():
        _check_summary(summary, f"metrics.{metric}")
    for method, rows in arm.get("by_resolution", {}).items():
        for res, cells in rows.items():
            for metric, cell in cells.items():
                where = f"by_resolution.{method}.{res}.{metric}"
                if metric == "per_class_accuracy":
                    if not value_matches(cell, dict[str, float]):
                        raise ValueError(f"{where} must be a table of class = number")
                else:
                    _check_summary(cell, where)
    for seed, history in enumerate(arm.get("histories", [])):
        if not all(_history_row_ok(row) for row in history):
            raise ValueError(f"histories[{seed}] must be a list of epoch rows of numbers")
    confusion = arm.get("confusion")
    if confusion and any(len(row) != len(confusion) for row in confusion):
        raise ValueError("confusion must be a square matrix")


register_lab_kind(LabKind(KIND, LessonResult, "a lesson of the course: its arms over seeds, ours beside the report's"))


# --- reading one run ------------------------------------------------------------------------------------------
def run_figures(results: dict) -> dict[str, float]:
    """A run's test evaluation (cnnkit.evaluate's results.json) in the reports' units."""
    return {"test_accuracy": 100.0 * float(results["accuracy"]), "macro_f1": float(results["macro_f1"]),
            "precision": float(results["macro_precision"]), "recall": float(results["macro_recall"])}


@dataclass
class SeedRun:
    """What one seed of one arm left behind, read from its run folder (or its resolution lab)."""

    seed: int
    run_id: str
    figures: dict[str, float]
    history: list[dict]
    confusion: Optional[list[list[int]]]
    classes: list[str]
    per_class: list[dict]
    seconds: float
    device: str
    by_resolution: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    backbone: str = ""             # a transfer run's pretrained source ("" for other models)
    threads: int = 0               # the CPU threads the run trained with (its last thread choice); 0: not recorded
    cpu_instructions: str = ""     # the CPU's vector instructions it trained with (cnnkit.device); "": not recorded


def run_cpu(run_dir: str | Path) -> tuple[int, str]:
    """The CPU a finished run trained on, from its run.json (written at its end): (its thread count, 0 if unknown;
    its vector instructions, "" if unknown)."""
    from cnnkit.fileio import read_json

    meta = read_json(Path(run_dir) / "run.json", {})
    meta = meta if isinstance(meta, dict) else {}
    choice = meta.get("threads")
    value = choice.get("threads") if isinstance(choice, dict) else None
    threads = int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
    instructions = meta.get("cpu_instructions")
    return threads, instructions[:20] if isinstance(instructions, str) and instructions.isalnum() else ""


def run_backbone(config: dict) -> str:
    """The pretrained source a run's config started from ("" unless its model is a transfer model)."""
    model = config.get("model") if isinstance(config, dict) else None
    if isinstance(model, dict) and model.get("kind") == "transfer":
        source = str(model.get("source") or "")
        # a chained arm starts from a saved run's folder: named by its run id, never by this machine's path
        return Path(source).name if "/" in source or "\\" in source else source
    return ""


def read_train_run(run_dir: str | Path, seed: int) -> SeedRun:
    """One finished training's figures; ValueError when it has no test results (stopped, failed)."""
    run_dir = Path(run_dir)
    record = store.load_run(run_dir)
    results = store.load_results(run_dir)
    if not isinstance(results, dict) or "accuracy" not in results:
        raise ValueError(f"run {run_dir.name} has no test results ({record.status}: {record.message or 'unfinished'})")
    threads, instructions = run_cpu(run_dir)
    return SeedRun(seed=seed, run_id=run_dir.name, figures=run_figures(results),
                   history=list(store.load_history(run_dir).get("epochs", [])), confusion=results.get("confusion"),
                   classes=list(results.get("classes") or record.classes), per_class=list(results.get("per_class", [])),
                   seconds=float(record.seconds or 0.0), device=record.device, backbone=run_backbone(record.config),
                   threads=threads, cpu_instructions=instructions)


def read_resolution_lab(lab_dir: str | Path, seed: int) -> SeedRun:
    """One finished resolution lab: its native TOTV row is the arm's figures, every row goes to by_resolution."""
    lab = load_lab(Path(lab_dir), kind="resolution")
    if lab.status != "done":
        raise ValueError(f"resolution lab {lab.lab_id} is {lab.status}: {lab.message}")
    by_resolution: dict[str, dict[str, dict[str, float]]] = {}
    for method, rows in (("TOTV", lab.totv), ("TVTV", lab.tvtv)):
        for row in rows:
            by_resolution.setdefault(method, {})[str(row.resolution)] = {
                "test_accuracy": 100.0 * row.accuracy, "macro_f1": row.f1, "precision": row.precision,
                "recall": row.recall,
                "per_class_accuracy": {c["class"]: 100.0 * float(c["accuracy"]) for c in row.per_class}}
    native = next((r for r in lab.totv if r.resolution == lab.native), None)
    totv_run = next((r for r in lab.runs if r.get("method") == "TOTV"), None)
    history, confusion, per_class, seconds, device, threads = [], None, [], float(lab.seconds), "", 0
    instructions = ""
    if totv_run is not None:
        try:
            train = read_train_run(totv_run["run_dir"], seed)
            history, confusion, per_class, device = train.history, train.confusion, train.per_class, train.device
            threads, instructions = train.threads, train.cpu_instructions
        except (ValueError, FileNotFoundError, OSError):
            pass
    figures = ({"test_accuracy": 100.0 * native.accuracy, "macro_f1": native.f1, "precision": native.precision,
                "recall": native.recall} if native else {})
    return SeedRun(seed=seed, run_id=lab.lab_id, figures=figures, history=history, confusion=confusion,
                   classes=list(lab.classes), per_class=per_class or (native.per_class if native else []),
                   seconds=seconds, device=device, by_resolution=by_resolution, threads=threads,
                   cpu_instructions=instructions)


# --- aggregation ----------------------------------------------------------------------------------------------
def aggregate_arm(arm_id: str, runs: list[SeedRun], planned: int = 0) -> ArmResult:
    """Per metric mean ± std over the seeds that finished; histories per seed; the confusion matrices summed;
    per-class figures averaged. `planned`: how many seeds were queued (fewer finished: status "partial")."""
    planned = planned or len(runs)
    if not runs:
        return ArmResult(arm_id=arm_id, status="failed", message=f"none of its {planned} run(s) finished")
    metrics = {m: metric_summary([r.figures.get(m) for r in runs]) for m in COMPARED_METRICS
               if any(r.figures.get(m) is not None for r in runs)}
    classes = runs[0].classes
    confusion = None
    matrices = [r.confusion for r in runs if r.confusion]
    if matrices and all(len(m) == len(matrices[0]) for m in matrices):
        confusion = [[sum(m[i][j] for m in matrices) for j in range(len(matrices[0][i]))]
                     for i in range(len(matrices[0]))]
    per_class: dict[str, dict[str, float]] = {}
    for name in classes:
        rows = [row for r in runs for row in r.per_class if row.get("class") == name]
        if rows:
            per_class[name] = {key: statistics.fmean(float(row[key]) * (100.0 if key == "accuracy" else 1.0)
                                                     for row in rows)
                               for key in ("precision", "recall", "f1", "accuracy") if all(key in row for row in rows)}
    by_resolution: dict[str, dict[str, dict[str, dict]]] = {}
    for method in ("TOTV", "TVTV"):
        resolutions = sorted({res for r in runs for res in r.by_resolution.get(method, {})}, key=int, reverse=True)
        for res in resolutions:
            cells = [r.by_resolution.get(method, {}).get(res, {}) for r in runs]
            entry = {m: metric_summary([c.get(m) for c in cells]) for m in COMPARED_METRICS}
            class_names = sorted({name for c in cells for name in c.get("per_class_accuracy", {})})
            entry["per_class_accuracy"] = {
                name: statistics.fmean([c["per_class_accuracy"][name] for c in cells
                                        if name in c.get("per_class_accuracy", {})]) for name in class_names}
            by_resolution.setdefault(method, {})[res] = entry
    return ArmResult(arm_id=arm_id, run_ids=[r.run_id for r in runs], seeds=[r.seed for r in runs], metrics=metrics,
                     histories=[r.history for r in runs], confusion=confusion, classes=list(classes),
                     per_class=per_class, by_resolution=by_resolution, seconds=round(sum(r.seconds for r in runs), 2),
                     backbone=", ".join(dict.fromkeys(r.backbone for r in runs if r.backbone)),
                     status="done" if len(runs) >= planned else "partial",
                     message="" if len(runs) >= planned else f"{len(runs)} of {planned} seed(s) finished")


# --- comparison -----------------------------------------------------------------------------------------------
def arithmetic_note(result: LessonResult, here: Optional[str] = None) -> str:
    """One sentence when a CPU result was made on a CPU with other vector instructions than this one's (`here`:
    cnnkit.device.cpu_instructions() by default): a Run here with the same seeds and threads will not repeat its
    figures. "" when they are the same, or either is unknown."""
    if here is None:
        from cnnkit.device import cpu_instructions

        here = cpu_instructions()
    theirs = result.cpu_instructions
    if result.device != "cpu" or not theirs or not here or theirs == here:
        return ""
    return (f"These figures were made on a CPU with {theirs} instructions; this one has {here}. It rounds the same "
            "sums a little differently and training magnifies that, so a Run here with the same seeds and threads "
            "gives figures a few points apart; the direction of each effect (the verdict) is what should hold.")


def backbone_note(lesson: Lesson, result: LessonResult, arm_id: str) -> str:
    """One sentence for a transfer arm with an original_source: which network its figures come from, e.g.
    "ran EfficientNet-Lite0 in place of the report's ResNet-18 (its weights are not in the torch cache)". "" when
    the arm names no original_source or has no result."""
    from cnnkit.models.pretrained import PRETRAINED

    arm = lesson.arm(arm_id)
    ours = result.arm(arm_id) if result is not None else None
    if not arm.original_source or ours is None or not ours.backbone:
        return ""

    def title(name: str) -> str:
        return PRETRAINED[name].title if name in PRETRAINED else name

    if ours.backbone == arm.original_source:
        return f"ran {title(arm.original_source)}, the report's network (its weights were in the torch cache)"
    return (f"ran {', '.join(title(b) for b in ours.backbone.split(', '))} in place of the report's "
            f"{title(arm.original_source)} (its weights were not in the torch cache)")


def comparison_rows(lesson: Lesson, result: LessonResult) -> list[dict]:
    """Long table of ours against the report's: one row per arm and metric (and per resolution for lab arms).

    {arm, arm_label, at ("" or "TOTV 16 px"), metric, ours_mean, ours_std, n, per_seed, reported, difference
    (ours - reported, in the metric's unit), mode, quick}."""
    rows = []
    for arm in lesson.arms:
        ours = result.arm(arm.id)
        cells = [("", (ours.metrics if ours else {}), {m: arm.reported.value(m) for m in COMPARED_METRICS})]
        for method in ("TOTV", "TVTV"):
            resolutions = set((ours.by_resolution if ours else {}).get(method, {})) | set(
                arm.reported.by_resolution.get(method, {}))
            for res in sorted(resolutions, key=int, reverse=True):
                cells.append((f"{method} {res} px", ((ours.by_resolution if ours else {}).get(method, {}).get(res, {})),
                              arm.reported.by_resolution.get(method, {}).get(res, {})))
        for at, measured, reported in cells:
            for metric in COMPARED_METRICS:
                summary = measured.get(metric) or {}
                reference = reported.get(metric)
                if summary.get("mean") is None and reference is None:
                    continue
                mean = summary.get("mean")
                rows.append({"arm": arm.id, "arm_label": arm.label, "at": at, "metric": metric, "ours_mean": mean,
                             "ours_std": summary.get("std"), "n": summary.get("n", 0),
                             "per_seed": summary.get("per_seed", []), "reported": reference,
                             "difference": (mean - reference) if mean is not None and reference is not None else None,
                             "mode": result.mode, "quick": result.mode == "quick"})
    return rows


def curve_rows(lesson: Lesson, result: Optional[LessonResult]) -> list[dict]:
    """Long table of per-epoch curves, ours (per seed) and the report's, in the report's units:
    {arm, source ("ours" | "report"), seed (None for the report), epoch, curve, value}. Curves: train_loss,
    val_loss, train_acc and val_acc (percent), first_layer_grad (our first layer's mean gradient)."""
    rows = []
    for arm in lesson.arms:
        for curve, values in arm.reported.curves.items():
            rows += [{"arm": arm.id, "source": "report", "seed": None, "epoch": i + 1, "curve": curve, "value": v}
                     for i, v in enumerate(values)]
        ours = result.arm(arm.id) if result else None
        for seed, history in zip(ours.seeds if ours else [], ours.histories if ours else []):
            for row in history:
                values = {"train_loss": row.get("train_loss"), "val_loss": row.get("val_loss"),
                          "train_acc": None if row.get("train_acc") is None else 100.0 * row["train_acc"],
                          "val_acc": None if row.get("val_acc") is None else 100.0 * row["val_acc"]}
                grads = row.get("grad") or {}
                if isinstance(grads, dict) and grads:
                    values["first_layer_grad"] = next(iter(grads.values()))
                rows += [{"arm": arm.id, "source": "ours", "seed": seed, "epoch": row.get("epoch"), "curve": curve,
                          "value": value} for curve, value in values.items() if value is not None]
    return rows


def curve_notes(rows: list[dict], mode: str) -> list[str]:
    """What a reader of curve_rows' charts must know to compare ours with the report's: where each ends (a quick
    run may train fewer epochs, or more shorter ones, than the report) and which of the report's curves ours lacks
    (a run without a validation split has no validation curves)."""
    ours = [r for r in rows if r["source"] == "ours" and r.get("epoch") is not None]
    theirs = [r for r in rows if r["source"] == "report"]
    if not ours or not theirs:
        return []
    notes = []
    our_end, their_end = max(int(r["epoch"]) for r in ours), max(int(r["epoch"]) for r in theirs)
    why = " (quick mode's own settings: see Run it)" if mode == "quick" else ""
    if our_end != their_end:
        notes.append(f"Our curves run to epoch {our_end}, the report's to epoch {their_end}{why}: compare shapes, "
                     f"not the same epoch.")
    missing = [c for c in ("val_loss", "val_acc") if any(r["curve"] == c for r in theirs)
               and not any(r["curve"] == c for r in ours)]
    if missing:
        notes.append("Ours has no validation curve: this run held no validation split (its test figures are the "
                     "last epoch's), so only the report's is drawn there.")
    return notes


# --- saved and shipped results --------------------------------------------------------------------------------
def save_result(result: LessonResult) -> None:
    if result.shipped:
        raise ValueError("a shipped lesson result is read-only")
    save_lab(result)


def saved_results(lesson_id: Optional[str] = None, mode: Optional[str] = None) -> list[LessonResult]:
    """This install's own lesson results (every owner), newest first; running and failed ones included."""
    out = []
    for entry in list_labs(kind=KIND):
        result = entry.result
        if result is None or not isinstance(result, LessonResult):
            continue
        if (lesson_id is None or result.lesson_id == lesson_id) and (mode is None or result.mode == mode):
            out.append(result)
    return out


def shipped_result_dir(lesson_id: str, mode: str) -> Path:
    return lesson_results_dir() / f"{lesson_id}-{mode}"


def shipped_result(lesson_id: str, mode: str) -> Optional[LessonResult]:
    """The result that ships with the install for this lesson and mode, or None (missing or unreadable)."""
    folder = shipped_result_dir(lesson_id, mode)
    try:
        result = load_lab(folder, kind=KIND)
    except (FileNotFoundError, ValueError):
        return None
    if result.lesson_id != lesson_id or result.mode != mode:
        return None    # a folder that does not hold what its name says is not shown as that lesson's figures
    result.shipped = True
    return result


# damaged_results' last answer and the (path, inode, mtime, size) of every lab file it read: the Lessons index asks
# on every render, and reading and checking ~50 result files cost ~0.2 s of the server's CPU per student.
_damaged_cache: tuple[tuple, list[str]] = ((), [])


def _lab_files_signature() -> tuple:
    folders = [labs_dir(), lesson_results_dir()]
    files = []
    for folder in folders:
        try:
            files += sorted(child / LAB_FILE for child in folder.iterdir() if child.is_dir())
        except OSError:
            files.append(folder)  # a missing folder counts as one missing file: made later, the key changes
    return file_signature(files)


def damaged_results() -> list[str]:
    """Lesson results that cannot be read (this install's and shipped ones), one line each naming the file and why:
    they are left out of every listing, and the Lessons index lists them here. Read again only when one of the
    files changed (a stat per file)."""
    global _damaged_cache
    signature = _lab_files_signature()
    if _damaged_cache[0] == signature and signature:
        return list(_damaged_cache[1])
    lines = _read_damaged_results()
    if signature_settled(signature):  # a file written this moment may change again unseen: not kept
        _damaged_cache = (signature, lines)
    return list(lines)


def _read_damaged_results() -> list[str]:
    lines = [entry.reason for entry in list_labs(kind=KIND) if entry.damaged]
    folder = lesson_results_dir()
    for child in sorted(folder.iterdir()) if folder.is_dir() else []:
        if child.is_dir() and not child.name.startswith("."):
            try:
                load_lab(child, kind=KIND)
            except (FileNotFoundError, ValueError) as error:
                lines.append(str(error))
    return lines


def latest_result(lesson_id: str, mode: Optional[str] = None, owner: Optional[str] = None) -> Optional[LessonResult]:
    """The result to show: this install's newest finished one (with `owner`, that owner's first), else the shipped
    one (mode None: full before quick). Running and failed results are not returned."""
    own = [r for r in saved_results(lesson_id, mode) if r.status in ("done", "partial")]
    if owner is not None:
        own.sort(key=lambda r: not same_person(r.owner, owner))   # stable: newest first within each owner group
    if own:
        return own[0]
    for candidate in ([mode] if mode else ["full", "quick"]):
        found = shipped_result(lesson_id, candidate)
        if found is not None:
            return found
    return None


def ship_result(result: LessonResult, folder: Optional[Path] = None) -> Path:
    """Write a copy of `result` as the shipped one for its lesson and mode (bench_lessons --save-shipped): run folders
    are dropped (a fresh install has none; everything the page needs is inside the result), and so are the owner and
    the process that ran it (this machine's name)."""
    from cnnkit.fileio import write_json

    target = Path(folder) if folder else shipped_result_dir(result.lesson_id, result.mode)
    data = result.to_dict()
    data.update(lab_dir="", shipped=True, runs=[], plan=[], owner="", group="", runner="")
    write_json(target / SHIPPED_FILE, data)
    return target


def now() -> float:
    return time.time()
