"""The app shell: navigation over six pages, a home page, the device in the sidebar."""

from tests.helpers.app import make_app_test


def test_home_page_shows_device_and_data_dir(isolated_dirs):
    at = make_app_test()
    assert not at.exception
    assert at.title[0].value == "CNN Lab"
    texts = " ".join(m.value for m in at.markdown)
    assert str(isolated_dirs["data"]) in texts
    assert "CPU" in " ".join(m.value for m in at.sidebar.markdown) or "GPU" in texts


def test_every_page_opens_without_error():
    for page in ["data_explorer", "architecture_builder", "training_runner",
                 "resolution_lab", "transfer_learning", "gradcam_viewer", "inside_network", "class_board", "lessons"]:
        at = make_app_test(page)
        assert not at.exception, (page, at.exception)
        assert len(at.title) >= 1, page


def test_every_page_calls_the_shell_guard():
    from pathlib import Path

    pages = sorted((Path(__file__).resolve().parents[1] / "pages").glob("*.py"))
    assert len(pages) == 10  # the nine course pages (Lessons among them) and the Class board
    missing = [p.name for p in pages if "ensure_app_shell()" not in p.read_text()]
    assert not missing, f"pages without ensure_app_shell(): {missing}"
