"""The lessons engine: lesson files and their checks, quick overrides, aggregation over seeds, saved and shipped
results, the predictions store, and one lesson run end to end on a tiny folder dataset."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from cnnkit.jobs import JobManager
from cnnkit.labs import labs_dir, list_labs, load_lab
from cnnkit.lessons import (TOPICS, ArmResult, LessonFileError, LessonResult, aggregate_arm, cancel_lesson, collect_result,
                            comparison_rows, curve_notes, curve_rows, erase_predictions, estimate_lesson_seconds, get_lesson,
                            latest_result, lesson_file_errors, lesson_jobs, lesson_status, lesson_statuses,
                            list_lessons, metric_summary, parse_lesson, planned_configs, prediction_outcomes,
                            predictions, predictions_of, record_prediction, ship_result, shipped_result,
                            lessons_by_topic, submit_lesson)
from cnnkit.lessons.loader import MAX_ARMS, MAX_FILE_BYTES
from cnnkit.lessons.results import SeedRun, save_result
from cnnkit.train import TrainConfig
from tests.helpers.folders import tiny_folder

LESSON = """
id = "{id}"
title = "Depth"
topic = "architecture and depth"
question = "Does a deeper net do better?"
report = "002"
section = "002-Q2"
look_at = ["the test accuracy"]
conclusion = "Deeper is better here."
filled_in = ["batch size 16: not given"]

[defaults]
dataset = "{dataset}"
epochs = 2
batch_size = 16
optimizer = "adam"
lr = 0.003
scheduler = "constant"

[quick]
epochs = 1
train_subset = 24

[[arms]]
id = "shallow"
label = "2 conv layers"
config = {{ model = "cnn2" }}
[arms.reported]
test_accuracy = 70.74
macro_f1 = 0.7058
[arms.reported.curves]
train_loss = [1.3566, 0.9548]

[[arms]]
id = "deep"
label = "3 conv layers"
config = {{ model = "cnn3", lr = 0.001 }}
quick = {{ batch_size = 8 }}
[arms.reported]
test_accuracy = 73.79
macro_f1 = 0.7389
"""


LAB_LESSON = """
id = "my-resolution"
title = "Resolution"
topic = "resolution"
question = "Low resolution or mismatch?"
report = "001"
section = "001-Q1"
look_at = ["the TVTV row"]
conclusion = "Matching the resolutions helps."

