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
