"""Property tests (Hypothesis) of everything that takes outside input: any input ends in a result or a clear
error (a ValueError subclass with a message), never an unexpected exception, and memory stays bounded.
Small example counts keep the suite fast; the hostile cases of issue 22 are tests/test_trust.py."""

from __future__ import annotations

import io
import json
import os
import resource
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.train import tiny_spec
from tests.helpers.zips import gap_spec, png, run_zip

FAST = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
MAX_GROWTH_KB = 600 * 1024  # peak resident memory may grow by at most this much over a whole property

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)


def _peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@contextmanager
def _folders():
    """Fresh data and checkpoint folders for one example (Hypothesis reuses the test's fixtures)."""
    saved = {k: os.environ.get(k) for k in ("CNNKIT_DATA_DIR", "CNNKIT_CHECKPOINT_DIR", "CNNLAB_CONFIG")}
    with tempfile.TemporaryDirectory() as folder:
        os.environ.update(CNNKIT_DATA_DIR=f"{folder}/data", CNNKIT_CHECKPOINT_DIR=f"{folder}/runs",
                          CNNLAB_CONFIG=f"{folder}/cnnlab.toml")
        Path(folder, "cnnlab.toml").write_text("")
        try:
            yield Path(folder)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _clear(error: ValueError) -> None:
    assert str(error).strip(), f"{type(error).__name__} without a message"
    assert "Traceback" not in str(error)


@pytest.fixture(scope="module", autouse=True)
def _memory_bound():
    before = _peak_kb()
    yield
    assert _peak_kb() - before < MAX_GROWTH_KB


entry_names = st.lists(st.sampled_from(["a", "b", "..", ".", "", "c\u202e", " ", "x" * 300, "/abs", "C:", "__MACOSX",
                                        "train", "test", "é"]), min_size=1, max_size=4).map("/".join)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@FAST
@given(st.lists(st.tuples(entry_names, st.sampled_from(["png", "junk", "empty"])), min_size=0, max_size=6))
def test_dataset_zip_import_ends_in_a_dataset_or_a_clear_error(entries):
    from cnnkit.data import import_zip

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, kind in entries:
            data = png() if kind == "png" else (b"" if kind == "empty" else os.urandom(64))
            archive.writestr((name + (".png" if kind != "junk" else "")) or "unnamed", data)  # zipfile needs a name
    with _folders():
        try:
            info = import_zip(buffer.getvalue(), "fuzzed")
        except ValueError as error:
            _clear(error)
        else:
            assert len(info.classes) >= 2


run_fields = st.sampled_from(["classes", "input_shape", "model_record", "mean", "std", "notes", "name",
                              "epochs_done", "test_accuracy", "dataset"])


@FAST
@given(st.dictionaries(run_fields, json_values, max_size=3),
       st.sampled_from([None, "config.json", "history.json", "results.json", "predictions.json", "model_info.json"]),
       json_values)
def test_run_zip_import_ends_in_a_run_or_a_clear_error(meta, member, value):
    from cnnkit.export import import_run_zip

    members = {member: json.dumps(value)} if member else {}
    with _folders():
        try:
            run_dir = import_run_zip(run_zip(gap_spec(), meta=meta, members=members))
        except ValueError as error:
            _clear(error)
        else:
            from cnnkit import store

            assert store.load_run(run_dir).status != "damaged"


train_fields = st.sampled_from(["epochs", "batch_size", "lr", "weight_decay", "seed", "augment", "model", "dropout",
                                "image_size", "optimizer", "nesterov", "train_subset", "bogus"])


@FAST
@given(st.dictionaries(train_fields, json_values | st.dictionaries(
    st.sampled_from(["hflip", "rotation", "cutout", "scale", "x"]), json_values, max_size=3), max_size=4))
def test_train_config_from_dict_gives_a_config_or_a_clear_error(data):
    from cnnkit.train import TrainConfig

    try:
        TrainConfig.from_dict(data).validate()
    except ValueError as error:
        _clear(error)


layer_types = st.sampled_from(["conv2d", "maxpool2d", "avgpool2d", "batchnorm2d", "batchnorm1d", "relu", "flatten",
                               "linear", "dropout", "global_avg_pool", "residual", "nope"])
layer_params = st.dictionaries(st.sampled_from(["out_channels", "kernel_size", "stride", "padding", "out_features",
                                                "p", "bias", "groups", "dilation"]),
                               st.integers(-3, 5000) | st.floats(allow_nan=True) | st.booleans() | st.text(max_size=4),
                               max_size=3)


@FAST
@given(st.lists(st.fixed_dictionaries({"type": layer_types, "params": layer_params}), max_size=6),
       st.lists(st.integers(-2, 4000) | st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=4),
       json_values)
def test_model_specs_build_or_give_a_clear_error(layers, input_shape, num_classes):
    from cnnkit.models import ModelSpec, build_model

    try:
        build_model(ModelSpec.from_dict({"name": "fuzz", "input_shape": input_shape, "num_classes": num_classes,
                                         "layers": layers}))
    except ValueError as error:
        _clear(error)


@FAST
@given(st.dictionaries(st.sampled_from(["limits", "class", "imports", "limit", "x"]),
                       json_values | st.dictionaries(
                           st.sampled_from(["max_epochs", "datasets", "require_names", "teacher_password",
                                            "teacher_password_sha256", "max_params", "max_epoch", "pages"]),
                           json_values, max_size=3), max_size=3))
def test_class_config_is_valid_or_a_clear_error_that_never_shows_a_secret(data):
    from cnnkit.classroom.config import ConfigError, check_config_data

    try:
        check_config_data(data, "cnnlab.toml")
    except ConfigError as error:
        _clear(error)
        for section in data.values():
            if isinstance(section, dict):
                for key in ("teacher_password", "teacher_password_sha256"):
                    secret = section.get(key)
                    if isinstance(secret, (str, int, float)) and len(str(secret)) >= 4:
                        assert str(secret) not in str(error).split(": ", 1)[-1]


def test_the_fuzz_helpers_make_importable_zips(tmp_path, monkeypatch):
    """The base cases the properties mutate import cleanly (else every example would only test errors)."""
    from cnnkit.export import import_run_zip

    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CNNLAB_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    assert import_run_zip(run_zip(gap_spec())).is_dir() and import_run_zip(run_zip(tiny_spec())).is_dir()
