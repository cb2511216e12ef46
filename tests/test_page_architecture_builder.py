"""AppTest of the architecture builder: presets, sliders, the live table, errors, editing, hand-over, load."""

import json

from cnnkit.models import get_preset
from tests.helpers.app import make_app_test


def params_metric(at) -> str:
    return at.metric[0].value


def table(at):
    return at.dataframe[0].value


def select_layer(at, index):
    at.radio(key="ab_selected").set_value(index).run()


def test_preset_slider_table_and_breaking_layer():
    at = make_app_test("architecture_builder")
    assert not at.exception and not at.error
    assert params_metric(at) == "620,362"  # cnn3 opens first
    assert len(table(at)) == 13

    at.selectbox(key="ab_preset").select("lenet5").run()
    assert params_metric(at) == "61,706"
    assert table(at)["output"].tolist()[:3] == ["6×28×28", "6×28×28", "6×14×14"]

    # Layer 0 is selected; its kernel slider goes 5 → 3: fewer weights, a larger map.
    kernel = next(s for s in at.slider if s.key.endswith("_kernel_size"))
    kernel.set_value(3).run()
    assert not at.exception
    assert table(at)["output"].tolist()[0] == "6×30×30"
    assert table(at)["params"].tolist()[0] == 6 * 9 + 6
    assert params_metric(at) == f"{61_706 - 96:,}"

    # A max-pool after the 120-filter conv (layer 6, a 1×1 map) cannot run: the error replaces the table.
    select_layer(at, 6)
    at.selectbox(key="ab_add_type").select("maxpool2d")
    at.selectbox(key="ab_add_where").select("after selected")
    at = _submit_add(at)
    assert not at.exception
    assert [e.value for e in at.error] == [
        "layer 7 (MaxPool2d) receives a 1×1 map, smaller than its 2×2 window; remove it or add padding to layer 6 "
        "(Conv2d)"]
    assert len(at.dataframe) == 0 and len(at.metric) == 0
    assert at.radio(key="ab_selected").value == 7

    # Removing it brings the table back.
    at.button(key="ab_remove").click().run()
    assert not at.error and params_metric(at) == f"{61_706 - 96:,}"


def _submit_add(at):
    submit = next(b for b in at.button if b.label == "Add layer")
    return submit.click().run()


def test_move_duplicate_shape_from_dataset_and_train_this():
    at = make_app_test("architecture_builder")
    at.selectbox(key="ab_preset").select("cnn3").run()
    select_layer(at, 0)
    at.button(key="ab_dup").click().run()  # a second 32-filter conv on 32 channels: 9,248 more weights
    assert params_metric(at) == f"{620_362 + 32 * 32 * 9 + 32:,}"
    assert len(table(at)) == 14
    at.button(key="ab_down").click().run()
    assert at.radio(key="ab_selected").value == 2
    labels = table(at)["layer"].tolist()
    assert labels[:3] == ["Conv2d", "ReLU", "Conv2d"]
    at.button(key="ab_up").click().run()
    at.button(key="ab_remove").click().run()
    assert params_metric(at) == "620,362"

    at.selectbox(key="ab_dataset").select("digits").run()  # 1×8×8, 10 classes: three pools leave 1×1
    assert at.number_input(key="ab_h").value == 8 and at.number_input(key="ab_c").value == 1
    assert table(at)["output"].tolist()[8] == "128×1×1"

    at.number_input(key="ab_classes").set_value(4).run()
    assert table(at)["output"].tolist()[-1] == "4"

    next(b for b in at.button if b.label == "Train this").click().run()
    handed = at.session_state["train_spec"]
    assert handed["input_shape"] == [1, 8, 8] and handed["num_classes"] == 4
    assert handed["layers"][0] == {"type": "conv2d", "params": {"out_channels": 32, "kernel_size": 3, "padding": 1}}


def test_start_empty_then_load_spec_json():
    at = make_app_test("architecture_builder")
    at.selectbox(key="ab_preset").select("(empty)").run()
    assert len(at.radio) == 0
    assert at.error[0].value.startswith("the model has no Linear output layer")

    # Adding a Linear at the end is enough for an MLP-like model on the current 3×32×32 input? No: it needs Flatten.
    at.selectbox(key="ab_add_type").select("linear")
    at = _submit_add(at)
    assert "layer 0 (Linear) receives a 3×32×32 feature map" in at.error[0].value

    spec = get_preset("fashion_arc3")
    at.file_uploader(key="ab_upload").set_value(("arc3.json", spec.to_json().encode(), "application/json")).run()
    assert not at.exception and not at.error
    assert params_metric(at) == "136,330"
    assert at.text_input(key="ab_name").value == "fashion_arc3"

    at.file_uploader(key="ab_upload").set_value(("bad.json", b'{"layers": 3}', "application/json")).run()
    assert "Could not load bad.json" in at.error[0].value
    assert params_metric(at) == "136,330"  # the edited spec is kept


def test_preset_round_trip_through_page_state_keeps_spec():
    at = make_app_test("architecture_builder")
    at.selectbox(key="ab_preset").select("resnet_small").run()
    next(b for b in at.button if b.label == "Train this").click().run()
    handed = at.session_state["train_spec"]
    assert json.loads(json.dumps(handed)) == get_preset("resnet_small").to_dict()


def test_edits_survive_a_visit_to_another_page():
    at = make_app_test("architecture_builder")
    at.selectbox(key="ab_preset").select("lenet5").run()
    next(s for s in at.slider if s.key.endswith("_kernel_size")).set_value(3).run()
    at.number_input(key="ab_classes").set_value(7).run()
    at.text_input(key="ab_name").set_value("mine").run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/architecture_builder.py").run()
    assert not at.exception
    assert at.selectbox(key="ab_preset").value == "lenet5"
    assert at.text_input(key="ab_name").value == "mine"
    assert at.number_input(key="ab_classes").value == 7
    assert table(at)["output"].tolist()[0] == "6×30×30"
    assert table(at)["output"].tolist()[-1] == "7"


def test_the_layer_an_error_names_is_marked_in_the_list():
    at = make_app_test("architecture_builder")
    at.selectbox(key="ab_preset").select("cnn4_gap").run()
    at.number_input(key="ab_h").set_value(32).run()
    at.number_input(key="ab_w").set_value(32).run()
    assert "layer 9 (Conv2d) has a 3×3 kernel but receives a 2×2 map" in at.error[0].value
    radio = at.radio(key="ab_selected")
    marked = [o for o in radio.options if o.startswith("⚠️")]
    assert marked == ["⚠️ 9 · Conv2d 3×3 → 256"]


def test_a_hand_edited_spec_with_odd_values_opens_and_explains():
    from cnnkit.models import LayerSpec, ModelSpec

    spec = ModelSpec("odd", (3, 16, 16), 10, [
        LayerSpec("conv2d", {"out_channels": 0, "kernel_size": 13, "padding": 7}),
        LayerSpec("maxpool2d", {"stride": 12}), LayerSpec("dropout", {"p": 0.99}),
        LayerSpec("conv2d", {"out_channels": "many"}), LayerSpec("flatten"), LayerSpec("linear")])
    at = make_app_test("architecture_builder")
    at.file_uploader(key="ab_upload").set_value(("odd.json", spec.to_json().encode(), "application/json")).run()
    assert not at.exception
    assert at.error[0].value.startswith("layer 0 (Conv2d) has 0 output channels")
    for index in range(4):
        select_layer(at, index)
        assert not at.exception, index
    assert any("'many' cannot be edited here" in c.value for c in at.caption)
