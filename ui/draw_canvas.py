"""A drawing canvas (our own components-v1 component, no npm build): draw with the mouse, get a PNG back.

streamlit-drawable-canvas does not load with this Streamlit, so ui/components/draw_canvas/index.html is
a plain HTML/JS page that speaks Streamlit's component protocol; a stroke ends -> the page reruns with
the drawing."""

from __future__ import annotations

import base64
from pathlib import Path

import streamlit.components.v1 as components

_FOLDER = Path(__file__).resolve().parent / "components" / "draw_canvas"
_component = components.declare_component("draw_canvas", path=str(_FOLDER))

PNG_PREFIX = "data:image/png;base64,"


def png_from_value(value) -> bytes | None:
    """The PNG bytes in the component's value ({"png": data URL, "strokes": n}); None when nothing is drawn."""
    if not isinstance(value, dict) or not str(value.get("png", "")).startswith(PNG_PREFIX):
        return None
    return base64.b64decode(value["png"][len(PNG_PREFIX):])


def draw_canvas(key: str, size: int = 196, stroke_width: int = 18, stroke_color: str = "#FFFFFF",
                background: str = "#000000") -> bytes | None:
    """Show the canvas (with its Clear button); the drawing as PNG bytes after the first stroke, else None.
    White strokes on black by default: how MNIST and scikit-learn's digits store ink."""
    value = _component(size=size, stroke_width=stroke_width, stroke_color=stroke_color, background=background,
                       key=key, default=None)
    return png_from_value(value)
