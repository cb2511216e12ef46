"""The resolution lab (TOTV vs TVTV): tables, saved labs, native-size checks and the CLI."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest
import torch

from cnnkit.cli import main as cli_main
from cnnkit.data import SHAPE_CLASSES, generate_shapes
from cnnkit.evaluate import evaluate_run
from cnnkit.labs import (LAB_KINDS, DamagedLab, LabKind, ResolutionLabConfig, ResolutionLabResult, ResolutionRow,
                         delete_lab, list_labs, load_lab, network_views, register_lab_kind, resume_resolution_lab,
                         run_resolution_lab, save_lab, train_lab_model)
from cnnkit.store import load_history, load_results, load_run
from cnnkit.train import TrainConfig, train
from tests.helpers.folders import tiny_folder


def lab_config(dataset: str, resolutions=(32, 16), **overrides) -> ResolutionLabConfig:
    base = TrainConfig(**{"dataset": dataset, "epochs": 1, "batch_size": 32, "device": "cpu", "val_fraction": 0.1,
                          "scheduler": "constant", **overrides})
    return ResolutionLabConfig(base=base.to_dict(), resolutions=list(resolutions))


@pytest.fixture(scope="module")
def shapes_lab() -> tuple[ResolutionLabResult, list[dict]]:
    events: list[dict] = []
    result = run_resolution_lab(lab_config("shapes", (16, 32), train_subset=200), on_progress=events.append)
    return result, events


@pytest.mark.slow
def test_shapes_lab_tables_have_one_row_per_method_and_resolution(shapes_lab):
    result, events = shapes_lab
    assert result.status == "done"
    assert result.native == 32 and result.resolutions == [32, 16]  # highest first
    assert [r.resolution for r in result.totv] == [32, 16]
    assert [r.resolution for r in result.tvtv] == [32, 16]
    for row in result.totv + result.tvtv:
        for value in (row.accuracy, row.precision, row.recall, row.f1):
            assert 0.0 <= value <= 1.0
        assert [c["class"] for c in row.per_class] == SHAPE_CLASSES
        assert all(0.0 <= c["accuracy"] <= 1.0 for c in row.per_class)
        assert sum(c["support"] for c in row.per_class) == row.num_test == 2000
        # accuracy is the support-weighted mean of per-class accuracy (recall)
        weighted = sum(c["accuracy"] * c["support"] for c in row.per_class) / row.num_test
        assert weighted == pytest.approx(row.accuracy, abs=1e-9)
    # two models: TOTV (32 px, also TVTV's native row) and TVTV 16 px
    assert [(r["method"], r["resolution"]) for r in result.runs] == [("TOTV", 32), ("TVTV", 16)]
    totv_dir, tvtv16_dir = result.runs[0]["run_dir"], result.runs[1]["run_dir"]
    assert result.totv[0].run_dir == result.totv[1].run_dir == result.tvtv[0].run_dir == totv_dir
    assert result.tvtv[1].run_dir == tvtv16_dir
    # native row = the TOTV run's own test result; TVTV 16 = that run's test result (tested at 16)
    assert result.totv[0].accuracy == load_results(totv_dir)["accuracy"] == result.tvtv[0].accuracy
    assert result.tvtv[1].accuracy == load_results(tvtv16_dir)["accuracy"]
    # TOTV at 16 px = the native model evaluated on 16 px test images
    again, _ = evaluate_run(totv_dir, resolution=16, mode="area", restore=True)
    assert result.totv[1].accuracy == pytest.approx(again.accuracy)
    # the TVTV model really trained at 16 px
    config = json.loads((__import__("pathlib").Path(tvtv16_dir) / "config.json").read_text())
    assert config["train_resolution"] == 16 and config["restore_size"] is True
    # progress: both models announced, epoch rows tagged with their model, fraction reaches 1
    models = [e["lab_model"] for e in events if e.get("kind") == "lab" and "lab_model" in e]
    assert models == ["TOTV 32 px", "TVTV 16 px"]
    assert {e["row"]["model"] for e in events if e["kind"] == "epoch"} == {"TOTV 32 px", "TVTV 16 px"}
    assert [e["lab_fraction"] for e in events if e.get("kind") == "lab" and "lab_fraction" in e][-1] == 1.0


@pytest.mark.slow
def test_finished_lab_reopens_from_disk_equal(shapes_lab):
    result, _ = shapes_lab
    reopened = load_lab(result.lab_id)
    assert reopened == result
    assert reopened.to_dict() == json.loads(json.dumps(result.to_dict()))  # JSON round trip is exact
    assert load_lab(result.lab_dir) == result
    assert result.lab_id in [lab.lab_id for lab in list_labs()]
    rows = result.metric_rows()
    assert len(rows) == 2 * 2 * 3  # methods × resolutions × (accuracy, precision, F1)
    assert len(result.per_class_rows()) == 2 * 2 * 10


def test_plan_says_which_arm_trains_what_and_tests_where():
    plan = lab_config("shapes", (8, 32, 16)).plan()
    assert plan.native == 32 and plan.resolutions == [32, 16, 8] and plan.epochs == 1
    assert [(t.method, t.resolution, t.train_resolution, t.label) for t in plan.trainings] == [
        ("TOTV", 32, None, "TOTV 32 px"), ("TVTV", 16, 16, "TVTV 16 px"), ("TVTV", 8, 8, "TVTV 8 px")]
    # the TOTV model fills its whole table and TVTV's native row (train and test at 32 px) from its own test
    assert [(t.method, t.resolution, t.own_test) for t in plan.trainings[0].tests] == [
        ("TOTV", 32, True), ("TVTV", 32, True), ("TOTV", 16, False), ("TOTV", 8, False)]
    for training in plan.trainings[1:]:
        assert [(t.method, t.resolution, t.own_test) for t in training.tests] == [("TVTV", training.resolution, True)]
    # every row of both tables is planned exactly once; only TOTV below native needs an extra evaluation
    rows = sorted((t.method, t.resolution) for training in plan.trainings for t in training.tests)
    assert rows == sorted((m, r) for m in ("TOTV", "TVTV") for r in (32, 16, 8))
    assert [(t.method, t.resolution) for t in plan.evaluations()] == [("TOTV", 16), ("TOTV", 8)]
    assert plan.text() == "Trains 3 model(s) of 1 epoch(s): TOTV at 32 px, TVTV at 16 px, 8 px."
    assert json.loads(json.dumps(plan.to_dict()))["trainings"][1]["label"] == "TVTV 16 px"


def test_plan_without_the_native_size_and_with_bad_sizes():
    # the TOTV model still trains at the native size, but no 32 px row is asked for
    plan = lab_config("shapes", (16, 8)).plan()
    assert [(t.method, t.resolution) for t in plan.trainings] == [("TOTV", 32), ("TVTV", 16), ("TVTV", 8)]
    assert [(t.method, t.resolution, t.own_test) for t in plan.trainings[0].tests] == [
        ("TOTV", 16, False), ("TOTV", 8, False)]
    only_native = lab_config("shapes", (32,)).plan()
    assert len(only_native.trainings) == 1 and only_native.evaluations() == []
    assert only_native.text() == "Trains 1 model(s) of 1 epoch(s): TOTV at 32 px."
    bigger = lab_config("shapes", (64, 32)).plan(native=64)  # a given native size is not looked up
    assert [(t.method, t.resolution) for t in bigger.trainings] == [("TOTV", 64), ("TVTV", 32)]
    with pytest.raises(ValueError, match="choose 32 or less"):
        lab_config("shapes", (64, 16)).plan()
    with pytest.raises(ValueError, match="at least one resolution"):
        lab_config("shapes", ()).plan()
    with pytest.raises(ValueError, match="unknown dataset"):
        lab_config("no_such_dataset", (16,)).plan()


def test_bad_settings_fail_before_training():
    with pytest.raises(ValueError, match="at least one resolution"):
        lab_config("shapes", ()).validate()
    with pytest.raises(ValueError, match="differ"):
        lab_config("shapes", (16, 16)).validate()
    with pytest.raises(ValueError, match="filter"):
        ResolutionLabConfig(mode="bicubic").validate()
    with pytest.raises(ValueError, match="epochs"):
        ResolutionLabConfig(base=TrainConfig(epochs=0).to_dict()).validate()
    with pytest.raises(ValueError, match="unknown resolution-lab setting"):
        ResolutionLabConfig.from_dict({"resolution": [8]})
    before = len(list_labs())
    with pytest.raises(ValueError, match="above that"):
        run_resolution_lab(lab_config("shapes", (64, 16)))
    # cnn3_bn flattens into a Linear sized for 32 px: it cannot take 16 px images directly
    config = lab_config("shapes", (32, 16), model="cnn3_bn")
    config.native_size = True
    with pytest.raises(ValueError, match="cannot take 16×16 images directly"):
        run_resolution_lab(config)
    assert len(list_labs()) == before  # nothing saved, nothing trained


def test_tiny_lab_native_size_and_cancel():
    dataset = tiny_folder()
    # resnet_small ends in global pooling: the 16 px and 8 px images go in as they are
    config = lab_config(dataset, (32, 16, 8), model="resnet_small")
    config.native_size = True
    result = run_resolution_lab(config)
    assert result.status == "done" and [r.resolution for r in result.tvtv] == [32, 16, 8]
    # the lab trained exactly what its plan says
    assert [(r["method"], r["resolution"], r["label"]) for r in result.runs] == [
        (t.method, t.resolution, t.label) for t in config.plan().trainings]
    assert all(r.num_test == 18 for r in result.totv + result.tvtv)
    saved = json.loads((__import__("pathlib").Path(result.runs[-1]["run_dir"]) / "config.json").read_text())
    assert saved["train_resolution"] == 8 and saved["restore_size"] is False
    # a cancel before the first step: the lab ends as cancelled with nothing trained, and is saved so
    stop = threading.Event()
    stop.set()
    cancelled = run_resolution_lab(lab_config(dataset), cancel_event=stop)
    assert cancelled.status == "cancelled" and cancelled.totv == [] and cancelled.tvtv == []
    assert load_lab(cancelled.lab_id).status == "cancelled"
    delete_lab(cancelled.lab_id)
    with pytest.raises(FileNotFoundError, match="no saved lab"):
        load_lab(cancelled.lab_id)


def _stop_after_first_epoch_of(model: str, stop: threading.Event, events: list):
    def on_progress(event: dict) -> None:
        events.append(event)
        if event.get("kind") == "epoch" and event["row"]["model"] == model:
            stop.set()                                   # the lab stops at the end of this epoch

    return on_progress


def _rows(result: ResolutionLabResult) -> list[tuple]:
    return [(m, r.resolution, r.accuracy, r.f1) for m, t in (("TOTV", result.totv), ("TVTV", result.tvtv)) for r in t]


@pytest.mark.slow
def test_a_stopped_lab_goes_on_model_by_model_and_ends_as_an_unstopped_one():
    dataset = tiny_folder()
    config = lab_config(dataset, (32, 16, 8), epochs=2, seed=4)
    whole = run_resolution_lab(config)
    stop, events = threading.Event(), []
    stopped = run_resolution_lab(lab_config(dataset, (32, 16, 8), epochs=2, seed=4), cancel_event=stop,
                                 on_progress=_stop_after_first_epoch_of("TVTV 16 px", stop, events))
    assert stopped.status == "cancelled" and "it can go on" in stopped.message
    assert [r.resolution for r in stopped.totv] == [32, 16, 8] and [r.resolution for r in stopped.tvtv] == [32]
    totv_dir, tvtv16_dir = (r["run_dir"] for r in stopped.runs)
    assert load_run(Path(tvtv16_dir)).epochs_done == 1

    saved = json.loads((Path(stopped.lab_dir) / "lab.json").read_text())
    saved["seconds"] = 0.0                                   # as a lab that died before it saved its seconds
    (Path(stopped.lab_dir) / "lab.json").write_text(json.dumps(saved))
    events.clear()
    resumed = resume_resolution_lab(stopped.lab_id, on_progress=events.append)
    assert resumed.status == "done" and resumed.lab_id == stopped.lab_id and load_lab(stopped.lab_id) == resumed
    # the TOTV model is kept (not trained again); TVTV 16 px goes on in its own folder after its first epoch
    assert {e["row"]["model"] for e in events if e["kind"] == "epoch"} == {"TVTV 16 px", "TVTV 8 px"}
    assert sum(1 for e in events if e["kind"] == "epoch" and e["row"]["model"] == "TVTV 16 px") == 1
    assert [r["run_dir"] for r in resumed.runs][:2] == [totv_dir, tvtv16_dir]
    assert [(r["method"], r["resolution"]) for r in resumed.runs] == [("TOTV", 32), ("TVTV", 16), ("TVTV", 8)]
    # every row as the lab that was never stopped has it: a resumed epoch is the epoch it would have been
    assert _rows(resumed) == _rows(whole)
    # the epochs before the stop count in the lab's time, though its saved seconds were lost
    trained = sum(row["seconds"] for run in resumed.runs for row in load_history(Path(run["run_dir"]))["epochs"])
    assert resumed.seconds >= trained > 0
    with pytest.raises(ValueError, match="is done: there is nothing to go on with"):
        resume_resolution_lab(resumed.lab_id)


@pytest.mark.slow
def test_a_model_trained_beside_the_lab_is_the_one_the_lab_takes(capsys):
    dataset = tiny_folder()
    whole = run_resolution_lab(lab_config(dataset, (32, 16, 8), epochs=2, seed=6))
    stop, events = threading.Event(), []
    stopped = run_resolution_lab(lab_config(dataset, (32, 16, 8), epochs=2, seed=6), cancel_event=stop,
                                 on_progress=_stop_after_first_epoch_of("TVTV 16 px", stop, events))
    # the 8 px model, trained from the shell as a second process would (the lab's own being stopped or not)
    assert cli_main(["resolution-lab", "--resume", stopped.lab_id, "--only", "TVTV 8 px", "--json"]) == 0
    beside = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert beside["status"] == "done" and beside["epochs_done"] == 2
    # asked again, the finished model is the answer: nothing trains
    events.clear()
    again = train_lab_model(stopped.lab_id, "TVTV 8 px", on_progress=events.append)
    assert str(again.run_dir) == beside["run_dir"] and again.epochs_done == 2 and events == []
    for label, message in (("TVTV 4 px", "plans no model 'TVTV 4 px'; its models: 'TOTV 32 px', 'TVTV 16 px', "
                                         "'TVTV 8 px'"),
                           ("TOTV 32 px", "has trained and tested its TOTV 32 px model already")):
        assert cli_main(["resolution-lab", "--resume", stopped.lab_id, "--only", label]) == 1
        assert message in capsys.readouterr().err
    assert cli_main(["resolution-lab", "--only", "TVTV 8 px"]) == 1
    assert "give the lab with --resume LAB_ID" in capsys.readouterr().err

    # as if the 8 px model had taken an hour beside the lab: the lab's time must count it
    history_file = Path(beside["run_dir"]) / "history.json"
    history = json.loads(history_file.read_text())
    for row in history["epochs"]:
        row["seconds"] = 1800.0
    history_file.write_text(json.dumps(history))
    events.clear()
    resumed = resume_resolution_lab(stopped.lab_id, on_progress=events.append)
    # the lab trained only what was left of its 16 px model and took the 8 px one as it was
    assert {e["row"]["model"] for e in events if e["kind"] == "epoch"} == {"TVTV 16 px"}
    assert resumed.status == "done" and resumed.runs[-1]["run_dir"] == beside["run_dir"]
    assert _rows(resumed) == _rows(whole)            # the same figures as the lab trained in one process
    # its time counts the 8 px model's epochs, which ran in another process
    trained = sum(row["seconds"] for run in resumed.runs for row in load_history(Path(run["run_dir"]))["epochs"])
    assert resumed.seconds >= trained - 0.01 and trained > 3600          # (seconds are kept to 0.01)
    with pytest.raises(ValueError, match="is done: there is nothing to train"):
        train_lab_model(resumed.lab_id, "TVTV 8 px")


@pytest.mark.slow
def test_a_lab_that_reaches_a_model_training_beside_it_waits_for_it_and_takes_it(monkeypatch):
    monkeypatch.setattr("cnnkit.labs.resolution.WAIT_POLL_S", 0.05)
    dataset = tiny_folder()
    stop, events = threading.Event(), []
    stopped = run_resolution_lab(lab_config(dataset, (32, 16), epochs=2, seed=7), cancel_event=stop,
                                 on_progress=_stop_after_first_epoch_of("TOTV 32 px", stop, events))
    # the 16 px model trains beside the lab (a thread here, another process in use) and holds after its first
    # epoch until the lab says it waits, so the lab surely meets it training
    lab_waits, beside_training, beside = threading.Event(), threading.Event(), []

    def hold(event: dict) -> None:
        if event.get("kind") == "epoch":
            beside_training.set()
            lab_waits.wait(timeout=60)

    thread = threading.Thread(target=lambda: beside.append(train_lab_model(stopped.lab_id, "TVTV 16 px",
                                                                           on_progress=hold)))
    thread.start()
    assert beside_training.wait(timeout=60)
    with pytest.raises(ValueError, match="still training"):       # a second process for the same model is refused
        train_lab_model(stopped.lab_id, "TVTV 16 px")
    events.clear()

    def lab_progress(event: dict) -> None:
        events.append(event)
        if event.get("phase") == "waiting":
            lab_waits.set()

    resumed = resume_resolution_lab(stopped.lab_id, on_progress=lab_progress)
    thread.join(timeout=60)
    assert "waiting for the TVTV 16 px model, which another process is training" in [
        e.get("message") for e in events]
    assert {e["row"]["model"] for e in events if e["kind"] == "epoch"} == {"TOTV 32 px"}   # it trained no 16 px
    assert resumed.status == "done" and resumed.runs[-1]["run_dir"] == str(beside[0].run_dir)
    assert beside[0].epochs_done == 2 and [r.resolution for r in resumed.tvtv] == [32, 16]


@pytest.mark.slow
def test_a_lab_never_takes_a_namesake_run_that_learns_something_else():
    dataset = tiny_folder()
    stop, events = threading.Event(), []
    stopped = run_resolution_lab(lab_config(dataset, (32, 16), epochs=2, seed=8, name="twin lab"),
                                 cancel_event=stop, on_progress=_stop_after_first_epoch_of("TOTV 32 px", stop, events))
    # another run named as the lab's 16 px model, made since the lab began, but with other settings
    namesake = train(TrainConfig(dataset=dataset, epochs=1, batch_size=32, device="cpu", val_fraction=0.1,
                                 scheduler="constant", seed=99, name="twin lab · TVTV 16 px"))
    events.clear()
    resumed = resume_resolution_lab(stopped.lab_id, on_progress=events.append)
    assert resumed.status == "done" and resumed.runs[-1]["run_dir"] != namesake.run_dir
    assert any(e["kind"] == "epoch" and e["row"]["model"] == "TVTV 16 px" for e in events)   # it trained its own
    assert load_run(Path(namesake.run_dir)).status == "done"                                  # and left that alone


@pytest.mark.slow
def test_a_lab_whose_process_died_finds_the_model_it_was_training_by_its_name(capsys):
    dataset = tiny_folder()
    stop, events = threading.Event(), []
    stopped = run_resolution_lab(lab_config(dataset, (32, 16), epochs=2, seed=5), cancel_event=stop,
                                 on_progress=_stop_after_first_epoch_of("TVTV 16 px", stop, events))
    # as a lab saved by a process that died in the middle of its second model (before labs recorded a model's
    # folder when its training started): still "running", the model it was training not in its runs
    data = json.loads((Path(stopped.lab_dir) / "lab.json").read_text())
    tvtv16_dir = data["runs"].pop()["run_dir"]
    data["status"] = "running"
    (Path(stopped.lab_dir) / "lab.json").write_text(json.dumps(data))
    assert cli_main(["resolution-lab", "--resume", stopped.lab_id, "--json"]) == 0     # from the shell
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["status"] == "done" and data["lab_id"] == stopped.lab_id and data["runs"][1]["run_dir"] == tvtv16_dir
    assert load_run(Path(tvtv16_dir)).epochs_done == 2
    assert cli_main(["resolution-lab", "--resume", stopped.lab_id]) == 1
    assert "is done: there is nothing to go on with" in capsys.readouterr().err


def test_network_views_match_the_training_transform():
    x, _ = generate_shapes(4, seed=3)
    views = network_views(x, [8, 32, 16], mode="nearest")
    assert [r for r, _ in views] == [32, 16, 8]
    assert torch.equal(views[0][1], x)                        # native: unchanged
    assert views[2][1].shape == (4, 3, 32, 32)                # resampled back up
    # nearest down then nearest up: every 4×4 block is one colour
    block = views[2][1][0, 0, :4, :4]
    assert (block == block[0, 0]).all()
    small = network_views(x, [8], native_size=True)
    assert small[0][1].shape == (4, 3, 8, 8)


def test_cli_prints_both_tables_as_the_last_json_line(capsys):
    dataset = tiny_folder()
    code = cli_main(["resolution-lab", "--dataset", dataset, "--preset", "cnn3_bn", "--resolutions", "32,16,8",
                     "--epochs", "1", "--mode", "bilinear", "--device", "cpu", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out.strip().splitlines()[-1])
    for method in ("totv", "tvtv"):
        assert [r["resolution"] for r in data[method]] == [32, 16, 8]
        for row in data[method]:
            assert set(row) >= {"resolution", "accuracy", "precision", "f1", "per_class", "run_dir"}
            assert 0 <= row["accuracy"] <= 1 and len(row["per_class"]) == 3
    assert data["mode"] == "bilinear" and len(data["runs"]) == 3
    assert "training TVTV 8 px" in err
    assert load_lab(data["lab_id"]).to_dict()["totv"] == data["totv"]
    # the saved lab is listed
    assert cli_main(["labs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["lab_id"] in [lab["lab_id"] for lab in listed]


def test_cli_plan_trains_nothing(capsys):
    before = len(list_labs())
    assert cli_main(["resolution-lab", "--dataset", "shapes", "--resolutions", "8,32", "--epochs", "3", "--plan"]) == 0
    out, err = capsys.readouterr()
    plan = json.loads(out.strip().splitlines()[-1])
    assert [(t["method"], t["resolution"]) for t in plan["trainings"]] == [("TOTV", 32), ("TVTV", 8)]
    assert "Trains 2 model(s) of 3 epoch(s): TOTV at 32 px, TVTV at 8 px." in err
    assert len(list_labs()) == before


def test_cli_bad_resolutions_say_what_to_change(capsys):
    assert cli_main(["resolution-lab", "--dataset", "shapes", "--resolutions", "64,32"]) == 1
    assert "choose 32 or less" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["resolution-lab", "--resolutions", "32,x"])
    assert "whole numbers" in capsys.readouterr().err


# --- saved labs of every kind ------------------------------------------------------------------------
@dataclass
class ToyLessonResult:
    """A second kind of lab, as a future lessons kind would register it."""

    lab_id: str
    lab_dir: str
    status: str
    created: float
    runs: list = field(default_factory=list)
    kind: str = "toy-lessons"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ToyLessonResult":
        return cls(**data)

    def title(self) -> str:
        return f"toy lesson {self.lab_id}"


def saved_resolution_lab(root, lab_id: str, created: float) -> ResolutionLabResult:
    row = ResolutionRow(resolution=32, accuracy=0.5, precision=0.5, recall=0.5, f1=0.5, per_class=[], run_dir="r")
    result = ResolutionLabResult(lab_id=lab_id, lab_dir=str(root / lab_id), status="done", dataset="shapes",
                                 model="cnn3_bn", classes=["a"], native=32, resolutions=[32], mode="area",
                                 native_size=False, config={}, totv=[row], tvtv=[row], created=created)
    (root / lab_id).mkdir(parents=True)
    save_lab(result)
    return result


def write_lab_file(root, lab_id: str, text: str) -> None:
    (root / lab_id).mkdir(parents=True)
    (root / lab_id / "lab.json").write_text(text)


@pytest.fixture
def toy_kind(monkeypatch):
    # Only "resolution" and the toy kind, whatever else an earlier test registered (cnnkit.lessons adds "lesson").
    for kind in [k for k in LAB_KINDS if k != "resolution"]:
        monkeypatch.delitem(LAB_KINDS, kind)
    monkeypatch.setitem(LAB_KINDS, "toy-lessons", LabKind("toy-lessons", ToyLessonResult))


def test_every_kind_is_listed_and_damaged_labs_say_why(tmp_path, toy_kind):
    root = tmp_path / "labs"
    new = saved_resolution_lab(root, "res-new", created=300.0)
    assert json.loads((root / "res-new" / "lab.json").read_text())["kind"] == "resolution"
    # a lab saved before the kind field existed is a resolution lab
    legacy = {k: v for k, v in saved_resolution_lab(root, "res-old", created=100.0).to_dict().items() if k != "kind"}
    (root / "res-old" / "lab.json").write_text(json.dumps(legacy))
    toy = ToyLessonResult(lab_id="toy", lab_dir=str(root / "toy"), status="done", created=200.0)
    (root / "toy").mkdir()
    save_lab(toy)
    write_lab_file(root, "bad-json", "{not json")
    write_lab_file(root, "not-a-dict", "[1, 2]")
    write_lab_file(root, "half-a-lab", json.dumps({"kind": "resolution", "lab_id": "half-a-lab", "status": "done"}))
    write_lab_file(root, "bad-row", json.dumps({**legacy, "lab_id": "bad-row", "totv": [{"resolution": 32}]}))
    write_lab_file(root, "future-kind", json.dumps({"kind": "hologram", "lab_id": "future-kind"}))
    (root / "empty-folder").mkdir()
    (root / "stray-file.txt").write_text("not a lab")

    labs = list_labs(root)
    by_id = {lab.lab_id: lab for lab in labs}
    assert set(by_id) == {"res-new", "res-old", "toy", "bad-json", "not-a-dict", "half-a-lab", "bad-row",
                          "future-kind", "empty-folder"}
    # the labs that open come first, newest first; the damaged ones after them
    assert [lab.lab_id for lab in labs[:3]] == ["res-new", "toy", "res-old"]
    assert all(lab.damaged for lab in labs[3:])
    assert by_id["res-new"].result == load_lab("res-new", root) == new
    assert by_id["res-old"].kind == "resolution" and load_lab("res-old", root).kind == "resolution"
    assert by_id["res-new"].title == "cnn3_bn on shapes · 32 px"
    assert (by_id["toy"].kind, by_id["toy"].title, by_id["toy"].result) == ("toy-lessons", "toy lesson toy", toy)
    reasons = {lab.lab_id: lab.reason for lab in labs if lab.damaged}
    assert "not valid JSON (line 1" in reasons["bad-json"]
    assert "holds a list" in reasons["not-a-dict"]
    assert "not a complete resolution lab: missing field(s) lab_dir, dataset" in reasons["half-a-lab"]
    assert "not a complete resolution lab" in reasons["bad-row"] and "f1" in reasons["bad-row"]
    assert "unknown lab kind 'hologram' (known kinds: resolution, toy-lessons)" in reasons["future-kind"]
    assert "lab.json is missing" in reasons["empty-folder"]
    assert all(lab.result is None and lab.status == "damaged" for lab in labs[3:])
    # only one kind: its damaged labs too, and those whose kind cannot be told (they may be of that kind)
    unknown = {"bad-json", "not-a-dict", "empty-folder"}
    assert {lab.kind for lab in labs if lab.lab_id in unknown} == {""}
    assert {lab.lab_id for lab in list_labs(root, kind="resolution")} == {"res-new", "res-old", "half-a-lab",
                                                                          "bad-row"} | unknown
    assert {lab.lab_id for lab in list_labs(root, kind="toy-lessons")} == {"toy"} | unknown
    assert json.loads(json.dumps([lab.to_dict() for lab in labs]))[0]["kind"] == "resolution"

    with pytest.raises(DamagedLab, match="not valid JSON"):
        load_lab("bad-json", root)
    with pytest.raises(ValueError, match="is a toy-lessons lab, not a resolution lab"):
        load_lab("toy", root, kind="resolution")
    # a damaged lab can be deleted, but not "with its runs": which runs those are cannot be read
    with pytest.raises(DamagedLab, match="delete the lab without its runs"):
        delete_lab("bad-json", root, runs=True)
    delete_lab("bad-json", root)
    assert "bad-json" not in {lab.lab_id for lab in list_labs(root)}


def test_a_kind_is_registered_once(toy_kind):
    register_lab_kind(LabKind("toy-lessons", ToyLessonResult))  # the same class again: harmless
    with pytest.raises(ValueError, match="already registered"):
        register_lab_kind(LabKind("toy-lessons", ResolutionLabResult))
    with pytest.raises(ValueError, match="not a resolution lab"):
        ResolutionLabResult.from_dict({"kind": "toy-lessons"})


def test_cli_lists_every_kind_and_damaged_labs(tmp_path, monkeypatch, capsys, toy_kind):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path))
    root = tmp_path / "labs"
    saved_resolution_lab(root, "res", created=2.0)
    (root / "toy").mkdir()
    save_lab(ToyLessonResult(lab_id="toy", lab_dir=str(root / "toy"), status="done", created=1.0))
    write_lab_file(root, "broken", "{")
    assert cli_main(["labs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(lab["lab_id"], lab["kind"], lab["status"]) for lab in listed] == [
        ("res", "resolution", "done"), ("toy", "toy-lessons", "done"), ("broken", "", "damaged")]
    assert cli_main(["labs"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "TOTV 32:0.50" in lines[0] and "toy lesson toy" in lines[1]
    assert "damaged" in lines[2] and "not valid JSON" in lines[2]
