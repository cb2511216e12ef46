"""Issue 22, a class you can trust: each hostile case from the issue as a regression test.

One gate (cnnkit.classroom.gate) called by the job manager and the store; names claimed with a key; imports
bounded before anything is built; generated code that holds only literals; exports that never replace a
link or a device; a config that fails closed; user text shown as text."""

from __future__ import annotations

import ast
import io
import json
import os
import time

import pytest
import torch

from cnnkit.classroom import (CLI_OWNER, NAME_TAKEN, ClassroomConfig, ConfigError, ImportLimits, NameTaken,
                              NotAllowed, OverLimit, claimed_names, load_classroom_config, release_name, use_name)
from cnnkit.classroom.gate import NAME_FIRST, Actor, check
from cnnkit.jobs import JobManager
from cnnkit.train import TrainConfig
from tests.helpers.train import tiny_spec
from tests.helpers.zips import dataset_zip, gap_spec, png, run_zip

PAYLOAD = '"""\nimport builtins; builtins.CNNLAB_PWNED = True\n"""'


@pytest.fixture
def class_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CNNLAB_CONFIG", str(tmp_path / "cnnlab.toml"))
    monkeypatch.delenv("CNNLAB_TEACHER_PASSWORD", raising=False)
    (tmp_path / "cnnlab.toml").write_text("")
    return tmp_path


def _runs_module_level_code(source: str) -> bool:
    """Exec `source` (the module level only, as `import model` would) and say whether the payload ran."""
    import builtins

    builtins.CNNLAB_PWNED = False
    try:
        exec(compile(source, "model.py", "exec"), {"__name__": "model"})
        return bool(builtins.CNNLAB_PWNED)
    finally:
        del builtins.CNNLAB_PWNED


# --- 1. Code planted through a run zip ------------------------------------------------------------------
def test_a_planted_transfer_source_stays_a_string_in_model_py():
    import cnnkit.transfer  # noqa: F401
    from cnnkit.export.model_code import model_code
    from cnnkit.models import build_bundle

    record = dict(build_bundle({"kind": "transfer", "source": "efficientnet_lite0", "image_size": 32},
                               (3, 32, 32), 2).record)
    record.update(source=PAYLOAD, strategy=PAYLOAD, arch=record.get("arch") or "efficientnet_lite0")
    source = model_code(record, (3, 32, 32), 2).source
    assert not _runs_module_level_code(source)
    tree = ast.parse(source)
    values = [n.value.value for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)]
    assert PAYLOAD in values  # kept, as a literal value


def test_a_planted_spec_name_and_description_stay_strings():
    from cnnkit.models import ModelSpec, export_code

    spec = ModelSpec.from_dict({**tiny_spec(), "name": PAYLOAD, "description": "x\\" + PAYLOAD})
    assert not _runs_module_level_code(export_code(spec))


# --- 2. Imports that exhaust memory --------------------------------------------------------------------
def test_a_run_zip_with_a_huge_input_is_refused_before_anything_is_built(class_dirs):
    from cnnkit.export import import_run_zip

    data = run_zip(gap_spec((1, 30000, 30000)))  # weights match: the net does not depend on the input size
    with pytest.raises(ValueError, match="input 1×30000×30000 is over this server's limit .* 1024 pixels a side"):
        import_run_zip(data)
    assert not (class_dirs / "runs").exists() or not any((class_dirs / "runs").iterdir())


def test_a_billion_parameter_spec_is_refused_from_its_spec_before_it_is_built():
    from cnnkit.models import ModelSpec, SpecError, build_model

    huge = {"name": "huge", "input_shape": [1, 8, 8], "num_classes": 2,
            "layers": [{"type": "flatten", "params": {}}, {"type": "linear", "params": {"out_features": 16_000_000}},
                       {"type": "linear", "params": {"out_features": 2}}]}
    started = time.perf_counter()
    with pytest.raises(SpecError, match="the network has 1,072,000,002 parameters, over this server's limit of "
                                        "50,000,000"):
        build_model(ModelSpec.from_dict(huge))
    assert time.perf_counter() - started < 1.0  # counted, never allocated


