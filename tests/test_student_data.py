"""A student's data: listed, exported, erased by the teacher only, and removed after the class's retention.

The done-when test: after erasing one of two students, no file under the data and checkpoint folders names or
belongs to them, while the other's remain."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

import cnnkit.labs  # noqa: F401  registers runs, datasets and labs as student data
from cnnkit.classroom import NotAllowed, load_classroom_config
from cnnkit.classroom.config import ConfigError
from cnnkit.classroom.pins import load_pins, pin
from cnnkit.classroom.student_data import (STUDENT_DATA_KINDS, StudentBusy, erase_student, export_student,
                                           known_students, owner_records_kind, privacy_rows, register_student_data,
                                           retention, student_data)
from cnnkit.cli import main as cli_main
from cnnkit.data import import_zip
from cnnkit.labs import ResolutionLabResult, labs_dir, save_lab
from cnnkit.store import RunWriter, update_run

DAY = 86400.0


@pytest.fixture
def folders(tmp_path, monkeypatch):
    data, checkpoints = tmp_path / "data", tmp_path / "checkpoints"
    data.mkdir()
    checkpoints.mkdir()
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(data))
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(checkpoints))
    monkeypatch.delenv("CNNKIT_CACHE_DIR", raising=False)
    monkeypatch.setenv("CNNLAB_CONFIG", str(tmp_path / "cnnlab.toml"))
    (tmp_path / "cnnlab.toml").write_text("")
    return {"data": data, "checkpoints": checkpoints, "root": tmp_path}


@pytest.fixture
def predictions(monkeypatch):
    """A fake lesson-predictions kind (the real one is cnnkit.lessons'), kept in one shared JSON file the way
    a shared-file kind is: registered with the same one line the lead adds at merge."""
    kinds = dict(STUDENT_DATA_KINDS)
    monkeypatch.setattr("cnnkit.classroom.student_data.STUDENT_DATA_KINDS", kinds)

    def path() -> Path:
        from cnnkit.paths import checkpoint_dir
        return checkpoint_dir() / "predictions.json"

    def predictions_of(owner: str) -> list[dict]:
        data = json.loads(path().read_text()) if path().is_file() else []
        return [p for p in data if p["owner"] == owner]

    def erase_predictions(owner: str) -> None:
        data = json.loads(path().read_text()) if path().is_file() else []
        path().write_text(json.dumps([p for p in data if p["owner"] != owner]))

    def predict(owner: str, lesson: str, guess: str) -> None:
        data = json.loads(path().read_text()) if path().is_file() else []
        path().write_text(json.dumps(data + [{"owner": owner, "lesson": lesson, "guess": guess}]))

    register_student_data(owner_records_kind("predictions", predictions_of, erase_predictions,
                                             what="lesson predictions", where="predictions.json", kept="a term"))

    # A fake claimed-names kind, the way the classroom's name claims register (release_name(name) frees one).
    def claims() -> Path:
        from cnnkit.paths import checkpoint_dir
        return checkpoint_dir() / "names.json"

    def claimed_names() -> list[str]:
        return json.loads(claims().read_text()) if claims().is_file() else []

    def release_name(name: str) -> None:
        claims().write_text(json.dumps([n for n in claimed_names() if n != name]))

    register_student_data(owner_records_kind("name", lambda owner: [n for n in claimed_names() if n == owner],
                                             release_name, what="claimed names", where="names.json", kept="a term"))

    def record(owner: str, lesson: str, guess: str) -> None:
        predict(owner, lesson, guess)
        claims().write_text(json.dumps(claimed_names() + [owner]))

    return record


def make_run(owner: str, name: str, created: float | None = None) -> str:
    with RunWriter.create({"epochs": 1, "name": name, "dataset": "shapes"}, "cnn3_bn", "shapes", owner=owner) as writer:
        writer.finish("done", test_accuracy=0.5)
    if created is not None:
        update_run(writer.run_dir, created=created)
    return writer.run_dir.name


def make_lab(owner: str, run_id: str) -> str:
    from cnnkit.paths import checkpoint_dir

    lab_id = f"lab-{owner.lower()}"
    lab = ResolutionLabResult(lab_id=lab_id, lab_dir=str(labs_dir() / lab_id), status="done", dataset="shapes",
                              model="cnn3_bn", classes=["a", "b"], native=32, resolutions=[32, 16], mode="area",
                              native_size=False, config={}, runs=[{"run_dir": str(checkpoint_dir() / run_id)}],
                              created=time.time(), owner=owner)
    save_lab(lab)
    return lab_id


def zip_of_classes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for label, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
            for index in range(2):
                image = io.BytesIO()
                Image.new("RGB", (8, 8), colour).save(image, format="PNG")
                zf.writestr(f"{label}/{index}.png", image.getvalue())
    return buffer.getvalue()


def make_student(owner: str, predict) -> dict:
    run_id = make_run(owner, f"{owner}'s first run")
    lab_id = make_lab(owner, make_run(owner, f"{owner} lab run"))
    dataset = f"pets{owner.lower()[:3]}"
    import_zip(zip_of_classes(), dataset, owner=owner)
    from cnnkit.data import load_dataset
    load_dataset(dataset)  # its decoded cache in data/.cache
    pin("run", run_id, note="a good one", teacher=True)
    predict(owner, "depth", "deeper is better")
    return {"run": run_id, "lab": lab_id, "dataset": dataset}


def files_naming(root: Path, name: str) -> list[str]:
    """Every file under root whose path or bytes mention `name`."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and (name.lower() in str(path.relative_to(root)).lower()
                               or name.encode() in path.read_bytes()):
            found.append(str(path.relative_to(root)))
    return sorted(found)


