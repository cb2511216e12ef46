"""AppTest of the Training runner: train one epoch on Shapes and see the evaluation; stop a run; the
builder hand-over; compare, resume and delete saved runs; a sweep queued and compared."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from cnnkit import store
from cnnkit.jobs import get_job_manager
from cnnkit.train import TrainConfig, train
from tests.helpers.app import make_app_test
from tests.helpers.train import patch_dataset, tiny_dataset, tiny_spec



@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")


def poll(at, job_id: str, until=lambda snap: snap.finished, timeout: float = 150, seen: list | None = None):
    """at.run() about once a second (as the page's fragment would) until `until(snapshot)`."""
    manager = get_job_manager()
    deadline = time.monotonic() + timeout
    while True:
        snap = manager.snapshot(job_id)
        if until(snap):
            at.run()
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"{job_id} still {snap.status} ({snap.phase}) after {timeout} s")
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
        if seen is not None:
            seen.extend(p.proto.text for p in at.get("progress"))


def chart_titles(at) -> str:
    import json

    return " | ".join(str(json.loads(c.proto.spec).get("title", "")) for c in at.get("vega_lite_chart"))


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def train_from_page(at, epochs: int = 1, subset: int | None = None) -> str:
    at.slider(key="tr_epochs").set_value(epochs)
    if subset is not None:
        at.select_slider(key="tr_train_subset").set_value(subset)
    at.button(key="tr_train").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    return at.session_state["tr_current"]


@pytest.mark.slow  # real Shapes (generated on first use) and a full test-split evaluation: ~20 s
def test_one_epoch_on_shapes_shows_progress_then_results():
    at = make_app_test("training_runner", timeout=150)
    assert not at.exception
    assert at.title[0].value == "Training runner"
    assert at.selectbox(key="tr_dataset").value == "shapes"
    assert at.selectbox(key="tr_preset").value == "cnn3_fast"
    # 2,000 images: the quick default net trains 256 in well under the poll interval, so the live
    # panel could miss the whole run.
    job_id = train_from_page(at, epochs=1, subset=2000)
    # Straight after Train the live panel follows the job: a progress bar and a Stop button.
    assert at.get("progress") and at.button(key="tr_stop")
    seen: list[str] = [p.proto.text for p in at.get("progress")]
    snap = poll(at, job_id, seen=seen)
    assert snap.status == "done", snap.error
    assert any("Epoch 1/1" in text or "loading" in text or "Queued" in text or "evaluating" in text for text in seen), seen
    assert not at.exception
    cards = metrics(at)
    assert cards["Epochs"] == "1"
    assert cards["Test accuracy"] == f"{snap.result.test_acc:.1%}"
    assert [t.label for t in at.tabs][1:7] == ["Curves", "Per class", "Confusion matrix", "ROC", "Mistakes", "Gradients"]
    per_class = next(df.value for df in at.dataframe if "precision" in df.value.columns)
    assert len(per_class) == 10 and per_class["support"].sum() == snap.result.results["num_test"]
    # The confusion-cell drill-down opens on the most common mistake and shows its images.
    confusion = snap.result.results["confusion"]
    cm_key = f"tr_result_{Path(snap.run_dir).name}_cm"
    true_index, pred_index = at.selectbox(key=f"{cm_key}_true").value, at.selectbox(key=f"{cm_key}_pred").value
    count = confusion[true_index][pred_index]
    assert count == max(confusion[i][j] for i in range(10) for j in range(10) if i != j)
    assert any(f"{count} test images of" in c.value for c in at.caption)
    assert sum(len(image.value) for image in at.image) >= min(count, 24)  # one st.image of a list: its pictures
    assert len(at.get("vega_lite_chart")) >= 5  # curves, confusion, ROC, gradients
    # Another cell: the caption counts that cell's images (a diagonal cell: the correct ones).
    at.selectbox(key=f"{cm_key}_pred").set_value(true_index).run()
    correct = confusion[true_index][true_index]
    classes = snap.result.results["classes"]
    expected = (f"{correct} test images of {classes[true_index]} predicted as {classes[true_index]}" if correct
                else f"No test image of {classes[true_index]} was predicted as {classes[true_index]}")
    assert any(expected in c.value for c in at.caption), [c.value for c in at.caption]
    # The run is in the Runs tab's table.
    runs = next(df.value for df in at.dataframe if "run" in df.value.columns and "status" in df.value.columns)
    assert Path(snap.run_dir).name in runs["run"].tolist()


