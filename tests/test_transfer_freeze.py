"""Freezing strategies: exactly the intended parameters train; frozen ones do not move."""

import pytest
import torch
import torchvision
from torch import nn

from cnnkit.transfer.freeze import (
    TransferNet, apply_strategy, count_params, describe_backbone, param_groups, replace_head,
)


def resnet18() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=1000)


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_resnet_blocks_and_head_counts():
    model = resnet18()
    layout = describe_backbone(model)
    assert layout.kind == "resnet"
    assert layout.block_names == ["stem", "layer1", "layer2", "layer3", "layer4"]
    replace_head(model, layout, num_classes=3)
    assert model.fc.out_features == 3
    counts = apply_strategy(model, layout, "head")
    assert counts.trainable == 512 * 3 + 3
    assert counts.total == numel(model)
    counts = apply_strategy(model, layout, "last:2")
    assert counts.trainable == numel(model.layer3) + numel(model.layer4) + numel(model.fc)
    counts = apply_strategy(model, layout, "full")
    assert counts.frozen == 0


def test_frozen_parameters_do_not_change_after_a_step_and_bn_stays_eval():
    model = resnet18()
    layout = describe_backbone(model)
    replace_head(model, layout, num_classes=3)
    apply_strategy(model, layout, "last:1")
    net = TransferNet(model)
    net.train()
    assert not model.bn1.training  # frozen BN in eval mode
    assert model.layer4[0].bn1.training  # trainable BN trains
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    running_mean = model.bn1.running_mean.clone()
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    loss = nn.functional.cross_entropy(net(torch.randn(4, 3, 64, 64)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    opt.step()
    for name, p in net.named_parameters():
        changed = not torch.equal(before[name], p.detach())
        assert changed == p.requires_grad, name
    assert torch.equal(running_mean, model.bn1.running_mean)


def test_bad_strategies_have_clear_messages():
    model = resnet18()
    layout = describe_backbone(model)
    with pytest.raises(ValueError, match="has 5 blocks"):
        apply_strategy(model, layout, "last:9")
    with pytest.raises(ValueError, match="unknown strategy"):
        apply_strategy(model, layout, "half")


def test_param_groups_split_head_and_backbone():
    model = resnet18()
    layout = describe_backbone(model)
    replace_head(model, layout, 5)
    apply_strategy(model, layout, "full")
    groups = param_groups(model, layout, backbone_lr=1e-4, head_lr=1e-2)
    assert [g["name"] for g in groups] == ["backbone", "head"]
    assert [g["lr"] for g in groups] == [1e-4, 1e-2]
    assert sum(p.numel() for g in groups for p in g["params"]) == count_params(model).trainable


def test_sequential_network_blocks_start_at_each_conv():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 10),
    )
    layout = describe_backbone(model)
    assert layout.head == "9"
    assert [b.modules for b in layout.blocks] == [["0", "1", "2"], ["3", "4", "5", "6"], ["7", "8"]]
    replace_head(model, layout, 3)
    counts = apply_strategy(model, layout, "last:1")
    assert counts.trainable == (8 * 16 + 16) + (16 * 3 + 3)


@pytest.mark.parametrize("builder,kind,head_classes", [
    (lambda: torchvision.models.mobilenet_v2(weights=None), "features", 7),
    (lambda: torchvision.models.vgg16(weights=None), "vgg", 7),
])
def test_torchvision_layouts(builder, kind, head_classes):
    model = builder()
    layout = describe_backbone(model)
    assert layout.kind == kind
    replace_head(model, layout, head_classes)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, head_classes)
    if kind == "vgg":
        assert len(layout.blocks) == 5