[[arms]]
id = "lab"
label = "Resolution lab"
kind = "resolution_lab"
[arms.config]
resolutions = [32, 16]
[arms.config.base]
dataset = "shapes"
model = "cnn2"
epochs = 2
[arms.quick]
model = "cnn3"
"""


def lesson_text(lesson_id: str = "depth-demo", dataset: str = "shapes") -> str:
    return LESSON.format(id=lesson_id, dataset=dataset)


@pytest.fixture
def teacher_dir(tmp_path, monkeypatch) -> Path:
    """A fresh data directory (so teacher lessons are only this test's), checkpoints and shipped results."""
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("CNNKIT_LESSON_RESULTS_DIR", str(tmp_path / "shipped"))
    folder = tmp_path / "data" / "lessons"
    folder.mkdir(parents=True)
    return folder


# --- files and checks -----------------------------------------------------------------------------------------
def test_a_lesson_file_becomes_arms_with_merged_settings_and_what_differs():
    lesson = parse_lesson(lesson_text(), "depth.toml", source="teacher")
    assert (lesson.id, lesson.topic, lesson.section, lesson.source) == ("depth-demo", "architecture and depth",
                                                                        "002-Q2", "teacher")
    shallow, deep = lesson.arms
    # The file's settings over the lessons' documented defaults (LESSON_DEFAULTS), never the Training runner's
    # one-cycle recipe: the file sets no weight decay, label smoothing or Nesterov, so those are the defaults'.
    assert shallow.config == {"dataset": "shapes", "epochs": 2, "batch_size": 16, "optimizer": "adam", "lr": 0.003,
                              "scheduler": "constant", "model": "cnn2", "weight_decay": 0.0, "label_smoothing": 0.0,
                              "nesterov": False}
    assert lesson.defaulted == {"weight_decay": 0.0, "label_smoothing": 0.0, "nesterov": False}
    assert lesson.arm_config(shallow).weight_decay == 0.0 and lesson.arm_config(shallow).scheduler == "constant"
    assert deep.config["lr"] == 0.001 and deep.quick == {"epochs": 1, "train_subset": 24, "batch_size": 8}
    assert deep.differs == ["lr", "model"] and shallow.differs == []
    assert shallow.reported.test_accuracy == 70.74 and shallow.reported.curves["train_loss"] == [1.3566, 0.9548]
    assert deep.reported.curves == {} and deep.reported.precision is None


def test_quick_mode_applies_the_overrides_and_full_mode_the_report_settings():
    lesson = parse_lesson(lesson_text(), "depth.toml")
    full = dict(lesson.configs("full", device="cpu"))
    quick = dict(lesson.configs("quick", seed=7, device="cpu"))
    assert isinstance(full["deep"], TrainConfig)
    assert (full["deep"].epochs, full["deep"].train_subset, full["deep"].batch_size) == (2, 0, 16)
    assert (quick["deep"].epochs, quick["deep"].train_subset, quick["deep"].batch_size) == (1, 24, 8)
    assert (quick["shallow"].batch_size, quick["shallow"].seed, quick["shallow"].device) == (16, 7, "cpu")
    assert full["shallow"].seed == 0 and "quick" in quick["shallow"].name and "quick" not in full["shallow"].name
    with pytest.raises(ValueError, match="unknown lesson mode 'fast'"):
        lesson.configs("fast")
    # seeds repeat each arm at its own seed + 0..n-1, as one plan
    plan = planned_configs(lesson, "quick", seeds=3, device="cpu")
    assert [(p["arm_id"], p["seed"]) for p in plan] == [("shallow", 0), ("shallow", 1), ("shallow", 2),
                                                        ("deep", 0), ("deep", 1), ("deep", 2)]
    assert len(planned_configs(lesson, "quick", device="cpu")) == 2          # 1 seed by default on a CPU
    assert len(planned_configs(lesson, "quick", device="cuda")) == 6         # 3 on a GPU
    assert planned_configs(lesson, "full", seeds=1, device="cpu", subset=10)[0]["config"].train_subset == 10


def test_a_resolution_lab_arm_takes_defaults_into_its_base_and_lab_fields_from_quick():
    text = lesson_text().split("[[arms]]")[0] + """
[[arms]]
id = "lab"
kind = "resolution_lab"
config = { resolutions = [32, 16, 8], base = { model = "cnn2" } }
quick = { resolutions = [32, 16] }
[arms.reported.by_resolution.TOTV.16]
test_accuracy = 41
precision = 0.475
"""
    lesson = parse_lesson(text, "res.toml")
    config = lesson.configs("quick", device="cpu")[0][1]
    assert config.resolutions == [32, 16] and config.base["epochs"] == 1 and config.base["train_subset"] == 24
    assert config.base["model"] == "cnn2" and config.base["optimizer"] == "adam"
    assert lesson.arms[0].reported.by_resolution == {"TOTV": {"16": {"test_accuracy": 41.0, "precision": 0.475}}}


@pytest.mark.parametrize("change, message", [
    (("lr = 0.003", 'lr = "fast"'), 'x.toml: defaults.lr: must be a number, got str "fast"'),
    (('config = { model = "cnn3", lr = 0.001 }', 'config = { model = "cnn3", lr = "fast" }'),
     'x.toml: arms[1].config.lr: must be a number, got str "fast"'),
    (('topic = "architecture and depth"', 'topic = "cooking"'), 'x.toml: topic: "cooking" is not a topic'),
    (('model = "cnn2"', 'model = "cnn99"'), 'x.toml: arms[0].config.model: unknown preset "cnn99"'),
    (('id = "deep"', 'id = "shallow"'), 'x.toml: arms[1].id: "shallow" is used by an earlier arm'),
    (("test_accuracy = 73.79", "test_accuracy = 173.79"),
     "x.toml: arms[1].reported.test_accuracy: must be between 0 and 100, got 173.79"),
    (("train_loss = [1.3566, 0.9548]", "train_loss = [1.3566]"),
     "x.toml: arms[0].reported.curves.train_loss: has 1 values but the arm trains 2 epochs"),
    (("quick = { batch_size = 8 }", "quick = { batch_size = 0 }"), "x.toml: arms[1].quick: batch size must be at least 1"),
    (('label = "2 conv layers"', 'colour = "red"'), "x.toml: arms[0].colour: unknown field"),
    (("epochs = 2", "epochs = 5000"), "x.toml: arms[0].config.epochs: is 5000; at most 300"),
    (('id = "depth-demo"', 'id = "../../etc"'), "x.toml: id: \"../../etc\" must be 1-64 letters"),
    (('question = "Does a deeper net do better?"', 'question = 3'), "x.toml: question: must be text, got int 3"),
    (('scheduler = "constant"', 'scheduler = "constant"\naugment = { hflip = true, flipp = true }'),
     "x.toml: defaults.augment.flipp: unknown augmentation; known: brightness"),
])
def test_a_broken_lesson_names_the_file_and_the_field(change, message):
    old, new = change
    text = lesson_text()
    assert old in text
    with pytest.raises(LessonFileError) as raised:
        parse_lesson(text.replace(old, new, 1), "/somewhere/x.toml")
    assert str(raised.value).startswith(message), str(raised.value)
    assert raised.value.path == "/somewhere/x.toml" and raised.value.field in str(raised.value)


def test_hostile_sizes_are_refused_before_anything_is_built():
    huge = lesson_text() + "\n# " + "x" * MAX_FILE_BYTES
    with pytest.raises(LessonFileError, match="larger than 256 KB"):
        parse_lesson(huge, "big.toml")
    many = lesson_text() + "".join(f'\n[[arms]]\nid = "a{i}"\nconfig = {{ model = "cnn2" }}\n' for i in range(MAX_ARMS))
    with pytest.raises(LessonFileError, match=f"arms: has {MAX_ARMS + 2} arms; at most {MAX_ARMS}"):
        parse_lesson(many, "many.toml")
    with pytest.raises(LessonFileError, match="conclusion: is 5000 characters long; at most 4000"):
        parse_lesson(lesson_text().replace('conclusion = "Deeper is better here."', f'conclusion = "{"y" * 5000}"'),
                     "long.toml")
    with pytest.raises(LessonFileError, match="not valid TOML"):
        parse_lesson("id = [", "bad.toml")


def test_teacher_lessons_are_listed_beside_the_course_and_broken_ones_reported(teacher_dir):
    course = [lesson.id for lesson in list_lessons()]
    (teacher_dir / "mine.toml").write_text(lesson_text("my-depth"))
    (teacher_dir / "my_lesson.toml").write_text(lesson_text("broken").replace("lr = 0.001", 'lr = "fast"'))
    (teacher_dir / "clash.toml").write_text(lesson_text(course[0]) if course else lesson_text("my-depth"))
    (teacher_dir / "binary.toml").write_bytes(b"\xff\xfe\x00")
    (teacher_dir / "notes.txt").write_text("not a lesson")
    lessons = list_lessons()
    assert [lesson.id for lesson in lessons] == course + ["my-depth"]
    assert lessons[-1].source == "teacher" and all(lesson.source == "course" for lesson in lessons[:-1])
    errors = {Path(e.path).name: e for e in lesson_file_errors()}
    assert set(errors) == {"my_lesson.toml", "clash.toml", "binary.toml"}
    assert str(errors["my_lesson.toml"]) == 'my_lesson.toml: arms[1].config.lr: must be a number, got str "fast"'
    assert errors["my_lesson.toml"].field == "arms[1].config.lr"
    assert "is already a lesson's id" in str(errors["clash.toml"]) and "not UTF-8" in str(errors["binary.toml"])
    assert get_lesson("my-depth").arms[1].id == "deep"
    grouped = lessons_by_topic(lessons)
    assert list(grouped) == [t for t in TOPICS if t in {lesson.topic for lesson in lessons}]
    assert "my-depth" in [lesson.id for lesson in grouped["architecture and depth"]]
    assert sum(map(len, grouped.values())) == len(lessons)
    with pytest.raises(KeyError, match="no lesson 'broken': see `python -m cnnkit lessons`"):
        get_lesson("broken")


def test_the_listing_is_read_once_and_again_as_soon_as_a_lesson_file_changes(teacher_dir, monkeypatch):
    from cnnkit.lessons import loader

    reads = []
    parse = loader.parse_lesson
    monkeypatch.setattr(loader, "parse_lesson", lambda *a, **k: reads.append(1) or parse(*a, **k))
    course = len(list_lessons())
    reads.clear()
    assert len(list_lessons()) == course and lesson_file_errors() == [] and reads == []  # kept: nothing re-read
    (teacher_dir / "mine.toml").write_text(lesson_text("my-depth"))
    assert [lesson.id for lesson in list_lessons()][-1] == "my-depth"  # a new file: on the next listing
    (teacher_dir / "mine.toml").write_text(lesson_text("my-depth").replace('title = "Depth"', 'title = "Deeper"'))
    assert get_lesson("my-depth").title == "Deeper"  # rewritten (the same size or not): read again
    (teacher_dir / "mine.toml").write_text(lesson_text("my-depth").replace("lr = 0.001", 'lr = "fast"'))
    assert "my-depth" not in [lesson.id for lesson in list_lessons()] and len(lesson_file_errors()) == 1
    (teacher_dir / "mine.toml").unlink()
    assert len(list_lessons()) == course and lesson_file_errors() == []  # removed: gone
    list_lessons().clear()  # a caller's list is its own: the kept listing is not changed
    assert len(list_lessons()) == course


def test_every_course_lesson_file_loads_and_builds_its_configs():
    for lesson in list_lessons():
        assert lesson.source == "course"
        for mode in ("full", "quick"):
            for arm_id, config in lesson.configs(mode, device="cpu"):
                config.validate()


# --- aggregation ----------------------------------------------------------------------------------------------
def seed_run(seed: int, accuracy: float, f1: float, confusion: list[list[int]]) -> SeedRun:
    return SeedRun(seed=seed, run_id=f"run-{seed}", figures={"test_accuracy": accuracy, "macro_f1": f1,
                                                             "precision": f1, "recall": f1},
                   history=[{"epoch": 1, "train_loss": 1.0 + seed, "train_acc": 0.5, "val_loss": 1.2, "val_acc": 0.4,
                             "grad": {"layers.0.weight": 0.03}}],
                   confusion=confusion, classes=["a", "b"],
                   per_class=[{"class": "a", "precision": 0.5 + seed / 10, "recall": 0.6, "f1": 0.55, "accuracy": 0.6},
                              {"class": "b", "precision": 0.7, "recall": 0.8, "f1": 0.75, "accuracy": 0.8}],
                   seconds=10.0 + seed, device="cpu")


def test_estimates_come_from_the_pace_a_result_measured_in_either_mode(teacher_dir, monkeypatch):
    """The lesson's time from its runs' measured images/s (evaluations included) at today's settings, and the
    seconds each run cost outside its training: quick and full from the same measurement never contradict."""
    from cnnkit.lessons.runner import measured_rates

    monkeypatch.setenv("CNNKIT_THREADS", "1")   # the results' own count: their pace as measured

    (teacher_dir / "mine.toml").write_text(lesson_text("my-depth"))
    history = [{"epoch": 1, "images_per_s": 100.0, "seconds": 2.0}]          # 200 images trained in epoch 1
    arms = [ArmResult(arm_id=a, seeds=[0], histories=[history], seconds=4.0) for a in ("shallow", "deep")]
    # wall 10 s, runs 8 s: 1 s per run outside training (loading the data, building the network)
    ship_result(LessonResult(lesson_id="my-depth", mode="quick", device="cpu", seeds=[0], arms=arms, seconds=10.0,
                             status="done", device_label="CPU (1 thread)"))
    rates, overhead = measured_rates(get_lesson("my-depth"), "quick", "cpu")
    # the same mode and today's epochs: the pace with the evaluations in it, 200 images / 4 s
    assert rates["shallow"] == (50.0, "CPU (1 thread)", True) and overhead == pytest.approx(1.0)
    quick = estimate_lesson_seconds("my-depth", "quick", "cpu", seeds=2)
    # quick: 1 epoch × 24 images / 50 per s + 1 s, per arm and seed: (0.48 + 1) × 2 arms × 2 seeds
    assert quick.measured and quick.source == "results" and quick.seconds == pytest.approx(5.92)
    assert "from the images/s its runs reached on CPU (1 thread)" in quick.text
    full_rates, _ = measured_rates(get_lesson("my-depth"), "full", "cpu")
    assert full_rates["shallow"] == (100.0, "CPU (1 thread)", False)   # the other mode: the loop's own images/s
    full = estimate_lesson_seconds("my-depth", "full", "cpu", seeds=1)
    # full: 2 epochs × (9,000 Shapes training images + 1,000 held out, evaluated 3× faster) + the test images,
    # at the loop's pace (same input size), + 1 s, per arm
    from cnnkit.lessons.runner import EVAL_SPEEDUP, _split_sizes

    train_size, test_size = _split_sizes("shapes")
    assert train_size == 10000
    per_run = (2 * (9000 + 1000 / EVAL_SPEEDUP) + test_size / EVAL_SPEEDUP) / 100.0 + 1.0
    assert full.measured and full.seconds == pytest.approx(2 * per_run)
    assert full.seconds > quick.seconds
    # an arm no result measured yet (new or renamed) takes the median pace of the measured ones, not a guess
    ship_result(LessonResult(lesson_id="my-depth", mode="quick", device="cpu", seeds=[0], arms=arms[:1],
                             seconds=5.0, status="done"))
    assert estimate_lesson_seconds("my-depth", "quick", "cpu", seeds=2).seconds == pytest.approx(5.92)


def test_a_mode_that_trains_another_network_lends_no_pace_to_the_other(teacher_dir, monkeypatch):
    """001-Q1's quick mode trains cnn3 where full mode trains vgg6: full mode was estimated at 32 min from
    cnn3's pace, for about 8 hours of training."""
    from cnnkit.lessons.runner import measured_rates

    monkeypatch.setenv("CNNKIT_THREADS", "1")
    # quick mode swaps the two arms' networks (full: shallow cnn2, deep cnn3)
    text = lesson_text("my-depth").replace('quick = { batch_size = 8 }', 'quick = { batch_size = 8, model = "cnn2" }')
    (teacher_dir / "mine.toml").write_text(text.replace('config = { model = "cnn2" }',
                                                        'config = { model = "cnn2" }\nquick = { model = "cnn3" }'))
    lesson = get_lesson("my-depth")
    assert [arm.train_settings("quick")["model"] for arm in lesson.arms] == ["cnn3", "cnn2"]
    history = [{"epoch": 1, "images_per_s": 100.0, "seconds": 2.0}]
    arms = [ArmResult(arm_id=a, seeds=[0], histories=[history], seconds=4.0) for a in ("shallow", "deep")]
    ship_result(LessonResult(lesson_id="my-depth", mode="quick", device="cpu", seeds=[0], arms=arms, seconds=10.0,
                             status="done", device_label="CPU (1 thread)"))
    assert set(measured_rates(lesson, "quick", "cpu")[0]) == {"shallow", "deep"}
    assert measured_rates(lesson, "full", "cpu")[0] == {}     # neither full network was measured
    timed = []

    def measure(config, *args):
        timed.append(config.model)
        raise RuntimeError("not timed here")

    full = estimate_lesson_seconds("my-depth", "full", "cpu", seeds=1, measure=measure)
    # each full network is timed (here it cannot be, so the estimate says it is a guess)
    assert timed == ["cnn2", "cnn3"] and full.source == "rough" and not full.measured
    # a resolution lab's network is timed too, as 001-Q1's vgg6 now is
    (teacher_dir / "lab.toml").write_text(LAB_LESSON)
    timed.clear()
    estimate_lesson_seconds("my-resolution", "full", "cpu", seeds=1, measure=measure)
    assert timed == ["cnn2"]


def test_a_pace_measured_on_another_thread_count_is_carried_to_the_threads_here(teacher_dir, monkeypatch):
    """Shipped results trained on one thread; a 2-core laptop trains on two: the estimate scales the measured pace
    by the speed-up timed here (a quick 002-Q4 run was estimated at 24.6 s from its 1-thread result and took 14.0 s
    on 2 threads), and leaves the loading time as it was."""
    from cnnkit.lessons.runner import _label_threads, threads_here

    (teacher_dir / "mine.toml").write_text(lesson_text("my-depth"))
    history = [{"epoch": 1, "images_per_s": 100.0, "seconds": 2.0}]
    arms = [ArmResult(arm_id=a, seeds=[0], histories=[history], seconds=4.0) for a in ("shallow", "deep")]
    ship_result(LessonResult(lesson_id="my-depth", mode="quick", device="cpu", seeds=[0], arms=arms, seconds=10.0,
                             status="done", device_label="CPU (1 thread)"))
    asked = []

    def speedup(here: int, theirs: int) -> float:
        asked.append((here, theirs))
        return 1.6

    monkeypatch.setenv("CNNKIT_THREADS", "2")
    assert threads_here() == 2
    two = estimate_lesson_seconds("my-depth", "quick", "cpu", seeds=2, speedup=speedup)
    # (24 images / (50 × 1.6) per s + 1 s loading) × 2 arms × 2 seeds; the speed-up timed once for both arms
    assert two.seconds == pytest.approx((24 / 80 + 1) * 4) and asked == [(2, 1)]
    assert "carried to the 2 threads here (×1.60 from 1 thread, a step timed at each)" in two.text
    monkeypatch.setenv("CNNKIT_THREADS", "1")
    one = estimate_lesson_seconds("my-depth", "quick", "cpu", seeds=2, speedup=speedup)
    assert one.seconds == pytest.approx((24 / 50 + 1) * 4) and "carried" not in one.text and len(asked) == 1
    assert (_label_threads("CPU (1 thread)"), _label_threads("CPU (1-2 threads)")) == ((1, 1), (1, 2))
    assert _label_threads("GPU: NVIDIA H200, 140 GB") is None and _label_threads("cpu") is None


def test_the_thread_speedup_is_timed_bounded_and_timed_again_after_a_while(monkeypatch):
    from cnnkit.train import estimate

    assert estimate.thread_speedup(2, 2) == 1.0
    more = estimate.thread_speedup(2, 1)
    assert 0.2 <= more <= 2.0                       # never more than linear
    assert 0.5 <= estimate.thread_speedup(1, 2) <= 5.0   # fewer threads: at least half as fast
    timed = []
    monkeypatch.setattr(estimate, "_time_speedup", lambda threads, base: timed.append((threads, base)) or 1.5)
    assert estimate.thread_speedup(2, 1) == more and timed == []      # kept: no second timing
    later = estimate._clock() + estimate.SPEEDUP_KEPT_S + 1
    monkeypatch.setattr(estimate, "_clock", lambda: later)
    assert estimate.thread_speedup(2, 1) == 1.5 and timed == [(2, 1)]   # a while later: timed again


def test_a_lessons_run_time_leaves_stops_out_and_keeps_a_resumed_runs_epochs():
    from cnnkit.lessons.runner import runs_seconds

    def epochs(*seconds):
        return [{"epoch": i + 1, "seconds": s} for i, s in enumerate(seconds)]

    stopped = ArmResult(arm_id="a", seeds=[0], histories=[epochs(10.0, 10.0, 100.0)], seconds=125.0)
    resumed = ArmResult(arm_id="b", seeds=[0], histories=[epochs(10.0, 10.0, 10.0)], seconds=12.0)  # after a resume
    lab = ArmResult(arm_id="c", seeds=[0], histories=[], seconds=7.0)
    result = LessonResult(lesson_id="x", mode="full", device="cpu", seeds=[0], arms=[stopped, resumed, lab],
                          seconds=9999.0)
    # a: 10 + 10 + 30 (the stopped epoch at 3 × the median) + 5 outside the epochs; b: its 3 epochs; c: its seconds
    assert runs_seconds(result) == pytest.approx(55.0 + 30.0 + 7.0)


def test_a_result_of_other_settings_gives_the_loops_pace_and_each_mode_its_own_loading_time(teacher_dir):
    """A quick result made before the quick settings changed (3 epochs then, 1 now) must not lend its evaluation
    share; a full result's loading of the whole dataset is not a quick run's."""
    from cnnkit.lessons.runner import measured_rates

    (teacher_dir / "mine.toml").write_text(lesson_text("my-depth"))
    history = [{"epoch": e, "images_per_s": pace, "seconds": 2.0} for e, pace in ((1, 80.0), (2, 120.0), (3, 100.0))]
    arms = [ArmResult(arm_id=a, seeds=[0], histories=[history], seconds=30.0) for a in ("shallow", "deep")]
    ship_result(LessonResult(lesson_id="my-depth", mode="quick", device="cpu", seeds=[0], arms=arms, seconds=62.0,
                             status="done", device_label="CPU (1 thread)"))                 # 1 s a run outside
    ship_result(LessonResult(lesson_id="my-depth", mode="full", device="cpu", seeds=[0], arms=arms, seconds=100.0,
                             status="done", device_label="CPU (1 thread)"))                 # 20 s a run outside
    rates, overhead = measured_rates(get_lesson("my-depth"), "quick", "cpu")
    assert rates["shallow"] == (100.0, "CPU (1 thread)", False)    # the median epoch's own images/s
    assert overhead == pytest.approx(1.0)
    assert measured_rates(get_lesson("my-depth"), "full", "cpu")[1] == pytest.approx(20.0)


def test_an_epoch_stretched_by_a_pause_does_not_set_the_pace_of_the_estimate(teacher_dir):
    """A run whose one epoch took minutes (its process stopped, the machine busy) counts that epoch at most 3 times
    the median epoch: the estimate is the run as it goes when nothing stops it."""
    from cnnkit.lessons.runner import measured_rates

    (teacher_dir / "mine.toml").write_text(lesson_text("my-depth"))
    # one epoch in quick mode today, 200 images; three seeds, the second's epoch stopped for 100 s
    histories = [[{"epoch": 1, "images_per_s": 100.0, "seconds": 2.0}],
                 [{"epoch": 1, "images_per_s": 200 / 102, "seconds": 102.0}],
                 [{"epoch": 1, "images_per_s": 100.0, "seconds": 2.0}]]
    arms = [ArmResult(arm_id=a, seeds=[0, 1, 2], histories=histories, seconds=109.0) for a in ("shallow", "deep")]
    ship_result(LessonResult(lesson_id="my-depth", mode="quick", device="cpu", seeds=[0, 1, 2], arms=arms,
                             seconds=218.0, status="done", device_label="CPU (1 thread)"))
    rates, _ = measured_rates(get_lesson("my-depth"), "quick", "cpu")
    # a run: its epochs, the stopped one counted at 3 × the median epoch (2 + 6 + 2 s over 3 runs), + 1 s outside
    # the epochs (109 s less 106 s of epochs, over 3 runs) = 4.33 s
    assert rates["shallow"].rate == pytest.approx(200 / (10 / 3 + 1.0)) and rates["shallow"].evaluations_included
    # the arm's own wall time would give 200 images / (109 / 3) s = 5.5 images/s, eight times too slow


def test_aggregation_is_mean_and_sample_std_over_seeds():
    runs = [seed_run(0, 70.0, 0.70, [[3, 1], [0, 4]]), seed_run(1, 72.0, 0.74, [[4, 0], [1, 3]]),
            seed_run(2, 77.0, 0.72, [[2, 2], [2, 2]])]
    arm = aggregate_arm("base", runs, planned=3)
    accuracy = arm.metrics["test_accuracy"]
    # by hand: mean 73; deviations -3, -1, 4; sample variance (9 + 1 + 16) / 2 = 13
    assert accuracy["mean"] == pytest.approx(73.0) and accuracy["std"] == pytest.approx(math.sqrt(13))
    assert accuracy["per_seed"] == [70.0, 72.0, 77.0] and accuracy["n"] == 3
    assert arm.metrics["macro_f1"]["mean"] == pytest.approx(0.72) and arm.metrics["macro_f1"]["std"] == pytest.approx(0.02)
    assert arm.confusion == [[9, 3], [3, 9]]                      # summed over seeds
    assert arm.per_class["a"]["precision"] == pytest.approx(0.6)  # (0.5 + 0.6 + 0.7) / 3
    assert arm.per_class["b"]["accuracy"] == pytest.approx(80.0)  # percent
    assert (arm.seeds, arm.run_ids, arm.seconds, arm.status) == ([0, 1, 2], ["run-0", "run-1", "run-2"], 33.0, "done")
    assert [h[0]["train_loss"] for h in arm.histories] == [1.0, 2.0, 3.0]
    partial = aggregate_arm("base", runs[:1], planned=3)
    assert partial.status == "partial" and partial.metrics["test_accuracy"]["std"] is None
    assert partial.message == "1 of 3 seed(s) finished"
    assert aggregate_arm("base", [], planned=2).status == "failed"
    assert metric_summary([]) == {"mean": None, "std": None, "n": 0, "per_seed": []}


def test_comparison_rows_put_ours_beside_the_report_with_the_difference():
    lesson = parse_lesson(lesson_text(), "depth.toml")
    result = LessonResult(lesson_id=lesson.id, mode="quick", device="cpu", seeds=[0, 1], status="done",
                          arms=[aggregate_arm("shallow", [seed_run(0, 70.0, 0.70, [[1]]), seed_run(1, 72.0, 0.74, [[1]])]),
                                aggregate_arm("deep", [seed_run(0, 75.0, 0.75, [[1]])])])
    rows = {(r["arm"], r["metric"]): r for r in comparison_rows(lesson, result)}
    row = rows[("shallow", "test_accuracy")]
    assert row["ours_mean"] == pytest.approx(71.0) and row["reported"] == 70.74
    assert row["difference"] == pytest.approx(0.26) and row["n"] == 2 and row["quick"] is True
    assert rows[("deep", "precision")]["reported"] is None and rows[("deep", "precision")]["difference"] is None
    curves = curve_rows(lesson, result)
    report_points = [c for c in curves if c["source"] == "report"]
    assert [(c["epoch"], c["value"]) for c in report_points] == [(1, 1.3566), (2, 0.9548)]
    ours = [c for c in curves if c["source"] == "ours" and c["arm"] == "shallow" and c["curve"] == "train_acc"]
    assert [(c["seed"], c["value"]) for c in ours] == [(0, 50.0), (1, 50.0)]   # percent, like the report's


def test_curve_notes_say_where_each_curve_ends_and_which_validation_curve_ours_lacks():
    def row(source, epoch, curve="train_loss"):
        return {"arm": "a", "source": source, "seed": None if source == "report" else 0, "epoch": epoch,
                "curve": curve, "value": 1.0}
    report = [row("report", e, c) for e in (1, 2, 3) for c in ("train_loss", "val_loss")]
    longer = report + [row("ours", e) for e in range(1, 7)]          # 6 epochs, no validation split
    notes = curve_notes(longer, "quick")
    assert notes[0] == ("Our curves run to epoch 6, the report's to epoch 3 (quick mode's own settings: see Run it): "
                        "compare shapes, not the same epoch.")
    assert notes[1].startswith("Ours has no validation curve")
    same = report + [row("ours", e, c) for e in (1, 2, 3) for c in ("train_loss", "val_loss")]
    assert curve_notes(same, "full") == []
    assert curve_notes([row("ours", 1)], "quick") == []               # nothing of the report's to compare with


def test_results_are_saved_as_lesson_labs_and_shipped_ones_open_read_only(teacher_dir):
    (teacher_dir / "mine.toml").write_text(lesson_text("my-depth"))
    arms = [aggregate_arm("shallow", [seed_run(0, 70.0, 0.70, [[1]])])]
    result = LessonResult(lesson_id="my-depth", mode="quick", device="cpu", seeds=[0], arms=arms, seconds=42.0,
                          status="done", lab_id="lesson-my-depth-000000-abcd", created=1.0, owner="ana",
                          runs=[{"run_dir": "/nowhere/run", "label": "x", "arm_id": "shallow", "seed": 0}],
                          runner="teachers-laptop:4242")
    assert lesson_status("my-depth") == "not run" and latest_result("my-depth") is None
    shipped_folder = ship_result(result)
    assert shipped_folder.name == "my-depth-quick"
    shipped = shipped_result("my-depth", "quick")
    assert shipped.shipped and shipped.runs == [] and shipped.arms[0].metrics == arms[0].metrics
    assert (shipped.owner, shipped.runner) == ("", "")      # who ran it and on which machine stay here
    assert lesson_status("my-depth") == "shipped results" and latest_result("my-depth").shipped
    assert lesson_statuses(["my-depth", "nothing"]) == {"my-depth": "shipped results", "nothing": "not run"}
    with pytest.raises(ValueError, match="read-only"):
        save_result(shipped)
    rough = estimate_lesson_seconds("my-depth", "full", "cuda")   # no result on a GPU: a guess, said so
    assert not rough.measured and rough.seconds > 0 and "guess" in rough.text
    # an own result of this install is preferred, and listed among the labs as kind "lesson"
    result.lab_dir = str(labs_dir() / result.lab_id)
    save_result(result)
    assert lesson_status("my-depth") == "results" and lesson_statuses(["my-depth"]) == {"my-depth": "results"}
    own = latest_result("my-depth")
    assert not own.shipped and own.lab_id == result.lab_id and own.seconds == 42.0
    assert [(lab.kind, lab.title) for lab in list_labs()] == [("lesson", "Lesson my-depth · quick · 1 seed(s)")]
    assert load_lab(result.lab_id, kind="lesson").arms[0].confusion == [[1]]


# --- predictions ----------------------------------------------------------------------------------------------
def test_predictions_one_per_owner_listed_per_owner_and_erased(teacher_dir):
    record_prediction("my-depth", "Ada", "deep", 3)
    record_prediction("my-depth", "  Bob  ", "shallow", 1.5)
    record_prediction("my-depth", "Ada", "shallow", 2)            # replaces Ada's first guess
    record_prediction("other-lesson", "Ada", "x", 0)
    assert [(p["owner"], p["arm_id"], p["margin_points"]) for p in predictions("my-depth")] == [
        ("Bob", "shallow", 1.5), ("Ada", "shallow", 2.0)]
    assert sorted(p["lesson_id"] for p in predictions_of("Ada")) == ["my-depth", "other-lesson"]
    for bad, message in [(("my-depth", "Ada", "deep", -1), "between 0 and 100"),
                         (("my-depth", "Ada", "deep", "lots"), "a number of points"),
                         (("my-depth", "Ada", "deep", float("nan")), "between 0 and 100"),
                         (("my-depth", "\x00\x01", "deep", 1), "type a name"),
                         (("../x", "Ada", "deep", 1), "not a lesson id"),
                         (("my-depth", "Ada", "no arm!", 1), "not an arm id")]:
        with pytest.raises(ValueError, match=message):
            record_prediction(*bad)
    with pytest.raises(ValueError, match="has no arm 'wide'"):
        record_prediction("my-depth", "Ada", "wide", 1, arm_ids=["shallow", "deep"])
    result = LessonResult(lesson_id="my-depth", mode="quick", device="cpu", seeds=[0],
                          arms=[aggregate_arm("shallow", [seed_run(0, 70.0, 0.7, [[1]])]),
                                aggregate_arm("deep", [seed_run(0, 73.5, 0.7, [[1]])])])
    outcomes = {o["owner"]: o for o in prediction_outcomes("my-depth", result)}
    assert outcomes["Ada"]["winner"] == "deep" and outcomes["Ada"]["actual_margin"] == 3.5
    assert outcomes["Ada"]["right_arm"] is False and outcomes["Ada"]["margin_error"] is None
    assert erase_predictions("Ada") == 2 and predictions_of("Ada") == []
    assert [p["owner"] for p in predictions("my-depth")] == ["Bob"]
    stored = json.loads((Path(teacher_dir).parent.parent / "checkpoints" / "lesson_predictions" / "my-depth.json").read_text())
    assert [p["owner"] for p in stored["predictions"]] == ["Bob"]


def test_erasing_a_student_erases_their_predictions_and_keeps_the_others(teacher_dir):
    from cnnkit.classroom.student_data import erase_student, student_data

    record_prediction("my-depth", "Ada", "deep", 3)
    record_prediction("my-depth", "Bob", "shallow", 1)
    assert student_data("Ada", teacher=True).counts().get("predictions") == 1  # listed with the rest of hers
    erase_student("Ada", teacher=True)
    assert predictions_of("Ada") == [] and [p["owner"] for p in predictions("my-depth")] == ["Bob"]


# --- end to end -----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_lesson_runs_end_to_end_in_quick_mode_as_one_job_group(teacher_dir):
    dataset = tiny_folder("lesson_tiny")
    (teacher_dir / "tiny.toml").write_text(lesson_text("tiny-depth", dataset))
    manager = JobManager()
    group = submit_lesson("tiny-depth", mode="quick", seeds=1, device="cpu", owner="Ada", manager=manager)
    snaps = manager.list(group=group)
    assert len(snaps) == 2 and {s.owner for s in snaps} == {"Ada"} and group.startswith("lesson-tiny-depth-")
    assert lesson_status("tiny-depth", manager=manager) == "running"
    jobs = lesson_jobs(group, manager)
    assert [(j["arm_id"], j["seed"], j["snapshot"].job_id) for j in jobs] == [
        ("shallow", 0, snaps[0].job_id), ("deep", 0, snaps[1].job_id)]
    with pytest.raises(ValueError, match="still running: 0 of 2 runs have ended"):
        collect_result("tiny-depth", group, manager)       # the second job waits for the first: not both ended
    for snap in snaps:
        assert manager.wait(snap.job_id, timeout=300).status == "done", manager.snapshot(snap.job_id).error
    result = collect_result("tiny-depth", group, manager)
    assert result.status == "done" and result.mode == "quick" and result.device == "cpu" and result.owner == "Ada"
    for arm in result.arms:
        assert arm.seeds == [0] and arm.metrics["test_accuracy"]["n"] == 1 and arm.metrics["test_accuracy"]["std"] is None
        assert 0 <= arm.metrics["test_accuracy"]["mean"] <= 100 and 0 <= arm.metrics["macro_f1"]["mean"] <= 1
        assert len(arm.histories[0]) == 1                        # quick mode: 1 epoch
        assert sum(map(sum, arm.confusion)) == 18 and len(arm.classes) == 3     # the tiny set's 18 test images
    assert {r["arm_id"] for r in result.runs} == {"shallow", "deep"}
    assert collect_result("tiny-depth", group, manager).lab_id == result.lab_id      # collecting again: the same
    assert lesson_status("tiny-depth", manager=manager) == "results"
    assert latest_result("tiny-depth").lab_id == group


def test_a_stopped_lesson_is_collected_as_cancelled_with_nothing_trained(teacher_dir):
    import threading

    (teacher_dir / "mine.toml").write_text(lesson_text("my-depth"))
    manager = JobManager()
    release = threading.Event()
    blocker = manager.submit(lambda context: release.wait(30), label="someone else's run", device="cpu",
                             owner="Bob")
    group = submit_lesson("my-depth", mode="quick", seeds=2, device="cpu", owner="Ada", manager=manager)
    assert [s.status for s in manager.list(group=group)] == ["queued"] * 4
    with pytest.raises(ValueError, match="belongs to Ada: only they or the teacher can stop it"):
        cancel_lesson(group, by="Bob", manager=manager)
    assert cancel_lesson(group, by="Ada", manager=manager) == 4
    from cnnkit.classroom.config import ClassroomConfig

    with pytest.raises(ValueError, match="2 epochs is over this class's limit of 1"):
        submit_lesson("my-depth", mode="full", seeds=1, device="cpu", owner="Ada", manager=manager,
                      limits=ClassroomConfig(max_epochs=1))
    assert len(manager.list()) == 5                        # nothing more was queued
    release.set()
    manager.wait(blocker, timeout=30)
    result = collect_result("my-depth", group, manager)
    assert result.status == "cancelled" and result.arms[0].status == "failed"
    assert "shallow seed 0: cancelled" in result.message
    assert lesson_status("my-depth", manager=manager) == "not run" and latest_result("my-depth") is None


def test_any_damage_to_a_lesson_gives_a_lesson_file_error_never_another_exception():
    """Hostile or careless files: replace any one value of a valid lesson (at any depth) with any TOML value."""
    import tomllib

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from cnnkit.lessons.loader import lesson_from_data

    valid = tomllib.loads(lesson_text())
    paths: list[tuple] = []

    def walk(node, trail):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, value in items:
            paths.append(trail + (key,))
            walk(value, trail + (key,))

    walk(valid, ())
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                        st.text(max_size=300))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=12), inner, max_size=4), max_leaves=12)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(paths), values)
    def damage(path, value):
        data = copy.deepcopy(valid)
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        try:
            lesson_from_data(data, "fuzz.toml")
        except LessonFileError as error:
            assert str(error).startswith("fuzz.toml: ")

    damage()