@pytest.mark.slow  # waits for a real run to reach its training loop
def test_stop_keeps_what_was_trained(monkeypatch):
    # Many tiny batches: an epoch lasts long enough to press Stop in the middle of it.
    patch_dataset(monkeypatch, tiny_dataset(n_train=4000, n_test=40))
    at = make_app_test("training_runner", timeout=150)
    at.select_slider(key="tr_batch_size").set_value(8)
    job_id = train_from_page(at, epochs=6)  # 3,000 steps: far longer than the few seconds Stop may take
    poll(at, job_id, until=lambda s: s.phase == "training" or s.finished)
    assert at.button(key="tr_stop")
    started = time.monotonic()
    at.button(key="tr_stop").click().run()
    snap = poll(at, job_id, timeout=30)
    assert snap.status == "cancelled" and time.monotonic() - started < 15
    assert any("resume it from the Runs tab" in w.value for w in at.warning)
    record = store.load_run(Path(snap.run_dir))
    assert record.status == "cancelled" and record.epochs_done < 6 and (Path(snap.run_dir) / "last.pt").is_file()


def test_model_from_the_architecture_builder(monkeypatch):
    patch_dataset(monkeypatch, tiny_dataset())
    at = make_app_test("training_runner", timeout=150)
    at.session_state["train_spec"] = tiny_spec()
    at.run()
    assert at.radio(key="tr_model_source").value.startswith("From the Architecture builder")
    job_id = train_from_page(at, epochs=1)
    snap = poll(at, job_id)
    assert snap.status == "done", snap.error
    assert store.load_run(Path(snap.run_dir)).config["model"]["name"] == "tiny"
    # Back to a preset: a second run; the panel follows the newest and can follow the first again.
    at.radio(key="tr_model_source").set_value("Preset").run()
    assert at.selectbox(key="tr_preset").value == "cnn3_fast"
    second = train_from_page(at, epochs=1)
    snap2 = poll(at, second)
    assert store.load_run(Path(snap2.run_dir)).config["model"] == "cnn3_fast"
    follow = at.selectbox(key="tr_follow")
    assert follow.options[:2] == [f"{snap2.label} · done", f"{snap.label} · done"] and follow.value == second
    follow.set_value(job_id).run()
    assert at.session_state["tr_current"] == job_id
    assert any(f"{Path(snap.run_dir).name}_cm_true" in (w.key or "") for w in at.selectbox)


def _saved_runs(tmp_cancel_after_epoch: int = 1) -> tuple[Path, Path]:
    """Two tiny runs: one done (lr 0.01), one stopped after its first of two epochs (lr 0.001)."""
    done = train(TrainConfig(dataset="tiny", model=tiny_spec(), epochs=1, lr=0.01, name="done run"))
    cancel = threading.Event()

    def on_progress(event):
        if event["kind"] == "epoch" and event["row"]["epoch"] == tmp_cancel_after_epoch:
            cancel.set()

    stopped = train(TrainConfig(dataset="tiny", model=tiny_spec(), epochs=2, lr=0.001, name="stopped run"),
                    on_progress=on_progress, cancel_event=cancel)
    assert stopped.status == "cancelled" and stopped.epochs == 1
    return Path(done.run_dir), Path(stopped.run_dir)