def test_after_erasing_a_student_no_file_names_or_holds_them_and_the_other_keeps_everything(folders, predictions):
    anna = make_student("Annabel", predictions)
    ben = make_student("Benedikt", predictions)
    root = folders["root"]
    assert files_naming(root / "data", "Annabel") and files_naming(root / "checkpoints", "Annabel")
    assert known_students() == ["Annabel", "Benedikt"]

    listed = student_data("Annabel", teacher=True)
    assert listed.counts() == {"datasets": 1, "runs": 2, "labs": 1, "predictions": 1, "name": 1, "pins": 1}
    result = erase_student("Annabel", teacher=True)
    assert result["errors"] == [] and len(result["removed"]) == 7

    assert files_naming(root / "data", "Annabel") == []
    assert files_naming(root / "checkpoints", "Annabel") == []
    # nor anything that was hers under another name: her run, lab, dataset (and its decoded cache), pin
    assert not (root / "checkpoints" / anna["run"]).exists() and not (labs_dir() / anna["lab"]).exists()
    assert not (root / "data" / anna["dataset"]).exists()
    assert not list((root / "data" / ".cache").glob(f"{anna['dataset']}-*"))
    assert [p["id"] for p in load_pins()] == [ben["run"]]
    # Benedikt keeps all of his
    assert student_data("Benedikt", teacher=True).counts() == {"datasets": 1, "runs": 2, "labs": 1,
                                                                "predictions": 1, "name": 1, "pins": 1}
    assert (root / "checkpoints" / ben["run"] / "run.json").is_file()
    assert list((root / "data" / ".cache").glob(f"{ben['dataset']}-*"))
    assert known_students() == ["Benedikt"]


def test_a_student_can_never_erase_anyone_not_even_a_dry_run(folders):
    run_id = make_run("Clara", "mine")
    for owner in ("Clara", "Dora"):
        with pytest.raises(NotAllowed, match="only the teacher can erase"):
            erase_student(owner, teacher=False)
        with pytest.raises(NotAllowed):
            erase_student(owner, teacher=False, dry_run=True)
    assert (folders["checkpoints"] / run_id / "run.json").is_file()
    with pytest.raises(ValueError, match="name a student"):
        erase_student("", teacher=True)


def test_the_dry_run_lists_what_goes_and_removes_nothing(folders):
    run_id = make_run("Emil", "my net")
    result = erase_student("Emil", teacher=True, dry_run=True)
    assert result["dry_run"] and result["counts"] == {"runs": 1}
    assert result["removed"] == [f"runs: run {run_id} (my net on shapes, done)"]
    assert (folders["checkpoints"] / run_id / "run.json").is_file()


def test_a_run_training_now_stops_the_erase_and_removes_nothing(folders):
    with RunWriter.create({"epochs": 1}, "cnn3_bn", "shapes", owner="Fritz") as writer:
        writer.start(None)  # running, in this (live) process
        done = make_run("Fritz", "finished")
        with pytest.raises(StudentBusy, match="Fritz has 1 run\\(s\\) training now"):
            erase_student("Fritz", teacher=True)
    assert (folders["checkpoints"] / done / "run.json").is_file()


def test_a_student_exports_their_own_data_and_not_anyone_elses(folders, predictions):
    mine = make_student("Greta", predictions)
    make_student("Hanna", predictions)
    with pytest.raises(NotAllowed, match="only Hanna or the teacher"):
        export_student("Hanna", who="Greta")
    payload, manifest = export_student("Greta", who="Greta")
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        names = zf.namelist()
        saved = json.loads(zf.read("student.json"))
    assert saved["owner"] == "Greta" and saved["counts"] == manifest["counts"]
    # flat (issue 29): runs/<id>/run.json, not runs/<id>/<id>/run.json; no lock files
    assert f"runs/{mine['run']}/run.json" in names
    assert f"labs/{mine['lab']}/lab.json" in names
    assert f"datasets/{mine['dataset']}/red/0.png" in names
    assert not any(name.endswith(".lock") for name in names)
    assert [i["record"]["guess"] for i in saved["items"] if i["kind"] == "predictions"] == ["deeper is better"]
    assert not any("Hanna" in name for name in names) and b"Hanna" not in zf_bytes(payload)
    assert saved["pins"] == [{"kind": "run", "id": mine["run"], "note": "a good one"}]


