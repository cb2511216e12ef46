"""What the Grad-CAM viewer and Inside the network share: model lists (trained models first, the demo as the
default), the loaded-model cache, the image pickers (test set first, then examples, upload, camera) and the
honest-prediction note beside a prediction."""

from __future__ import annotations

import numpy as np
import streamlit as st

from cnnkit.explain import ModelCache, load_image
from cnnkit.explain.examples import list_examples
from cnnkit.explain.familiarity import PredictionCheck, ReferenceStats, check_prediction, colourfulness, dataset_reference
from cnnkit.explain.viewer import (ModelChoice, default_choice_key, image_digest, list_demo_choices, list_run_choices,
                                   order_choices, pretrained_choices)
from ui.text import escape_markdown


@st.cache_resource
def model_cache() -> ModelCache:
    # One process-wide cache: every user and page shares loaded models, each used under its own lock.
    return ModelCache(max_items=4)


@st.cache_data(ttl=60, show_spinner=False)
def cached_pretrained_choices() -> list[ModelChoice]:
    # Checking for torchvision weights may probe the network (≤ 2 s): once a minute is enough.
    return pretrained_choices()


def viewer_model_choices(include_presets: bool = False) -> tuple[list[ModelChoice], str | None]:
    """(every model a viewer offers, trained ones first; the default key: the Shapes demo). Runs are listed fresh
    on every call (a run that just finished shows up); pretrained ones come from the minute cache."""
    choices = list_demo_choices() + list_run_choices() + cached_pretrained_choices()
    if include_presets:
        from cnnkit.inspect import preset_choices

        choices += preset_choices()
    choices = order_choices(choices)
    return choices, default_choice_key(choices)


PICTURE_SOURCES = ("Upload", "Camera", "Example")
TEST_SET = "Test set"


def picture_sources(has_test_set: bool, extra: tuple[str, ...] = ()) -> list[str]:
    """The image sources of a viewer, the default first: a test image when the model has a dataset (the page
    opens on a picture, not on an empty upload box), else an example photo."""
    first = [TEST_SET, "Example"] if has_test_set else ["Example"]
    return first + [s for s in PICTURE_SOURCES if s not in first] + list(extra)


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


@st.cache_resource(show_spinner="Measuring the model's dataset (once)…")
def cached_reference(dataset: str) -> ReferenceStats | None:
    # Loading a dataset takes seconds: once per process and dataset. None when it cannot be loaded here.
    try:
        return dataset_reference(dataset)
    except (ValueError, RuntimeError, OSError):
        return None


def show_prediction_check(model, probabilities, model_input, picture=None) -> PredictionCheck:
    """Plain words beside a prediction: a warning when the model is unsure or the image is unlike its data,
    and for small-class models the classes it knows. model: an ExplainableModel; probabilities: every class's
    (in class order); model_input: the uint8 (C, H, W) image at the model's input size; picture: the original
    PIL image, when there is one (a grey model hides its colours otherwise)."""
    reference = cached_reference(model.dataset) if model.dataset and model.kind != "pretrained" else None
    original = colourfulness(np.asarray(picture.convert("RGB"))) if picture is not None else None
    check = check_prediction(probabilities, model.classes, model_input, reference, original,
                             model_channels=int(model.input_shape[0]))
    if check.caveats:  # class names may be typed by a user (an imported dataset): shown as plain text
        st.warning(escape_markdown(check.summary()), icon="⚠️")
    if check.known_classes:
        st.caption(escape_markdown(check.classes_text()))
    return check

