"""Grad-CAM viewer: predictions and attribution heatmaps for any image, on trained or pretrained models."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from cnnkit.data.preview import hwc_to_display
from cnnkit.explain import DEFAULT_DISPLAY_SIZE, METHODS, heatmap_image, overlay, randomization_check
from cnnkit.explain.viewer import attribute, choice_cache_key, load_choice, prepare, sample_test_images
from ui.charts import show_chart
from ui.models import (TEST_SET, model_cache, pick_picture, picture_sources, show_prediction_check,
                       viewer_model_choices)
from ui.shell import ensure_app_shell
from ui.text import plain

ensure_app_shell()

DISPLAY = DEFAULT_DISPLAY_SIZE  # px: the side the original and the overlays are shown at


st.title("Grad-CAM viewer")
st.caption("What does the network predict for an image, and where does it look? Pick a model and an image; "
           "the heatmap shows which regions raised the score of the chosen class.")

choices, default_key = viewer_model_choices()  # trained models first; opens on the Shapes demo
labels = {c.key: c.label for c in choices}
keys = [c.key for c in choices]
with st.sidebar:
    st.subheader("Grad-CAM viewer model")
    model_key = st.selectbox("Model", keys, index=keys.index(default_key) if default_key in keys else 0,
                             format_func=labels.get, key="gc_model")
choice = next(c for c in choices if c.key == model_key)
unavailable = [c for c in choices if not c.available]
if unavailable:
    with st.sidebar.expander(f"{len(unavailable)} pretrained model(s) not available"):
        for c in unavailable:
            st.caption(f"**{c.label.split(' (')[0]}**: {c.reason}")
if not choice.available:
    st.warning(choice.reason)
    st.stop()
if choice.reason:
    st.info(choice.reason)

# ---- the image ---------------------------------------------------------------------------
sources = picture_sources(has_test_set=choice.kind in ("run", "demo"))  # opens on a test image
source = st.radio("Image from", sources, horizontal=True, key="gc_source")
# a PIL image, or (below) a uint8 C×H×W tensor from the test set
try:
    image, image_id = pick_picture(
        source, "gc", "Upload an image (any format PIL reads: JPEG, PNG, GIF, BMP, TIFF, WebP, ...)")
except ValueError as exc:
    st.error(str(exc))
    st.stop()

cache = model_cache()
with st.spinner(f"Loading {choice.label}…"):
    try:
        key = choice_cache_key(choice)
        cache.get(key, lambda: load_choice(choice))
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        st.error(f"Could not load the model: {exc}")
        st.stop()

if source == TEST_SET:
    seed = st.session_state.setdefault("gc_test_seed", 0)
    if st.button("5 random", key="gc_random"):
        st.session_state["gc_test_seed"] = seed = seed + 1
        st.session_state.pop("gc_test_pick", None)
    samples_key = (str(key), seed)
    if st.session_state.get("gc_samples_key") != samples_key:
        # Loading a dataset can take seconds: keep the 5 samples until the model or the seed changes.
        try:
            with st.spinner("Loading the test set…"), cache.use(key, lambda: load_choice(choice)) as em:
                st.session_state["gc_samples"] = sample_test_images(em, n=5, seed=seed)
            st.session_state["gc_samples_key"] = samples_key
        except (RuntimeError, ValueError, FileNotFoundError) as exc:
            st.error(str(exc))
            st.stop()
    samples = st.session_state["gc_samples"]
    columns = st.columns(len(samples))
    for column, sample in zip(columns, samples):
        with column:
            mark = "✅" if sample.predicted == sample.true_label else "❌"
            st.image(hwc_to_display(sample.image.permute(1, 2, 0).numpy(), 128),
                     caption=f"{mark} true: {sample.true_class} · predicted: {sample.predicted_class} ({sample.probability:.0%})")
    pick = st.radio("Explain", range(len(samples)), horizontal=True, key="gc_test_pick",
                    format_func=lambda i: f"#{samples[i].index}")
    image, image_id = samples[pick].image, f"test:{choice.key}:{samples[pick].index}"

if image is None:
    st.info("Choose an image to see the predictions and the heatmap.")
    st.stop()

# ---- predictions and controls ---------------------------------------------------------------
with cache.use(key, lambda: load_choice(choice)) as em:
    prepared = prepare(em, image, k=5)
    class_names = em.classes

top = pd.DataFrame(prepared.predictions)
st.subheader("Top-5 predictions")
bars = alt.Chart(top).mark_bar().encode(
    x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title="probability"),
    y=alt.Y("class:N", sort="-x", title=None),
    tooltip=["class", "index", alt.Tooltip("probability:Q", format=".2%")],
)
best = prepared.predictions[0]
show_chart(bars, top.assign(probability=top["probability"].round(4)),
           title="Probability of the five most probable classes",
           description=f"The most probable class is {plain(best['class'])} at {best['probability']:.1%}; "
                       "the bars show the five most probable classes.")
with cache.use(key, lambda: load_choice(choice)) as em:
    model_input = em.to_uint8(image) if hasattr(image, "convert") else image
    show_prediction_check(em, [r["probability"] for r in sorted(prepared.probabilities, key=lambda r: r["index"])],
                          model_input, image if hasattr(image, "convert") else None)

controls = st.columns(4)
ranking = prepared.probabilities  # every class, most probable first: the default is the prediction
probability = {r["index"]: r["probability"] for r in ranking}
with controls[0]:
    target = st.selectbox("Class to explain", [r["index"] for r in ranking], key=f"gc_target:{choice.key}:{image_id}",
                          format_func=lambda i: f"{class_names[i]} ({probability[i]:.1%})"
                          + (" — predicted" if i == ranking[0]["index"] else ""))
with controls[1]:
    method = st.selectbox("Method", list(METHODS), format_func=lambda n: METHODS[n].label, key="gc_method")
with controls[2]:
    layer_names = [layer.name for layer in prepared.layers]
    default_name = prepared.default_layer.name if prepared.default_layer else None
    sizes = {layer.name: layer.size_label for layer in prepared.layers}
    layer = st.selectbox("Layer", layer_names, index=layer_names.index(default_name) if default_name in layer_names else None,
                         key=f"gc_layer:{choice.key}:{tuple(prepared.x.shape)}",
                         format_func=lambda n: f"{n} ({sizes[n]})" + (" — default" if n == default_name else ""),
                         disabled=not METHODS[method].needs_layer)
with controls[3]:
    opacity = st.slider("Opacity", 0.0, 1.0, 0.5, 0.05, key="gc_opacity")
if prepared.default_layer:
    st.caption(f"Default layer: {prepared.default_layer.reason}.")
else:
    layer_labels = [m.label for m in METHODS.values() if m.needs_layer]
    input_labels = [m.label for m in METHODS.values() if not m.needs_layer]
    st.caption(f"This model has no conv layer with a spatial output: {' and '.join(layer_labels)} need one; "
               f"{', '.join(input_labels)} still work.")


def cached_attribution(method_name: str):
    """Maps are remembered per (model, image, method, layer, class) so moving the opacity slider is instant."""
    memo = st.session_state.setdefault("gc_memo", {})
    memo_key = (str(key), image_id, method_name, layer if METHODS[method_name].needs_layer else None, target)
    if memo_key not in memo:
        with cache.use(key, lambda: load_choice(choice)) as em:
            memo[memo_key] = attribute(em, prepared, method=method_name, layer=layer, target=target)
        while len(memo) > 16:
            memo.pop(next(iter(memo)))
    return memo[memo_key]


try:
    with st.spinner(f"Computing {METHODS[method].label}…"):
        result = cached_attribution(method)
except (ValueError, RuntimeError) as exc:
    st.error(str(exc))
    st.stop()

left, right = st.columns(2)
with left:
    st.image(hwc_to_display(prepared.display, DISPLAY), caption=f"What the model sees ({prepared.display.shape[1]}×{prepared.display.shape[0]})")
with right:
    where = f" at {result.layer} ({sizes.get(result.layer, '?')})" if result.layer else ""
    st.image(overlay(prepared.display, result.map, opacity=opacity, display_size=DISPLAY),
             caption=f"{METHODS[method].label} for “{class_names[result.target]}”{where} · {result.seconds * 1000:.0f} ms")

# ---- comparisons and the sanity check ----------------------------------------------------------
if st.checkbox("Compare methods", key="gc_compare"):
    quick = [name for name, m in METHODS.items() if not m.slow]  # the slow ones only when asked for
    chosen = st.multiselect("Methods", list(METHODS), default=quick,
                            format_func=lambda n: METHODS[n].label, key="gc_compare_methods")
    if chosen:
        columns = st.columns(len(chosen))
        for column, name in zip(columns, chosen):
            with column, st.spinner(METHODS[name].label):
                other = cached_attribution(name)
                st.image(overlay(prepared.display, other.map, opacity=opacity, display_size=256),
                         caption=f"{METHODS[name].label} · {other.seconds * 1000:.0f} ms")

with st.expander("Sanity check: does the map depend on what the network learned?"):
    st.markdown("Adebayo et al. (2018): compute the same map on a copy of the model whose weights are "
                "**re-initialised at random**. A map that barely changes shows edges of the image, not the "
                "network's reasoning. The Spearman rank correlation compares the two maps: near 1 is a warning.")
    if st.checkbox("Run the sanity check", key="gc_sanity"):
        with st.spinner("Randomising the weights and recomputing…"), cache.use(key, lambda: load_choice(choice)) as em:
            check = randomization_check(em.model, prepared.x, layer=result.layer, target=result.target, method=method)
        a, b = st.columns(2)
        a.image(heatmap_image(check.map_original, display_size=256), caption="Trained weights")
        b.image(heatmap_image(check.map_random, display_size=256), caption="Random weights")
        st.metric("Rank correlation (Spearman ρ)", f"{check.spearman_rho:.2f}")
        verdict = ("The map changes a lot: it depends on the learned weights."
                   if abs(check.spearman_rho) < 0.5 else "The maps are similar: treat this map with caution.")
        st.caption(verdict)
