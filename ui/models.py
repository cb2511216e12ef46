"""What the Grad-CAM viewer and Inside the network share: model lists, the loaded-model cache and the
image pickers (upload, camera, examples)."""

from __future__ import annotations

import streamlit as st

from cnnkit.explain import ModelCache, load_image
from cnnkit.explain.examples import list_examples
from cnnkit.explain.viewer import ModelChoice, image_digest, pretrained_choices


@st.cache_resource
def model_cache() -> ModelCache:
    # One process-wide cache: every user and page shares loaded models, each used under its own lock.
    return ModelCache(max_items=4)


@st.cache_data(ttl=60, show_spinner=False)
def cached_pretrained_choices() -> list[ModelChoice]:
    # Checking for torchvision weights may probe the network (≤ 2 s): once a minute is enough.
    return pretrained_choices()


PICTURE_SOURCES = ("Upload", "Camera", "Example")


def pick_picture(source: str, key: str, upload_label: str = "Upload an image"):
    """The (PIL image, image id) chosen with one of PICTURE_SOURCES, widgets keyed `{key}_upload`,
    `{key}_camera`, `{key}_example`; (None, None) until one is given or for another source. A file that
    is not an image raises ValueError with the viewer's message (the page shows it)."""
    if source == "Upload":
        uploaded = st.file_uploader(upload_label, key=f"{key}_upload")
        if uploaded is not None:
            data = uploaded.getvalue()
            return load_image(data, name=uploaded.name), "upload:" + image_digest(data)
    elif source == "Camera":
        shot = st.camera_input("Take a picture", key=f"{key}_camera")
        if shot is not None:
            data = shot.getvalue()
            return load_image(data, name="camera picture"), "camera:" + image_digest(data)
    elif source == "Example":
        examples = {e.name: e for e in list_examples()}
        picked = st.selectbox("Example", list(examples), format_func=lambda n: examples[n].description,
                              key=f"{key}_example")
        return examples[picked].load(), "example:" + picked
    return None, None
