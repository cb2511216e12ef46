"""RunWriter: the one writer of a run folder. It holds the run's lock and commits each epoch in one file.

The end of an epoch is ONE atomic commit: state.pt (torch.save to a temp file, fsync, rename) holds the
epoch number, last and best weights, optimiser/schedule/RNG state and the history. history.json, last.pt,
best.pt and run.json's epochs_done are copies derived from it, rewritten from it whenever a run is opened
for writing, so a kill between any two writes loses nothing and resume goes on right after the last commit.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from cnnkit.fileio import atomic_write_bytes, read_json, write_json
from cnnkit.paths import checkpoint_dir
from cnnkit.store.checkpoints import CheckpointError, load_tensors, save_tensors, state_dict_of
from cnnkit.store.records import FINISHED_STATUSES, read_run_config, read_run_meta, resolve_run_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: runs are not locked there
    fcntl = None  # type: ignore[assignment]

STATE_FILE = "state.pt"
LOCK_FILE = "train.lock"
STATE_FORMAT = 1
# Test-only hook: "<point>:<epoch>" makes the writer die (os._exit) at that point of that epoch's commit.
CRASH_ENV = "CNNKIT_TEST_CRASH_AT"
CRASH_POINTS = ("state_tmp", "state", "history", "last", "best", "run")


class RunBusy(ValueError):
    """Another process holds the run's lock (it is training it)."""


class RunFinished(ValueError):
    """Resume of a run that has already finished."""


def _crash_point(point: str, epoch: int) -> None:
    if os.environ.get(CRASH_ENV) == f"{point}:{epoch}":
        os._exit(17)


def new_run_id(model_label: str, dataset: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in f"{model_label}-{dataset}")[:40]
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{secrets.token_hex(2)}"


def update_run(run_dir: Path, **fields: Any) -> dict:
    """Merge fields into run.json (atomically). Writers call it through RunWriter; tests to stage a state."""
    meta = read_json(Path(run_dir) / "run.json", {})
    meta = meta if isinstance(meta, dict) else {}
    meta.update(fields)
    write_json(Path(run_dir) / "run.json", meta)
    return meta


@dataclass
class EpochCommit:
    """Everything the end of an epoch commits (state.pt). `best` is None when the best epoch is this one."""

    epoch: int                              # epochs done
    last: dict                              # model state_dict after `epoch`
    best: Optional[dict]
    best_epoch: int
    best_score: Optional[float]
    bad_epochs: int                         # epochs since the best (early stopping)
    optimizer: dict
    schedule: dict
    generator: torch.Tensor                 # the data-order/augmentation generator
    torch_rng: torch.Tensor                 # the global CPU RNG (dropout)
    history: dict = field(default_factory=lambda: {"epochs": [], "steps": []})
    start_loss: Optional[float] = None      # the run's first batch loss, before any update (divergence check)

    @property
    def best_weights(self) -> dict:
        return self.last if self.best is None else self.best

    def to_file_dict(self) -> dict:
        # not dataclasses.asdict: it would deep-copy every tensor
        return {"format": STATE_FORMAT, **{name: getattr(self, name) for name in self.__dataclass_fields__}}

    @classmethod
    def from_file_dict(cls, data: Any, path: Path) -> "EpochCommit":
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise CheckpointError(f"this checkpoint cannot be loaded: {path}: it is not a run state "
                                  f"(format {data.get('format') if isinstance(data, dict) else None!r})")
        try:
            commit = cls(**{k: data[k] for k, f in cls.__dataclass_fields__.items()
                            if k in data or f.default is MISSING and f.default_factory is MISSING})
        except KeyError as missing:
            raise CheckpointError(f"this checkpoint cannot be loaded: {path}: it lacks {missing}") from None
        state_dict_of(commit.last, path)
        if commit.best is not None:
            state_dict_of(commit.best, path)
        epochs = commit.history.get("epochs") if isinstance(commit.history, dict) else None
        if not isinstance(epochs, list) or len(epochs) != commit.epoch:
            raise CheckpointError(f"this checkpoint cannot be loaded: {path}: its history does not match "
                                  f"its {commit.epoch} epochs")
        return commit


def _lock_text() -> str:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})


def _busy_message(run_dir: Path, text: str) -> str:
    try:
        info = json.loads(text)
        since = time.strftime("%H:%M", time.localtime(float(info["since"])))
        return (f"run {run_dir.name} is being trained (by pid {info['pid']} on {info['host']}) since {since}; "
                "wait for it or stop it first")
    except (ValueError, KeyError, TypeError):
        return f"run {run_dir.name} is being trained by another process; wait for it or stop it first"


