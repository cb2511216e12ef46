"""The training loop: learning, optimizers and schedules, L1, NaN stop, cancel, resume, checkpoints."""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch

from cnnkit import store
from cnnkit.train import OPTIMIZERS, SCHEDULERS, TrainConfig, TrainingDiverged, resume, train
from cnnkit.train.optim import LRSchedule, l1_penalty
from tests.helpers.train import TINY_CLASSES, mlp_spec, patch_dataset, random_dataset, tiny_dataset, tiny_spec


@pytest.fixture
def tiny(monkeypatch, tmp_path, request):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "runs"))
    dataset = tiny_dataset()
    patch_dataset(monkeypatch, dataset)
    return dataset


def config(**overrides) -> TrainConfig:
    # the classic recipe these tests were written for (TrainConfig's defaults are now the quick SGD one)
    base = dict(dataset="tiny", model=tiny_spec(), epochs=2, batch_size=16, optimizer="adam", lr=0.01,
                nesterov=False, weight_decay=0.0, label_smoothing=0.0, scheduler="cosine", val_fraction=0.25,
                device="cpu", log_every=2)
    base.update(overrides)
    return TrainConfig(**base)


def test_loss_falls_on_tiny_data(tiny):
    result = train(config(epochs=5, lr=0.01))
    losses = [row["train_loss"] for row in result.history]
    assert len(losses) == 5
    assert losses[-1] < 0.5 * losses[0]
    assert result.status == "done"
    assert 0 <= result.test_acc <= 1 and result.results["num_test"] == 40


def test_tiny_net_fits_64_images(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path))
    patch_dataset(monkeypatch, random_dataset(n_train=64))
    result = train(config(model=mlp_spec(), epochs=60, batch_size=16, lr=3e-3, val_fraction=0.0))
    # random labels: only memorising all 64 images gets to 100%
    assert result.history[-1]["train_acc"] == 1.0


def test_config_round_trips_and_rejects_bad_values():
    cfg = config(augment={"hflip": True, "cutout": 4}, dropout=0.3)
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="learning rate must be above 0"):
        config(lr=0).validate()
    with pytest.raises(ValueError, match="unknown optimizer 'sgdd'; choose one of sgd"):
        config(optimizer="sgdd").validate()
    with pytest.raises(ValueError, match="unknown training setting"):
        TrainConfig.from_dict({"dataset": "x", "learning_rate": 1})
    with pytest.raises(ValueError, match="brightness must be below 1"):
        config(augment={"brightness": 1.5}).validate()


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_steps(tiny, optimizer):
    result = train(config(optimizer=optimizer, epochs=1, lr=0.01, nesterov=True))
    assert result.epochs == 1 and math.isfinite(result.history[0]["train_loss"])
    assert result.history[0]["grad"]  # gradient magnitudes recorded per weight tensor
    assert all(v > 0 for v in result.history[0]["grad"].values())


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_schedule_steps(tiny, scheduler):
    result = train(config(scheduler=scheduler, epochs=3, step_size=1, gamma=0.5, warmup_epochs=1))
    lrs = [row["lr"] for row in result.history]
    assert len(lrs) == 3 and all(lr > 0 for lr in lrs)
    if scheduler in ("step", "exponential", "cosine", "onecycle"):
        assert lrs[-1] < 0.01


def test_schedule_factors_by_hand():
    cfg = config(epochs=10, scheduler="step", step_size=3, gamma=0.1)
    schedule = LRSchedule(cfg, steps_per_epoch=5)
    assert [schedule.factor(e, 0) for e in (0, 2, 3, 6, 9)] == pytest.approx([1, 1, 0.1, 0.01, 0.001])
    cosine = LRSchedule(config(epochs=4, scheduler="cosine"), steps_per_epoch=2)
    assert cosine.factor(2, 0) == pytest.approx(0.5)  # halfway: (1 + cos(pi/2)) / 2
    warm = LRSchedule(config(epochs=4, scheduler="constant", warmup_epochs=2), steps_per_epoch=4)
    assert warm.factor(0, 0) == pytest.approx(0.1) and warm.factor(1, 0) == pytest.approx(0.55)
    assert warm.factor(2, 0) == 1.0
    plateau = LRSchedule(config(scheduler="plateau", plateau_patience=1, gamma=0.5), steps_per_epoch=1)
    for loss in (1.0, 1.0, 1.0):
        plateau.end_epoch(loss)
    assert plateau.factor(3, 0) == 0.5


def test_l1_term_is_added(tiny, monkeypatch):
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2, 3))
    expected = sum(p.abs().sum() for p in (model[0].weight, model[2].weight))  # weights only, no biases
    assert float(l1_penalty(model).detach()) == pytest.approx(float(expected.detach()))
    # through the loop: the same seed with a big L1 penalty gives smaller weights
    plain = train(config(epochs=2, seed=3))
    penalised = train(config(epochs=2, seed=3, l1=0.05))
    norm = lambda r: sum(float(t.abs().sum()) for k, t in store.load_tensors(f"{r.run_dir}/last.pt").items()
                         if k.endswith("weight") and t.ndim > 1)
    assert norm(penalised) < 0.8 * norm(plain)