def test_train_spec_with_a_huge_linear_is_one_error_line(class_dirs, tmp_path, capsys):
    from cnnkit.cli import main

    spec = {"name": "wide", "input_shape": [3, 32, 32], "num_classes": 10,
            "layers": [{"type": "flatten", "params": {}}, {"type": "linear", "params": {"out_features": 2_000_000}},
                       {"type": "linear", "params": {"out_features": 10}}]}
    (tmp_path / "wide.json").write_text(json.dumps(spec))
    assert main(["train", "--spec", str(tmp_path / "wide.json"), "--epochs", "1", "--train-subset", "64",
                 "--device", "cpu"]) == 1
    assert "over this server's limit of 50,000,000" in capsys.readouterr().err


def test_json_members_are_read_with_a_streaming_cap(class_dirs):
    from cnnkit.export import import_run_zip

    big = b'{"epochs": [' + b" " * (3 << 20) + b"]}"  # 3 MB that compress to a few KB
    with pytest.raises(ValueError, match=r"history.json is larger than 1,048,576 bytes, the limit for one JSON file"):
        import_run_zip(run_zip(members={"history.json": big}), limits=ImportLimits(max_json_mb=1))


def test_an_oversized_weights_member_is_refused_from_its_header(class_dirs):
    from cnnkit.export import import_run_zip

    with pytest.raises(ValueError, match="weights.pt is larger than .* the limit for one weights file of this network"):
        import_run_zip(run_zip(weights=b"\0" * (3 << 20)))


def test_an_oversized_image_in_a_dataset_zip_is_refused_while_streaming(class_dirs):
    from cnnkit.data import import_zip

    (class_dirs / "cnnlab.toml").write_text("[imports]\nmax_image_mb = 1\n")
    data = dataset_zip({"a/1.png": png(), "a/2.png": os.urandom(2 << 20), "b/1.png": png(), "b/2.png": png()})
    with pytest.raises(ValueError, match="a/2.png is larger than 1,048,576 bytes, the limit for one image"):
        import_zip(data, "big_member")


# --- 3. Names that cannot be borrowed ------------------------------------------------------------------
def test_a_name_is_claimed_with_a_key_and_refused_without_it(class_dirs):
    name, key = use_name("  Anna ")
    assert name == "Anna" and len(key) >= 16
    assert use_name("Anna", key) == ("Anna", key)
    for other in ("Anna", "anna", "ANNA"):  # another session, even with a look-alike spelling
        with pytest.raises(NameTaken, match=NAME_TAKEN):
            use_name(other, "")
    with pytest.raises(NameTaken):
        use_name("Anna", "guessed")
    stored = "".join(path.read_text() for path in (class_dirs / "runs" / "names.d").glob("*.json"))
    assert "Anna" in stored and key not in stored  # only its hash is kept
    assert [row["name"] for row in claimed_names()] == ["Anna"]
    assert release_name("anna") and not release_name("anna")
    assert use_name("Anna")[1] != key  # released: the next one claims it afresh


def test_no_claim_takes_the_class_lock(class_dirs, monkeypatch):
    # Every page of a named student checks its key, and each new student's first page claims a name: in a
    # department each took the class-wide lock (through the class queue), and 40 students' first pages queued
    # behind it. A claim is decided by link(2) now (tests/test_jobs_shared.py: two servers, one name).
    from contextlib import contextmanager

    from cnnkit.classroom import names

    name, key = use_name("Anna")
    taken: list[str] = []
    real_lock = names.class_lock

    @contextmanager
    def counting_lock(lock_name, root=None):
        taken.append(lock_name)
        with real_lock(lock_name, root):
            yield

    monkeypatch.setattr(names, "class_lock", counting_lock)
    for _ in range(3):
        assert use_name("anna", key) == ("Anna", key)
    with pytest.raises(NameTaken):
        use_name("Anna", "guessed")  # a wrong key is refused too, from the same read
    assert use_name("Ben")[0] == "Ben"
    assert taken == []