@pytest.mark.slow
def test_a_resolution_lab_arm_runs_through_the_lab_and_reports_each_resolution(teacher_dir):
    dataset = tiny_folder("lesson_tiny")
    text = lesson_text("tiny-res", dataset).split("[[arms]]")[0] + """
[[arms]]
id = "lab"
kind = "resolution_lab"
config = { resolutions = [32, 16], base = { model = "cnn2" } }
[arms.reported.by_resolution.TOTV.16]
test_accuracy = 41
"""
    (teacher_dir / "res.toml").write_text(text)
    manager = JobManager()
    group = submit_lesson("tiny-res", mode="quick", seeds=1, device="cpu", manager=manager)
    for snap in manager.list(group=group):
        assert manager.wait(snap.job_id, timeout=300).status == "done", manager.snapshot(snap.job_id).error
    result = collect_result("tiny-res", group, manager)
    [arm] = result.arms
    assert result.status == "done" and set(arm.by_resolution) == {"TOTV", "TVTV"}
    assert set(arm.by_resolution["TOTV"]) == {"32", "16"} and arm.by_resolution["TOTV"]["16"]["test_accuracy"]["n"] == 1
    # the arm's own figures are the native TOTV row; the lab's two trainings are the result's runs
    assert arm.metrics["test_accuracy"]["mean"] == arm.by_resolution["TOTV"]["32"]["test_accuracy"]["mean"]
    assert len(result.runs) == 2 and len(arm.histories[0]) == 1
    rows = {r["at"]: r for r in comparison_rows(get_lesson("tiny-res"), result) if r["metric"] == "test_accuracy"}
    assert rows["TOTV 16 px"]["reported"] == 41.0 and rows["TOTV 16 px"]["ours_mean"] is not None
    assert rows["TVTV 16 px"]["reported"] is None
    assert [lab.kind for lab in list_labs()].count("resolution") == 1    # the lab is saved as a lab of its own


