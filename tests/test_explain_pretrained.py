"""Pretrained models: EfficientNet-Lite0 offline with sensible ImageNet answers; the others' notices; the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cnnkit.cli import main as cli_main
from cnnkit.explain import load_explainable, load_image, top_k
from cnnkit.models import pretrained as pt
from tests.helpers.app import ROOT

EXAMPLES = ROOT / "assets" / "examples"


@pytest.fixture(scope="module")
def lite0():
    return load_explainable("efficientnet_lite0")


@pytest.fixture
def offline_empty_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def test_imagenet_class_names_are_readable():
    names = pt.imagenet_classes()
    assert len(names) == 1000 and names[0] == "tench" and names[985] == "daisy"


def test_efficientnet_lite0_loads_offline_with_its_own_preprocessing(lite0):
    assert lite0.input_shape == (3, 224, 224) and len(lite0.classes) == 1000
    assert lite0.extra["mean"] == [0.5, 0.5, 0.5] and lite0.extra["std"] == [0.5, 0.5, 0.5]
    from PIL import Image

    x = lite0.preprocess(Image.new("RGB", (500, 300), (255, 255, 255)))
    assert x.shape == (1, 3, 224, 224)
    torch.testing.assert_close(x, torch.ones_like(x))  # (1 - 0.5) / 0.5
    assert lite0.display_image(Image.new("RGB", (500, 300))).shape == (224, 224, 3)


@pytest.mark.parametrize("photo,sensible", [
    ("flower.jpg", {"daisy"}),
    ("china.jpg", {"palace", "bell cote", "monastery", "pagoda", "stupa", "castle"}),
    ("grace_hopper.jpg", {"academic gown", "mortarboard", "military uniform", "suit", "Windsor tie"}),
])
def test_efficientnet_lite0_ranks_a_sensible_class_first(lite0, photo, sensible):
    x = lite0.preprocess(load_image(EXAMPLES / photo))
    best = top_k(lite0.model, x, lite0.classes, k=5)
    assert best[0]["class"] in sensible, best
    assert sum(r["probability"] for r in best) <= 1.0 + 1e-6


def test_torchvision_models_without_weights_or_network_say_so(offline_empty_cache):
    assert pt.network_available() is False
    infos = {info.name: info for info in pt.list_pretrained()}
    assert infos["efficientnet_lite0"].available
    for name in ("resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0", "vgg16"):
        assert not infos[name].available
        assert "not in the torch cache and there is no network" in infos[name].reason
    with pytest.raises(RuntimeError, match="ResNet-18 weights are not in the torch cache"):
        pt.load_pretrained("resnet18")
    with pytest.raises(ValueError, match="unknown pretrained model 'alexnet'"):
        pt.load_pretrained("alexnet")


def test_torchvision_weights_already_in_the_torch_cache_are_used(offline_empty_cache):
    import torchvision

    # A stand-in weight file under the real file name (random weights: no download in tests).
    torch.manual_seed(0)
    reference = torchvision.models.mobilenet_v2(weights=None)
    path = pt.torch_cache_file("mobilenet_v2")
    assert path.parent == offline_empty_cache
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    assert pt.pretrained_info("mobilenet_v2").available
    loaded = pt.load_pretrained("mobilenet_v2")
    assert len(loaded.classes) == 1000 and loaded.preprocessing.crop == 224
    torch.testing.assert_close(loaded.model.features[0][0].weight, reference.features[0][0].weight)
    # And Grad-CAM works on it (ReLU6 and in-place activations handled).
    from cnnkit.explain import explain

    result = explain(loaded.model, torch.randn(1, 3, 224, 224), method="guided_gradcam", target=3)
    assert result.map.shape == (224, 224) and result.layer == "features"


def test_cli_gradcam_json_overlay_and_map(tmp_path, capsys):
    out, saved = tmp_path / "overlay.png", tmp_path / "map.npy"
    code = cli_main(["gradcam", "efficientnet_lite0", str(EXAMPLES / "flower.jpg"), "--json",
                     "--out", str(out), "--save-map", str(saved)])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["top_k"][0] == {"class": "daisy", "index": 985, "probability": pytest.approx(result["top_k"][0]["probability"])}
    assert set(result["top_k"][0]) == {"class", "index", "probability"} and len(result["top_k"]) == 5
    assert result["target"] == 985 and result["layer"] == "_conv_head" and result["seconds"] > 0
    heatmap = np.load(saved)
    assert heatmap.shape == (224, 224) and heatmap.min() >= 0 and heatmap.max() == pytest.approx(1.0)
    from PIL import Image

    assert Image.open(out).size == (448, 448)


def test_cli_target_layer_method(capsys):
    code = cli_main(["gradcam", "efficientnet_lite0", str(EXAMPLES / "china.jpg"), "--json", "--target", "lakeside",
                     "--layer", "_blocks.10", "--method", "guided_gradcam", "--top-k", "2"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["target"] == 975 and result["layer"] == "_blocks.10" and result["method"] == "guided_gradcam"
    assert len(result["top_k"]) == 2 and result["layer_reason"] is None


def test_cli_bad_inputs_get_one_line_errors(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert cli_main(["gradcam", "efficientnet_lite0", str(text), "--json"]) == 1
    assert "error: notes.txt is not an image PIL can read" in capsys.readouterr().err
    assert cli_main(["gradcam", "no_such_model", str(EXAMPLES / "flower.jpg")]) == 1
    assert "neither a run folder nor a pretrained model" in capsys.readouterr().err
    assert cli_main(["gradcam", "efficientnet_lite0", str(EXAMPLES / "flower.jpg"), "--layer", "nope"]) == 1
    assert "no layer called 'nope'" in capsys.readouterr().err