def test_of_two_claims_of_one_name_at_the_same_moment_exactly_one_wins(class_dirs):
    import threading

    from cnnkit.classroom import names

    barrier = threading.Barrier(8)
    results: list = []

    def claim(spelling: str) -> None:
        barrier.wait()
        try:
            results.append(use_name(spelling))
        except NameTaken as refused:
            results.append(refused)

    # one person under eight spellings: the first to link a key of the name holds it
    spellings = ["Zoe", "zoe", "ZOE", " Zoe ", "\u0396oe", "Ｚｏｅ", "zoe", "Zoe"]
    threads = [threading.Thread(target=claim, args=(s,)) for s in spellings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    won = [r for r in results if isinstance(r, tuple)]
    assert len(results) == 8 and len(won) == 1, results
    assert [row["name"] for row in claimed_names()] == [won[0][0]]
    assert use_name(won[0][0], won[0][1]) == won[0]
    assert not list(names.claims_dir().glob(".claim.*"))   # no temporary file left behind


def test_a_released_claim_frees_every_key_of_its_name_and_old_claims_files_are_released_too(class_dirs):
    from cnnkit.classroom import names

    use_name("Anna")
    assert len(list(names.claims_dir().glob("*.json"))) == len(names.identity_keys("Anna"))
    (class_dirs / "runs" / "names.json").write_text(json.dumps(
        {"bob": {"name": "Bob", "key_sha256": "0" * 64, "claimed": 1.0}}))   # written by an older version
    assert [row["name"] for row in claimed_names()] == ["Bob", "Anna"]
    with pytest.raises(NameTaken):
        use_name("B\u043eb")  # Cyrillic o: Bob's old claim holds it
    assert release_name("ANNA") and release_name("bob")
    assert list(names.claims_dir().glob("*.json")) == [] and claimed_names() == []
    assert use_name("Bob")[0] == "Bob"


def test_names_are_normalised_and_bidi_or_control_characters_removed():
    from cnnkit.classroom import clean_owner_name

    assert clean_owner_name("An\u202ena\x00") == "Anna"
    assert clean_owner_name("Ange\u0301la") == "Angéla"  # NFC
    for bad, message in (("   ", "type a name"), ("x" * 41, "at most 40"), ("(command line)", "starts with a letter")):
        with pytest.raises(ValueError, match=message):
            clean_owner_name(bad)


def test_a_guest_cannot_resume_stop_or_delete_anothers_run(class_dirs):
    from cnnkit import store

    folder = class_dirs / "runs" / "r1"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"status": "cancelled", "owner": "Anna", "epochs_done": 1}))
    (folder / "config.json").write_text(json.dumps(TrainConfig(epochs=3).to_dict()))
    record = store.load_run(folder)
    manager = JobManager(class_config=ClassroomConfig())
    for who in ("", "Ben"):
        with pytest.raises(NotAllowed, match="run r1 belongs to Anna: only they or the teacher can resume it"):
            manager.submit_resume(record, by=who)
        with pytest.raises(NotAllowed, match="run r1 belongs to Anna: only they or the teacher can delete it"):
            store.delete_run(folder, by=who)
    assert folder.exists()
    job = manager.submit(lambda context: time.sleep(5), owner="Anna", meta={"kind": "train"})
    with pytest.raises(NotAllowed, match="belongs to Anna: only they or the teacher can stop it"):
        manager.cancel(job)  # a guest: the default
    manager.cancel(job, by="Prof", teacher=True)  # the teacher stops any single run
    assert manager.wait(job, timeout=10).status in ("cancelled", "done")
    assert [s.job_id for s in manager.active_of("Anna")] == []
    store.delete_run(folder, by="", teacher=True)
    assert not folder.exists()