# --- original pretrained network of transfer arms -------------------------------------------------------------
TRANSFER_LESSON = """
id = "transfer-demo"
title = "Transfer"
topic = "transfer"
question = "Head only or fine-tuned?"

[defaults]
dataset = "shapes"
epochs = 2

[[arms]]
id = "head"
label = "Head only"
config = { model = { kind = "transfer", source = "efficientnet_lite0", strategy = "head" } }
original_source = "resnet18"

[[arms]]
id = "tuned"
label = "Fine-tuned"
config = { model = { kind = "transfer", source = "efficientnet_lite0", strategy = "last:8" } }
original_source = "resnet18"
original_model = { strategy = "last:2" }
"""


def test_a_transfer_arm_runs_its_original_network_only_when_its_weights_are_offline(monkeypatch):
    from cnnkit.lessons import planned_configs, schema

    lesson = parse_lesson(TRANSFER_LESSON, "transfer.toml")
    head, tuned = lesson.arms
    assert (head.original_source, head.original_model) == ("resnet18", {})
    assert (tuned.original_source, tuned.original_model) == ("resnet18", {"strategy": "last:2"})
    asked = []
    monkeypatch.setattr(schema, "original_weights_offline", lambda name: asked.append(name) or False)
    assert [c.model["source"] for _, c in lesson.configs("quick")] == ["efficientnet_lite0"] * 2
    assert lesson.arm_config("tuned").model["strategy"] == "last:8" and asked == ["resnet18"] * 3
    assert [e["backbone"] for e in planned_configs(lesson, "quick", 1, "cpu")] == ["efficientnet_lite0"] * 2
    monkeypatch.setattr(schema, "original_weights_offline", lambda name: name == "resnet18")
    models = [c.model for _, c in lesson.configs("full")]
    assert models == [{"kind": "transfer", "source": "resnet18", "strategy": "head"},
                      {"kind": "transfer", "source": "resnet18", "strategy": "last:2"}]
    assert [e["backbone"] for e in planned_configs(lesson, "quick", 1, "cpu")] == ["resnet18"] * 2
    # Forced either way, whatever the cache holds.
    assert lesson.arm_config("tuned", original=False).model["source"] == "efficientnet_lite0"
    monkeypatch.setattr(schema, "original_weights_offline", lambda name: False)
    assert lesson.arm_config("tuned", original=True).model == {"kind": "transfer", "source": "resnet18",
                                                               "strategy": "last:2"}
    assert lesson.summary()["arms"][0]["original_source"] == "resnet18"


