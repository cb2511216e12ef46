"""Transfer learning through the trainer: freezing, counts, two-stage switch, saved-run sources, rebuild."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from cnnkit import store
from cnnkit.data import dataset_info, generate_shapes, load_dataset
from cnnkit.paths import data_dir
from cnnkit.train import TrainConfig, train
from cnnkit.train.optim import LRSchedule, build_optimizer
from cnnkit.transfer import builder
from cnnkit.transfer.builder import (
    TransferModel, TransferSettings, build_transfer_bundle, rebuild_transfer_model, source_network, strategy_counts,
)
from cnnkit.data.custom_dataset import custom_dataset_counts, save_custom_dataset
from cnnkit.transfer.estimate import estimate_epoch_cost
from cnnkit.transfer.freeze import describe_backbone
from cnnkit.models.pretrained import load_pretrained
from tests.helpers.folders import SIZE, small_spec, write_shapes_folder

def quick_config(dataset: str, model, **overrides) -> TrainConfig:
    settings = dict(dataset=dataset, model=model, epochs=1, batch_size=16, optimizer="adam", lr=2e-3, seed=0,
                    device="cpu", val_fraction=0.0, scheduler="constant", weight_decay=0.0, label_smoothing=0.0)
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def new3() -> str:
    """The target: 3 Shapes classes, 30 training and 60 test images each (16 px)."""
    return write_shapes_folder("new3", (0, 1, 2), 30, 60, seed=23)


@pytest.fixture(scope="module")
def quick_source(new3) -> str:
    """A saved run of ours (4 classes, one short epoch): enough to transfer from in the fast tests."""
    name = write_shapes_folder("src4-small", (0, 1, 2, 3), 16, 2, seed=21)
    result = train(quick_config(name, small_spec(4)))
    return result.run_dir


@pytest.fixture(scope="module")
def lite0_run(new3) -> dict:
    """EfficientNet-Lite0, last block + head trained for one epoch at 32 px on the 3-class folder."""
    tiny = write_shapes_folder("tiny3", (0, 1, 2), 6, 4, seed=5)
    config = quick_config(tiny, {"kind": "transfer", "source": "efficientnet_lite0", "strategy": "last:1",
                                 "image_size": 32}, batch_size=9)
    result = train(config)
    return {"result": result, "config": config}


def numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------------------ counts

def test_last_n_blocks_counts_on_efficientnet_lite0_without_weights():
    record = {"kind": "transfer", "source": "efficientnet_lite0", "source_kind": "pretrained",
              "arch": "efficientnet_lite0", "num_classes": 5, "in_channels": 3}
    model = rebuild_transfer_model(record, (3, 32, 32), 5)
    layout = describe_backbone(model)
    assert layout.block_names[0] == "stem" and layout.block_names[-1] == "head conv"
    assert len(layout.block_names) == 18  # stem, 16 MBConv blocks, head conv
    net = model.net
    head = numel(net._fc)
    assert head == 1280 * 5 + 5
    rows = {r.strategy: r for r in strategy_counts(model, layout, ["head", "last:1", "last:3", "full", "two-stage"])}
    assert rows["head"].trainable == head
    assert rows["two-stage"].trainable == head  # stage one is the head alone
    assert rows["last:1"].trainable == head + numel(net._conv_head) + numel(net._bn1)
    assert rows["last:3"].trainable == (head + numel(net._conv_head) + numel(net._bn1)
                                        + numel(net._blocks[15]) + numel(net._blocks[14]))
    assert rows["full"].frozen == 0 and rows["full"].trainable == numel(model)
    for row in rows.values():
        assert row.total == numel(model)
    assert rows["last:3"].blocks_trainable == 3
    assert all(p.requires_grad for p in model.parameters())  # the table leaves the model as it found it


def test_strategy_counts_of_a_saved_run_source(quick_source):
    model, layout = source_network(quick_source, 3)
    rows = {r.to_dict()["strategy"]: r.to_dict() for r in strategy_counts(model, layout, ["head", "last:1", "full"])}
    spec_linear_in = 32 * 2 * 2
    assert rows["head"]["trainable"] == 64 * 3 + 3
    assert rows["last:1"]["trainable"] == 64 * 3 + 3 + spec_linear_in * 64 + 64
    assert rows["full"]["frozen"] == 0
    assert rows["head"]["total"] == rows["full"]["trainable"]


def test_bad_settings_say_what_to_change(quick_source):
    with pytest.raises(ValueError, match="unknown transfer source 'nope'.*efficientnet_lite0"):
        build_transfer_bundle({"kind": "transfer", "source": "nope"}, (3, 16, 16), 3)
    with pytest.raises(ValueError, match="unknown strategy 'some'"):
        TransferSettings.from_dict({"source": "efficientnet_lite0", "strategy": "some"})
    with pytest.raises(ValueError, match="has 4 blocks; choose N from 0 to 4"):
        build_transfer_bundle({"kind": "transfer", "source": quick_source, "strategy": "last:9"}, (3, 16, 16), 3)
    with pytest.raises(ValueError, match="unknown transfer setting"):
        TransferSettings.from_dict({"source": "efficientnet_lite0", "strategi": "head"})
    with pytest.raises(ValueError, match="cannot run at 24×24"):
        # the saved net ends in flatten + Linear: it only takes its own 16 px
        build_transfer_bundle({"kind": "transfer", "source": quick_source, "image_size": 24}, (3, 16, 16), 3)


# ------------------------------------------------------------------------------------- freezing

def test_only_the_strategy_trains_through_the_trainer(lite0_run):
    result = lite0_run["result"]
    before = load_pretrained("efficientnet_lite0").model.state_dict()
    after = store.load_tensors(Path(result.run_dir) / "last.pt")
    trainable_prefixes = ("net._conv_head.", "net._bn1.", "net._fc.")
    changed, unchanged = [], []
    for key, value in after.items():
        if key.startswith("net._fc."):
            continue  # new head: no pretrained counterpart
        assert key.startswith("net.")
        old = before[key[len("net."):]]
        (unchanged if torch.equal(old, value) else changed).append(key)
    # frozen parameters AND frozen BatchNorm running statistics are bit-identical after training
    assert not [k for k in changed if not k.startswith(trainable_prefixes)]
    assert "net._conv_head.weight" in changed and "net._bn1.weight" in changed
    assert "net._bn1.running_mean" in changed  # trainable BN is in train mode: its statistics move
    meta = store.read_json(Path(result.run_dir) / "run.json")
    expected = 1280 * 3 + 3 + 320 * 1280 + 2 * 1280
    assert meta["trainable_params"] == expected == result.trainable_params
    assert meta["strategy"] == "last:1" and meta["source"] == "efficientnet_lite0"
    assert result.trainable_params + result.frozen_params == sum(v.numel() for k, v in after.items()
                                                                 if "running" not in k and "num_batches" not in k)


def test_a_transfer_run_reloads_without_the_pretrained_weights(lite0_run, monkeypatch):
    def refuse(name, progress=None):
        raise AssertionError("rebuilding must not load pretrained weights")

    monkeypatch.setattr(builder, "load_pretrained", refuse)
    result = lite0_run["result"]
    loaded = store.load_run_model(result.run_dir)
    assert isinstance(loaded.model, TransferModel)
    assert loaded.input_shape == (3, 32, 32)
    assert loaded.mean == [0.5, 0.5, 0.5] and loaded.std == [0.5, 0.5, 0.5]  # the backbone's own normalisation
    dataset = load_dataset(lite0_run["config"].dataset)
    with torch.no_grad():
        predicted = loaded.model(loaded.preprocess(dataset.test_x)).argmax(dim=1).tolist()
    assert predicted == store.load_predictions(result.run_dir)["y_pred"]


def test_frozen_batchnorm_stays_in_eval_and_grey_images_are_repeated():
    record = {"source_kind": "pretrained", "arch": "efficientnet_lite0", "num_classes": 2, "in_channels": 3}
    model = rebuild_transfer_model(record, (1, 32, 32), 2)
    layout = describe_backbone(model)
    strategy_counts(model, layout, ["head"])
    from cnnkit.transfer.freeze import apply_strategy

    apply_strategy(model, layout, "last:1")
    model.train()
    assert not model.net._bn0.training and not model.net._blocks[0]._bn1.training
    assert model.net._bn1.training
    model.eval()
    grey = torch.rand(2, 1, 32, 32)
    assert torch.allclose(model(grey), model(grey.repeat(1, 3, 1, 1)))


# ------------------------------------------------------------------------------------ two-stage

def test_two_stage_hook_unfreezes_and_divides_the_learning_rate_once(quick_source):
    model_dict = {"kind": "transfer", "source": quick_source, "strategy": "two-stage", "head_epochs": 2,
                  "unfreeze_lr_factor": 4, "backbone_lr_factor": 0.5}
    config = quick_config("new3", model_dict, epochs=4)
    bundle = build_transfer_bundle(model_dict, (3, SIZE, SIZE), 3, config)
    model = bundle.model
    head_params = {id(p) for p in model.net.get_submodule("layers.15").parameters()}
    assert all(p.requires_grad == (id(p) in head_params) for p in model.parameters())
    groups = bundle.param_groups(0.01)
    assert [g["name"] for g in groups] == ["backbone", "head"]
    assert [g["lr"] for g in groups] == [0.005, 0.01]
    optimizer = build_optimizer(groups, config)
    schedule = LRSchedule(config, steps_per_epoch=3)
    for epoch in range(4):
        note = bundle.on_epoch_start(epoch, optimizer)
        schedule.apply(optimizer, epoch, 0)
        rates = [g["lr"] for g in optimizer.param_groups]
        if epoch < 2:
            assert note is None
            assert rates == pytest.approx([0.005, 0.01])
            assert not any(p.requires_grad for p in model.parameters() if id(p) not in head_params)
        else:
            assert (note is not None) == (epoch == 2)
            assert rates == pytest.approx([0.00125, 0.0025])
            assert all(p.requires_grad for p in model.parameters())


def test_two_stage_through_the_trainer(quick_source):
    source_weights = store.load_tensors(Path(quick_source) / "best.pt")
    model_dict = {"kind": "transfer", "source": quick_source, "strategy": "two-stage", "head_epochs": 1,
                  "unfreeze_lr_factor": 10}
    events = []
    result = train(quick_config("new3", model_dict, epochs=2, lr=0.01), on_progress=events.append)
    assert [row["lr"] for row in result.history] == pytest.approx([0.01, 0.001])
    meta = store.read_json(Path(result.run_dir) / "run.json")
    assert meta["trainable_params"] == 64 * 3 + 3  # counted at the start: the head
    assert meta["stage_two_trainable_params"] == meta["trainable_params"] + meta["frozen_params"]
    assert any("unfreezes full" in e.get("message", "") for e in events if e["kind"] == "status")
    after = store.load_tensors(Path(result.run_dir) / "last.pt")
    assert not torch.equal(after["net.layers.0.weight"], source_weights["layers.0.weight"])  # unfrozen in stage 2
    one_stage = train(quick_config("new3", model_dict, epochs=1, lr=0.01))
    after_one = store.load_tensors(Path(one_stage.run_dir) / "last.pt")
    assert torch.equal(after_one["net.layers.0.weight"], source_weights["layers.0.weight"])  # head only
    assert torch.equal(after_one["net.layers.1.running_mean"], source_weights["layers.1.running_mean"])
    assert "never unfrozen" in " ".join(store.read_json(Path(one_stage.run_dir) / "run.json")["notes"])


# ------------------------------------------------------------------------- our runs as sources

@pytest.mark.slow
def test_transfer_from_a_saved_run_beats_training_from_scratch(new3):
    """Source: our small CNN trained on 1,200 Shapes images of 4 classes. Target: 3 of those
    classes, but new images and only 30 per class. Same net, seed, epochs and learning rate."""
    source_data = write_shapes_folder("src4", (0, 1, 2, 3), 300, 40, seed=21)
    source = train(quick_config(source_data, small_spec(4), epochs=5, batch_size=32))
    target = dict(epochs=8, batch_size=16, lr=2e-3, seed=0)
    scratch = train(quick_config(new3, small_spec(3), **target))
    transferred = train(quick_config(new3, {"kind": "transfer", "source": source.run_dir, "strategy": "full"}, **target))
    print(f"source {source.test_acc:.3f}, scratch {scratch.test_acc:.3f}, transfer {transferred.test_acc:.3f}")
    assert source.test_acc > 0.5
    assert transferred.test_acc > scratch.test_acc + 0.03, (transferred.test_acc, scratch.test_acc)
    meta = store.read_json(Path(transferred.run_dir) / "run.json")
    source_meta = store.read_json(Path(source.run_dir) / "run.json")
    assert meta["mean"] == source_meta["mean"] and meta["std"] == source_meta["std"]  # the source's normalisation
    assert meta["model_record"]["base_record"] == source_meta["model_record"]


def test_transfer_run_from_a_saved_run_reloads(quick_source):
    result = train(quick_config("new3", {"kind": "transfer", "source": quick_source, "strategy": "last:1"}))
    loaded = store.load_run_model(result.run_dir)
    assert loaded.classes == ["circle", "square", "triangle"]
    dataset = load_dataset("new3")
    with torch.no_grad():
        predicted = loaded.model(loaded.preprocess(dataset.test_x)).argmax(dim=1).tolist()
    assert predicted == store.load_predictions(result.run_dir)["y_pred"]
    # and a transfer run can itself be a source (the wrapper is not nested)
    again = build_transfer_bundle({"kind": "transfer", "source": result.run_dir}, (3, SIZE, SIZE), 2)
    assert not isinstance(again.model.net, TransferModel)
    assert again.model(torch.zeros(1, 3, SIZE, SIZE)).shape == (1, 2)


# ------------------------------------------------------------------------------ estimate, data

def test_cost_estimate_scales_with_images_and_restores_the_model(quick_source):
    bundle = build_transfer_bundle({"kind": "transfer", "source": quick_source, "strategy": "head"}, (3, SIZE, SIZE), 3)
    model = bundle.model
    flags = [p.requires_grad for p in model.parameters()]
    cost = estimate_epoch_cost(model, (3, SIZE, SIZE), train_images=1000, eval_images=100, batch_size=16)
    assert cost.seconds_per_epoch == pytest.approx(1000 * cost.train_seconds_per_image + 100 * cost.eval_seconds_per_image)
    assert cost.train_seconds_per_image > 0 and cost.eval_seconds_per_image > 0
    assert [p.requires_grad for p in model.parameters()] == flags and model.training
    assert all(p.grad is None for p in model.parameters())
    assert "per epoch at 16×16 px" in cost.describe()
    with pytest.raises(ValueError, match="cannot run at 40×40"):
        estimate_epoch_cost(model, (3, 40, 40), train_images=10)


def test_a_hand_made_dataset_is_saved_as_a_folder_dataset():
    x, y = generate_shapes(120, seed=3, size=20)
    images = {"round": [a.numpy() for a in x[y == 0][:4]],
              "boxy": [Image.fromarray(a.permute(1, 2, 0).numpy()) for a in x[y == 1][:3]]}
    path = save_custom_dataset("mine", images, size=24)
    assert path == data_dir() / "mine"
    assert custom_dataset_counts("mine") == {"boxy": 3, "round": 4}
    info = dataset_info("mine")
    assert info.available and sorted(info.classes) == ["boxy", "round"] and (info.height, info.width) == (24, 24)
    with pytest.raises(ValueError, match="exists"):
        save_custom_dataset("mine", images)
    with pytest.raises(ValueError, match="at least 2 classes"):
        save_custom_dataset("one", {"a": images["round"]})
    with pytest.raises(ValueError, match="add at least 2 images to boxy"):
        save_custom_dataset("few", {"round": images["round"], "boxy": images["boxy"][:1]})
    with pytest.raises(ValueError, match="built-in dataset name"):
        save_custom_dataset("shapes", images)
    with pytest.raises(ValueError, match="given twice"):
        save_custom_dataset("dup", {"A": images["round"], "a": images["boxy"]})
    with pytest.raises(ValueError, match="image 2 of bad: this file is not an image"):
        save_custom_dataset("broken", {"ok": images["round"], "bad": [images["boxy"][0], b"not a png"]})
    assert not (data_dir() / "broken").exists()
    assert not [p for p in data_dir().iterdir() if p.name.startswith(".custom-")]  # no staging left behind