def test_runs_compare_resume_and_delete(monkeypatch):
    patch_dataset(monkeypatch, tiny_dataset())
    done_dir, stopped_dir = _saved_runs()
    at = make_app_test("training_runner", timeout=150)
    assert not at.exception
    table = next(df.value for df in at.dataframe if "run" in df.value.columns and "status" in df.value.columns)
    assert {done_dir.name, stopped_dir.name} <= set(table["run"])

    at.multiselect(key="tr_compare").set_value([done_dir.name, stopped_dir.name]).run()
    assert not at.exception
    compare = next(df.value for df in at.dataframe if "macro recall" in df.value.columns)
    assert len(compare) == 2 and compare["lr"].tolist() == [0.01, 0.001]  # the setting that differs
    assert compare["epochs"].tolist() == [1, 1]

    # The stopped run resumes from its saved epoch and finishes the second. A job holding the device
    # keeps the resume queued for a moment: the button is off meanwhile (one click, one job).
    at.selectbox(key="tr_run_pick").set_value(stopped_dir.name).run()
    assert not at.button(key="tr_resume").disabled
    release = threading.Event()
    from cnnkit.device import resolve_device

    blocker = get_job_manager().submit(lambda context: release.wait(30), label="holds the device",
                                       device=str(resolve_device("auto")))
    try:
        at.button(key="tr_resume").click().run()
        assert any("Resumed" in s.value for s in at.success)
        assert get_job_manager().snapshot(at.session_state["tr_current"]).status == "queued"
        assert at.button(key="tr_resume").disabled
    finally:
        release.set()
    get_job_manager().wait(blocker, timeout=30)
    snap = poll(at, at.session_state["tr_current"])
    assert snap.status == "done", snap.error
    record = store.load_run(stopped_dir)
    assert record.status == "done" and record.epochs_done == 2
    assert [row["epoch"] for row in store.load_history(stopped_dir)["epochs"]] == [1, 2]

    # Its settings go back into the form (model spec included), and Reset brings the defaults back.
    at.button(key="tr_use_settings").click().run()
    assert not at.exception
    assert at.slider(key="tr_epochs").value == 2 and at.select_slider(key="tr_lr").value == 0.001
    assert at.radio(key="tr_model_source").value == "As given"
    at.session_state["tr_open_run"] = True                   # unfolded: the loaded settings are in its widgets
    at.run()
    assert at.text_input(key="tr_name").value == ""
    assert any("Settings of stopped run" in c.value for c in at.caption)
    at.button(key="tr_reset").click().run()
    assert at.slider(key="tr_epochs").value == 8 and at.select_slider(key="tr_lr").value == 0.1
    assert at.selectbox(key="tr_preset").value == "cnn3_fast" and at.button(key="tr_reset").disabled

    # Delete needs the confirmation box first.
    at.selectbox(key="tr_run_pick").set_value(done_dir.name).run()
    assert at.button(key="tr_delete").disabled
    at.checkbox(key="tr_delete_confirm").check().run()
    at.button(key="tr_delete").click().run()
    assert not at.exception
    assert not done_dir.exists()
    assert done_dir.name not in at.selectbox(key="tr_run_pick").options
    assert at.multiselect(key="tr_compare").value == [stopped_dir.name]


def test_sweep_queued_and_compared(monkeypatch):
    patch_dataset(monkeypatch, tiny_dataset())
    at = make_app_test("training_runner", timeout=150)
    assert not [b for b in at.button if b.key == "tr_sw_queue"]   # the Sweeps tab is drawn only while open
    at.session_state["tr_tab"] = "Sweeps"
    at.slider(key="tr_epochs").set_value(1).run()
    at.text_input(key="tr_sw_values1_lr").input("0.01, nope").run()
    assert any("not a number" in e.value for e in at.error)
    at.text_input(key="tr_sw_values1_lr").input("1e-2..1e-3").run()
    assert any("2 runs of 1 epoch(s): lr=0.01; lr=0.001" in c.value for c in at.caption)
    at.button(key="tr_sw_queue").click().run()
    assert not at.exception
    group = at.session_state["tr_sw_pick"]
    jobs = get_job_manager().list(group=group)
    assert len(jobs) == 2
    for job in jobs:
        poll(at, job.job_id)
    at.run()
    assert not at.exception
    assert all(s.status == "done" for s in get_job_manager().list(group=group))
    best = [s.value for s in at.success if "Best test accuracy" in s.value]
    assert best and "lr=" in best[0]
    rows = next(df.value for df in at.dataframe if "lr" in df.value.columns and "message" in df.value.columns)
    assert rows["lr"].tolist() == [0.01, 0.001] and rows["status"].tolist() == ["done", "done"]
    assert "'subtitle': 'settings → test acc, one line per run'" in chart_titles(at)   # the sweep's lr → test acc


