"""Inside the network: every layer's maps for one image, receptive fields, the images a channel likes,
the learned filters, and the arithmetic of one output value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from cnnkit.data.preview import hwc_to_display
from cnnkit.explain import load_image
from cnnkit.explain.viewer import choice_cache_key, image_digest, sample_test_images
from cnnkit.inspect import (capture_activations, conv_modules, explain_layer, load_model_choice, overview_layers,
                            softmax_breakdown, strongest_channel, trace_unit)
from ui.draw_canvas import draw_canvas
from ui.inside_tabs import render_before_after, render_channels, render_filters, render_output_size, render_top_images
from ui.inside_unit import pick_unit, render_arithmetic, render_overview, render_softmax, render_unit_panel, take_clicks
from ui.models import TEST_SET, model_cache, pick_picture, picture_sources, show_prediction_check, viewer_model_choices
from ui.shell import ensure_app_shell

ensure_app_shell()

DISPLAY = 256  # px: the input image and the receptive field


st.title("Inside the network")
st.caption("Activation maps, filters and the arithmetic of every layer, for your own trained model, a preset "
           "with random weights, or EfficientNet-Lite0.")

# trained models first (demos, your runs), then ImageNet, then presets with random weights; opens on the Shapes demo
choices, default = viewer_model_choices(include_presets=True)
labels = {c.key: c.label for c in choices}
keys = [c.key for c in choices if c.available]
with st.sidebar:
    st.subheader("Inside the network model")
    model_key = st.selectbox("Model", keys, index=keys.index(default) if default in keys else 0,
                             format_func=labels.get, key="in_model")
choice = next(c for c in choices if c.key == model_key)
cache = model_cache()
key = choice_cache_key(choice) if choice.kind != "preset" else (choice.key, 0, "")
try:
    with st.spinner(f"Loading {choice.label}…"):
        em = cache.get(key, lambda: load_model_choice(choice))
except (RuntimeError, ValueError, FileNotFoundError) as exc:
    st.error(f"Could not load the model: {exc}")
    st.stop()


def locked(function, *args, **kwargs):
    """Run an engine call holding the model's lock: its hooks must not see another session's forward pass."""
    with cache.use(key, lambda: load_model_choice(choice)):
        return function(*args, **kwargs)


# ---- the image ---------------------------------------------------------------------------------
# grey models (Digits, MNIST): draw a digit; a model with a dataset opens on a test image
sources = picture_sources(has_test_set=bool(em.dataset), extra=("Draw",) if em.input_shape[0] == 1 else ())
source = st.radio("Image from", sources, horizontal=True, key="in_source")
try:
    image, image_id = pick_picture(source, "in")
    if source == TEST_SET:
        seed = st.number_input("Sample", 0, 10_000, 0, key="in_test_seed", help="another number, other images")
        with st.spinner("Loading the test set…"):
            samples = sample_test_images(em, n=6, seed=int(seed))
        pick = st.radio("Image", range(len(samples)), horizontal=True, key="in_test_pick",
                        format_func=lambda i: f"#{samples[i].index} ({samples[i].true_class})")
        image, image_id = samples[pick].image, f"test:{choice.key}:{samples[pick].index}"
    elif source == "Draw":
        st.caption("Draw a digit in white on black, as large as the square; the prediction follows each stroke.")
        # about 2.5 input pixels wide: MNIST's pen (28×28) and the Digits' thick 8×8 strokes
        drawn = draw_canvas(key="in_canvas", size=196, stroke_width=min(36, max(14, round(196 * 2.5 / em.input_shape[1]))))
        if drawn is not None:
            image, image_id = load_image(drawn, name="drawing"), "draw:" + image_digest(drawn)
except ValueError as exc:
    st.error(str(exc))
    st.stop()
if image is None:
    st.info("Choose an image to look inside the network.")
    st.stop()

is_array = not hasattr(image, "convert")
x = em.preprocess_array(image) if is_array else em.preprocess(image)
display = em.array_display(image) if is_array else em.display_image(image)

memo_key = (str(key), image_id)
if st.session_state.get("in_acts_key") != memo_key:  # one image's maps kept at a time: bounded memory
    with st.spinner("Running every layer…"):
        st.session_state["in_acts"] = locked(capture_activations, em.model, x)
    st.session_state["in_acts_key"] = memo_key
acts = st.session_state["in_acts"]

left, right = st.columns([1, 2])
with left:
    st.image(hwc_to_display(display, DISPLAY), caption=f"What the model sees ({display.shape[1]}×{display.shape[0]})")
with right:
    probabilities = softmax_breakdown(acts.logits).probabilities
    top = np.argsort(-probabilities)[:5]
    st.dataframe(pd.DataFrame({"class": [em.classes[i] if i < len(em.classes) else str(i) for i in top],
                               "probability": [f"{probabilities[i]:.1%}" for i in top]}), hide_index=True)
    show_prediction_check(em, probabilities, em.to_uint8(image) if not is_array else image, None if is_array else image)
    st.caption(f"{em.name}: {len(acts.layers)} layers captured, {acts.nbytes / 2 ** 20:.1f} MiB of maps.")

st.subheader("The whole network, one click")
overview_slot = st.container()  # drawn once the unit is known; its clicks are read first (take_clicks)
names, map_names = acts.names, [m.name for m in acts.maps()]
kinds = {layer.name: layer for layer in acts.layers}
layer_key = f"in_layer:{choice.key}"
take_clicks(layer_key, map_names)
first_conv = next((name for name in names if name in conv_modules(em.model)), names[0])
pick_layer, pick_position = st.columns([2, 3])
layer_name = pick_layer.selectbox("Layer", names, index=names.index(first_conv), key=layer_key,
                                  format_func=lambda n: f"{n} · {kinds[n].kind} · {'×'.join(map(str, kinds[n].shape))}")
layer = acts.get(layer_name)
module_name = layer_name.split("#")[0]  # "name#2": the second call of the same module
stats = layer.stats
st.caption(f"Output {'×'.join(map(str, layer.shape))} · mean {stats.mean:.3f} · std {stats.std:.3f} · "
           f"min {stats.min:.3f} · max {stats.max:.3f} · zeros {stats.zero_fraction:.0%}")
trace = None
if layer.is_map:
    with pick_position:
        unit_c, unit_y, unit_x = pick_unit(layer.shape, strongest_channel(layer.values))
    trace_key = (memo_key, layer_name, unit_c, unit_y, unit_x)
    try:
        if st.session_state.get("in_trace_key") != trace_key:  # a few passes (and a backward one): once per unit
            st.session_state["in_trace"] = locked(trace_unit, em.model, x, acts, layer_name, unit_c, unit_y, unit_x)
            st.session_state["in_trace_key"] = trace_key
        trace = st.session_state["in_trace"]
    except ValueError as exc:
        st.warning(str(exc))
else:
    pick_position.info(f"{layer.name} is flat: every value depends on the whole input. Pick a map layer for a unit.")
image_values = x[0].double().cpu().numpy()
with overview_slot:
    per_layer = st.slider("Channels per layer", 1, 6, 3, key="in_ov_channels",
                          help="the strongest ones, and always the chosen unit's channel")
    keep = (layer_name, trace.window.layer) if trace and trace.window else (layer_name,)
    render_overview(acts, image_values, trace, overview_layers(acts, keep=keep), per_layer)

if trace is not None:
    shown_channel = render_unit_panel(trace, acts, display, image_values)
    st.markdown("**The arithmetic of this unit, on the real numbers**")
    render_arithmetic(trace, em.extra, shown_channel, acts.logits, em.classes)
else:
    st.info(f"{layer.name} ({layer.kind}): {explain_layer(layer.kind)}.")
    render_softmax(acts.logits, em.classes)

channel = trace.channel if trace else 0
tab_maps, tab_top, tab_filters, tab_size, tab_before = st.tabs(
    ["Channels", "What a channel likes", "Filters", "Output size", "Before and after training"])
with tab_maps:
    render_channels(layer, acts)
with tab_top:
    render_top_images(em, layer, module_name, channel, key, locked)
with tab_filters:
    render_filters(em, layer, module_name, channel)
with tab_size:
    render_output_size()
with tab_before:
    render_before_after(em, layer, module_name, x, cache, key)