def test_a_guest_cannot_overwrite_anothers_dataset(class_dirs):
    from cnnkit.data import import_zip

    data = dataset_zip({"a/1.png": png(), "a/2.png": png(), "b/1.png": png((0, 0, 200)), "b/2.png": png((0, 0, 9))})
    import_zip(data, "shared", owner="Anna")
    for who in ("", "Ben"):
        with pytest.raises(NotAllowed, match="dataset shared belongs to Anna: only they or the teacher can replace it"):
            import_zip(data, "shared", overwrite=True, owner=who)
    import_zip(data, "shared", overwrite=True, owner="Anna")


def test_cli_runs_are_not_the_web_guests(class_dirs):
    from cnnkit.cli import build_parser

    args = build_parser().parse_args(["train"])
    assert args.owner == CLI_OWNER
    with pytest.raises(NotAllowed):
        check("delete", Actor(""), ClassroomConfig(), target_owner=CLI_OWNER)


def test_teacher_password_is_hashed_and_guesses_are_rate_limited():
    from cnnkit.classroom.config import hash_password
    from cnnkit.classroom.teacher import TeacherGuard, TooManyTries

    now = [0.0]
    guard = TeacherGuard(clock=lambda: now[0])
    hashed = hash_password("owl")
    for _ in range(5):
        with pytest.raises(NotAllowed, match="not the teacher password"):
            guard.sign_in("guess", hashed)
    with pytest.raises(TooManyTries, match="too many wrong tries from this browser: wait 2 s"):
        guard.sign_in("owl", hashed)  # even the right one waits: no free guesses
    now[0] += 3
    token = guard.sign_in("owl", hashed)
    assert guard.is_session(token) and not guard.is_session("forged")
    guard.sign_out(token)
    assert not guard.is_session(token)


# --- 2 (gate). One gate for every job kind and every limit ---------------------------------------------
LIMITED = ClassroomConfig(require_names=True, max_epochs=2, max_train_images=500, datasets=["shapes"],
                          presets=["cnn3_fast"])
OVER = {"max_epochs": dict(epochs=3), "max_train_images": dict(train_subset=0), "datasets": dict(dataset="digits"),
        "presets": dict(model="lenet5")}
WITHIN = dict(epochs=2, train_subset=500, dataset="shapes", model="cnn3_fast")
KINDS = ("train", "transfer", "lab", "sweep", "lesson", "resume", "a_kind_added_later")


@pytest.mark.parametrize("kind", KINDS)
def test_every_job_kind_is_refused_for_a_guest(kind):
    manager = JobManager(class_config=LIMITED)
    with pytest.raises(NotAllowed, match=NAME_FIRST):
        manager.submit(lambda context: None, meta={"kind": kind, "config": TrainConfig(**WITHIN).to_dict()})
    assert manager.list() == []


@pytest.mark.parametrize("limit", OVER)
@pytest.mark.parametrize("kind", KINDS)
def test_every_job_kind_is_refused_over_each_limit(kind, limit):
    manager = JobManager(class_config=LIMITED)
    over = TrainConfig(**{**WITHIN, **OVER[limit]}).to_dict()
    with pytest.raises(OverLimit, match="this class"):
        manager.submit(lambda context: None, owner="Anna", meta={"kind": kind, "configs": [over]})
    within = TrainConfig(**WITHIN).to_dict()
    job = manager.submit(lambda context: None, owner="Anna", meta={"kind": kind, "config": within})
    assert manager.wait(job, timeout=10).status == "done"
    teacher = manager.submit(lambda context: None, owner="Prof", teacher=True, meta={"kind": kind, "config": over})
    assert manager.wait(teacher, timeout=10).status == "done"  # the teacher sets the limits: exempt


def test_submit_training_names_the_kind_so_transfer_runs_are_checked_too():
    manager = JobManager(class_config=LIMITED)
    transfer = TrainConfig(**{**WITHIN, "epochs": 3, "model": {"kind": "transfer", "source": "efficientnet_lite0"}})
    with pytest.raises(NotAllowed, match=NAME_FIRST):
        manager.submit_training(transfer)
    with pytest.raises(OverLimit, match="3 epochs is over this class's limit of 2"):
        manager.submit_training(transfer, owner="Anna")


