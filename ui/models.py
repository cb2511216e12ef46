"""Model lists and the loaded-model cache that the Grad-CAM viewer and Inside the network share."""

from __future__ import annotations

import streamlit as st

from cnnkit.explain import ModelCache
from cnnkit.explain.viewer import ModelChoice, pretrained_choices


@st.cache_resource
def model_cache() -> ModelCache:
    # One process-wide cache: every user and page shares loaded models, each used under its own lock.
    return ModelCache(max_items=4)


@st.cache_data(ttl=60, show_spinner=False)
def cached_pretrained_choices() -> list[ModelChoice]:
    # Checking for torchvision weights may probe the network (≤ 2 s): once a minute is enough.
    return pretrained_choices()
