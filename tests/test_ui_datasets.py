"""One dataset list for every page: an import on one page shows up on the others at once."""

from __future__ import annotations

import io
import zipfile

from PIL import Image

from tests.helpers.app import make_app_test


def shapes_zip(classes=("dots", "bars"), per_class: int = 4) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in classes:
            for i in range(per_class):
                image = io.BytesIO()
                Image.new("RGB", (12, 12), (40 * i, 200 if name == "dots" else 0, 90)).save(image, format="PNG")
                archive.writestr(f"{name}/{i}.png", image.getvalue())
    return buffer.getvalue()


def test_a_zip_imported_in_the_data_explorer_is_listed_in_the_training_form():
    at = make_app_test("training_runner")
    assert "class_import_probe" not in at.selectbox(key="tr_dataset").options  # listed (and cached) first
    at.switch_page("pages/data_explorer.py").run()
    at.text_input(key="de_zip_name").set_value("class_import_probe")
    at.file_uploader(key="de_zip").set_value(("probe.zip", shapes_zip(), "application/zip")).run()
    at.button(key="de_zip_import").click().run()
    assert not at.exception and not at.error
    at.switch_page("pages/training_runner.py").run()
    assert "class_import_probe" in at.selectbox(key="tr_dataset").options
