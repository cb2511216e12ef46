"""Exported code runs on its own and is the same network as build_model's."""

import pytest
import torch

from cnnkit.models import LayerSpec, ModelSpec, build_model, export_class_name, export_code, get_preset


def run_export(spec: ModelSpec) -> torch.nn.Module:
    namespace: dict = {"__name__": "exported"}
    exec(compile(export_code(spec), "<exported>", "exec"), namespace)
    return namespace[export_class_name(spec)]()


@pytest.mark.parametrize("name", ["lenet5", "cnn3", "cnn4_gap_bn", "resnet_small", "fashion_arc3", "vgg6"])
def test_export_matches_built_model(name):
    spec = get_preset(name)
    built = build_model(spec).eval()
    exported = run_export(spec).eval()
    assert sum(p.numel() for p in exported.parameters()) == sum(p.numel() for p in built.parameters())
    # Same layer names: the checkpoint loads, and the outputs are identical.
    exported.load_state_dict(built.state_dict())
    x = torch.randn(2, *spec.input_shape)
    with torch.no_grad():
        assert exported(x).shape == (2, spec.num_classes)
        assert torch.allclose(exported(x), built(x))


def test_export_odd_layers_and_frozen():
    spec = ModelSpec('my "odd" net """', (2, 9, 9), 3, [
        LayerSpec("conv2d", {"out_channels": 4, "padding": "same", "groups": 2, "bias": False, "frozen": True}),
        LayerSpec("leakyrelu", {"negative_slope": 0.2}), LayerSpec("elu", {"alpha": 0.5}),
        LayerSpec("avgpool2d", {"kernel_size": 3, "stride": 2, "padding": 1}), LayerSpec("dropout2d", {"p": 0.1}),
        LayerSpec("global_avg_pool"), LayerSpec("batchnorm1d"), LayerSpec("linear", {"out_features": 7}),
        LayerSpec("gelu"), LayerSpec("linear", {"bias": False}),
    ], description='ends with """ and a \\ backslash')
    code = export_code(spec)
    assert "nn.Linear(7, num_classes, bias=False)" in code
    model = run_export(spec)
    assert export_class_name(spec) == "MyOddNet"
    assert not model.layers[0].weight.requires_grad
    assert model.layers[7].weight.requires_grad
    built = build_model(spec)
    model.load_state_dict(built.state_dict())
    model.eval(), built.eval()
    x = torch.randn(2, 2, 9, 9)
    with torch.no_grad():
        assert torch.allclose(model(x), built(x))
    # num_classes is a constructor argument of the exported class.
    namespace: dict = {}
    exec(code, namespace)
    assert namespace["MyOddNet"](num_classes=5)(x).shape == (2, 5)


def test_export_runs_as_script(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "net.py"
    path.write_text(export_code(get_preset("cnn3")))
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "output shape: (1, 10)" in result.stdout and "parameters: 620362" in result.stdout