def zf_bytes(payload: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        return b"".join(zf.read(name) for name in zf.namelist())


def test_retention_removes_old_runs_and_uploads_but_not_pinned_or_new_ones(folders):
    now = time.time()
    old = make_run("Ida", "old", created=now - 40 * DAY)
    pinned = make_run("Ida", "old but pinned", created=now - 40 * DAY)
    new = make_run("Ida", "new", created=now - 2 * DAY)
    guest_old = make_run("", "a guest's", created=now - 90 * DAY)
    pin("run", pinned, teacher=True)
    import_zip(zip_of_classes(), "oldpets", owner="Ida")
    record = folders["data"] / "oldpets" / ".owner.json"
    record.write_text(json.dumps({"owner": "Ida", "created": now - 31 * DAY}))

    dry = retention(30, dry_run=True, now=now)
    assert len(dry["removed"]) == 3 and dry["kept"] == [f"runs: run {pinned} (old but pinned on shapes, done) "
                                                          "of Ida (pinned)"]
    assert (folders["checkpoints"] / old).is_dir()
    done = retention(30, now=now)
    assert done["removed"] == dry["removed"] and done["errors"] == []
    left = sorted(p.name for p in folders["checkpoints"].iterdir() if (p / "run.json").is_file())
    assert left == sorted([pinned, new]) and guest_old not in left
    assert not (folders["data"] / "oldpets").exists()
    assert retention(None)["removed"] == [] and (folders["checkpoints"] / new).is_dir()


def test_retention_days_come_from_cnnlab_toml_with_a_clear_message_for_a_bad_value(folders):
    config = folders["root"] / "cnnlab.toml"
    assert load_classroom_config().retention_days is None
    config.write_text("[privacy]\nretention_days = 30\n")
    assert load_classroom_config().retention_days == 30
    config.write_text("[privacy]\nretention_days = \"a month\"\n")
    with pytest.raises(ConfigError, match="retention_days must be a whole number"):
        load_classroom_config()


def test_the_privacy_rows_name_every_kind_and_the_retention(folders, predictions):
    rows = {row["kind"]: row for row in privacy_rows(retention_days=60)}
    assert {"identity", "runs", "labs", "datasets", "predictions", "viewer uploads"} <= set(rows)
    assert rows["runs"]["kept"].startswith("60 days") and rows["predictions"]["kept"] == "a term"
    assert "never written to disk" in rows["viewer uploads"]["where"]


def test_the_cli_lists_without_yes_erases_with_it_and_exports(folders, capsys):
    run_id = make_run("Jonas", "cli run")
    assert cli_main(["class", "erase-student", "Jonas", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert listed["dry_run"] and listed["counts"] == {"runs": 1}
    assert (folders["checkpoints"] / run_id).is_dir()

    out = folders["root"] / "jonas.zip"
    assert cli_main(["class", "export-student", "Jonas", "--out", str(out), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert exported["counts"] == {"runs": 1} and exported["files"] >= 2 and zipfile.is_zipfile(out)

    assert cli_main(["class", "erase-student", "Jonas", "--yes", "--json"]) == 0
    erased = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not erased["dry_run"] and not (folders["checkpoints"] / run_id).exists()

    make_run("Karl", "old", created=time.time() - 10 * DAY)
    (folders["root"] / "cnnlab.toml").write_text("[privacy]\nretention_days = 7\n")
    assert cli_main(["class", "retention", "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert dry["days"] == 7 and dry["dry_run"] and len(dry["removed"]) == 1
    assert cli_main(["class", "erase-student", ""]) == 1
    assert "name a student" in capsys.readouterr().err


def test_two_cli_modules_share_one_class_topic():
    # The classroom's own `class …` commands and these live in different modules; either may come first.
    import argparse

    from cnnkit.cli.common import topic_subparsers

    for first_plain in (False, True):
        parser = argparse.ArgumentParser()
        commands = parser.add_subparsers(dest="command")
        if first_plain:  # a module that made the topic by hand
            commands.add_parser("class").add_subparsers(dest="class_command").add_parser("join")
        else:
            topic_subparsers(commands, "class", "the class").add_parser("join")
        topic_subparsers(commands, "class", "the class").add_parser("retention")
        assert parser.parse_args(["class", "join"]).class_command == "join"
        assert parser.parse_args(["class", "retention"]).class_command == "retention"
