"""Reading saved runs: the run list, one run's record and files. A damaged run is listed as damaged
(with the file and the field that are wrong), never hiding the others."""

from __future__ import annotations

import copy
import json
import math
import numbers
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from cnnkit.fileio import file_signature, read_json, signature_settled, to_jsonable
from cnnkit.paths import checkpoint_dir
from cnnkit.run_status import ACTIVE_STATUSES, FINISHED_STATUSES, WRITING_STATUSES  # noqa: F401  the store's API


class DamagedRun(ValueError):
    """A run folder whose run.json/config.json cannot be read or holds a field of the wrong type."""


@dataclass
class RunRecord:
    """One saved run as the run list shows it."""

    run_id: str
    run_dir: Path
    status: str
    dataset: str
    classes: list[str]
    model_name: str
    name: str = ""
    created: float = 0.0
    epochs_done: int = 0
    epochs: int = 0
    test_accuracy: Optional[float] = None
    macro_f1: Optional[float] = None
    best_val_accuracy: Optional[float] = None
    seconds: Optional[float] = None
    device: str = ""
    message: str = ""
    config: dict = field(default_factory=dict)
    owner: str = ""          # who trained it (cnnkit.classroom); "" = a guest, and runs saved before owners
    imported: bool = False   # saved from a run zip (cnnkit.export.run_import); owner is then who imported it
    imported_from: str = ""  # the original run's owner, as the zip said ("" = a guest or not recorded)

    @property
    def origin(self) -> str:
        """"imported from Anna" / "imported" for an imported run, "" for a run trained here."""
        if not self.imported:
            return ""
        return f"imported from {self.imported_from}" if self.imported_from else "imported"

    def to_dict(self) -> dict:
        return to_jsonable(self)


def pid_alive(pid: Any) -> bool:
    """Whether process `pid` of this machine is running (this process is)."""
    if not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


_KINDS = {"text": (lambda v: isinstance(v, str), "text"),
          "number": (_is_number, "a number"),
          "optional number": (lambda v: v is None or _is_number(v), "a number or null"),
          "int": (_is_int, "a whole number"),
          "text list": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of names"),
          "object": (lambda v: isinstance(v, dict), "a JSON object"),
          "shape": (lambda v: isinstance(v, list) and len(v) == 3 and all(_is_int(c) and c > 0 for c in v),
                    "[channels, height, width]"),
          "number list": (lambda v: isinstance(v, list) and 0 < len(v) <= 16
                          and all(_is_number(c) and math.isfinite(c) for c in v), "a short list of numbers"),
          "positive list": (lambda v: isinstance(v, list) and 0 < len(v) <= 16
                            and all(_is_number(c) and math.isfinite(c) and c > 0 for c in v),
                            "a short list of numbers above 0")}
# run.json fields a reader relies on, and what each must be (absent fields take their defaults)
RUN_FIELDS = {"status": "text", "dataset": "text", "model_name": "text", "name": "text", "created": "number",
              "epochs_done": "int", "classes": "text list", "test_accuracy": "optional number",
              "macro_f1": "optional number", "best_val_accuracy": "optional number", "seconds": "optional number",
              "device": "text", "message": "text", "model_record": "object", "input_shape": "shape",
              "mean": "number list", "std": "positive list", "notes": "text list"}
# results.json fields the run views rely on (cnnkit.evaluate.EvalResult), and what each must be
RESULT_FIELDS = {"accuracy": "number", "macro_precision": "number", "macro_recall": "number", "macro_f1": "number",
                 "per_class": "object list", "confusion": "count matrix", "roc": "object list", "top_k": "number map",
                 "mistakes": "object list", "num_test": "int", "classes": "text list", "loss": "optional number",
                 "resolution": "optional number"}
_KINDS.update({
    "object list": (lambda v: isinstance(v, list) and all(isinstance(c, dict) for c in v), "a list of objects"),
    "count matrix": (lambda v: isinstance(v, list) and all(isinstance(r, list) and all(_is_int(c) for c in r)
                                                           for r in v), "a table of whole numbers"),
    "number map": (lambda v: isinstance(v, dict) and all(_is_number(c) for c in v.values()),
                   "an object of numbers")})


