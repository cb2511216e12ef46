"""AppTest of the Data explorer: Shapes by default, its chart and sample grid; other controls work."""

from __future__ import annotations

import pytest

from tests.helpers.app import make_app_test


def charts(at):
    # Streamlit 1.67 reports st.altair_chart elements as type "vega_lite_chart".
    return at.get("vega_lite_chart")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")


@pytest.mark.slow  # the first test generates Shapes (a few seconds); later ones read the cache
def test_shapes_shows_chart_grid_and_stats():
    at = make_app_test("data_explorer", timeout=180)
    assert not at.exception
    assert at.title[0].value == "Data explorer"
    assert at.selectbox(key="de_dataset").value == "shapes"
    at.selectbox(key="de_dataset").select("shapes").run()
    assert not at.exception
    assert len(charts(at)) >= 2  # class counts and split balance
    images = at.image
    assert len(images) >= 3  # sample grid, resolution strips, augmentation preview
    captions = " ".join(c for img in at.image for c in img.captions)
    assert all(img.value and img.value[0] for img in images)  # every image has a media URL
    assert "circle" in captions and "8×8 px" in captions
    stats = [df for df in at.dataframe if "mean" in df.value.columns]
    assert stats and stats[0].value["channel"].tolist() == ["R", "G", "B"]
    assert all(0 < m < 1 for m in stats[0].value["mean"])


def test_kfold_table_new_sample_and_digits():
    at = make_app_test("data_explorer", timeout=180)
    at.radio(key="de_split_strategy").set_value("k-fold").run()
    assert not at.exception
    folds = [df for df in at.dataframe if "fold" in df.value.columns]
    assert folds and len(folds[0].value) == 5
    before = at.image[-1].captions
    at.button(key="de_aug_new").click().run()
    after = at.image[-1].captions
    assert before != after
    at.text_input(key="de_sizes").input("32, x").run()
    assert any("whole numbers" in e.value for e in at.error)
    at.selectbox(key="de_dataset").select("digits").run()
    assert not at.exception
    stats = [df for df in at.dataframe if "mean" in df.value.columns]
    assert stats[0].value["channel"].tolist() == ["grey"]


def test_unavailable_dataset_shows_its_reason():
    at = make_app_test("data_explorer", timeout=180)
    at.selectbox(key="de_dataset").select("mnist").run()
    assert not at.exception
    assert any("not downloaded and no network" in w.value for w in at.warning)


def _zip_bytes() -> bytes:
    import io
    import zipfile

    from PIL import Image

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for cls, colour in (("red", (255, 0, 0)), ("green", (0, 255, 0))):
            for i in range(5):
                image = io.BytesIO()
                Image.new("RGB", (8, 8), colour).save(image, format="PNG")
                archive.writestr(f"{cls}/{i}.png", image.getvalue())
    return buffer.getvalue()


def test_zip_import_box_adds_and_selects_the_dataset_and_refuses_a_duplicate():
    at = make_app_test("data_explorer", timeout=180)
    at.file_uploader(key="de_zip").set_value(("colours.zip", _zip_bytes(), "application/zip")).run()
    at.text_input(key="de_zip_name").input("page_colours").run()
    at.button(key="de_zip_import").click().run()
    assert not at.exception
    assert at.selectbox(key="de_dataset").value == "page_colours"
    assert any("8 training and 2 test images" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) >= 1
    # The same name again: a message, nothing replaced.
    at.button(key="de_zip_import").click().run()
    assert any("a dataset named page_colours exists" in e.value.replace("\\", "") for e in at.error)
