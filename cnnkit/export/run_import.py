"""Import a downloaded run zip back as a saved run, checked like any upload.

Only data is read, never code: model.py and predict.py are ignored. Refused, with a message saying
what is wrong: entries that would land outside the run folder (zip-slip), members or archives past
the size limits (counted on the real bytes, not the headers), weights that are not plain tensors
(torch.load weights_only=True: a pickle payload fails), and weights whose names or shapes differ
from the network rebuilt from the zip's own model record.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import BinaryIO, Optional

import torch

from cnnkit import store
from cnnkit.classroom import gate
from cnnkit.classroom.config import ImportLimits, import_limits
from cnnkit.data.zip_import import clean_class_name, read_entry_limited, safe_entry_parts
from cnnkit.classroom.permissions import clean_identity

from cnnkit.models import rebuild_model

DEFAULT_MAX_BYTES = 512 * 1024 * 1024            # the whole zip, expanded
DATA_MEMBERS = ("weights.pt", "model_info.json", "config.json", "run.json", "history.json", "results.json",
                "predictions.json")
# run.json fields taken from the zip; the rest (pid, status, created, ...) belong to this machine
RUN_FIELDS = ("dataset", "model_name", "name", "classes", "model_record", "mean", "std", "input_shape",
              "trainable_params", "frozen_params", "notes", "epochs_done", "best_val_accuracy", "seconds",
              "test_accuracy", "macro_f1", "device", "train_img_per_s", "strategy", "source", "block_names")


JSON_CAP = "JSON file in a run zip (imports: max_json_mb)"  # how a JSON member's size limit is named


class RunImportError(ValueError):
    """The zip is not an importable CNN Lab run; the message says what to change."""


def _open(source: str | Path | bytes | BinaryIO) -> zipfile.ZipFile:
    try:
        if isinstance(source, (bytes, bytearray)):
            return zipfile.ZipFile(io.BytesIO(source))
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise RunImportError(f"not a zip file ({error}); choose a run zip downloaded from CNN Lab") from None


def _index(archive: zipfile.ZipFile, max_bytes: int) -> dict[str, str]:
    """Data member -> entry name, after the checks that need no reading: zip-slip, declared size, duplicates."""
    names: dict[str, str] = {}
    declared = 0
    for info in archive.infolist():
        try:
            parts = safe_entry_parts(info.filename)
        except ValueError:
            raise RunImportError(f"the zip entry {info.filename!r} would be written outside the run folder; "
                                 "this is not a zip CNN Lab made") from None
        if info.is_dir() or not parts:
            continue
        declared += info.file_size
        if declared > max_bytes:
            raise RunImportError(f"the zip expands past the size limit of {max_bytes:,} bytes")
        # a zip made by re-zipping the unpacked folder may have one top folder: accept it
        if parts[-1] in DATA_MEMBERS and len(parts) <= 2:
            if parts[-1] in names:
                raise RunImportError(f"the zip holds {parts[-1]} twice; keep one")
            names[parts[-1]] = info.filename
    missing = [m for m in ("weights.pt", "run.json") if m not in names]
    if missing:
        raise RunImportError(f"the zip has no {' or '.join(missing)}; choose a run zip downloaded from CNN Lab")
    return names


def _read(archive: zipfile.ZipFile, names: dict[str, str], member: str, budget: list[int], zip_label: str,
          cap: int, cap_name: str) -> Optional[bytes]:
    """One member's bytes, streamed under its cap and the zip's budget; None when the zip lacks it."""
    if member not in names:
        return None
    try:
        return read_entry_limited(archive, names[member], budget, zip_label, cap, cap_name)
    except ValueError as error:  # past a size limit, or damaged data: the message says which
        raise RunImportError(str(error)) from None
    except (zipfile.BadZipFile, OSError) as error:
        raise RunImportError(f"{member} in the zip is damaged ({error})") from None


def _json(raw: Optional[bytes], member: str, default=None):
    if raw is None:
        return default
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise RunImportError(f"{member} in the zip is not valid JSON ({str(error)[:120]})") from None


def _weights(raw: bytes) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as error:  # weights_only refuses any pickled object that is not tensors/containers
        # Only torch's reason is kept (e.g. "Unsupported global: GLOBAL os.system"), never its advice to set
        # weights_only=False, which is exactly what must not be done with a stranger's file.
        reasons = [line.split("error:", 1)[1].strip() for line in str(error).splitlines()
                   if line.strip().startswith("WeightsUnpickler error:")]
        raise RunImportError("weights.pt is not a plain file of tensors (it may hold code), so it was not loaded"
                             + (f" ({reasons[0][:160]})" if reasons else "")) from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise RunImportError("weights.pt should hold a state_dict (names -> tensors); it holds something else")
    return state


def _check_shapes(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k} {tuple(state[k].shape)} (the network has {tuple(expected[k].shape)})"
             for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = []
    if wrong:
        problems.append("wrong shapes: " + ", ".join(wrong[:3]) + (" ..." if len(wrong) > 3 else ""))
    if missing:
        problems.append("missing: " + ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else ""))
    if unexpected:
        problems.append("unexpected: " + ", ".join(unexpected[:3]) + (" ..." if len(unexpected) > 3 else ""))
    if problems:
        raise RunImportError("weights.pt does not fit the network its run.json describes (" + "; ".join(problems) + ")")


def check_run_meta_bounds(meta: dict, limits: ImportLimits) -> None:
    """run.json from a zip: the store's own field checks, then the import limits (input size, channels, classes,
    class names), all before any network is built. RunImportError names the field and the limit."""
    try:
        store.check_run_meta(meta, "run.json in the zip: its")
    except store.DamagedRun as error:
        raise RunImportError(str(error)) from None
    for name in ("model_record", "input_shape", "classes"):
        if name not in meta:
            raise RunImportError(f"run.json in the zip has no {name!r}; choose a run zip downloaded from CNN Lab")
    c, h, w = meta["input_shape"]
    if max(h, w) > limits.max_input_size or c > limits.max_input_channels:
        raise RunImportError(f"run.json in the zip: input {c}×{h}×{w} is over this server's limit of "
                             f"{limits.max_input_size} pixels a side and {limits.max_input_channels} channels "
                             "(imports: max_input_size, max_input_channels); nothing was imported")
    classes = meta["classes"]
    if not classes or len(classes) > limits.max_classes:
        raise RunImportError(f"run.json in the zip has {len(classes):,} classes; a run needs 1 to "
                             f"{limits.max_classes:,} (imports: max_classes)")
    try:
        cleaned = [clean_class_name(name) for name in classes]
    except ValueError as error:
        raise RunImportError(f"run.json in the zip: {error}") from None
    meta["classes"] = cleaned
    for name in ("mean", "std"):
        if name in meta and len(meta[name]) not in (1, c):
            raise RunImportError(f"run.json in the zip: {name!r} should have one number per channel ({c})")


def _rebuild(meta: dict, limits: Optional[ImportLimits] = None) -> torch.nn.Module:
    """The network run.json describes; a spec's parameter count is checked against the limits before it is
    built (cnnkit.models.build_model), another kind's record by its own check_bounds (a transfer record's
    classes and parameters), also before it is built."""
    import cnnkit.transfer  # noqa: F401  registers the "transfer" model kind
    from cnnkit.models.registry import model_kind

    try:
        record = meta["model_record"]
        kind = record.get("kind", "spec")
        if kind != "spec" and model_kind(kind).check_bounds is not None:
            model_kind(kind).check_bounds(record, tuple(meta["input_shape"]), len(meta["classes"]),
                                          limits or import_limits())
        return rebuild_model(record, tuple(meta["input_shape"]), len(meta["classes"]))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RuntimeError) as error:
        raise RunImportError(f"run.json in the zip does not describe a network CNN Lab can rebuild "
                             f"({str(error)[:300]})") from None


def _expected_bytes(model: torch.nn.Module) -> int:
    """The size a plain state_dict of `model` has on disk, with room for float64 and the file's overhead."""
    return sum(t.numel() * 8 for t in model.state_dict().values()) + (1 << 20)


