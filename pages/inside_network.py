"""Inside the network: every layer's maps for one image, receptive fields, the images a channel likes,
the learned filters, and the arithmetic of one output value."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from cnnkit.data.preview import display_factor, hwc_to_display
from cnnkit.explain import load_image, overlay
from cnnkit.explain.viewer import choice_cache_key, image_digest, sample_test_images
from cnnkit.inspect import (MAX_SAMPLE, NotArithmeticLayer, breakdown_at, capture_activations, channel_grid,
                            channel_scores, conv_modules, draw_box, explain_layer, first_conv_filters, has_breakdown, initial_model, kernel_grid,
                            layer_table, load_model_choice, map_image, map_on_input, output_size,
                            receptive_box, shape_changes, softmax_breakdown, top_images, window_picture)
from ui.draw_canvas import draw_canvas
from ui.models import (TEST_SET, model_cache, pick_picture, picture_sources, show_prediction_check,
                       viewer_model_choices)
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

st.subheader("Layer by layer")
strip = shape_changes(acts)
st.image([map_image(layer.values[int(np.argmax(layer.channel_means()))], 64) for layer in strip],
         caption=[f"{layer.name} {'×'.join(map(str, layer.shape))}" for layer in strip], width=64)
st.caption("Each thumbnail is the strongest channel where the shape changes: the map shrinks, the channels multiply.")

names = acts.names
kinds = {layer.name: layer for layer in acts.layers}
first_conv = next((name for name in names if name in conv_modules(em.model)), names[0])
layer_name = st.selectbox("Layer", names, index=names.index(first_conv), key=f"in_layer:{choice.key}",
                          format_func=lambda n: f"{n} · {kinds[n].kind} · {'×'.join(map(str, kinds[n].shape))}")
layer = acts.get(layer_name)
module_name = layer_name.split("#")[0]  # "name#2": the second call of the same module
stats = layer.stats
st.caption(f"Output {'×'.join(map(str, layer.shape))} · mean {stats.mean:.3f} · std {stats.std:.3f} · "
           f"min {stats.min:.3f} · max {stats.max:.3f} · zeros {stats.zero_fraction:.0%}")

(tab_maps, tab_rf, tab_top, tab_filters, tab_arith, tab_size, tab_before) = st.tabs(
    ["Channels", "Receptive field", "What a channel likes", "Filters", "The arithmetic", "Output size",
     "Before and after training"])

with tab_maps:
    if layer.is_map:
        order = st.radio("Order", ["mean", "index"], horizontal=True, key="in_order",
                         format_func={"mean": "strongest first", "index": "channel number"}.get)
        pages = -(-layer.shape[0] // 256)
        page = st.number_input("Page", 1, pages, 1, key="in_page", disabled=pages == 1) - 1 if pages > 1 else 0
        grid = channel_grid(layer.values, page=min(page, pages - 1), order=order)
        st.image(grid.image, caption=f"{len(grid.channels)} of {layer.shape[0]} channels (page {grid.page + 1} of "
                                     f"{grid.pages}); black = {grid.value_range[0]:.3g}, white = {grid.value_range[1]:.3g}")
    else:
        st.bar_chart(pd.DataFrame({"value": layer.values[:256]}))
        st.caption(f"{layer.name} is flat ({layer.shape[0]} values): no maps, its values are shown as bars"
                   + (" (the first 256)" if layer.shape[0] > 256 else "") + ".")
    with st.expander("Every layer: shape and statistics"):
        st.dataframe(pd.DataFrame(layer_table(acts)), hide_index=True)

with tab_rf:
    if not layer.is_map:
        st.info(f"{layer.name} is flat: every value depends on the whole input.")
    else:
        c_max, h_max, w_max = layer.shape[0] - 1, layer.shape[1] - 1, layer.shape[2] - 1
        channel = st.number_input("Channel", 0, c_max, int(np.argmax(layer.channel_means())), key="in_rf_channel")
        frame = pd.DataFrame([(yy, xx, float(layer.values[channel, yy, xx])) for yy in range(layer.shape[1])
                              for xx in range(layer.shape[2])], columns=["y", "x", "value"])
        pick = alt.selection_point(fields=["y", "x"], name="unit")
        chart = alt.Chart(frame).mark_rect().encode(
            x=alt.X("x:O"), y=alt.Y("y:O"), color=alt.Color("value:Q", scale=alt.Scale(scheme="greys")),
            tooltip=["y", "x", alt.Tooltip("value:Q", format=".3f")],
        ).add_params(pick).properties(width=260, height=260)
        event = st.altair_chart(chart, on_select="rerun", key="in_rf_chart")
        points = (getattr(event, "selection", None) or {}).get("unit") or []
        if points and st.session_state.get("in_rf_last") != points[0]:
            # A clicked unit moves the number inputs (set before they are drawn in this run).
            st.session_state["in_rf_last"] = points[0]
            st.session_state["in_rf_y"], st.session_state["in_rf_x"] = int(points[0]["y"]), int(points[0]["x"])
        cy, cx = st.columns(2)
        unit_y = cy.number_input("y", 0, h_max, h_max // 2, key="in_rf_y")
        unit_x = cx.number_input("x", 0, w_max, w_max // 2, key="in_rf_x")
        try:
            box = locked(receptive_box, em.model, x, module_name, int(channel), int(unit_y), int(unit_x))
        except ValueError as exc:
            st.warning(str(exc))
        else:
            factor = display_factor(max(display.shape[:2]), DISPLAY, fit_within=True)
            st.image(draw_box(hwc_to_display(display, DISPLAY), box, factor=factor),
                     caption=f"Unit ({channel}, {unit_y}, {unit_x}) of {layer.name} sees rows {box.top}–{box.bottom}, "
                             f"columns {box.left}–{box.right}")
            if box.method == "layers":
                st.caption(f"From the layers: a {box.rf}×{box.rf} window (the builder summary's receptive field), "
                           "clipped to the image.")
            else:
                st.caption("Measured: the input pixels whose gradient for this unit is not zero.")

with tab_top:
    if not em.dataset:
        st.info("Top images come from a test split: pick a saved run (or a preset that takes 3×32×32 Shapes images).")
    elif not layer.is_map:
        st.info(f"{layer.name} has no maps; pick a conv, pooling or activation layer.")
    else:
        sample = st.slider("Test images to search", 100, MAX_SAMPLE, 500, 100, key="in_top_sample")
        top_channel = st.number_input("Channel", 0, layer.shape[0] - 1, 0, key="in_top_channel")
        scores_key = (str(key), module_name, int(sample))
        if st.button("Find the top images", key="in_top_run") or st.session_state.get("in_scores_key") == scores_key:
            if st.session_state.get("in_scores_key") != scores_key:
                try:
                    with st.spinner(f"Running {sample} test images…"):
                        st.session_state["in_scores"] = locked(channel_scores, em, module_name, sample=int(sample))
                    st.session_state["in_scores_key"] = scores_key
                except (ValueError, RuntimeError) as exc:
                    st.error(str(exc))
                    st.stop()
            best = locked(top_images, em, st.session_state["in_scores"], int(top_channel), k=8)
            st.image([overlay(b.image, map_on_input(b.activation, *b.image.shape[:2]), 0.45, display_size=112)
                      for b in best], caption=[f"#{b.index} · {b.score:.3f}" for b in best], width=112)
            st.caption(f"The 8 of {sample} test images where channel {top_channel} of {layer.name} is strongest "
                       "(mean activation), its map over each.")

with tab_filters:
    conv_names = set(conv_modules(em.model))
    try:
        first = first_conv_filters(em.model)
    except ValueError as exc:
        st.info(str(exc))
    else:
        shown = first.tiles[:256]
        st.image(shown, width=40, caption=[str(i) for i in range(len(shown))])
        st.caption(f"{first.layer}: {first.shape[0]} filters of {first.shape[1]}×{first.shape[2]}×{first.shape[3]}"
                   f"{' as RGB pictures' if first.shape[1] == 3 else ''}; mid grey = 0, weights "
                   f"{first.weight_range[0]:.3g}..{first.weight_range[1]:.3g}.")
    if layer.name in conv_names:
        out_channel = st.number_input("Filter of the chosen layer", 0, layer.shape[0] - 1, 0, key="in_filter")
        kernels = kernel_grid(em.model, module_name, int(out_channel))
        st.image(kernels.tiles, width=40, caption=[f"in {i}" for i in range(len(kernels.tiles))])
        st.caption(f"Filter {out_channel} of {module_name}: one {kernels.shape[2]}×{kernels.shape[3]} kernel per input "
                   f"channel{' (the first 256)' if kernels.shape[1] > 256 else ''}; weights "
                   f"{kernels.weight_range[0]:.3g}..{kernels.weight_range[1]:.3g}.")
    else:
        st.caption("Pick a Conv2d layer to see its kernels per input channel.")

with tab_arith:
    if layer.is_map and has_breakdown(em.model, module_name):
        ca, ya, xa = st.columns(3)
        at_c = ca.number_input("Output channel", 0, layer.shape[0] - 1, 0, key="in_ar_c")
        at_y = ya.number_input("Output y", 0, layer.shape[1] - 1, 0, key="in_ar_y")
        at_x = xa.number_input("Output x", 0, layer.shape[2] - 1, 0, key="in_ar_x")
        try:
            b = locked(breakdown_at, em.model, x, module_name, (int(at_c), int(at_y), int(at_x)))
        except NotArithmeticLayer as exc:
            st.info(str(exc))
        else:
            st.markdown(f"**{b.formula}**")
            if b.kind == "conv":
                in_channel = st.number_input("Input channel to show", 0, b.inputs.shape[0] - 1, 0, key="in_ar_in")
                labels_r = [f"row {r}" if r >= 0 else "pad" for r in b.rows]
                labels_c = [f"col {q}" if q >= 0 else "pad" for q in b.cols]
                p1, p2, p3 = st.columns(3)
                for column, title, values in ((p1, "Input patch", b.inputs), (p2, "Kernel", b.weights),
                                              (p3, "Patch × kernel", b.products)):
                    column.caption(title)
                    column.dataframe(pd.DataFrame(values[in_channel], index=labels_r, columns=labels_c).round(4))
                st.caption(f"Input channel {in_channel}: products sum to {b.products[in_channel].sum():.4f}; "
                           f"all {b.inputs.shape[0]} channels: {b.terms['sum']:.4f}.")
                st.markdown(f"Σ products **{b.terms['sum']:.5f}** + bias **{b.bias:.5f}** = **{b.value:.5f}**")
            elif b.kind in ("maxpool", "avgpool"):
                st.dataframe(pd.DataFrame(b.inputs).round(4))
                st.markdown(f"= **{b.value:.5f}**")
            else:
                st.dataframe(pd.DataFrame({"term": list(b.terms), "value": list(b.terms.values())}), hide_index=True)
                st.markdown(f"= **{b.value:.5f}**")
            verdict = "equals" if b.matches else "differs from"
            (st.success if b.matches else st.error)(f"{b.value:.6f} {verdict} the network's value {b.framework_value:.6f}.")
    else:
        st.info(f"{layer.name} ({layer.kind}): {explain_layer(layer.kind)}. The arithmetic view covers Conv2d, "
                "max/avg pooling, ReLU and BatchNorm2d; the softmax is below.")
    with st.expander("The final softmax: logits → probabilities"):
        soft = softmax_breakdown(acts.logits)
        order = np.argsort(-soft.probabilities)[:10]
        st.dataframe(pd.DataFrame({"class": [em.classes[i] if i < len(em.classes) else str(i) for i in order],
                                   "logit z": soft.logits[order], "exp(z − max z)": soft.exponentials[order],
                                   "probability": soft.probabilities[order]}), hide_index=True)
        st.caption(f"p = exp(z − max z) / Σ exp(z − max z); the sum of all {len(soft.logits)} exponentials is "
                   f"{soft.exponentials.sum():.4f}.")

with tab_size:
    n_col, k_col, s_col, p_col, d_col = st.columns(5)
    n = n_col.number_input("Input size", 1, 512, 7, key="in_os_n")
    k = k_col.number_input("Kernel", 1, 15, 3, key="in_os_k")
    s = s_col.number_input("Stride", 1, 8, 2, key="in_os_s")
    p = p_col.number_input("Padding", 0, 10, 1, key="in_os_p")
    d = d_col.number_input("Dilation", 1, 6, 1, key="in_os_d")
    try:
        size = output_size(int(n), int(k), int(s), int(p), int(d))
    except ValueError as exc:
        st.warning(str(exc))
    else:
        st.markdown(f"**Output size = ⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1**  \n{size.formula}")
        index = st.slider("Output position", 0, size.size - 1, 0, key="in_os_index") if size.size > 1 else 0
        if size.padded <= 64:
            st.image(window_picture(size, int(p), int(d), int(index)),
                     caption=f"Output {index} reads the red cells (grey: padding)"
                             + (f"; {size.unused} cell(s) at the end are never read" if size.unused else ""))
        else:
            st.caption("The window is drawn for padded inputs of up to 64 pixels.")

with tab_before:
    if em.kind != "run":
        st.info("Pick a saved run to compare its trained layer with the same network at its starting weights.")
    elif st.checkbox("Compare with the initial weights", key="in_compare"):
        try:
            start = cache.get((*key, "initial"), lambda: initial_model(em))
        except (ValueError, RuntimeError, FileNotFoundError) as exc:
            st.error(str(exc))
        else:
            before = capture_activations(start.model, x, names=[module_name]).layers[0]
            left, right = st.columns(2)
            for column, title, values in ((left, "Before training", before.values), (right, "After training", layer.values)):
                with column:
                    st.markdown(f"**{title}**")
                    if values.ndim == 3:
                        grid = channel_grid(values, per_page=64)
                        st.image(grid.image, caption=f"{layer.name}, strongest 64 channels; "
                                                     f"{grid.value_range[0]:.3g}..{grid.value_range[1]:.3g}")
                    else:
                        st.bar_chart(pd.DataFrame({"value": values[:256]}))
            st.caption(start.description + ".")
