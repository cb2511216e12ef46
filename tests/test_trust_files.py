"""Issue 29, files and bounds: nothing a file can do takes a page down. Every reader of a teacher or stored file
(lesson TOML, lesson results, names, pins, predictions, cnnlab.toml) fails closed for that file only, naming it,
with size and depth bounded before parsing; every command that writes a user-chosen path goes through
fileio.write_export's guard; transfer records are bounded before a network is built. Hypothesis fuzzes the lesson
loader and the lesson result reader at the end."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.lessons import LESSON_ID, LESSON_TOML, lesson_folders, shipped_result

DEEP_TOML = "a = " + "[" * 50_000 + "]" * 50_000           # 100 KB of nested arrays


@pytest.fixture
def folders(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    config = tmp_path / "cnnlab.toml"
    config.write_text("")
    monkeypatch.setenv("CNNLAB_CONFIG", str(config))
    found = lesson_folders(monkeypatch, tmp_path)
    found["config"] = config
    return found


def _teacher_file(folders, name: str, text: str | bytes) -> Path:
    path = folders["data"] / "lessons" / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _errors() -> dict[str, str]:
    from cnnkit.lessons import lesson_file_errors

    return {Path(e.path).name: str(e) for e in lesson_file_errors()}


# --- item 4: lesson files ----------------------------------------------------------------------------------------
def test_a_deeply_nested_lesson_file_fails_alone_with_its_name(folders):
    from cnnkit.lessons import list_lessons

    _teacher_file(folders, "deep.toml", DEEP_TOML)
    assert LESSON_ID in [lesson.id for lesson in list_lessons()]      # the other lessons still list
    assert _errors()["deep.toml"] == "deep.toml: nests more than 16 levels of brackets; a lesson file needs a few"


def test_dotted_keys_and_huge_numbers_in_a_lesson_file_fail_alone(folders):
    _teacher_file(folders, "dotted.toml", "a" + ".a" * 2000 + " = 1")
    _teacher_file(folders, "digits.toml", "a = 1" + "0" * 5000)
    errors = _errors()
    assert errors["dotted.toml"] == "dotted.toml: nests more than 16 levels of tables; a lesson file needs a few"
    assert errors["digits.toml"].startswith("digits.toml: cannot be read as TOML (Exceeds the limit")


def test_the_lessons_command_lists_despite_a_deep_teacher_file(folders, capsys):
    from cnnkit.cli import main

    _teacher_file(folders, "deep.toml", DEEP_TOML)
    assert main(["lessons", "--json"]) == 0
    assert LESSON_ID in capsys.readouterr().out


@pytest.mark.parametrize("settings_line, message", [
    ('dataset = "../../../../etc"', "arms[0].config.dataset: '../../../../etc' is not a dataset name"),
    ("image_size = 100000", "arms[0].config.image_size: is 100000 pixels; at most 1024"),
    ("batch_size = 1000000", "arms[0].config.batch_size: is 1000000; at most 4096"),
])
def test_a_lesson_file_is_checked_completely_when_listed(folders, settings_line, message):
    from cnnkit.lessons import list_lessons

    text = LESSON_TOML.replace('dataset = "shapes"\n', "").replace("batch_size = 32\n", "")
    _teacher_file(folders, f"{LESSON_ID}.toml", text.replace("[defaults]\n", f"[defaults]\n{settings_line}\n"))
    assert LESSON_ID not in [lesson.id for lesson in list_lessons()]
    assert message in _errors()[f"{LESSON_ID}.toml"]


def test_a_utf8_bom_is_accepted(folders):
    from cnnkit.lessons import list_lessons

    _teacher_file(folders, f"{LESSON_ID}.toml", "\ufeff" + LESSON_TOML)
    assert LESSON_ID in [lesson.id for lesson in list_lessons()]
    assert not _errors()


def test_a_non_utf8_lesson_file_is_named(folders):
    _teacher_file(folders, "latin1.toml", 'title = "caf\xe9"'.encode("latin-1"))
    assert _errors()["latin1.toml"].startswith("latin1.toml: is not UTF-8 text (byte 12 cannot be read)")


def test_a_fifo_or_a_link_to_a_device_as_a_lesson_file_gets_a_message_and_is_never_read(folders):
    lessons_dir = folders["data"] / "lessons"
    os.mkfifo(lessons_dir / "pipe.toml")        # nothing writes to it: opening it for reading would block forever
    os.symlink("/dev/zero", lessons_dir / "zero.toml")   # reading it would never end
    errors = _errors()
    for name in ("pipe.toml", "zero.toml"):
        assert errors[name] == f"{name}: is not a regular file (a pipe, a device or a socket); replace it with a file"


def test_an_unexpected_error_in_a_teacher_file_fails_that_file_only(folders, monkeypatch):
    from cnnkit.lessons import list_lessons, loader

    _teacher_file(folders, "other.toml", LESSON_TOML.replace(f'id = "{LESSON_ID}"', 'id = "other"'))
    real = loader.lesson_from_data

    def explode(data, path="lesson.toml", source="course"):
        if Path(path).name == "other.toml":
            raise RecursionError("maximum recursion depth exceeded")
        return real(data, path, source)

    monkeypatch.setattr(loader, "lesson_from_data", explode)
    assert [lesson.id for lesson in list_lessons() if lesson.source == "teacher"] == [LESSON_ID]
    assert _errors()["other.toml"] == "other.toml: cannot be checked (RecursionError: maximum recursion depth exceeded)"


# --- item 4: lesson results ---------------------------------------------------------------------------------------
def _saved_result(folders, lab_id: str, change) -> Path:
    """A copy of the shipped test result saved as this install's own (a lab), with `change(data)` applied."""
    shipped = shipped_result(folders)
    data = json.loads((shipped / "lab.json").read_text())
    data.update(shipped=False, lab_id=lab_id, status="done")
    folder = folders["checkpoints"] / "labs" / lab_id
    folder.mkdir(parents=True)
    raw = change(data)
    raw = raw if isinstance(raw, bytes) else json.dumps(raw if raw is not None else data).encode()
    (folder / "lab.json").write_bytes(raw)
    return folder / "lab.json"


