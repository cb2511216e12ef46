"""A deep link opened first on a fresh server still goes through app.py's navigation shell."""

from __future__ import annotations

import pytest

from tests.helpers.app import streamlit_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_deep_link_first_visit_gets_the_shell(page, tmp_path):
    with streamlit_server(tmp_path / "streamlit.log") as url:
        page.goto(url + "/data_explorer")  # the first request this server ever gets
        page.get_by_role("heading", name="Data explorer", level=1).wait_for(timeout=60_000)
        sidebar = page.locator("[data-testid='stSidebar']")
        sidebar.get_by_text("Device:").wait_for(timeout=30_000)
        text = sidebar.inner_text()
        # the shell's titles, not the file names Streamlit shows for a bare pages/ folder
        assert "Grad-CAM viewer" in text and "Training runner" in text
        assert "gradcam viewer" not in text and "\napp\n" not in f"\n{text}\n"

