"""The dataset list every page shows: one cache, cleared after an import so no page goes stale."""

from __future__ import annotations

import streamlit as st

from cnnkit.data import DatasetInfo, list_datasets


@st.cache_data(ttl=30, show_spinner=False)
def cached_datasets() -> list[DatasetInfo]:
    # Listing folders reads a few image headers; 30 s is fresh enough and keeps widgets snappy.
    return list_datasets()


def available_dataset_names() -> list[str]:
    """Datasets that can be loaded now (built in, downloaded or imported)."""
    return [d.name for d in cached_datasets() if d.available]


def forget_datasets() -> None:
    """Call after adding or removing a dataset (zip import, a saved custom set): every page re-lists."""
    cached_datasets.clear()