def check_fields(data: dict, spec: dict[str, str], where: str) -> dict:
    """`data` when each field `spec` names has its kind; DamagedRun naming `where`, the field and the kind."""
    for name, kind in spec.items():
        if name in data:
            check, expected = _KINDS[kind]
            if not check(data[name]):
                raise DamagedRun(f"{where} field {name!r} should be {expected} (got {json.dumps(data[name])[:60]})")
    return data


def check_run_meta(meta: dict, where: str = "run.json") -> dict:
    """run.json's fields checked (the store's own checks, for a run read from disk or from a zip)."""
    check_fields(meta, RUN_FIELDS, where)
    if "mean" in meta and "std" in meta and len(meta["mean"]) != len(meta["std"]):
        raise DamagedRun(f"{where} fields 'mean' and 'std' should have one number per channel each")
    return meta


def check_results(results: dict, where: str = "results.json") -> dict:
    """results.json's fields checked as the run views read them; the classes and the table agree."""
    check_fields(results, RESULT_FIELDS, where)
    confusion, classes = results.get("confusion"), results.get("classes")
    if confusion is not None and classes is not None and (
            len(confusion) != len(classes) or any(len(row) != len(classes) for row in confusion)):
        raise DamagedRun(f"{where} field 'confusion' should be {len(classes)}×{len(classes)}, one row and column "
                         "per class")
    for row in results.get("per_class", []):
        check_fields(row, {"class": "text", "precision": "number", "recall": "number", "f1": "number",
                           "support": "int"}, f"{where} per_class row")
    return results


def _read_object(path: Path, run_dir: Path, required: bool) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        if required:
            raise DamagedRun(f"run {run_dir.name} is damaged: {path.name} is missing") from None
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DamagedRun(f"run {run_dir.name} is damaged: {path.name} is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise DamagedRun(f"run {run_dir.name} is damaged: {path.name} should hold a JSON object "
                         f"(got {type(data).__name__})")
    return data


def read_run_meta(run_dir: Path) -> dict:
    """run.json, checked field by field; DamagedRun names the file and the field that are wrong."""
    run_dir = Path(run_dir)
    meta = _read_object(run_dir / "run.json", run_dir, required=True)
    return check_run_meta(meta, f"run {run_dir.name} is damaged: run.json")


def read_run_config(run_dir: Path) -> dict:
    """config.json as a dict (its fields are checked by TrainConfig.from_dict); {} when absent."""
    run_dir = Path(run_dir)
    config = _read_object(run_dir / "config.json", run_dir, required=False)
    if "epochs" in config and not _is_int(config["epochs"]):
        raise DamagedRun(f"run {run_dir.name} is damaged: config.json field 'epochs' should be a whole number "
                         f"(got {json.dumps(config['epochs'])[:60]})")
    return config


def _damaged_record(run_dir: Path, error: DamagedRun) -> RunRecord:
    try:
        created = run_dir.stat().st_mtime
    except OSError:
        created = 0.0
    return RunRecord(run_id=run_dir.name, run_dir=run_dir, status="damaged", dataset="", classes=[], model_name="",
                     created=created, message=str(error))


# load_run's checked (run.json, config.json) per run folder, with the files' (inode, mtime, size): every page run
# of every student lists the runs, and reading and checking each file again cost ~0.25 ms a run. Bounded: a
# server that has seen more run folders than this starts the cache again.
_parsed_runs: dict[str, tuple[tuple, Any]] = {}
_PARSED_RUNS_MAX = 20_000


def _read_checked(run_dir: Path) -> tuple[dict, dict]:
    """(run.json, config.json) checked, read again only when either file changed; DamagedRun as read_run_meta."""
    key = str(run_dir)
    signature = file_signature([run_dir / "run.json", run_dir / "config.json"])
    cached = _parsed_runs.get(key)
    if cached is None or cached[0] != signature:
        try:
            parsed: Any = (read_run_meta(run_dir), read_run_config(run_dir))
        except DamagedRun as error:
            parsed = error
        cached = (signature, parsed)
        if signature_settled(signature):  # a file written this moment may change again unseen: not kept
            if len(_parsed_runs) >= _PARSED_RUNS_MAX:
                _parsed_runs.clear()
            _parsed_runs[key] = cached
    if isinstance(cached[1], DamagedRun):
        raise cached[1]
    meta, config = cached[1]
    return dict(meta), copy.deepcopy(config)  # a caller that changes its record leaves the cache as read