def _checked_json(raw: Optional[bytes], member: str, check) -> Optional[dict]:
    """A JSON object member passed through `check` (the store's or the trainer's); RunImportError otherwise."""
    data = _json(raw, member)
    if data is None:
        return None
    if not isinstance(data, dict):
        raise RunImportError(f"{member} in the zip should be a JSON object")
    try:
        return check(data)
    except ValueError as error:
        raise RunImportError(f"{member} in the zip: {str(error)[:300]}") from None


def _check_history(history: dict) -> dict:
    for name in ("epochs", "steps"):
        rows = history.get(name, [])
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise ValueError(f"field {name!r} should be a list of objects")
    return history


def _check_config(config: dict) -> dict:
    from cnnkit.train import TrainConfig

    TrainConfig.from_dict(config).validate()
    return config


def import_run_zip(source: str | Path | bytes | BinaryIO, root: Optional[Path] = None,
                   max_bytes: int = DEFAULT_MAX_BYTES, owner: str = "", teacher: bool = False,
                   limits: Optional[ImportLimits] = None) -> Path:
    """Check a run zip (module docstring) and save it as a new run of `owner` (who imported it; the class gate
    decides whether they may); returns the new run folder. `limits`: the class config's import limits."""
    gate.check("import", gate.Actor(owner, teacher))
    limits = limits or import_limits()
    zip_label = Path(source).name if isinstance(source, (str, Path)) else "the run zip"
    json_cap = limits.max_json_bytes
    with _open(source) as archive:
        names = _index(archive, max_bytes)
        budget = [max_bytes]
        meta = _json(_read(archive, names, "run.json", budget, zip_label, json_cap, JSON_CAP),
                     "run.json")
        if not isinstance(meta, dict):
            raise RunImportError("run.json in the zip should be a JSON object")
        check_run_meta_bounds(meta, limits)
        model = _rebuild(meta, limits)
        raw_weights = _read(archive, names, "weights.pt", budget, zip_label, _expected_bytes(model),
                            "weights file of this network (its parameters, counted from run.json)")
        members = {m: _read(archive, names, m, budget, zip_label, json_cap, JSON_CAP)
                   for m in ("model_info.json", "config.json", "history.json", "results.json", "predictions.json")}
    state = _weights(raw_weights)
    _check_shapes(model, state)
    try:
        model.load_state_dict(state)  # also catches what shapes alone do not (e.g. dtype problems)
    except RuntimeError as error:
        raise RunImportError(f"weights.pt does not load into the network ({str(error).splitlines()[0]})") from None
    del model
    config = _checked_json(members["config.json"], "config.json", _check_config) or {}
    history = _checked_json(members["history.json"], "history.json", _check_history)
    results = _checked_json(members["results.json"], "results.json", lambda data: store.check_results(data, "its"))
    predictions = _checked_json(members["predictions.json"], "predictions.json", lambda d: d)

    fields = {k: meta[k] for k in RUN_FIELDS if k in meta}
    info = _json(members["model_info.json"], "model_info.json", {})
    original = str(info.get("run_id") or "")[:80] if isinstance(info, dict) else ""
    # Who trained it: the original run's owner, kept so run lists can say "imported from …".
    try:  # a name from a file: cleaned like a typed one (bounded, no control characters)
        imported_from = clean_identity(meta["owner"]) if isinstance(meta.get("owner"), str) else ""
    except ValueError:
        imported_from = ""
    note = "imported from a run zip" + (f" (run {original}" + (f" by {imported_from}" if imported_from else "") + ")"
                                        if original else (f" (by {imported_from})" if imported_from else ""))
    fields["notes"] = [*(fields.get("notes") or []), note]
    # The importer owns it now, whoever trained it.
    with store.RunWriter.create(config, fields.get("model_name") or "imported", fields.get("dataset") or "run",
                                root, owner=owner) as writer:
        try:
            writer.write_finished(state, history, results, predictions, **fields, imported=True,
                                  imported_from=imported_from, imported_run=original, message=note)
        except BaseException:
            shutil.rmtree(writer.run_dir, ignore_errors=True)
            raise
    return writer.run_dir