def test_nan_stops_the_run_with_a_reason(tiny):
    with pytest.raises(TrainingDiverged, match=r"loss (became NaN|became infinite|exploded to \S+ \(from \S+ at the start\)) at epoch 1, "
                       r"step \d+; lower the learning rate \(now 1e\+12\)"):
        train(config(optimizer="sgd", lr=1e12, momentum=0.0, epochs=3))
    run = store.list_runs()[0]
    assert run.status == "failed" and "lower the learning rate" in run.message


def test_cancel_stops_within_a_batch_and_keeps_weights(tiny):
    cancel = threading.Event()
    steps = []

    def on_progress(event):
        if event["kind"] == "step":
            steps.append(event["step"])
            cancel.set()

    result = train(config(epochs=5, log_every=1), on_progress=on_progress, cancel_event=cancel)
    assert result.status == "cancelled"
    assert len(steps) == 1  # the flag is checked before every batch
    run_dir = result.run_dir
    assert store.load_run(run_dir).status == "cancelled"
    assert (store.load_run_model(run_dir).model is not None)


def test_resume_after_an_interrupted_run(tiny):
    cancel = threading.Event()

    def stop_after_first_epoch(event):
        if event["kind"] == "epoch":
            cancel.set()

    first = train(config(epochs=3), on_progress=stop_after_first_epoch, cancel_event=cancel)
    assert first.status == "cancelled" and first.epochs == 1
    # what a restart leaves: status "running" by a process that is gone
    store.update_run(first.run_dir, status="running", pid=2 ** 22 + 12345)
    assert store.load_run(first.run_dir).status == "interrupted"
    finished = resume(first.run_dir)
    assert finished.status == "done"
    assert [row["epoch"] for row in finished.history] == [1, 2, 3]
    assert finished.run_dir == first.run_dir
    assert store.load_run(first.run_dir).status == "done"


def test_interrupted_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    store.save_tensors(path, {"w": torch.ones(3)})

    def crash(obj, handle):
        handle.write(b"half a checkpoint")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        store.save_tensors(path, {"w": torch.zeros(3)})
    monkeypatch.undo()
    assert torch.equal(store.load_tensors(path)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_run_folder_contents_and_reload(tiny):
    result = train(config(epochs=2, dropout=0.1, model=tiny_spec(dropout=0.5)))
    run_dir = store.resolve_run_dir(result.run_id)
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "run.json", "history.json", "results.json",
                                                   "predictions.json", "last.pt", "best.pt", "state.pt", "train.lock"}
    assert TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text())).dropout == 0.1
    loaded = store.load_run_model(run_dir)
    assert loaded.spec.layers[7].params["p"] == 0.1  # the dropout override reached the saved spec
    x = tiny.test_x[:5]
    assert loaded.model(loaded.preprocess(x)).shape == (5, 4)
    record = store.list_runs()[0]
    assert record.status == "done" and record.test_accuracy == pytest.approx(result.test_acc)
    assert len(store.load_predictions(run_dir)["y_pred"]) == 40


def test_resolution_settings_reach_the_data(tiny):
    result = train(config(epochs=1, train_resolution=8, test_resolution=4))
    assert result.results["resolution"] == 4
    native = train(config(epochs=1, restore_size=False, train_resolution=8, test_resolution=8,
                          model=tiny_spec()))
    assert native.status == "done"


def test_augmentation_and_label_smoothing_and_losses_train(tiny):
    for loss in ("mse", "l1"):
        assert train(config(epochs=1, loss=loss)).status == "done"
    result = train(config(epochs=1, label_smoothing=0.1, augment={"hflip": True, "crop_padding": 2, "cutout": 4}))
    assert result.status == "done"


def test_early_stopping(tiny):
    result = train(config(epochs=8, lr=1e-7, early_stopping=1))
    assert result.status == "early_stopped" and result.epochs < 8
    assert "validation accuracy did not improve" in result.message


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
@pytest.mark.parametrize("precision", ["auto", "fp16", "fp32"])
def test_cuda_run_learns_with_data_on_the_gpu(tiny, precision):
    from cnnkit.train.loop import autocast_dtype_for
    from cnnkit.train.pipeline import prepare_data

    cfg = config(epochs=5, lr=0.01, device="cuda", precision=precision)
    prepared = prepare_data(cfg, tiny, torch.device("cuda"), 16)
    # the whole split lives on the GPU: no host-to-device copy per batch
    assert prepared.train_x.device.type == "cuda" and prepared.train_x.dtype == torch.uint8
    expected = {"auto": torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16,
                "fp16": torch.float16, "fp32": None}[precision]
    assert autocast_dtype_for(precision, torch.device("cuda")) == expected
    result = train(cfg)
    losses = [row["train_loss"] for row in result.history]
    assert result.status == "done" and all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < 0.5 * losses[0]
    assert json.loads((store.resolve_run_dir(result.run_dir) / "run.json").read_text())["device"].startswith("cuda")