def _set(path: str, value):
    def change(data):
        target = data
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[keys[-1]] = value
        return data
    return change


DAMAGES = {
    "created": (_set("created", "abc"), "created must be a number, got str 'abc'"),
    "seeds": (_set("seeds", 5), "seeds must be a list of a whole number, got int 5"),
    "metrics": (_set("arms.0.metrics", {"test_accuracy": "high"}),
                "arms[0]: metrics.test_accuracy must be a table of mean, std, n and per_seed, got str"),
    "mean": (_set("arms.0.metrics.test_accuracy.mean", "70%"), "arms[0]: metrics.test_accuracy.mean must be numbers"),
    "history": (_set("arms.0.histories", [[{"epoch": 1, "train_acc": "x"}]]),
                "arms[0]: histories[0] must be a list of epoch rows of numbers"),
    "deep": (lambda data: ("[" * 100_000 + "]" * 100_000).encode(), "nests more than 32 levels deep"),
    "not-utf8": (lambda data: b'{"kind": "lesson", "lesson_id": "caf\xe9"}', "is not UTF-8 text"),
    "confusion": (_set("arms.0.confusion", [[1, 2], [3]]), "arms[0]: confusion must be a square matrix"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_lesson_result_is_left_out_and_named(folders, damage):
    from cnnkit.labs.saved import list_labs
    from cnnkit.lessons import damaged_results, latest_result, lesson_statuses, saved_results

    change, message = DAMAGES[damage]
    path = _saved_result(folders, "damaged-lab", change)
    assert saved_results(LESSON_ID) == []
    assert latest_result(LESSON_ID).shipped                     # the shipped one still shows
    assert lesson_statuses([LESSON_ID]) == {LESSON_ID: "shipped results"}
    [entry] = list_labs()
    assert entry.damaged and str(path) in entry.reason and message in entry.reason
    [line] = damaged_results()
    assert str(path) in line and message in line


def test_a_damaged_shipped_result_is_named_and_not_shown(folders):
    from cnnkit.lessons import damaged_results, latest_result

    shipped = shipped_result(folders)
    data = json.loads((shipped / "lab.json").read_text())
    data["arms"][0]["metrics"] = 5
    (shipped / "lab.json").write_text(json.dumps(data))
    assert latest_result(LESSON_ID) is None
    [line] = damaged_results()
    assert str(shipped / "lab.json") in line and "arms[0]: metrics must be a table, got int 5" in line


def test_damaged_results_reads_the_files_again_only_when_one_changed(folders, monkeypatch):
    from cnnkit.lessons import damaged_results
    from cnnkit.lessons import results as lesson_results

    reads = []
    real_read = lesson_results._read_damaged_results
    monkeypatch.setattr(lesson_results, "_read_damaged_results", lambda: reads.append(1) or real_read())
    monkeypatch.setattr(lesson_results, "signature_settled", lambda signature: True)  # as if written long ago
    assert damaged_results() == [] and damaged_results() == []
    assert len(reads) == 1                                      # the second call: one stat per file, no read
    path = _saved_result(folders, "damaged-lab", DAMAGES["created"][0])
    [line] = damaged_results()                                  # a new file: read again, and named
    assert str(path) in line and len(reads) == 2
    data = json.loads(path.read_text())
    data["created"] = 1.0
    path.write_text(json.dumps(data))                           # repaired in place: read again, gone
    assert damaged_results() == [] and len(reads) == 3


def test_a_file_written_this_moment_is_not_settled(tmp_path):
    from cnnkit.fileio import SETTLE_S, file_signature, signature_settled

    path = tmp_path / "run.json"
    path.write_text("{}")
    signature = file_signature([path, tmp_path / "missing.json"])
    assert not signature_settled(signature)                               # may change again within the tick
    assert signature_settled(signature, now=path.stat().st_mtime + SETTLE_S + 0.1)


@pytest.mark.slow
def test_home_the_lessons_index_and_a_lesson_open_beside_damaged_files(folders):
    from tests.helpers.app import make_app_test

    path = _saved_result(folders, "damaged-lab", _set("created", "abc"))
    _saved_result(folders, "deep-lab", DAMAGES["deep"][0])
    _teacher_file(folders, "deep.toml", DEEP_TOML)
    os.mkfifo(folders["data"] / "lessons" / "pipe.toml")
    at = make_app_test(timeout=120)
    assert not at.exception, at.exception
    at = make_app_test("lessons", timeout=120)
    assert not at.exception, at.exception
    shown = [t.value for t in at.text]
    assert any(str(path) in line for line in shown)
    assert "deep.toml: nests more than 16 levels of brackets; a lesson file needs a few" in shown
    assert any(line.startswith("pipe.toml: is not a regular file") for line in shown)
    at = make_app_test("lessons", timeout=120)
    at.query_params["lesson"] = LESSON_ID
    at.run()
    assert not at.exception, at.exception


# --- item 4: cnnlab.toml ------------------------------------------------------------------------------------------
BIG = "1" + "0" * 400


@pytest.mark.parametrize("text, message", [
    (f"[privacy]\nretention_days = {BIG}\n",
     "[privacy] retention_days must be a whole number from 1 to 36,500, not 100000000000… (401 digits)"),
    ("[imports]\nmax_params = 100000000000\n", "[imports] max_params must be a whole number from 1 to 10,000,000,000"),
    ("[limits]\njobs_per_device = 100000\n", "[limits] jobs_per_device must be a whole number from 1 to 256"),
    ("[class]\npages = " + "[" * 40_000 + "]" * 40_000 + "\n", "nests more than 8 levels of brackets"),
    ("[privacy]\nretention_days = 1" + "0" * 5000 + "\n", "cannot be read as TOML (Exceeds the limit"),
])
def test_check_config_refuses_what_the_class_cannot_use(folders, capsys, text, message):
    from cnnkit.cli import main

    folders["config"].write_text(text)
    assert main(["class", "check-config", str(folders["config"])]) == 1
    err = capsys.readouterr().err
    assert message in err and str(folders["config"]) in err and "Traceback" not in err


def test_retention_refuses_days_it_cannot_count(folders, capsys):
    from cnnkit.cli import main

    assert main(["class", "retention", "--days", BIG[:30], "--dry-run"]) == 1
    assert "retention days must be a whole number from 1 to 36,500" in capsys.readouterr().err


def test_a_pipe_or_device_link_as_cnnlab_toml_is_refused_not_ignored(folders, tmp_path, monkeypatch):
    from cnnkit.classroom.config import ConfigError, load_classroom_config

    pipe = tmp_path / "pipe.toml"
    os.mkfifo(pipe)
    monkeypatch.setenv("CNNLAB_CONFIG", str(pipe))
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_classroom_config()          # never opened for reading: it would block forever
    folders["config"].unlink()
    folders["config"].symlink_to("/dev/zero")
    monkeypatch.setenv("CNNLAB_CONFIG", str(folders["config"]))
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_classroom_config()


# --- item 4: names, pins, predictions -----------------------------------------------------------------------------
DAMAGED_JSON = {"not-utf8": b'{"anna": "caf\xe9"}', "deep": b"[" * 100_000 + b"]" * 100_000,
                "not-json": b"{", "folder": None}


def _damage(path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if DAMAGED_JSON[kind] is None:
        path.mkdir()
    else:
        path.write_bytes(DAMAGED_JSON[kind])


@pytest.mark.parametrize("kind", list(DAMAGED_JSON))
def test_a_damaged_names_file_stops_claims_and_is_not_overwritten(folders, kind):
    from cnnkit.classroom.names import claimed_names, key_matches, names_file, use_name

    path = names_file()
    _damage(path, kind)
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(ValueError, match="the class's claimed names cannot be read") as caught:
        use_name("Anna")
    assert str(path) in str(caught.value)
    assert (path.read_bytes() if path.is_file() else None) == before     # nothing freed, nothing replaced
    assert claimed_names() == [] and not key_matches("Anna", "any")


def test_claims_of_the_wrong_type_are_skipped(folders):
    from cnnkit.classroom.names import claimed_names, names_file

    names_file().parent.mkdir(parents=True, exist_ok=True)
    names_file().write_text(json.dumps({"anna": {"name": "Anna", "claimed": 5.0},
                                        "bob": {"name": "Bob", "claimed": "x"},
                                        "eve": {"name": 7, "claimed": 1.0}, "zed": "nope"}))
    assert claimed_names() == [{"name": "Anna", "claimed": 5.0}]


@pytest.mark.parametrize("kind", list(DAMAGED_JSON))
def test_a_damaged_pins_file_reads_as_no_pins(folders, kind):
    from cnnkit.classroom.pins import load_pins, pins_file

    _damage(pins_file(), kind)
    assert load_pins() == []


def test_pins_of_the_wrong_type_are_skipped(folders):
    from cnnkit.classroom.pins import load_pins, pins_file

    pins_file().parent.mkdir(parents=True, exist_ok=True)
    pins_file().write_text(json.dumps([{"kind": "run", "id": ["x"]}, {"kind": "run", "id": "r1", "note": "ok"}]))
    assert load_pins() == [{"kind": "run", "id": "r1", "note": "ok"}]


@pytest.mark.parametrize("kind", list(DAMAGED_JSON))
def test_a_damaged_predictions_file_reads_as_none_and_is_not_overwritten(folders, kind):
    from cnnkit.lessons.predictions import predictions, predictions_dir, record_prediction

    path = predictions_dir() / f"{LESSON_ID}.json"
    _damage(path, kind)
    assert predictions(LESSON_ID) == []
    with pytest.raises(ValueError, match="the predictions of this lesson cannot be read") as caught:
        record_prediction(LESSON_ID, "Anna", "bn", 2.0)
    assert str(path) in str(caught.value)


def test_predictions_of_the_wrong_type_are_skipped(folders):
    from cnnkit.lessons.predictions import predictions, predictions_dir

    path = predictions_dir() / f"{LESSON_ID}.json"
    path.parent.mkdir(parents=True)
    rows = [{"owner": "Anna", "arm_id": "bn", "margin_points": 2.0, "created": 1.0},
            {"owner": "Bob", "arm_id": "bn", "margin_points": "lots", "created": 2.0},
            {"owner": "Cy", "arm_id": "bn", "margin_points": 1.0, "created": "yesterday"}]
    path.write_text(json.dumps({"lesson_id": LESSON_ID, "predictions": rows}))
    assert [r["owner"] for r in predictions(LESSON_ID)] == ["Anna"]


# --- item 5: every user-chosen place through the export guard ----------------------------------------------------
def _device(tmp_path: Path) -> Path:
    """A device node of this test's own (a copy of /dev/null made with mknod, or a socket where mknod is not
    allowed): a test must never aim a write at the real /dev/null, which a regression would replace."""
    import socket
    import stat

    path = tmp_path / "device"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    return path


def _places(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Wrong places to write a file, each with the message the export command gives for it."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.zip"
    link.symlink_to(victim)
    pipe = tmp_path / "pipe.zip"
    os.mkfifo(pipe)
    folder = tmp_path / "folder"
    folder.mkdir()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    return {"symlink": (link, "is a symbolic link; give the path of a new or regular file instead"),
            "device": (_device(tmp_path), "is not a regular file (a device or a pipe); choose another file"),
            "fifo": (pipe, "is not a regular file (a device or a pipe); choose another file"),
            "folder": (folder, "is a folder; give a file name inside it"),
            "missing": (tmp_path / "nowhere" / "x.zip", "does not exist; create it first or choose another one"),
            "read-only": (locked / "x.zip", "is read-only for CNN Lab; choose a folder you can write to")}


PLACES = ["symlink", "device", "fifo", "folder", "missing", "read-only"]


def _refused(capsys, argv: list[str], message: str) -> None:
    from cnnkit.cli import main

    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


@pytest.mark.parametrize("place", PLACES)
def test_export_student_goes_through_the_export_guard(folders, tmp_path, capsys, place):
    target, message = _places(tmp_path)[place]
    _refused(capsys, ["class", "export-student", "Anna", "--out", str(target)], message)
    assert (tmp_path / "victim.txt").read_text() == "keep me" and (tmp_path / "link.zip").is_symlink()
    assert not (tmp_path / "device").is_file() and (tmp_path / "pipe.zip").is_fifo()


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("command", ["gradcam --out", "gradcam --save-map", "inspect --out"])
def test_gradcam_and_inspect_outputs_go_through_the_export_guard(folders, tmp_path, capsys, place, command):
    from tests.helpers.zips import png

    image = tmp_path / "photo.png"
    image.write_bytes(png())
    name, flag = command.split()
    target, message = _places(tmp_path)[place]
    _refused(capsys, [name, "preset:cnn3", str(image), flag, str(target)], message)


def test_tensorboard_export_into_wrong_places_is_one_error_line(folders, tmp_path, capsys):
    from cnnkit.export import import_run_zip
    from tests.helpers.zips import run_zip

    run_dir = import_run_zip(run_zip(), owner="Anna")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / run_dir.name).write_text("a file where the run's folder goes")
    for logdir, message in [(a_file, "file.txt is a file; choose a folder"),
                            (a_file / "logs", "file.txt is a file; choose a folder"),
                            (_device(tmp_path), "device is not a folder (a device or a pipe); choose a folder"),
                            (locked / "logs", "locked is read-only for CNN Lab; choose a folder you can write to"),
                            (tmp_path / "logs", f"{run_dir.name} is a file; choose a folder")]:
        _refused(capsys, ["tensorboard-export", str(run_dir), "--logdir", str(logdir)], message)


@pytest.mark.parametrize("where, message", [
    ("file", "is a file (from CNNKIT_CHECKPOINT_DIR); choose a folder"),
    ("read-only", "is read-only for CNN Lab (from CNNKIT_CHECKPOINT_DIR); choose a folder you can write to"),
])
def test_train_and_import_run_into_a_wrong_checkpoint_folder_are_one_error_line(folders, tmp_path, capsys,
                                                                               monkeypatch, where, message):
    from tests.helpers.zips import run_zip

    bad = tmp_path / "bad"
    if where == "file":
        bad.write_text("not a folder")
    else:
        bad.mkdir()
        bad.chmod(0o555)
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(bad / "runs") if where == "file" else str(bad))
    _refused(capsys, ["train", "--preset", "cnn3", "--dataset", "shapes", "--epochs", "1"], message)
    zip_path = tmp_path / "run.zip"
    zip_path.write_bytes(run_zip())
    _refused(capsys, ["import-run", str(zip_path)], message)


def test_import_zip_into_a_read_only_data_folder_is_one_error_line(folders, tmp_path, capsys, monkeypatch):
    from tests.helpers.zips import dataset_zip, png

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(locked))
    zip_path = tmp_path / "set.zip"
    zip_path.write_bytes(dataset_zip({"a/1.png": png(), "b/1.png": png((0, 0, 200))}))
    _refused(capsys, ["import-zip", str(zip_path), "--name", "mine"],
             "is read-only for CNN Lab (from CNNKIT_DATA_DIR); choose a folder you can write to")


@pytest.mark.parametrize("kind, message", [("folder", "is a folder, not a file"),
                                           ("fifo", "is not a regular file (a pipe, a device or a socket)"),
                                           ("missing", "no file"), ("not-utf8", "is not UTF-8 text")])
@pytest.mark.parametrize("flag", ["--config", "--spec"])
def test_train_config_or_spec_that_is_not_a_json_file_is_one_error_line(folders, tmp_path, capsys, kind, message,
                                                                         flag):
    path = tmp_path / "settings.json"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "not-utf8":
        path.write_bytes(b'{"lr": "caf\xe9"}')
    _refused(capsys, ["train", flag, str(path), "--dataset", "shapes"], message)
    _refused(capsys, ["resolution-lab", flag, str(path), "--dataset", "shapes"], message)


# --- item 6: transfer records bounded before anything is built -----------------------------------------------------
def _transfer_record(arch: str = "vgg16", head: int = 300_000, **extra) -> dict:
    return {"kind": "transfer", "source": arch, "source_kind": "pretrained", "arch": arch, "num_classes": head,
            "in_channels": 3, "strategy": "head", "image_size": 32, **extra}


@pytest.mark.parametrize("record, message", [
    (_transfer_record(), "its transfer record names a head of 300000 classes but the run has 2"),
    (_transfer_record(head=2), "its transfer network has 134,268,738 parameters, over this server's limit of "
                               "50,000,000 (imports: max_params)"),
    (_transfer_record("resnet18", head=2, in_channels=100_000), "in_channels must be 1 to 64"),
    ({"kind": "transfer", "source": "x", "source_kind": "run", "num_classes": 2, "base_num_classes": 300_000,
      "base_input_shape": [3, 32, 32], "base_record": {"kind": "spec", "spec": {}}},
     "its source run's base_num_classes must be 1 to 1,000 (imports: max_classes), not 300000"),
    ({"kind": "transfer", "source": "x", "source_kind": "run", "num_classes": 2, "base_num_classes": 2,
      "base_input_shape": [3, 100_000, 32], "base_record": {"kind": "spec", "spec": {}}},
     "its source run's base_input_shape must be [channels, height, width] within 64 channels and 1024 pixels"),
])
def test_a_transfer_record_over_the_limits_is_refused_from_its_record(folders, record, message):
    import resource

    from cnnkit.export import import_run_zip
    from cnnkit.export.run_import import RunImportError
    from tests.helpers.zips import run_zip

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(RunImportError, match="does not describe a network CNN Lab can rebuild") as caught:
        import_run_zip(run_zip(meta={"model_record": record, "input_shape": [3, 32, 32], "classes": ["c0", "c1"],
                                     "mean": [0.5] * 3, "std": [0.25] * 3}), owner="Anna")
    assert message in str(caught.value)
    # nothing was built: VGG16's 300,000-class head alone would be 4.9 GB
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024


def test_a_transfer_run_within_the_limits_still_imports(folders):
    import torch

    from cnnkit.export import import_run_zip
    from cnnkit.transfer.builder import rebuild_transfer_model
    from tests.helpers.zips import run_zip

    record = _transfer_record("efficientnet_lite0", head=2)
    buffer = io.BytesIO()
    torch.save(rebuild_transfer_model(record, (3, 32, 32), 2).state_dict(), buffer)
    run_dir = import_run_zip(run_zip(meta={"model_record": record, "input_shape": [3, 32, 32], "classes": ["c0", "c1"],
                                     "mean": [0.5] * 3, "std": [0.25] * 3},
                                     weights=buffer.getvalue()), owner="Anna")
    assert (run_dir / "weights.pt").is_file() or any(run_dir.iterdir())


# --- poor cases -----------------------------------------------------------------------------------------------------
def _png_header(width: int, height: int, colour_type: int = 6) -> bytes:
    """A PNG's signature, header and one small IDAT chunk: what PIL reads to tell the size, nothing to decode."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
            + chunk(b"IEND", b""))


def test_a_huge_png_is_refused_from_its_header_before_decoding(tmp_path, capsys):
    import resource

    from cnnkit.cli import main
    from cnnkit.explain import load_image

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError) as caught:
        load_image(_png_header(13_000, 13_000), name="big.png")
    assert str(caught.value) == ("big.png is 13000×13000 pixels (RGBA): decoding it would take 645 MB, over 256 MB; "
                                 "resize it to at most about 8,192 pixels a side")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024
    image = tmp_path / "big.png"
    image.write_bytes(_png_header(13_000, 13_000))
    for argv in (["gradcam", "preset:cnn3", str(image)], ["inspect", "preset:cnn3", str(image)]):
        _refused(capsys, argv, "big.png is 13000×13000 pixels (RGBA): decoding it would take 645 MB")


def test_a_large_photo_within_the_bound_still_opens():
    from cnnkit.explain import load_image
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (3000, 2000), (10, 20, 30)).save(buffer, format="PNG")
    assert max(load_image(buffer.getvalue()).size) <= 2048


def _follow_app():
    import streamlit as st

    from ui.job_follow import follow_jobs

    follow_jobs(st.session_state.get("ids", ()), group=st.session_state.get("group"), key="t")


def test_progress_bars_show_job_labels_and_texts_as_plain_text():
    import threading
    import time

    from streamlit.testing.v1 import AppTest

    from cnnkit.jobs import get_job_manager

    manager = get_job_manager()
    release = threading.Event()
    label = "[click](http://evil.example) **Lesson** :red[x]"

    def job(context):
        context.progress({"kind": "status", "phase": "loading", "message": "![img](http://evil.example/i.png)",
                          "fraction": 0.5})
        release.wait(600)

    group = "files-follow-group"
    ids = [manager.submit(job, label=label, device="files-follow", group=group) for _ in range(2)]
    deadline = time.monotonic() + 90   # the suite under load: other jobs may hold the CPU a while
    while manager.snapshot(ids[0]).status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        for state in ({"group": group}, {"ids": ids[:1]}):
            at = AppTest.from_function(_follow_app, default_timeout=30)
            for key, value in state.items():
                at.session_state[key] = value
            at.run()
            assert not at.exception, at.exception
            texts = [p.proto.text for p in at.get("progress")]
            assert texts, state
            assert r"\!\[img\]\(http\://evil.example/i.png\)" in texts[-1], texts
            if "group" in state:
                assert texts[1].startswith(r"\[click\]\(http\://evil.example\) \*\*Lesson\*\* \:red\[x\]: ")
    finally:
        release.set()
        for job_id in ids:
            manager.wait(job_id, timeout=10)


def test_a_dataset_zip_whose_train_and_test_classes_differ_is_refused(folders):
    from cnnkit.data import import_zip
    from tests.helpers.zips import dataset_zip, png

    files = {"train/cat/1.png": png(), "train/dog/1.png": png((0, 0, 200)), "test/cat/1.png": png(),
             "test/bird/1.png": png((0, 200, 0))}
    with pytest.raises(ValueError) as caught:
        import_zip(dataset_zip(files), "mixed")
    assert str(caught.value) == ("train/ and test/ must hold the same class folders (only in train/: dog; only in "
                                 "test/: bird); add the missing folders or remove those classes")
    assert not (folders["data"] / "mixed").exists()
    same = {"train/cat/1.png": png(), "train/dog/1.png": png((0, 0, 200)), "test/cat/1.png": png(),
            "test/dog/1.png": png((0, 0, 200))}
    assert import_zip(dataset_zip(same), "same").classes == ["cat", "dog"]


# --- Hypothesis: the lesson loader and the lesson result reader -------------------------------------------------------
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
HOSTILE_TEXT = ["../../../../etc", "/etc/passwd", "shapes", "cifar10", "cnn3", "transfer", "resolution_lab", "", " ",
                "x" * 300, "[click](http://evil.example)", "\u202e", "nan", "TOTV", "16", "last:2", "vgg16"]
toml_values = st.recursive(
    st.booleans() | st.integers(-2**70, 2**70) | st.sampled_from([0, 1, 2, 32, 100_000, 10**30])
    | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(HOSTILE_TEXT) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(HOSTILE_TEXT[:8]) | st.text(max_size=6),
                                                                 inner, max_size=4),
    max_leaves=10)
LESSON_PATHS = [("id",), ("title",), ("topic",), ("question",), ("look_at",), ("defaults",), ("quick",), ("arms",),
                ("defaults", "dataset"), ("defaults", "epochs"), ("defaults", "image_size"), ("defaults", "lr"),
                ("defaults", "batch_size"), ("defaults", "augment"), ("quick", "train_subset"), ("arms", 0),
                ("arms", 0, "id"), ("arms", 0, "kind"), ("arms", 0, "config"), ("arms", 0, "config", "model"),
                ("arms", 0, "quick"), ("arms", 0, "reported"), ("arms", 0, "reported", "curves"),
                ("arms", 0, "reported", "curves", "train_loss"), ("arms", 0, "reported", "per_class"),
                ("arms", 0, "reported", "by_resolution"), ("arms", 1, "original_source"), ("arms", 1, "label"),
                ("bogus",)]


def _toml(value) -> str:
    """A TOML value (inline tables and arrays) for the fuzzer; None has no TOML form and is written as ""."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        return ("inf" if value > 0 else "-inf") if value in (float("inf"), float("-inf")) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    return '""'


def _set_path(data, path: tuple, value):
    target = data
    for key in path[:-1]:
        try:
            target = target[key]
        except (KeyError, IndexError, TypeError):
            return data
    if isinstance(target, dict) or (isinstance(target, list) and isinstance(path[-1], int) and path[-1] < len(target)):
        target[path[-1]] = value
    return data


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(LESSON_PATHS), toml_values), min_size=1, max_size=3))
def test_fuzzed_lesson_files_give_a_lesson_or_a_message_naming_the_file(changes):
    import tomllib

    from cnnkit.lessons import Lesson, LessonFileError, parse_lesson

    data = tomllib.loads(LESSON_TOML)
    for path, value in changes:
        data = _set_path(data, path, value)
    text = "\n".join(f"{json.dumps(key)} = {_toml(value)}" for key, value in data.items())
    try:
        lesson = parse_lesson(text, "fuzzed.toml", "teacher")
    except LessonFileError as error:
        assert str(error).startswith("fuzzed.toml: ") and "Traceback" not in str(error)
    else:   # checked completely when listed: what a run would refuse is refused here
        import re

        assert isinstance(lesson, Lesson) and lesson.arms
        for arm in lesson.arms:
            given_settings = arm.config.get("base", arm.config)
            assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", str(given_settings.get("dataset", "shapes")))
            assert (given_settings.get("image_size") or 0) <= 1024