def test_original_weights_offline_reads_the_torch_cache_and_never_the_network(tmp_path, monkeypatch):
    from cnnkit.lessons.schema import original_weights_offline
    from cnnkit.models import pretrained

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(pretrained, "network_available", lambda *a, **k: True)  # a network would not count
    assert not original_weights_offline("resnet18")
    cached = pretrained.torch_cache_file("resnet18")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    assert original_weights_offline("resnet18") and not original_weights_offline("vgg16")
    assert not original_weights_offline("no_such_network")


@pytest.mark.parametrize("arm_lines, message", [
    ('original_source = "inception_v3"', r'arms\[1\]\.original_source: "inception_v3" is not a pretrained network; '
                                         r'choose one of efficientnet_lite0, resnet18'),
    ('original_model = { strategy = "last:2" }', r"arms\[1\]\.original_model: goes with original_source"),
    ('original_source = "resnet18"\noriginal_model = { source = "vgg16" }',
     r"arms\[1\]\.original_model\.source: is original_source"),
    ('original_source = "resnet18"\noriginal_model = { strategy = "sideways" }',
     r"arms\[1\]\.original_model: unknown strategy 'sideways'"),
    ('original_source = "resnet18"\noriginal_model = { colour = "red" }',
     r"arms\[1\]\.original_model: unknown transfer setting\(s\): colour"),
])
def test_a_broken_original_source_names_the_field(arm_lines, message):
    text = TRANSFER_LESSON.replace('original_source = "resnet18"\noriginal_model = { strategy = "last:2" }', arm_lines)
    with pytest.raises(LessonFileError, match=message):
        parse_lesson(text, "transfer.toml")


