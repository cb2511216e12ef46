"""Streamlit-only helpers for showing pictures and progress (pure image work lives in cnnkit.data.preview)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import streamlit as st


def show_pixels(image: np.ndarray, caption: str | None = None) -> None:
    """Show an already upscaled uint8 image as PNG: lossless, so pixel-art edges stay sharp (JPEG would smear)."""
    st.image(image, caption=caption, output_format="PNG")


def progress_reporter(text: str) -> tuple[Callable[[float, str], None], Callable[[], None]]:
    """(progress(fraction, message), done()) backed by one st.progress bar; call from the script thread only."""
    bar = st.progress(0.0, text=text)

    def update(fraction: float, message: str) -> None:
        bar.progress(min(1.0, max(0.0, float(fraction))), text=message)

    return update, bar.empty


def _alt_for(image, caption) -> str | list[str]:
    """Alt text from the caption (the text that already says what an image shows): one per image."""
    from streamlit.elements.image import _is_image_list

    several = _is_image_list(image)
    count = len(image) if several else 1
    if isinstance(caption, (list, tuple)):
        texts = [str(c) if c else "picture" for c in caption]
        texts = (texts + ["picture"] * count)[:count]
    else:
        texts = [str(caption) if caption else "picture (described in the text around it)"] * count
    texts = [t.replace("*", "").replace("`", "") for t in texts]  # captions are Markdown; alt is plain text
    return texts if several else texts[0]


def install_image_alt_text() -> None:
    """Every st.image gets alt text: its `alt=` when given, else its caption. Streamlit leaves <img> without
    alt when none is passed, which screen readers announce as a file name and axe-core reports as a critical
    violation (image-alt). Installed once per process by ui.shell.ensure_app_shell, so every page and helper
    (st.image, column.image, st.sidebar.image) is covered without each call repeating its caption."""
    from streamlit.delta_generator import DeltaGenerator

    original = DeltaGenerator.image
    if getattr(original, "cnnlab_alt_text", False):
        return

    def image(self, image, caption=None, *args, alt=None, **kwargs):
        return original(self, image, caption, *args, alt=_alt_for(image, caption) if alt is None else alt, **kwargs)

    image.__doc__ = original.__doc__
    image.cnnlab_alt_text = True
    DeltaGenerator.image = image
    st.image = st._main.image  # the module function is a bound method of the main area, made at import