fragments = st.sampled_from(["[", "]", "{", "}", "[[arms]]", "\ufeff", "\x00", "a = 1" + "0" * 5000, '"""', "'''",
                             "x.y.z = 1", "= =", "\n", "#", "\xff", "é", "\nx = " + "[" * 5000 + "\n",
                             "a" + ".a" * 300 + " = 1"])


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(LESSON_TOML)), fragments), max_size=4), st.booleans())
def test_fuzzed_lesson_bytes_give_a_lesson_or_a_message_naming_the_file(tmp_path_factory, inserts, as_latin1):
    from cnnkit.lessons import LessonFileError, load_lesson_file

    text = LESSON_TOML
    for position, fragment in sorted(inserts, reverse=True):
        text = text[:position] + fragment + text[position:]
    path = tmp_path_factory.mktemp("fuzz") / "fuzzed.toml"
    path.write_bytes(text.encode("latin-1", "replace") if as_latin1 else text.encode("utf-8"))
    try:
        load_lesson_file(path)
    except LessonFileError as error:
        assert str(error).startswith("fuzzed.toml: ")


RESULT_PATHS = [("created",), ("seeds",), ("mode",), ("status",), ("arms",), ("seconds",), ("lesson_title",),
                ("device",), ("plan",), ("runs",), ("arms", 0), ("arms", 0, "arm_id"), ("arms", 0, "metrics"),
                ("arms", 0, "metrics", "test_accuracy"), ("arms", 0, "metrics", "test_accuracy", "mean"),
                ("arms", 0, "metrics", "test_accuracy", "std"), ("arms", 0, "metrics", "test_accuracy", "per_seed"),
                ("arms", 0, "metrics", "test_accuracy", "n"), ("arms", 1, "metrics", "macro_f1"),
                ("arms", 0, "histories"), ("arms", 0, "histories", 0), ("arms", 0, "histories", 0, 0),
                ("arms", 0, "histories", 0, 0, "train_acc"), ("arms", 0, "histories", 0, 0, "grad"),
                ("arms", 0, "confusion"), ("arms", 0, "classes"), ("arms", 0, "per_class"),
                ("arms", 0, "per_class", "circle"), ("arms", 0, "by_resolution"), ("arms", 0, "seeds"),
                ("arms", 0, "seconds"), ("arms", 0, "status"), ("arms", 0, "backbone"), ("arms", 0, "message")]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@pytest.fixture(scope="module")