def test_original_source_is_only_for_transfer_arms():
    text = lesson_text().replace('config = { model = "cnn3", lr = 0.001 }',
                                 'config = { model = "cnn3", lr = 0.001 }\noriginal_source = "resnet18"')
    assert 'original_source = "resnet18"' in text
    with pytest.raises(LessonFileError, match=r'arms\[1\]\.original_source: is for transfer arms'):
        parse_lesson(text, "depth.toml")


def test_the_arm_result_records_which_network_ran_and_says_so():
    from cnnkit.lessons import backbone_note
    from cnnkit.lessons.results import run_backbone

    assert run_backbone({"model": {"kind": "transfer", "source": "resnet18"}}) == "resnet18"
    assert run_backbone({"model": "cnn3"}) == run_backbone({"model": {"layers": []}}) == ""
    lesson = parse_lesson(TRANSFER_LESSON, "transfer.toml")
    runs = [seed_run(s, 80.0, 0.8, [[1, 0], [0, 1]]) for s in (0, 1)]
    for run in runs:
        run.backbone = "resnet18"
    original = aggregate_arm("head", runs)
    runs[1].backbone = "efficientnet_lite0"
    assert aggregate_arm("head", runs).backbone == "resnet18, efficientnet_lite0"
    for run in runs:
        run.backbone = "efficientnet_lite0"
    substitute = aggregate_arm("tuned", runs)
    result = LessonResult(lesson_id=lesson.id, mode="quick", device="cpu", seeds=[0, 1], arms=[original, substitute])
    assert original.backbone == "resnet18" and result.summary()["arms"][0]["backbone"] == "resnet18"
    assert backbone_note(lesson, result, "head") == ("ran ResNet-18, the report's network (its weights were in the "
                                                     "torch cache)")
    assert backbone_note(lesson, result, "tuned") == ("ran EfficientNet-Lite0 in place of the report's ResNet-18 "
                                                      "(its weights were not in the torch cache)")
    restored = LessonResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert restored.arm("tuned").backbone == "efficientnet_lite0"


