"""The viewers' model pickers: trained models first, the Shapes demo as the default."""

from __future__ import annotations

from cnnkit.explain.viewer import DEMO_SHAPES_KEY, ModelChoice, default_choice_key, order_choices


def choice(key: str, kind: str, available: bool = True) -> ModelChoice:
    return ModelChoice(key=key, label=key, kind=kind, available=available)


def test_trained_models_come_before_random_weights_and_the_shapes_demo_is_the_default():
    choices = [choice("pretrained:resnet18", "pretrained", available=False), choice("preset:cnn3", "preset"),
               choice("pretrained:efficientnet_lite0", "pretrained"), choice("run:/r/new", "run"),
               choice("run:/r/old", "run"), choice("demo:demo-digits-cnn", "demo"), choice(DEMO_SHAPES_KEY, "demo")]
    assert [c.key for c in order_choices(choices)] == [
        DEMO_SHAPES_KEY, "demo:demo-digits-cnn", "run:/r/new", "run:/r/old", "pretrained:efficientnet_lite0",
        "preset:cnn3", "pretrained:resnet18"]
    assert default_choice_key(choices) == DEMO_SHAPES_KEY


def test_without_demos_the_newest_run_then_a_pretrained_model_is_the_default():
    assert default_choice_key([choice("preset:cnn3", "preset"), choice("run:/r/new", "run")]) == "run:/r/new"
    assert default_choice_key([choice("preset:cnn3", "preset"),
                               choice("pretrained:efficientnet_lite0", "pretrained")]) == "pretrained:efficientnet_lite0"
    assert default_choice_key([choice("pretrained:x", "pretrained", available=False)]) is None