def result_base(tmp_path_factory):
    """A valid lesson result's lab.json data and the lesson it belongs to (the test lesson file)."""
    from cnnkit.lessons import parse_lesson

    folder = tmp_path_factory.mktemp("base")
    shipped = shipped_result({"shipped": folder})
    return json.loads((shipped / "lab.json").read_text()), parse_lesson(LESSON_TOML, "test.toml", "teacher")


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(RESULT_PATHS), json_values), min_size=1, max_size=3))
def test_fuzzed_lesson_results_are_read_whole_or_left_out_with_a_reason(result_base, tmp_path_factory, changes):
    import copy

    from cnnkit.labs.saved import list_labs, load_lab
    from cnnkit.lessons import LessonResult, comparison_rows, curve_rows
    from ui.lessons_results import comparison_frame, effect_frame

    data, lesson = copy.deepcopy(result_base[0]), result_base[1]
    for path, value in changes:
        data = _set_path(data, path, value)
    root = tmp_path_factory.mktemp("labs")
    (root / "fuzzed").mkdir()
    (root / "fuzzed" / "lab.json").write_text(json.dumps(data))
    [entry] = list_labs(root)
    try:
        result = load_lab("fuzzed", root, kind="lesson")
    except ValueError as error:
        assert entry.damaged and entry.reason == str(error) and "lab.json" in str(error)
        return
    assert isinstance(result, LessonResult) and not entry.damaged
    # Everything a page does with a result it could read works on it.
    result.title(), result.summary(), comparison_rows(lesson, result), curve_rows(lesson, result)
    comparison_frame(lesson, result), effect_frame(lesson, result)


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_import_zip_of_a_folder_or_a_pipe_is_one_error_line_and_never_blocks(folders, tmp_path, capsys, kind):
    path = tmp_path / "set.zip"
    path.mkdir() if kind == "folder" else os.mkfifo(path)
    _refused(capsys, ["import-zip", str(path), "--name", "mine"], "give the path of a zip of class folders")


def test_a_run_record_is_read_again_when_its_files_change(tmp_path, monkeypatch):
    from cnnkit.store import records

    monkeypatch.setattr(records, "signature_settled", lambda signature: True)  # cached at once
    run_dir = tmp_path / "run-a"
    run_dir.mkdir()
    meta = {"status": "running", "created": 1.0, "epochs_done": 1, "dataset": "shapes"}
    (run_dir / "run.json").write_text(json.dumps(meta))
    (run_dir / "config.json").write_text(json.dumps({"epochs": 3}))
    first = records.load_run(run_dir)
    assert (first.epochs_done, first.epochs) == (1, 3)
    first.config["epochs"] = 99                                          # a caller's change stays its own
    assert records.load_run(run_dir).epochs == 3
    (run_dir / "run.json").write_text(json.dumps({**meta, "status": "done", "epochs_done": 3, "pad": "x" * 10}))
    assert (records.load_run(run_dir).status, records.load_run(run_dir).epochs_done) == ("done", 3)
    (run_dir / "config.json").write_text(json.dumps({"epochs": "three"}))
    damaged = records.load_run(run_dir)
    assert damaged.status == "damaged" and "epochs" in damaged.message