def test_stop_while_the_data_loads_is_a_cancel_not_a_failure(monkeypatch):
    """Stop pressed before the first step (the data still loading) ends the job as cancelled."""
    import cnnkit.train.loop
    from cnnkit.jobs import JobManager

    loading = threading.Event()

    def slow_load(name, progress=None):
        loading.set()
        time.sleep(0.5)
        return tiny_dataset()

    monkeypatch.setattr(cnnkit.train.loop, "load_dataset", slow_load)
    manager = JobManager()
    job_id = manager.submit_training(TrainConfig(dataset="tiny", model=tiny_spec(), epochs=1))
    assert loading.wait(10)
    manager.cancel(job_id)
    snap = manager.wait(job_id, timeout=30)
    assert snap.status == "cancelled" and snap.error is None
    assert snap.message == "stopped before training started" and snap.run_dir is None


def _two_forms_app():
    import streamlit as st

    from cnnkit.train import TrainConfig
    from ui.train_settings import training_settings

    given = TrainConfig(dataset="digits", model="cnn2", epochs=7, batch_size=32, optimizer="sgd", lr=0.05,
                        momentum=0.8, nesterov=True, weight_decay=5e-4, l1=1e-5, dropout=0.3, label_smoothing=0.1,
                        loss="mse", scheduler="step", step_size=3, gamma=0.25, plateau_patience=4, warmup_epochs=1,
                        augment={"hflip": True, "crop_padding": 4, "rotation": 10.0, "cutout": 6},
                        val_fraction=0.2, split_strategy="random", image_size=48, train_resolution=16,
                        test_resolution=8, resize_mode="bilinear", restore_size=False, train_subset=1000,
                        early_stopping=3, seed=7, device="cpu", precision="fp32", log_every=5, name="given")
    st.session_state["given"] = given.to_dict()
    if "other" in st.session_state:  # a page loading a saved run's settings into the drawn form
        from ui.train_settings import load_training_settings

        given = TrainConfig.from_dict(st.session_state["other"])
        load_training_settings("a", given)
    st.session_state["a"] = training_settings("a", defaults=given).to_dict()
    st.session_state["a_keys"] = [k[2:] for k in st.session_state if k.startswith("a_") and k != "a_keys"]
    transfer_model = {"kind": "transfer", "source": "efficientnet_lite0"}
    st.session_state["b"] = training_settings("b", defaults=TrainConfig(model=transfer_model), show_model=False,
                                              show_dataset=False).to_dict()


