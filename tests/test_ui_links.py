"""Teacher links: absolute URLs from the browser's URL (or the Host header), page paths, URL-encoded names."""

from __future__ import annotations

from ui.links import base_from_headers, base_from_page_url, join_link, page_url_path, qr_png

PAGES = ["training_runner", "inside_network", "home"]


def test_page_paths_follow_streamlit_navigation():
    assert page_url_path("pages/training_runner.py") == "training_runner"
    assert page_url_path("pages/home.py") == ""  # the default page is the app's root


def test_base_from_the_page_url_drops_the_page_and_keeps_a_proxy_prefix():
    assert base_from_page_url("http://10.0.0.5:8501/training_runner", PAGES) == "http://10.0.0.5:8501/"
    assert base_from_page_url("https://school.example/cnnlab/inside_network", PAGES) == "https://school.example/cnnlab/"
    assert base_from_page_url("http://localhost:8501/", PAGES) == "http://localhost:8501/"


def test_base_from_headers_prefers_the_proxy_headers():
    assert base_from_headers({"Host": "lab:8501"}) == "http://lab:8501/"
    assert base_from_headers({"Host": "lab:8501", "X-Forwarded-Host": "school.example",
                              "X-Forwarded-Proto": "https"}, base_path="cnnlab") == "https://school.example/cnnlab/"
    assert base_from_headers({}, port=9000) == "http://localhost:9000/"


def test_links_carry_encoded_parameters():
    base = "http://lab:8501/"
    assert join_link(base, "pages/training_runner.py", {"run": "r-1", "name": "Anna Lee"}) == \
        "http://lab:8501/training_runner?run=r-1&name=Anna+Lee"
    assert join_link(base, "pages/home.py", {"name": ""}) == "http://lab:8501/"


def test_qr_code_is_a_png():
    assert qr_png("http://lab:8501/training_runner?run=r-1").startswith(b"\x89PNG")
