"""Inside the network: the tabs about the chosen layer (its channels, what its unit's channel likes, the
filters, the output-size calculator, before/after training). The unit chosen above drives them."""

from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from cnnkit.inspect import (MAX_SAMPLE, capture_activations, channel_grid, channel_scores, conv_modules,
                            first_conv_filters, initial_model, kernel_grid, layer_table, map_on_input, output_size,
                            top_images, window_picture)
from cnnkit.explain import overlay

GREY_NOTE = "black = {low:.3g} (the layer's lowest value), white = {high:.3g} (its highest)"


def render_channels(layer, acts) -> None:
    if layer.is_map:
        order = st.radio("Order", ["mean", "index"], horizontal=True, key="in_order",
                         format_func={"mean": "strongest first", "index": "channel number"}.get)
        pages = -(-layer.shape[0] // 256)
        page = st.number_input("Page", 1, pages, 1, key="in_page", disabled=pages == 1) - 1 if pages > 1 else 0
        grid = channel_grid(layer.values, page=min(page, pages - 1), order=order)
        low, high = grid.value_range
        st.image(grid.image, caption=f"{len(grid.channels)} of {layer.shape[0]} channels (page {grid.page + 1} of "
                                     f"{grid.pages}); " + GREY_NOTE.format(low=low, high=high))
    else:
        st.bar_chart(pd.DataFrame({"value": layer.values[:256]}))
        st.caption(f"{layer.name} is flat ({layer.shape[0]} values): no maps, its values are shown as bars"
                   + (" (the first 256)" if layer.shape[0] > 256 else "") + ".")
    with st.expander("Every layer: shape and statistics"):
        st.dataframe(pd.DataFrame(layer_table(acts)), hide_index=True)


def render_top_images(em, layer, module_name: str, channel: int, cache_key, locked: Callable) -> None:
    if not em.dataset:
        st.info("Top images come from a test split: pick a saved run (or a preset that takes 3×32×32 Shapes images).")
        return
    if not layer.is_map:
        st.info(f"{layer.name} has no maps; pick a conv, pooling or activation layer.")
        return
    sample = st.slider("Test images to search", 100, MAX_SAMPLE, 500, 100, key="in_top_sample")
    scores_key = (str(cache_key), module_name, int(sample))
    if st.button(f"Find the top images of channel {channel}", key="in_top_run") or \
            st.session_state.get("in_scores_key") == scores_key:
        if st.session_state.get("in_scores_key") != scores_key:
            try:
                with st.spinner(f"Running {sample} test images…"):
                    st.session_state["in_scores"] = locked(channel_scores, em, module_name, sample=int(sample))
                st.session_state["in_scores_key"] = scores_key
            except (ValueError, RuntimeError) as exc:
                st.error(str(exc))
                return
        best = locked(top_images, em, st.session_state["in_scores"], int(channel), k=8)
        st.image([overlay(b.image, map_on_input(b.activation, *b.image.shape[:2]), 0.45, display_size=112)
                  for b in best], caption=[f"#{b.index} · {b.score:.3f}" for b in best], width=112)
        st.caption(f"The 8 of {sample} test images where channel {channel} of {layer.name} is strongest "
                   "(mean activation), its map over each.")


def render_filters(em, layer, module_name: str, channel: int) -> None:
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
    if layer.name in set(conv_modules(em.model)):
        kernels = kernel_grid(em.model, module_name, int(channel))
        st.image(kernels.tiles, width=40, caption=[f"in {i}" for i in range(len(kernels.tiles))])
        st.caption(f"Filter {channel} of {module_name} (the unit's channel): one {kernels.shape[2]}×{kernels.shape[3]} "
                   f"kernel per input channel{' (the first 256)' if kernels.shape[1] > 256 else ''}; weights "
                   f"{kernels.weight_range[0]:.3g}..{kernels.weight_range[1]:.3g}, mid grey = 0.")
    else:
        st.caption("Pick a unit of a Conv2d layer to see its kernels per input channel.")


def render_output_size() -> None:
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
        return
    st.markdown(f"**Output size = ⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1**  \n{size.formula}")
    index = st.slider("Output position", 0, size.size - 1, 0, key="in_os_index") if size.size > 1 else 0
    if size.padded <= 64:
        st.image(window_picture(size, int(p), int(d), int(index)),
                 caption=f"Output {index} reads the red cells (grey: padding)"
                         + (f"; {size.unused} cell(s) at the end are never read" if size.unused else ""))
    else:
        st.caption("The window is drawn for padded inputs of up to 64 pixels.")


def render_before_after(em, layer, module_name: str, x, cache, cache_key) -> None:
    if em.kind != "run":
        st.info("Pick a saved run to compare its trained layer with the same network at its starting weights.")
        return
    if not st.checkbox("Compare with the initial weights", key="in_compare"):
        return
    try:
        start = cache.get((*cache_key, "initial"), lambda: initial_model(em))
    except (ValueError, RuntimeError, FileNotFoundError) as exc:
        st.error(str(exc))
        return
    before = capture_activations(start.model, x, names=[module_name]).layers[0]
    left, right = st.columns(2)
    for column, title, values in ((left, "Before training", before.values), (right, "After training", layer.values)):
        with column:
            st.markdown(f"**{title}**")
            if values.ndim == 3:
                grid = channel_grid(values, per_page=64)
                st.image(grid.image, caption=f"{layer.name}, strongest 64 channels; "
                                             + GREY_NOTE.format(low=grid.value_range[0], high=grid.value_range[1]))
            else:
                st.bar_chart(pd.DataFrame({"value": values[:256]}))
    st.caption(start.description + ".")