@needs_cuda
def test_cuda_weights_reload_on_cpu(tiny):
    result = train(config(epochs=1, device="cuda"))
    loaded = store.load_run_model(result.run_dir, device="cpu")
    assert next(loaded.model.parameters()).device.type == "cpu"


@needs_cuda
def test_cuda_run_resumes_from_its_commit(tiny):
    # the commit is read on the CPU (RNG states must stay there) and its weights copied to the GPU
    cancel = threading.Event()
    first = train(config(epochs=3, device="cuda"), cancel_event=cancel,
                  on_progress=lambda e: cancel.set() if e["kind"] == "epoch" else None)
    assert first.status == "cancelled" and first.epochs == 1
    finished = resume(first.run_dir)
    assert finished.status == "done" and [row["epoch"] for row in finished.history] == [1, 2, 3]


def test_test_subset_scores_a_stratified_fixed_subset_and_keeps_dataset_indices(tiny):
    """test_subset: 20 of the 40 test images, each class's share kept, the same 20 whatever the run's seed; the
    predictions and the mistakes name each image's index in the dataset's test split."""
    from cnnkit.data import subset_of_test_split
    from cnnkit.train.pipeline import prepare_data

    expected = subset_of_test_split(tiny.test_y, 20)
    assert torch.bincount(tiny.test_y).tolist() == [9, 12, 5, 14]
    # half of each class: 4.5, 6, 2.5, 7 -> one of the two halves rounds up
    assert torch.bincount(tiny.test_y[expected]).tolist() in ([5, 6, 2, 7], [4, 6, 3, 7])
    prepared = prepare_data(config(test_subset=20, seed=7), tiny, torch.device("cpu"), 16)
    assert torch.equal(prepared.test_index, expected) and torch.equal(prepared.test_y, tiny.test_y[expected])
    assert torch.equal(prepared.test_x, tiny.test_x[expected])
    assert any("stratified subset of 20 of 40 test images" in n for n in prepared.notes)
    assert prepare_data(config(), tiny, torch.device("cpu"), 16).test_index is None          # 0: all 40
    assert prepare_data(config(test_subset=40), tiny, torch.device("cpu"), 16).test_index is None
    result = train(config(epochs=1, test_subset=20, seed=3))
    assert result.results["num_test"] == 20 and sum(c["support"] for c in result.per_class) == 20
    predictions = store.load_predictions(store.resolve_run_dir(result.run_id))
    assert predictions["test_index"] == expected.tolist()
    assert predictions["y_true"] == tiny.test_y[expected].tolist()
    for mistake in result.results["mistakes"]:
        assert mistake["index"] in predictions["test_index"]
        assert TINY_CLASSES[int(tiny.test_y[mistake["index"]])] == mistake["true"]
    # evaluate_run (the Resolution lab's other resolutions) scores the same subset: the same figure again
    from cnnkit.evaluate import evaluate_run

    again, _ = evaluate_run(store.resolve_run_dir(result.run_id), test_subset=20)
    assert again.num_test == 20 and again.accuracy == pytest.approx(result.test_acc)
    with pytest.raises(ValueError, match="test subset must be 0 or more"):
        config(test_subset=-1).validate()


def test_test_subset_has_a_cli_flag():
    import argparse

    from cnnkit.cli.common import add_config_flags, config_from_flags

    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    assert "evaluate on this many test images (0 = all)" in parser.format_help()
    assert config_from_flags(parser.parse_args(["--test-subset", "2000"])).test_subset == 2000
    assert TrainConfig.from_dict({"test_subset": 500}).test_subset == 500
    with pytest.raises(ValueError, match="test_subset"):
        TrainConfig.from_dict({"test_subset": "many"})


def test_a_training_flushes_denormal_numbers_on_its_thread_while_it_runs(tiny):
    """A CPU computes with denormals (below ~1.2e-38) many times slower; weight decay leaves some in a trained
    network (benchmarks/bench_denormals.py). The training's thread treats them as zero while it trains, and
    gets its own setting back after (a test runner's or a notebook's thread keeps IEEE-754 floats)."""
    seen = {}

    def denormal_survives() -> bool:
        return torch.tensor([1e-39]).item() > 0.0  # made here: flushed to 0 when the thread flushes

    def on_progress(event):
        if event["kind"] == "step":
            seen.setdefault("during", denormal_survives())

    torch.set_flush_denormal(False)
    seen["before"] = denormal_survives()
    seen["status"] = train(config(epochs=1, log_every=1), on_progress=on_progress).status
    seen["after"] = denormal_survives()
    assert seen == {"before": True, "during": False, "status": "done", "after": True}