def test_pins_stop_delete_and_import_go_through_the_gate(class_dirs):
    from cnnkit.classroom import pin
    from cnnkit.export import import_run_zip

    with pytest.raises(NotAllowed, match="only the teacher can pin"):
        pin("run", "r1")
    (class_dirs / "cnnlab.toml").write_text("[class]\nrequire_names = true\n")
    with pytest.raises(NotAllowed, match=NAME_FIRST):
        import_run_zip(run_zip())
    assert import_run_zip(run_zip(), owner="Anna").is_dir()


# --- 5. A config that fails closed ---------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ('[limits]\nmax_epochs = "2"\n', r"\[limits\] max_epochs must be a whole number of at least 1, not '2'"),
    ("[limits]\nmax_epoch = 2\n", "unknown key 'max_epoch' in \\[limits\\]; did you mean 'max_epochs'\\?"),
    ("limits = 5\n", "limits should be a section"),
    ("[limit]\nmax_epochs = 2\n", "unknown section \\[limit\\]; did you mean 'limits'\\?"),
    ("[imports]\nmax_params = 0\n", r"\[imports\] max_params must be a whole number of at least 1"),
])
def test_config_mistakes_are_errors_naming_the_key(class_dirs, text, message):
    (class_dirs / "cnnlab.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_classroom_config()
    manager = JobManager()  # reads cnnlab.toml at each check: a broken file refuses, never runs without limits
    with pytest.raises(ConfigError):
        manager.submit(lambda context: None, owner="Anna", meta={"kind": "train"})


def test_secrets_never_appear_in_config_messages(class_dirs):
    (class_dirs / "cnnlab.toml").write_text("[class]\nteacher_password = 918273\n")
    with pytest.raises(ConfigError) as error:
        load_classroom_config()
    assert "918273" not in str(error.value) and "teacher_password must be text" in str(error.value)
    (class_dirs / "cnnlab.toml").write_text('[class]\nteacher_password = "owl-918273"\n')
    config = load_classroom_config()
    assert "918273" not in repr(config) and "owl" not in repr(config)


# --- 6. Exports that never replace a link or a device --------------------------------------------------
def test_export_refuses_symlinks_devices_folders_and_missing_or_read_only_places(tmp_path):
    from cnnkit.fileio import ExportTargetError, write_export

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "out.zip"
    link.symlink_to(victim)
    pipe = tmp_path / "pipe.zip"   # not the real /dev/null: a broken guard would replace it for the whole machine
    os.mkfifo(pipe)
    cases = [(link, "is a symbolic link"), (tmp_path, "is a folder"), (pipe, "not a regular file"),
             (tmp_path / "missing" / "x.zip", "does not exist"),
             ("/proc/cnnlab-export.zip", "/proc is read-only for CNN Lab|cannot write in /proc")]
    for target, message in cases:
        with pytest.raises(ExportTargetError, match=message):
            write_export(target, b"zip")
    assert victim.read_text() == "keep me" and link.is_symlink()
    assert write_export(tmp_path / "new.zip", b"zip").read_bytes() == b"zip"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# --- 7 and "also poor". Text as text; class names; imported records checked; config types ----------------
def test_markdown_in_user_text_is_shown_as_text():
    from ui.text import plain

    shown = plain("[click](http://evil.example) ![x](http://evil.example/i.png) # Big :red[alert]")
    assert "\\[click\\]\\(http\\:" in shown and "\\!\\[x\\]" in shown and "\\# Big \\:red\\[alert\\]" in shown
    assert plain("www.evil.example run.json") == "www\\.evil.example run.json" and plain("1. a") == "1\\. a"
    assert plain("a\u202eb\x00c\nd") == "abc d"


@pytest.mark.parametrize("folder, message", [
    (" \u200b ", "has no visible name"),
    ("x" * 300, "has 300 characters; rename the folder to at most 64"),
])
def test_bad_class_folder_names_get_a_message(class_dirs, folder, message):
    from cnnkit.data import import_zip

    data = dataset_zip({f"{folder}/1.png": png(), f"{folder}/2.png": png(), "b/1.png": png(), "b/2.png": png()})
    with pytest.raises(ValueError, match=message):
        import_zip(data, "badnames")


def test_class_names_are_normalised_and_stripped_of_bidi_and_control_characters(class_dirs):
    from cnnkit.data import import_zip

    data = dataset_zip({"ca\u202et/1.png": png(), "ca\u202et/2.png": png(), "Ange\u0301l/1.png": png((0, 9, 0)),
                        "Ange\u0301l/2.png": png((0, 90, 0)), "b/" + "y" * 300 + ".png": png()})
    assert sorted(import_zip(data, "cleaned").classes) == ["Angél", "b", "cat"]


@pytest.mark.parametrize("meta, message", [
    ({"mean": "x"}, "field 'mean' should be a short list of numbers"),
    ({"std": [0.0, 1, 1]}, "field 'std' should be a short list of numbers above 0"),
    ({"classes": ["ok", "x" * 80]}, "rename the folder to at most 64"),
    ({"classes": [f"c{i}" for i in range(1001)]}, "1,001 classes"),
])
def test_imported_run_json_is_checked_with_the_stores_checks(class_dirs, meta, message):
    from cnnkit.export import import_run_zip

    spec = tiny_spec()
    if "classes" in meta:
        spec = {**gap_spec(classes=len(meta["classes"]))}
    with pytest.raises(ValueError, match=message):
        import_run_zip(run_zip(spec, meta=meta))


def test_imported_results_are_checked_and_a_damaged_one_on_disk_reads_as_none(class_dirs):
    from cnnkit import store
    from cnnkit.export import import_run_zip

    with pytest.raises(ValueError, match="results.json in the zip: .*field 'confusion' should be a table"):
        import_run_zip(run_zip(members={"results.json": {"accuracy": 0.5, "confusion": "x"}}))
    run_dir = import_run_zip(run_zip())
    (run_dir / "results.json").write_text(json.dumps({"accuracy": "high", "per_class": 3}))
    assert store.load_results(run_dir) is None


def test_a_pickle_refusal_never_advises_weights_only_false(class_dirs):
    from cnnkit.export import import_run_zip

    class Payload:
        def __reduce__(self):
            return (os.system, ("true",))

    buffer = io.BytesIO()
    torch.save({"x": Payload()}, buffer)
    with pytest.raises(ValueError) as error:
        import_run_zip(run_zip(weights=buffer.getvalue()))
    assert "not a plain file of tensors" in str(error.value) and "weights_only" not in str(error.value)


@pytest.mark.parametrize("field, value, message", [
    ("weight_decay", "0.1", "'weight_decay' must be a number"),
    ("seed", "1", "'seed' must be a whole number"),
    ("seed", -1, "seed must be a whole number from 0"),
    ("augment", 5, "'augment' must be a JSON object"),
    ("augment", {"rotation": "9"}, "augmentation setting 'rotation' must be a number"),
    ("augment", {"flip": True}, "unknown augmentation setting"),
])
def test_wrong_typed_train_config_fields_are_one_error_line(tmp_path, capsys, field, value, message):
    from cnnkit.cli import main

    (tmp_path / "c.json").write_text(json.dumps({field: value}))
    assert main(["train", "--config", str(tmp_path / "c.json")]) == 1
    assert message in capsys.readouterr().err


def test_export_cli_into_a_missing_folder_or_onto_a_symlink_is_one_error_line(class_dirs, capsys):
    from cnnkit.cli import main
    from cnnkit.export import import_run_zip

    run_dir = import_run_zip(run_zip(), owner="Anna")
    assert main(["export", str(run_dir), "--zip", str(class_dirs / "nowhere" / "x.zip")]) == 1
    assert "does not exist; create it first" in capsys.readouterr().err
    (class_dirs / "link.zip").symlink_to(class_dirs / "cnnlab.toml")
    assert main(["export", str(run_dir), "--zip", str(class_dirs / "link.zip")]) == 1
    assert "is a symbolic link" in capsys.readouterr().err and (class_dirs / "cnnlab.toml").read_text() == ""