def test_quick_note_and_quick_limit_are_read_and_listed():
    text = lesson_text().replace('filled_in = ["batch size 16: not given"]',
                                 'filled_in = ["batch size 16: not given"]\nquick_note = "24 images for 1 epoch"\n'
                                 'quick_limit = "depth needs 10 epochs"')
    lesson = parse_lesson(text, "depth.toml")
    assert (lesson.quick_note, lesson.quick_limit) == ("24 images for 1 epoch", "depth needs 10 epochs")
    assert lesson.summary()["quick_limit"] == "depth needs 10 epochs"
    assert parse_lesson(lesson_text(), "depth.toml").quick_limit == ""
    with pytest.raises(LessonFileError, match="quick_note: must be text"):
        parse_lesson(text.replace('quick_note = "24 images for 1 epoch"', "quick_note = 3"), "depth.toml")


def test_quick_changes_list_what_quick_mode_changes_once_and_each_arms_own():
    lesson = parse_lesson(lesson_text(), "depth.toml")
    assert lesson.quick_changes() == ["epochs: 2 → 1", "train_subset: all → 24", "deep batch_size: 16 → 8"]
# --- lesson chains (start_from) ---------------------------------------------------------------------------------
CHAIN = """
id = "chain"
title = "Chain"
topic = "transfer"
question = "Does a trained network transfer?"

[defaults]
dataset = "{dataset}"
epochs = 1
batch_size = 8

[[arms]]
id = "source"
label = "trained from scratch"
config = {{ model = "cnn2" }}

[[arms]]
id = "fc"
label = "FC layers only"
start_from = "{start}"
config = {{ model = {{ kind = "transfer", strategy = "last:1" }} }}
"""


