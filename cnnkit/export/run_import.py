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
from cnnkit.classroom.permissions import clean_owner_name
from cnnkit.data.zip_import import read_entry_limited, safe_entry_parts

from cnnkit.models import rebuild_model

DEFAULT_MAX_BYTES = 512 * 1024 * 1024            # the whole zip, expanded
DEFAULT_MAX_JSON_BYTES = 64 * 1024 * 1024        # any one JSON member
DATA_MEMBERS = ("weights.pt", "model_info.json", "config.json", "run.json", "history.json", "results.json",
                "predictions.json")
# run.json fields taken from the zip; the rest (pid, status, created, ...) belong to this machine
RUN_FIELDS = ("dataset", "model_name", "name", "classes", "model_record", "mean", "std", "input_shape",
              "trainable_params", "frozen_params", "notes", "epochs_done", "best_val_accuracy", "seconds",
              "test_accuracy", "macro_f1", "device", "train_img_per_s", "strategy", "source", "block_names")


class RunImportError(ValueError):
    """The zip is not an importable CNN Lab run; the message says what to change."""


def _open(source: str | Path | bytes | BinaryIO) -> zipfile.ZipFile:
    try:
        if isinstance(source, (bytes, bytearray)):
            return zipfile.ZipFile(io.BytesIO(source))
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise RunImportError(f"not a zip file ({error}); choose a run zip downloaded from CNN Lab") from None


def _members(archive: zipfile.ZipFile, max_bytes: int, zip_label: str = "the run zip") -> dict[str, bytes]:
    """The data members, read within the size limits; ValueError on zip-slip or oversize."""
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
    budget = [max_bytes]
    data = {}
    for member, entry in names.items():
        if member.endswith(".json") and archive.getinfo(entry).file_size > DEFAULT_MAX_JSON_BYTES:
            raise RunImportError(f"{member} is larger than {DEFAULT_MAX_JSON_BYTES:,} bytes; not a CNN Lab run")
        try:
            data[member] = read_entry_limited(archive, entry, budget, zip_label)
        except ValueError as error:  # past the size limit, or damaged data: the message says which
            raise RunImportError(str(error)) from None
        except (zipfile.BadZipFile, OSError) as error:
            raise RunImportError(f"{member} in the zip is damaged ({error})") from None
    return data


def _json(data: dict[str, bytes], member: str, default=None):
    if member not in data:
        return default
    try:
        return json.loads(data[member].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunImportError(f"{member} in the zip is not valid JSON ({error})") from None


def _weights(raw: bytes) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as error:  # weights_only refuses any pickled object that is not tensors/containers
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RunImportError(f"weights.pt is not a plain file of tensors, so it was not loaded ({first[:200]})") from None
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


def _rebuild(meta: dict) -> torch.nn.Module:
    import cnnkit.transfer  # noqa: F401  registers the "transfer" model kind

    try:
        record = meta["model_record"]
        input_shape = tuple(int(v) for v in meta["input_shape"])
        classes = list(meta["classes"])
        if len(input_shape) != 3 or not classes or not isinstance(record, dict):
            raise ValueError("input_shape needs 3 numbers and classes at least one name")
        return rebuild_model(record, input_shape, len(classes))
    except (KeyError, TypeError, ValueError) as error:
        raise RunImportError(f"run.json in the zip does not describe a network CNN Lab can rebuild ({error})") from None


def import_run_zip(source: str | Path | bytes | BinaryIO, root: Optional[Path] = None,
                   max_bytes: int = DEFAULT_MAX_BYTES, owner: str = "") -> Path:
    """Check a run zip (module docstring) and save it as a new run of `owner` (who imported it);
    returns the new run folder."""
    zip_label = Path(source).name if isinstance(source, (str, Path)) else "the run zip"
    with _open(source) as archive:
        data = _members(archive, max_bytes, zip_label)
    meta = _json(data, "run.json")
    if not isinstance(meta, dict):
        raise RunImportError("run.json in the zip should be a JSON object")
    model = _rebuild(meta)
    state = _weights(data["weights.pt"])
    _check_shapes(model, state)
    try:
        model.load_state_dict(state)  # also catches what shapes alone do not (e.g. dtype problems)
    except RuntimeError as error:
        raise RunImportError(f"weights.pt does not load into the network ({str(error).splitlines()[0]})") from None
    config = _json(data, "config.json", {}) or {}
    if not isinstance(config, dict):
        raise RunImportError("config.json in the zip should be a JSON object")
    history = _json(data, "history.json")
    results = _json(data, "results.json")
    predictions = _json(data, "predictions.json")

    fields = {k: meta[k] for k in RUN_FIELDS if k in meta}
    info = _json(data, "model_info.json", {})
    original = str(info.get("run_id") or "") if isinstance(info, dict) else ""
    # Who trained it: the original run's owner, kept so run lists can say "imported from …".
    try:  # a name from a file: cleaned like a typed one (bounded, no control characters)
        imported_from = clean_owner_name(meta["owner"]) if isinstance(meta.get("owner"), str) else ""
    except ValueError:
        imported_from = ""
    note = "imported from a run zip" + (f" (run {original}" + (f" by {imported_from}" if imported_from else "") + ")"
                                        if original else (f" (by {imported_from})" if imported_from else ""))
    fields["notes"] = [*(fields.get("notes") or []), note]
    # The importer owns it now, whoever trained it.
    with store.RunWriter.create(config, fields.get("model_name") or "imported", fields.get("dataset") or "run",
                                root, owner=owner) as writer:
        try:
            writer.write_finished(state, history if isinstance(history, dict) else None,
                                  results if isinstance(results, dict) else None,
                                  predictions if isinstance(predictions, dict) else None,
                                  **fields, imported=True, imported_from=imported_from, imported_run=original,
                                  message=note)
        except BaseException:
            shutil.rmtree(writer.run_dir, ignore_errors=True)
            raise
    return writer.run_dir
