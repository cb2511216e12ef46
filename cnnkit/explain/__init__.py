"""Explaining predictions: Grad-CAM and other attribution maps (captum), overlays, sanity checks.

    from cnnkit.explain import explain, top_k, overlay, load_explainable
    em = load_explainable("efficientnet_lite0")          # or a run folder
    x = em.preprocess(load_image("photo.jpg"))
    print(top_k(em.model, x, em.classes))
    att = explain(em.model, x, method="gradcam")         # att.map: (224, 224) in [0, 1]
    picture = overlay(em.display_image(img), att.map, opacity=0.5)
"""

from cnnkit.explain.cache import ModelCache, cache_key
from cnnkit.explain.core import (
    Attribution,
    explain,
    normalise_map,
    predict_probabilities,
    prepare_model,
    resolve_target,
    top_k,
)
from cnnkit.explain.explainable import ExplainableModel, from_pretrained, from_run, is_run_dir, load_explainable
from cnnkit.explain.images import DEFAULT_MAX_SIDE, center_square_resize, load_image, resize_and_center_crop, to_rgb
from cnnkit.explain.layers import LayerChoice, LayerInfo, choose_default_layer, conv_layers, default_layer
from cnnkit.explain.methods import ATTRIBUTION_METHODS, METHODS, AttributionMethod, UnknownMethodError, get_method
from cnnkit.explain.overlay import DEFAULT_DISPLAY_SIZE, colorize, heatmap_image, overlay
from cnnkit.explain.sanity import SanityCheck, randomization_check, randomized_copy, rank_correlation

# The display helpers (upscale_nearest, hwc_to_display, ...) live in cnnkit.data.preview.
__all__ = [
    "ATTRIBUTION_METHODS", "Attribution", "AttributionMethod", "DEFAULT_DISPLAY_SIZE", "DEFAULT_MAX_SIDE",
    "ExplainableModel", "LayerChoice", "LayerInfo", "METHODS", "ModelCache", "SanityCheck", "UnknownMethodError",
    "cache_key", "center_square_resize", "choose_default_layer", "colorize", "conv_layers", "default_layer",
    "explain", "from_pretrained", "from_run", "get_method", "heatmap_image", "is_run_dir", "load_explainable",
    "load_image", "normalise_map", "overlay", "predict_probabilities", "prepare_model", "randomization_check",
    "randomized_copy", "rank_correlation", "resize_and_center_crop", "resolve_target", "to_rgb", "top_k",
]