def test_a_chained_arm_names_an_earlier_arm_and_a_transfer_model():
    lesson = parse_lesson(CHAIN.format(dataset="shapes", start="source"), "chain.toml")
    arm = lesson.arm("fc")
    assert arm.start_from == "source" and arm.config["model"]["source"] == "arm:source"
    with pytest.raises(LessonFileError, match=r'arms\[1\].start_from: "fc" is not an earlier arm of this lesson; '
                                              r"earlier arms: source"):
        parse_lesson(CHAIN.format(dataset="shapes", start="fc"), "chain.toml")
    plain = CHAIN.format(dataset="shapes", start="source").replace(
        '{ kind = "transfer", strategy = "last:1" }', '"cnn2"')
    with pytest.raises(LessonFileError, match=r"arms\[1\].config.model: an arm with start_from needs a transfer model"):
        parse_lesson(plain, "chain.toml")
    named = CHAIN.format(dataset="shapes", start="source").replace('start_from = "source"\n', "").replace(
        'strategy = "last:1"', 'strategy = "last:1", source = "arm:source"')
    with pytest.raises(LessonFileError, match=r'config.model.source: "arm:source" names an arm: write '
                                              r'start_from = "source" instead'):
        parse_lesson(named, "chain.toml")


@pytest.mark.slow
def test_a_chained_arm_starts_from_the_earlier_arms_trained_run_of_the_same_seed(teacher_dir):
    from cnnkit import store

    dataset = tiny_folder("chain_tiny")
    (teacher_dir / "chain.toml").write_text(CHAIN.format(dataset=dataset, start="source"))
    manager = JobManager()
    group = submit_lesson("chain", mode="full", seeds=[0, 1], device="cpu", manager=manager)
    for snap in manager.list(group=group):
        assert manager.wait(snap.job_id, timeout=300).status == "done", manager.snapshot(snap.job_id).error
    result = collect_result("chain", group, manager)
    assert result.status == "done" and [a.seeds for a in result.arms] == [[0, 1], [0, 1]]
    runs = {(r["arm_id"], r["seed"]): r["run_dir"] for r in result.runs}
    for seed in (0, 1):
        config = store.load_run(runs[("fc", seed)]).config
        # the same seed's run of the earlier arm is the transfer source; only the FC layers trained
        assert Path(config["model"]["source"]).name == Path(runs[("source", seed)]).name
        assert config["model"]["strategy"] == "last:1"


def test_a_chained_arms_backbone_is_its_source_runs_id_never_a_path_of_this_machine():
    from cnnkit.lessons.results import run_backbone

    transfer = {"kind": "transfer", "strategy": "last:1"}
    assert run_backbone({"model": {**transfer, "source": "/srv/ck/20261206-071524-cnn4-cifar10-4694"}}) == \
        "20261206-071524-cnn4-cifar10-4694"
    assert run_backbone({"model": {**transfer, "source": "efficientnet_lite0"}}) == "efficientnet_lite0"
    assert run_backbone({"model": "cnn3"}) == ""


def test_full_mode_says_before_it_runs_when_only_the_shipped_subset_or_no_data_is_here(teacher_dir, monkeypatch):
    """Offline with an empty data directory, CIFAR-10 and Fashion-MNIST are the subsets that ship: quick mode is
    fine on them, full mode (the report's settings) says it would not be; a dataset that is not here at all (MNIST)
    says so in both modes; Shapes (built in) says nothing."""
    from cnnkit.lessons import data_caveats
    from cnnkit.paths import assets_dir

    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    monkeypatch.setenv("CNNKIT_SHIPPED_DATASETS_DIR", str(assets_dir() / "datasets"))  # as a fresh install has
    for lesson_id, dataset in (("on-cifar", "cifar10"), ("on-fashion", "fashion_mnist"), ("on-mnist", "mnist"),
                               ("on-shapes", "shapes")):
        (teacher_dir / f"{lesson_id}.toml").write_text(lesson_text(lesson_id, dataset))
    for lesson_id, dataset, images in (("on-cifar", "cifar10", "6,000"), ("on-fashion", "fashion_mnist", "7,000")):
        assert data_caveats(lesson_id, "quick") == []
        [full] = data_caveats(lesson_id, "full")
        assert "subset that ships with CNN Lab" in full and f"{images} {dataset} images instead of the report's" in full
    for mode in ("quick", "full"):
        [missing] = data_caveats("on-mnist", mode)
        assert missing.startswith("mnist is not on this machine (not downloaded and no network")
        assert missing.endswith(f"this lesson cannot run in {mode} mode.")
        assert data_caveats("on-shapes", mode) == []


def test_a_cpu_result_says_which_vector_instructions_made_it_and_when_a_run_here_will_not_repeat_it(tmp_path):
    """The same seed and threads repeat a CPU run's figures only on a CPU with the same vector instructions (AVX2 and
    AVX-512 kernels round sums differently, and training magnifies it): a result records them and says so where they
    differ from this machine's."""
    from cnnkit.device import cpu_instructions
    from cnnkit.lessons import arithmetic_note
    from cnnkit.lessons.results import run_cpu
    from ui.lessons_results import result_label

    (tmp_path / "run.json").write_text(json.dumps({"cpu_instructions": "AVX512", "threads": {"threads": 1}}))
    assert run_cpu(tmp_path) == (1, "AVX512")
    (tmp_path / "run.json").write_text(json.dumps({"cpu_instructions": "<b>AVX</b>"}))
    assert run_cpu(tmp_path) == (0, "")                                # not a name: dropped, never shown
    made = LessonResult(lesson_id="x", mode="quick", device="cpu", seeds=[100], device_label="CPU (1 thread)",
                        cpu_instructions="AVX512")
    assert "CPU (1 thread), AVX512 instructions" in result_label(made)
    assert arithmetic_note(made, here="AVX512") == "" and arithmetic_note(made, here="") == ""
    note = arithmetic_note(made, here="AVX2")
    assert note.startswith("These figures were made on a CPU with AVX512 instructions; this one has AVX2.")
    assert "a few points apart" in note
    older = LessonResult.from_dict({**made.to_dict(), "cpu_instructions": ""})   # saved before results recorded them
    assert arithmetic_note(older, here="AVX2") == "" and "instructions" not in result_label(older)
    on_gpu = LessonResult.from_dict({**made.to_dict(), "device": "cuda"})
    assert arithmetic_note(on_gpu, here="AVX2") == ""
    assert LessonResult.from_dict(json.loads(json.dumps(made.to_dict()))).cpu_instructions == "AVX512"
    import torch

    assert cpu_instructions() == torch.backends.cpu.get_cpu_capability()