def load_run(run_dir: Path) -> RunRecord:
    """The run's record; a damaged run gives status "damaged" and the reason in `message`."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise FileNotFoundError(f"{run_dir} is not a saved run (no run.json)")
    try:
        meta, config = _read_checked(run_dir)
    except DamagedRun as error:
        return _damaged_record(run_dir, error)
    status = meta.get("status", "unknown")
    if status in WRITING_STATUSES and not pid_alive(meta.get("pid")):
        status = "interrupted"  # the process that ran it is gone (app restarted): it can be resumed
    return RunRecord(
        run_id=run_dir.name, run_dir=run_dir, status=status, dataset=meta.get("dataset", ""),
        classes=list(meta.get("classes", [])), model_name=meta.get("model_name", ""), name=meta.get("name", ""),
        created=float(meta.get("created", 0.0)), epochs_done=int(meta.get("epochs_done", 0)),
        epochs=int(config.get("epochs", 0)), test_accuracy=meta.get("test_accuracy"), macro_f1=meta.get("macro_f1"),
        best_val_accuracy=meta.get("best_val_accuracy"), seconds=meta.get("seconds"), device=meta.get("device", ""),
        message=meta.get("message", ""), config=config,
        owner=meta.get("owner") if isinstance(meta.get("owner"), str) else "",
        imported=meta.get("imported") is True,
        imported_from=meta.get("imported_from") if isinstance(meta.get("imported_from"), str) else "")


def list_runs(root: Optional[Path] = None) -> list[RunRecord]:
    """Every saved run, newest first; folders that are not runs are skipped, damaged ones listed as damaged."""
    root = Path(root) if root else checkpoint_dir()
    if not root.is_dir():
        return []
    records = []
    for child in root.iterdir():
        if child.is_dir() and (child / "run.json").is_file():
            try:
                records.append(load_run(child))
            except OSError as error:  # unreadable folder (permissions): still shown
                records.append(_damaged_record(child, DamagedRun(f"run {child.name} cannot be read: {error}")))
    return sorted(records, key=lambda r: (r.created, r.run_id), reverse=True)


def find_run_named(name: str, root: Optional[Path] = None) -> Optional[RunRecord]:
    """The newest saved run whose settings carry the name `name` (a run a job queued under a name it chose, looked
    up again after the job was forgotten: the app or the machine restarted); None when there is none."""
    return next((record for record in list_runs(root) if record.config.get("name") == name), None)


def resolve_run_dir(run: str | Path) -> Path:
    """A run folder from a path or a run id inside the checkpoint directory."""
    for candidate in (Path(run), checkpoint_dir() / str(run)):
        if (candidate / "run.json").is_file():
            return candidate
    raise FileNotFoundError(f"no saved run {str(run)!r} (looked for run.json in it and in {checkpoint_dir()})")


def run_dir_of_id(run_id: str) -> Path:
    """The folder of run `run_id` inside the checkpoint directory, for ids that come from outside (a link a
    browser sends): a bare id only, never a path. ValueError / FileNotFoundError say which."""
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise ValueError(f"{run_id!r} is not a run id")
    run_dir = checkpoint_dir() / run_id
    if not (run_dir / "run.json").is_file():
        raise FileNotFoundError(f"no saved run {run_id!r} in {checkpoint_dir()}")
    return run_dir


def load_history(run_dir: Path) -> dict:
    history = read_json(Path(run_dir) / "history.json", None)
    if not isinstance(history, dict):
        return {"epochs": [], "steps": []}
    return history


def load_results(run_dir: Path) -> Optional[dict]:
    """results.json when it is there and sound; None when absent or damaged (the views say "no evaluation")."""
    results = read_json(Path(run_dir) / "results.json")
    if not isinstance(results, dict):
        return None
    try:
        return check_results(results)
    except DamagedRun:
        return None


def load_predictions(run_dir: Path) -> Optional[dict]:
    return read_json(Path(run_dir) / "predictions.json")


def delete_run(run_dir: Path, by: str = "", teacher: bool = False) -> None:
    """Remove a run folder, asked by `by` ("" = a guest): the class gate lets only its owner or the teacher."""
    from cnnkit.classroom.gate import Actor, check

    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise ValueError(f"{run_dir} is not a saved run; nothing deleted")
    check("delete", Actor(by or "", teacher), target_owner=load_run(run_dir).owner, what=f"run {run_dir.name}")
    shutil.rmtree(run_dir)
