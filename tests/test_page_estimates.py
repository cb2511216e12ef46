"""The Training runner's time estimate: one click measures the network and says about how long the run takes."""

from __future__ import annotations

from tests.helpers.app import make_app_test


def test_estimate_the_time_of_a_small_run():
    at = make_app_test("training_runner", timeout=120)
    at.selectbox(key="tr_dataset").set_value("digits")
    at.run()
    at.selectbox(key="tr_preset").set_value("mlp")
    at.run()
    assert not any("Estimated time" in c.value for c in at.caption)  # measured only when asked
    at.button(key="tr_estimate").click().run()
    assert not at.exception, at.exception
    said = [c.value for c in at.caption if c.value.startswith("Estimated time for this run")]
    assert said and "about" in said[0] and "loading the data not included" in said[0]
