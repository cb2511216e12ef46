"""Pages with a damaged run in the checkpoint folder: the run is listed as damaged with its reason,
the others list normally, and nothing raises."""

from __future__ import annotations

import json

import pytest

from tests.helpers.app import make_app_test
from tests.helpers.export import untrained_run


@pytest.fixture
def runs_with_one_damaged(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path))
    good = untrained_run("cnn3", (3, 32, 32), [f"c{i}" for i in range(10)], tmp_path)
    bad = untrained_run("cnn3", (3, 32, 32), [f"c{i}" for i in range(10)], tmp_path, seed=1)
    meta = json.loads((bad / "run.json").read_text())
    meta["created"] = None  # the hand edit that used to hide every run
    (bad / "run.json").write_text(json.dumps(meta))
    return good, bad


def test_the_runs_tab_lists_a_damaged_run_as_damaged_and_the_others_normally(runs_with_one_damaged):
    good, bad = runs_with_one_damaged
    at = make_app_test("training_runner", timeout=120)
    assert not at.exception, at.exception
    table = next(df.value for df in at.dataframe if "run" in df.value.columns and "status" in df.value.columns)
    statuses = dict(zip(table["run"], table["status"]))
    assert statuses[good.name] == "done" and statuses[bad.name] == "damaged"
    at.selectbox(key="tr_run_pick").set_value(bad.name).run()
    assert not at.exception, at.exception
    shown = " ".join(e.value for e in [*at.error, *at.warning, *at.info, *at.caption])
    assert "run.json" in shown and "created" in shown  # the file and the field
    assert at.button(key="tr_resume").disabled


def test_the_gradcam_viewer_still_opens_with_a_damaged_run_present(runs_with_one_damaged):
    at = make_app_test("gradcam_viewer", timeout=120)
    assert not at.exception, at.exception
