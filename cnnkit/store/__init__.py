"""Saved runs: one folder per run under the checkpoint directory. This package owns the folder's format.

<checkpoint_dir>/<run_id>/
  config.json       the TrainConfig
  run.json          status, dataset, classes, model record, normalisation, input shape, summary figures
  state.pt          THE end-of-epoch commit: epoch, last (and best) weights, optimiser/schedule/RNG state, history
  history.json      {"epochs": [...], "steps": [...]}        derived from state.pt
  last.pt, best.pt  model state_dicts (best by validation)   derived from state.pt
  results.json      the test-set evaluation (cnnkit.evaluate.EvalResult)
  predictions.json  per test image: true label, prediction, confidence (for confusion-matrix drill-down)
  train.lock        held (flock) by the one process writing the run; says who

Reading: records (list_runs, load_run, damaged runs), checkpoints (load_tensors with clear errors),
model (load_run_model). Writing: writer.RunWriter, the only code that writes a run folder's files by name.
"""

from cnnkit.fileio import read_json, write_json
from cnnkit.paths import checkpoint_dir
from cnnkit.store.checkpoints import CheckpointError, load_tensors, save_tensors
from cnnkit.store.model import LoadedRun, load_run_model
from cnnkit.store.records import (ACTIVE_STATUSES, FINISHED_STATUSES, WRITING_STATUSES, DamagedRun, RunRecord,
                                  check_results, check_run_meta, delete_run, find_run_named, list_runs,
                                  load_history, load_predictions, load_results, load_run, pid_alive, read_run_meta,
                                  resolve_run_dir, run_dir_of_id)
from cnnkit.store import student_data as _student_data  # noqa: F401  registers "runs" as student data
from cnnkit.store.writer import (CRASH_ENV, EpochCommit, RunBusy, RunFinished, RunWriter, new_run_id, update_run)

__all__ = ["ACTIVE_STATUSES", "FINISHED_STATUSES", "WRITING_STATUSES", "CRASH_ENV", "CheckpointError", "DamagedRun",
           "EpochCommit", "LoadedRun", "RunBusy", "RunFinished", "RunRecord", "RunWriter", "check_results", "check_run_meta",
           "checkpoint_dir", "delete_run", "find_run_named",
           "list_runs", "load_history", "load_predictions", "load_results", "load_run", "load_run_model",
           "load_tensors", "new_run_id", "pid_alive", "read_json", "read_run_meta", "resolve_run_dir", "run_dir_of_id", "save_tensors",
           "update_run", "write_json"]
