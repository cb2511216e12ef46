"""The attribution-method registry: stable order, one entry per name, and explain() driven by it alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from cnnkit.explain import ATTRIBUTION_METHODS, METHODS, AttributionMethod, UnknownMethodError, explain, get_method
from cnnkit.explain.methods import base
from tests.helpers.explain import random_input, tiny_model


def test_registry_order_names_and_rules():
    assert list(METHODS) == ["gradcam", "guided_gradcam", "integrated_gradients", "saliency", "occlusion"]
    assert [m.label for m in ATTRIBUTION_METHODS] == ["Grad-CAM", "Guided Grad-CAM", "Integrated Gradients",
                                                      "Saliency", "Occlusion"]
    assert {m.name for m in ATTRIBUTION_METHODS if m.needs_layer} == {"gradcam", "guided_gradcam"}
    # Sparse gradient maps are clipped at the 99.5th percentile; Grad-CAM and occlusion are plain min-max.
    assert {m.name: m.clip_percentile for m in ATTRIBUTION_METHODS} == {
        "gradcam": None, "guided_gradcam": 99.5, "integrated_gradients": 99.5, "saliency": 99.5, "occlusion": None}
    assert [m.name for m in ATTRIBUTION_METHODS if not m.slow] == ["gradcam", "guided_gradcam", "saliency"]
    assert all(isinstance(m, AttributionMethod) and callable(m.compute) for m in ATTRIBUTION_METHODS)


def test_get_method_names_the_choices():
    assert get_method("saliency") is METHODS["saliency"]
    with pytest.raises(UnknownMethodError, match="unknown method 'nope'; choose one of: gradcam, guided_gradcam"):
        get_method("nope")
    assert issubclass(UnknownMethodError, ValueError)


def test_a_new_registered_method_is_used_by_explain(monkeypatch):
    # Adding a method is one registry entry: explain() passes the layer only when it is needed and
    # applies the method's own clipping rule.
    seen = {}

    def corner(model, x, target, layer, boost=1.0):
        seen.update(target=target, layer=layer, boost=boost)
        raw = torch.zeros(x.shape[2:])
        raw[0, 0], raw[0, 1] = 100.0 * boost, 1.0
        return raw

    spec = AttributionMethod(name="corner", label="Corner", needs_layer=True, clip_percentile=None, compute=corner)
    monkeypatch.setitem(METHODS, "corner", spec)
    model = tiny_model(seed=1)
    result = explain(model, random_input(seed=2), method="corner", target=2, boost=2.0)
    assert result.method == "corner" and result.layer is not None and result.layer_size == (8, 8)
    assert seen["target"] == 2 and isinstance(seen["layer"], torch.nn.Module) and seen["boost"] == 2.0
    assert result.map[0, 0] == 1.0 and result.map[0, 1] == pytest.approx(1 / 200)

    clipped = dataclasses.replace(spec, needs_layer=False, clip_percentile=99.0)
    monkeypatch.setitem(METHODS, "corner", clipped)
    seen.clear()
    with pytest.raises(TypeError):  # no layer for a method that does not declare needs_layer
        explain(model, random_input(seed=2), method="corner", target=2)
    monkeypatch.setitem(METHODS, "corner", dataclasses.replace(clipped, compute=lambda model, x, target: corner(
        model, x, target, None)))
    result = explain(model, random_input(seed=2), method="corner", target=2)
    assert result.layer is None and result.layer_size is None
    assert np.count_nonzero(result.map) == 2 and result.map[0, 0] == 1.0  # the 99th percentile is 0: full range kept


def test_base_module_has_no_method_of_its_own():
    # The dataclass lives apart from the methods so each method module imports only it.
    assert not [v for v in vars(base).values() if isinstance(v, AttributionMethod)]