def test_settings_form_round_trips_its_defaults_and_forms_do_not_clash():
    """What other pages rely on: untouched widgets give back `defaults` exactly; two forms on one page."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_two_forms_app, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["a"] == at.session_state["given"]
    assert at.session_state["b"]["model"] == {"kind": "transfer", "source": "efficientnet_lite0"}
    # WIDGET_NAMES lists every widget the form draws (load_training_settings writes them all).
    from ui.train_settings import SECTION_STATE_NAMES, WIDGET_NAMES

    drawn = set(at.session_state["a_keys"]) - set(SECTION_STATE_NAMES)
    assert drawn and drawn <= set(WIDGET_NAMES), drawn - set(WIDGET_NAMES)
    from ui.train_settings import FOLDED_SECTIONS, FORM, _state_names

    unfolded = {n for name, w in FORM.items() if w.section not in FOLDED_SECTIONS for n in _state_names(name, w)}
    assert len(drawn) >= len(unfolded) - 2  # all but the builder source radio (no builder spec here)
    assert at.selectbox(key="b_optimizer").value == TrainConfig().optimizer
    assert not [w for w in at.selectbox if w.key == "b_preset"]
    at.select_slider(key="a_lr").set_value(0.1).run()
    assert at.session_state["a"]["lr"] == 0.1 and at.session_state["b"]["lr"] == TrainConfig().lr
    at.checkbox(key="a_dropout_on").uncheck().run()
    assert at.session_state["a"]["dropout"] is None
    # Loading other settings into the drawn form overrides what was set in it.
    other = TrainConfig(model=tiny_spec(), epochs=3, lr=3e-4, dropout=0.2, augment={"cutout": 8, "scale": 0.1},
                        train_subset=256, scheduler="onecycle", warmup_epochs=2, image_size=None, name="")
    at.session_state["other"] = other.to_dict()
    at.run()
    assert not at.exception
    assert at.session_state["a"] == other.to_dict()
    assert at.radio(key="a_model_source").value == "As given"
    # Folded sections draw no widgets; unfolded, their widgets hold the loaded values, and a value set in one
    # stays when it is folded again (Streamlit drops the state of widgets it does not draw).
    del at.session_state["other"]
    at.session_state["given"] = other.to_dict()
    for word in FOLDED_SECTIONS.values():
        at.session_state[f"a_open_{word}"] = True
    at.run()
    assert not at.exception
    assert len(set(at.session_state["a_keys"]) - set(SECTION_STATE_NAMES)) >= len(WIDGET_NAMES) - 2
    assert at.selectbox(key="a_scheduler").value == "onecycle" and at.slider(key="a_aug_cutout").value == 8
    at.selectbox(key="a_scheduler").set_value("cosine").run()
    at.session_state["a_open_schedule"] = False
    at.run()
    assert not [w for w in at.selectbox if w.key == "a_scheduler"]
    assert at.session_state["a"]["scheduler"] == "cosine" and at.session_state["a"]["augment"] == other.augment
    at.session_state["a_open_schedule"] = True
    at.run()
    assert at.selectbox(key="a_scheduler").value == "cosine"


def test_a_saved_sweep_is_compared_after_a_restart(monkeypatch):
    """Sweep runs on disk (the job manager has forgotten them) are listed and compared."""
    from cnnkit.train import sweeps

    patch_dataset(monkeypatch, tiny_dataset())
    group = "sweep-000000-test"
    base = TrainConfig(dataset="tiny", model=tiny_spec(), epochs=1, batch_size=32)
    for _, config in sweeps.expand_sweep(base, [("lr", [0.05, 0.005])], group=group):
        train(config)
    at = make_app_test("training_runner", timeout=150)
    at.session_state["tr_tab"] = "Sweeps"
    at.run()
    assert at.selectbox(key="tr_sw_pick").value is None          # a new session follows no sweep until it picks one
    assert not any("lr" in df.value.columns for df in at.dataframe if "message" in df.value.columns)
    at.selectbox(key="tr_sw_pick").set_value(group).run()
    assert not at.exception
    assert at.selectbox(key="tr_sw_pick").value == group
    assert f"{group} (2 saved runs) · by guest" in at.selectbox(key="tr_sw_pick").options  # who queued it
    rows = next(df.value for df in at.dataframe if "lr" in df.value.columns and "message" in df.value.columns)
    assert rows["lr"].tolist() == [0.05, 0.005] and rows["status"].tolist() == ["done", "done"]
    assert any("Best test accuracy: lr=" in s.value for s in at.success)


def test_a_failing_run_shows_its_reason_without_a_traceback(monkeypatch):
    import cnnkit.train.loop

    def broken_load(name, progress=None):
        raise KeyError("boom")  # an unexpected error: the job manager keeps its traceback

    monkeypatch.setattr(cnnkit.train.loop, "load_dataset", broken_load)
    at = make_app_test("training_runner", timeout=150)
    at.button(key="tr_train").click().run()  # it may fail before this run ends: no train_from_page checks
    snap = poll(at, at.session_state["tr_current"], timeout=30)
    assert snap.status == "failed" and "Traceback" in snap.error
    errors = [e.value for e in at.error]
    assert errors == ["The run failed: KeyError: 'boom'"], errors


def test_bad_settings_are_refused_with_a_message_before_queueing():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU, so device 'cuda' is a valid choice")
    at = make_app_test("training_runner", timeout=150)
    before = len(get_job_manager().list())
    at.session_state["tr_open_run"] = True  # the device is in the folded "Device, precision & run" section
    at.run()
    at.selectbox(key="tr_device").select("cuda")
    at.button(key="tr_train").click().run()
    assert not at.exception
    assert any("no CUDA GPU is available; choose 'cpu' or 'auto'" in e.value for e in at.error)
    assert len(get_job_manager().list()) == before and "tr_current" not in at.session_state
    at.session_state["tr_tab"] = "Sweeps"
    at.run()
    at.button(key="tr_sw_queue").click().run()  # a sweep with those settings: refused as a whole
    assert not at.exception
    assert any("no CUDA GPU is available" in e.value for e in at.error)
    assert len(get_job_manager().list()) == before


def _not_covered(config_cls) -> dict[str, str]:
    """Fields of `config_cls` (TrainConfig or a stand-in) that the CLI or the form does not set."""
    import argparse
    import dataclasses

    from cnnkit.cli.common import OWN_FLAGS, add_config_flags
    from ui.train_settings import FORM_FIELDS

    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    dests = {action.dest for action in parser._actions}
    missing = {}
    for f in dataclasses.fields(config_cls):
        if f.metadata.get("user_facing", True) is False:  # the one explicit "not user-facing" mark
            continue
        if f.name not in dests and f.name not in OWN_FLAGS:
            missing[f.name] = "no CLI flag"
        elif f.name not in FORM_FIELDS:
            missing[f.name] = "no row in ui/train_settings.FORM"
    return missing


def test_every_train_config_field_has_a_cli_flag_and_a_form_row():
    import dataclasses

    from cnnkit.data import AugmentConfig
    from ui.train_settings import AUGMENT_PREFIX, FORM, WIDGET_NAMES

    assert _not_covered(TrainConfig) == {}
    augment_rows = {AUGMENT_PREFIX + f.name for f in dataclasses.fields(AugmentConfig)}
    # no stale rows: every FORM row is a TrainConfig field or an augmentation
    assert set(FORM) - {f.name for f in dataclasses.fields(TrainConfig)} == augment_rows
    assert {"dropout_on", "model_source", "preset"} <= set(WIDGET_NAMES) and augment_rows <= set(WIDGET_NAMES)


def test_a_new_field_gets_its_flag_and_is_missed_until_the_form_has_a_row(monkeypatch):
    """Adding a TrainConfig field: the CLI flag comes from the field itself; the form check names it."""
    import argparse
    import dataclasses

    import cnnkit.train
    from cnnkit.cli.common import add_config_flags, config_from_flags

    @dataclasses.dataclass
    class WithMixup(TrainConfig):
        mixup: float = dataclasses.field(default=0.0, metadata={"help": "mixup alpha"})

    monkeypatch.setattr(cnnkit.train, "TrainConfig", WithMixup)
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    assert "mixup alpha (default: 0.0)" in parser.format_help()
    config = config_from_flags(parser.parse_args(["--mixup", "0.2", "--epochs", "2"]))
    assert isinstance(config, WithMixup) and config.mixup == 0.2 and config.epochs == 2
    assert _not_covered(WithMixup) == {"mixup": "no row in ui/train_settings.FORM"}


def test_runs_comparison_smooths_groups_and_draws_parallel_coordinates(monkeypatch):
    patch_dataset(monkeypatch, tiny_dataset())
    runs = [train(TrainConfig(dataset="tiny", model=tiny_spec(), epochs=2, lr=lr, seed=seed, name=f"cmp {lr} {seed}"))
            for lr, seed in ((0.01, 0), (0.01, 1), (0.001, 0))]
    ids = [Path(r.run_dir).name for r in runs]
    at = make_app_test("training_runner", timeout=150)
    at.multiselect(key="tr_compare").set_value(ids).run()
    assert not at.exception
    titles = chart_titles(at)
    assert "'text': 'Loss per epoch', 'subtitle': 'solid train, dashed validation'}" in titles
    assert "Parallel coordinates" in titles and "smoothed" not in titles
    at.toggle(key="tr_cmp_smooth").set_value(True).run()
    titles = chart_titles(at)
    # Short titles, the rest as a subtitle: a half-width chart no longer cuts "(smooth…"
    assert "'text': 'Loss per epoch', 'subtitle': 'solid train, dashed validation, smoothed'}" in titles
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert all(len(str((s.get("title") or {}).get("text", ""))) <= 40 for s in specs if isinstance(s.get("title"), dict))
    # Parallel coordinates keep every axis's name (Vega's overlap culling is off).
    parallel = next(s for s in specs if "Parallel" in str(s.get("title")))
    assert '"labelOverlap": false' in json.dumps(parallel)
    # Grouped by the seed-less settings: the two lr=0.01 seeds are one group with a band.
    at.selectbox(key="tr_cmp_group_by").set_value("settings except the seed").run()
    assert not at.exception
    assert any("lr=0.01 (2 runs)" in c.value and "lr=0.001 (1 run)" in c.value for c in at.caption)
    titles = chart_titles(at)
    assert "mean ± std over each group" in titles


def test_the_runs_tab_says_when_runs_end_near_chance(monkeypatch, tmp_path):
    """A sweep whose every run ends at chance (11.7 % on 10 classes) gets a word, not silence."""
    from cnnkit.store import update_run

    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path))   # only this test's runs
    patch_dataset(monkeypatch, tiny_dataset())
    runs = [train(TrainConfig(dataset="tiny", model=tiny_spec(), epochs=1, seed=seed, name=f"chance {seed}"))
            for seed in (0, 1)]
    for run in runs:   # 4 classes: chance is 25 %
        update_run(Path(run.run_dir), test_accuracy=0.26)
    at = make_app_test("training_runner", timeout=150)
    assert not at.exception
    notes = [w.value for w in at.warning if "near chance" in w.value]
    assert notes == ["2 of 2 runs end near chance (25 % for 4 classes): this network has not learnt yet: train more "
                     "epochs, raise the learning rate (or add warm-up), or use more training images."], notes


def test_the_sweep_form_keeps_its_values_while_the_sweeps_tab_is_closed():
    at = make_app_test("training_runner", timeout=150)
    at.session_state["tr_tab"] = "Sweeps"
    at.run()
    at.selectbox(key="tr_sw_field1").select("dropout").run()
    at.text_input(key="tr_sw_values1_dropout").input("0.1, 0.3").run()
    at.session_state["tr_tab"] = "Train"
    at.run()
    assert not at.exception and not [t for t in at.text_input if t.key == "tr_sw_values1_dropout"]  # not drawn
    at.session_state["tr_tab"] = "Sweeps"
    at.run()
    assert not at.exception
    assert not [w for w in at.warning if "Session State" in w.value]  # "created with a default value but also …"
    assert at.selectbox(key="tr_sw_field1").value == "dropout"
    assert at.text_input(key="tr_sw_values1_dropout").value == "0.1, 0.3"
