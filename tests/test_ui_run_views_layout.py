"""Per-epoch charts tick every epoch (Vega alone left one "5" under 8 epochs at half width)."""

from __future__ import annotations

from ui.run_views import epoch_axis, epoch_chart


def test_every_epoch_has_a_tick_up_to_12_then_an_even_step():
    assert epoch_axis([1, 2, 3, 4, 5, 6, 7, 8]).to_dict()["values"] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert epoch_axis(range(1, 31)).to_dict()["values"] == list(range(3, 31, 3))
    assert epoch_axis([]).to_dict()["values"] == [1]


def test_epoch_chart_uses_whole_epoch_ticks():
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e} for e in range(1, 9)]
    chart = epoch_chart(history, "loss", "Loss")
    assert chart is not None
    assert chart.to_dict()["encoding"]["x"]["axis"]["values"] == list(range(1, 9))