class RunWriter:
    """Holds the run's lock (fcntl.flock on train.lock, freed by the kernel if the process dies) from
    create/open to close; every file of the run folder is written by one of its methods."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._lock_handle = None
        self.meta: dict = {}

    # -- lock -------------------------------------------------------------------------------------
    def _acquire(self) -> None:
        handle = open(self.run_dir / LOCK_FILE, "a+")
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                text = handle.read()
                handle.close()
                raise RunBusy(_busy_message(self.run_dir, text)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(_lock_text())
        handle.flush()
        self._lock_handle = handle

    def close(self) -> None:
        """Release the lock (the lock file stays; its content says who held it last)."""
        if self._lock_handle is not None:
            if fcntl is not None:
                fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- opening ----------------------------------------------------------------------------------
    @classmethod
    def create(cls, config_dict: dict, model_label: str, dataset: str, root: Optional[Path] = None,
               owner: str = "") -> "RunWriter":
        """A new run folder with config.json and run.json (status "starting", its `owner`: "" = a guest), locked."""
        root = Path(root) if root else checkpoint_dir()
        writer = cls(root / new_run_id(model_label, dataset))
        writer.run_dir.mkdir(parents=True, exist_ok=False)
        writer._acquire()
        write_json(writer.run_dir / "config.json", config_dict)
        writer.meta = update_run(writer.run_dir, status="starting", dataset=dataset, model_name=model_label,
                                 created=time.time(), pid=os.getpid(), name=config_dict.get("name", ""),
                                 owner=owner)
        return writer

    @classmethod
    def open(cls, run: str | Path) -> "RunWriter":
        """An existing run, locked for resuming. Writes nothing but the lock: RunBusy, DamagedRun and
        RunFinished (all ValueError) leave the folder as it was. Leftover temp files are removed."""
        writer = cls(resolve_run_dir(run))
        writer._acquire()
        try:
            writer.meta = read_run_meta(writer.run_dir)
            config = read_run_config(writer.run_dir)
            if writer.meta.get("status") in FINISHED_STATUSES:
                done = writer.meta.get("epochs_done", "?")
                raise RunFinished(f"run {writer.run_dir.name} is finished ({done} of {config.get('epochs', done)} "
                                  "epochs); nothing to resume")
        except BaseException:
            writer.close()
            raise
        for leftover in writer.run_dir.glob(".*.tmp"):  # a write killed before its rename
            leftover.unlink(missing_ok=True)
        return writer

    def read_config(self) -> dict:
        return read_run_config(self.run_dir)

    def load_commit(self, device: str | torch.device = "cpu") -> Optional[EpochCommit]:
        """The last committed epoch (None before the first), checked; writes nothing."""
        path = self.run_dir / STATE_FILE
        if not path.is_file():
            return None
        return EpochCommit.from_file_dict(load_tensors(path, device), path)

    # -- writing ----------------------------------------------------------------------------------
    def start(self, commit: Optional[EpochCommit], **fields: Any) -> None:
        """Begin writing: bring the derived files in line with the last commit (or remove stale ones
        when there is none), then mark the run running with `fields`."""
        if commit is None:
            for name in ("last.pt", "best.pt", "history.json", STATE_FILE, "resume.pt"):
                (self.run_dir / name).unlink(missing_ok=True)
            fields.update(epochs_done=0, best_val_accuracy=None)
        else:
            self._write_derived(commit, improved=True)
            fields.update(epochs_done=commit.epoch, best_val_accuracy=commit.best_score)
        self.meta = update_run(self.run_dir, status="running", pid=os.getpid(), message="", **fields)

    def _write_derived(self, commit: EpochCommit, improved: bool, epoch_for_hooks: int = 0) -> None:
        write_json(self.run_dir / "history.json", commit.history)
        _crash_point("history", epoch_for_hooks)
        save_tensors(self.run_dir / "last.pt", commit.last)
        _crash_point("last", epoch_for_hooks)
        if improved or not (self.run_dir / "best.pt").is_file():
            save_tensors(self.run_dir / "best.pt", commit.best_weights)
        _crash_point("best", epoch_for_hooks)

    def commit_epoch(self, commit: EpochCommit, improved: bool) -> None:
        """state.pt first (the commit point), then the files derived from it."""
        epoch = commit.epoch
        data = commit.to_file_dict()

        def write(handle) -> None:
            torch.save(data, handle)
            handle.flush()
            _crash_point("state_tmp", epoch)

        atomic_write_bytes(self.run_dir / STATE_FILE, write)
        _crash_point("state", epoch)
        self._write_derived(commit, improved, epoch)
        self.meta = update_run(self.run_dir, epochs_done=epoch, best_val_accuracy=commit.best_score)
        _crash_point("run", epoch)

    def save_partial_weights(self, state_dict: dict) -> None:
        """A run stopped before its first commit keeps what it trained as last/best (not resumable from)."""
        save_tensors(self.run_dir / "last.pt", state_dict)
        save_tensors(self.run_dir / "best.pt", state_dict)

    def write_finished(self, weights: dict, history: Optional[dict] = None, results: Optional[dict] = None,
                       predictions: Optional[dict] = None, **fields: Any) -> None:
        """A run trained elsewhere (an imported run zip) saved as done: its weights as best.pt and
        last.pt, whatever history and results it brings, then run.json (last: a reader sees a whole run)."""
        save_tensors(self.run_dir / "best.pt", weights)
        save_tensors(self.run_dir / "last.pt", weights)
        if history is not None:
            write_json(self.run_dir / "history.json", history)
        if results is not None:
            write_json(self.run_dir / "results.json", results)
        if predictions is not None:
            write_json(self.run_dir / "predictions.json", predictions)
        self.finish("done", fields.pop("message", ""), **fields)

    def write_results(self, results: dict, predictions: dict) -> None:
        write_json(self.run_dir / "results.json", results)
        write_json(self.run_dir / "predictions.json", predictions)

    def finish(self, status: str, message: str = "", **fields: Any) -> None:
        """done / early_stopped / cancelled / failed, with the summary figures."""
        self.meta = update_run(self.run_dir, status=status, message=message, **fields)
