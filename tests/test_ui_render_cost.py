"""What a page run costs a server with a class: a chart built once per server draws exactly what a chart built
per session draws."""

from __future__ import annotations

import json


def _chart_script(prebuilt: bool) -> None:
    import altair as alt
    import pandas as pd

    from ui.charts import chart_spec, show_chart

    frame = pd.DataFrame({"epoch": [1, 2, 3], "validation accuracy": [0.5, 0.7, 0.8]})
    chart = alt.Chart(frame).mark_line(point=True).encode(x="epoch:O", y="validation accuracy:Q")
    show_chart(chart_spec(chart) if prebuilt else chart, frame, title="Validation accuracy per epoch",
               description="It rose.")


def test_a_chart_built_once_draws_the_same_spec_data_title_and_table():
    from streamlit.testing.v1 import AppTest

    drawn = []
    for prebuilt in (False, True):
        at = AppTest.from_function(_chart_script, args=(prebuilt,), default_timeout=60)
        at.run()
        assert not at.exception, at.exception
        chart = at.get("vega_lite_chart")[0].proto
        drawn.append((json.loads(chart.spec), [d.data.data for d in chart.datasets], [c.value for c in at.caption],
                      [e.label for e in at.expander], at.dataframe[0].value.to_dict("list")))
    assert drawn[0] == drawn[1]
    assert drawn[1][0]["title"] == "Validation accuracy per epoch" and drawn[1][1]  # titled, its data as Arrow
    assert drawn[1][2] == ["It rose."] and drawn[1][4]["validation accuracy"] == [0.5, 0.7, 0.8]

