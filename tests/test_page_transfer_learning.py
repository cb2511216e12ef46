"""AppTest of the transfer-learning page: source, data, strategy, cost estimate, parameter table,
a strategy comparison through the job queue, and the hand-made dataset form."""

from __future__ import annotations

import time

import pytest

from cnnkit.jobs import get_job_manager
from cnnkit.paths import data_dir
from tests.helpers.app import make_app_test
from tests.helpers.folders import write_shapes_folder


def by_key(elements, key):
    return next(e for e in elements if e.key == key)


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def pick_dataset(at, name: str) -> None:
    by_key(at.selectbox, "tl_dataset").select(name).run()


def open_page(dataset: str):
    at = make_app_test("transfer_learning", timeout=120)
    no_errors(at)
    pick_dataset(at, dataset)
    no_errors(at)
    return at


def test_page_shows_counts_estimate_and_trained_blocks():
    dataset = write_shapes_folder("page3", (0, 1, 2), 8, 4, seed=9, size=32)
    at = make_app_test("transfer_learning", timeout=120)
    no_errors(at)
    pick_dataset(at, dataset)
    no_errors(at)
    assert by_key(at.selectbox, "tl_pretrained").value == "efficientnet_lite0"
    # parameter table: head only trains the new 1280×3 + 3 head; full freezes nothing
    frame = at.dataframe[0].value
    rows = {r["strategy"]: r for r in frame.to_dict("records")}
    assert rows["head"]["trainable params"] == 1280 * 3 + 3
    assert rows["full"]["non-trainable params"] == 0
    assert rows["two-stage"]["trainable params"] == rows["head"]["trainable params"]
    assert rows["head"]["total params"] == rows["full"]["total params"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Input"] == "32×32 px"  # native size of this dataset
    assert metrics["Estimated time per epoch"].endswith(("s", "min", "h"))

    # last:N shows which blocks train
    by_key(at.radio, "tl_strategy").set_value("last:N").run()
    no_errors(at)
    assert any(c.value == "Trains: block 15, head conv + the new head" for c in at.caption)
    by_key(at.slider, "tl_last_n").set_value(3).run()
    assert any(c.value == "Trains: block 14, block 15, head conv + the new head" for c in at.caption)
    rows3 = {r["strategy"]: r for r in at.dataframe[0].value.to_dict("records")}
    assert rows["last:2"]["trainable params"] < rows3["last:3"]["trainable params"] < rows["full"]["trainable params"]

    # two-stage: the estimate gives the head-only epochs' cost, then the unfrozen ones'
    by_key(at.radio, "tl_strategy").set_value("two-stage").run()
    no_errors(at)
    per_epoch = {m.label: m.value for m in at.metric}["Estimated time per epoch"]
    assert " → " in per_epoch, per_epoch


@pytest.mark.slow
def test_page_compares_strategies_side_by_side():
    dataset = write_shapes_folder("page3", (0, 1, 2), 8, 4, seed=9, size=32)
    at = open_page(dataset)
    rows = {r["strategy"]: r for r in at.dataframe[0].value.to_dict("records")}
    # compare head vs full, 1 epoch at native 32 px, no validation split
    by_key(at.slider, "tl_epochs").set_value(1).run()
    by_key(at.slider, "tl_val_fraction").set_value(0.0).run()
    by_key(at.multiselect, "tl_compare").set_value(["head", "full"]).run()
    by_key(at.button, "tl_train_compare").click().run()
    no_errors(at)
    manager = get_job_manager()
    groups = at.session_state["tl_groups"]
    assert len(groups) == 1
    snaps = manager.list(group=groups[0])
    assert [s.label for s in snaps] == ["head", "full"]
    for snap in snaps:
        assert manager.wait(snap.job_id, timeout=90).status == "done"
    time.sleep(0.2)
    at.run()
    no_errors(at)
    table = next(d.value for d in at.dataframe if "s/epoch" in d.value.columns)
    assert list(table["strategy"]) == ["head", "full"]
    assert list(table["trainable"]) == [1280 * 3 + 3, rows["full"]["trainable params"]]
    assert table["test acc"].between(0, 1).all() and (table["s/epoch"] > 0).all()
    assert any(s.value == "Full evaluation" for s in at.subheader)


def test_a_dataset_made_on_the_page_is_saved_and_selected():
    import io

    from PIL import Image

    from cnnkit.data import generate_shapes

    at = make_app_test("transfer_learning", timeout=120)
    by_key(at.text_input, "tl_new_name").set_value("made-here").run()
    by_key(at.text_input, "tl_new_class_0").set_value("round").run()
    by_key(at.text_input, "tl_new_class_1").set_value("round").run()
    by_key(at.button, "tl_new_save").click().run()
    assert any("needs its own name" in e.value or "at least 2 images" in e.value for e in at.error)
    # file_uploader is not scriptable in AppTest: put camera shots where the page keeps them
    x, y = generate_shapes(60, seed=2, size=24)
    for i, c in enumerate((0, 1)):
        shots = []
        for image in x[y == c][:3]:
            buffer = io.BytesIO()
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
            shots.append(buffer.getvalue())
        at.session_state[f"tl_camera_{i}"] = shots
    by_key(at.text_input, "tl_new_class_1").set_value("boxy").run()
    by_key(at.selectbox, "tl_new_size").select(64).run()
    by_key(at.button, "tl_new_save").click().run()
    no_errors(at)
    assert sorted(p.name for p in (data_dir() / "made-here").iterdir() if p.is_dir()) == ["boxy", "round"]
    assert len(list((data_dir() / "made-here" / "round").glob("*.png"))) == 3
    assert by_key(at.selectbox, "tl_dataset").value == "made-here"
    assert any("made-here: 2 classes" in c.value for c in at.caption)


def test_a_saved_run_as_the_source():
    from cnnkit.train import TrainConfig, train
    from tests.helpers.folders import small_spec

    source_data = write_shapes_folder("page-src", (0, 1, 2, 3), 10, 2, seed=13)
    run = train(TrainConfig(dataset=source_data, model=small_spec(4), epochs=1, batch_size=16, device="cpu",
                            val_fraction=0.0, name="page source"))
    target = write_shapes_folder("page-target", (4, 5), 6, 2, seed=14)
    at = open_page(target)
    by_key(at.radio, "tl_source_kind").set_value("One of my saved runs").run()
    no_errors(at)
    picker = by_key(at.selectbox, "tl_run")
    assert any(o.startswith("page source") and "page-src" in o for o in picker.options)
    picker.set_value(run.run_dir).run()
    no_errors(at)
    assert by_key(at.radio, "tl_size").options == ["native"]
    rows = {r["strategy"]: r for r in at.dataframe[0].value.to_dict("records")}
    assert rows["head"]["trainable params"] == 64 * 2 + 2  # the new 2-class head of the small net
    assert {m.label: m.value for m in at.metric}["Input"] == "16×16 px"
