"""The classroom rules: a fair queue (owners take turns), the per-owner cap, who may delete and cancel,
the class config's limits, the class board."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from cnnkit.classroom import (NotAllowed, OverLimit, board_rows, check_may_delete, check_run_allowed,
                              clean_owner_name, is_teacher_password, load_classroom_config, load_pins, may_delete,
                              pin, runs_of, unpin)
from cnnkit.classroom.config import hash_password
from cnnkit.classroom.config import ConfigError
from cnnkit.jobs import JobManager, QueueFull
from cnnkit.train import TrainConfig


def _gate_jobs():
    """A job function that records its start and waits for the gate, and the list it records into."""
    started: list[str] = []
    gate = threading.Event()

    def make(label):
        def job(context):
            started.append(label)
            gate.wait(10)
        return job
    return make, started, gate


def test_a_sweep_interleaves_with_other_owners_single_runs():
    manager = JobManager(max_concurrent_per_device=1)
    make, started, gate = _gate_jobs()
    # Anna queues a sweep of 5 first; Ben and Cleo each queue one run afterwards.
    ids = [manager.submit(make(f"anna{i}"), label=f"anna{i}", device="rr", owner="anna", group="sweep-1")
           for i in range(5)]
    ids.append(manager.submit(make("ben"), label="ben", device="rr", owner="ben"))
    ids.append(manager.submit(make("cleo"), label="cleo", device="rr", owner="cleo"))
    # While anna0 runs, the queue already shows the turns: Ben, Cleo, then the rest of the sweep.
    positions = {manager.snapshot(j).label: manager.snapshot(j).queue_position for j in ids[1:]}
    assert positions == {"ben": 1, "cleo": 2, "anna1": 3, "anna2": 4, "anna3": 5, "anna4": 6}
    assert manager.snapshot(ids[-1]).expected_wait_s is not None
    gate.set()
    for job_id in ids:
        manager.wait(job_id, timeout=10)
    assert started == ["anna0", "ben", "cleo", "anna1", "anna2", "anna3", "anna4"]


def test_turns_go_round_three_owners_each_with_several_jobs():
    manager = JobManager(max_concurrent_per_device=1)
    make, started, gate = _gate_jobs()
    ids = [manager.submit(make(f"{o}{i}"), device="rr3", owner=o) for o in ("a", "b", "c") for i in range(2)]
    gate.set()
    for job_id in ids:
        manager.wait(job_id, timeout=10)
    assert started == ["a0", "b0", "c0", "a1", "b1", "c1"]


def test_per_owner_cap_refuses_with_a_clear_message_and_others_still_queue():
    manager = JobManager(max_concurrent_per_device=1, max_queued_per_owner=2)
    make, started, gate = _gate_jobs()
    first = manager.submit(make("x"), device="cap", owner="anna")   # starts at once: not waiting
    manager.submit(make("x"), device="cap", owner="anna")
    manager.submit(make("x"), device="cap", owner="anna")
    assert manager.queue_room("anna") == 0
    with pytest.raises(QueueFull, match="already have 2 runs waiting"):
        manager.submit(make("x"), device="cap", owner="anna")
    manager.submit(make("x"), device="cap", owner="ben")  # another owner is not held up by Anna's cap
    assert manager.queue_room("ben") == 1
    assert manager.queue_room("ANNA") == manager.queue_room("Аnna") == 0  # one person however spelt (Cyrillic А)
    with pytest.raises(QueueFull):
        manager.submit(make("x"), device="cap", owner="Аnna")
    assert len(manager.active_of("ANNA")) == 3                               # her running job and two waiting
    gate.set()
    manager.wait(first, timeout=10)


def test_only_the_owner_or_the_teacher_cancels_a_job():
    manager = JobManager(max_concurrent_per_device=1)
    make, started, gate = _gate_jobs()
    running = manager.submit(make("x"), device="perm", owner="anna")
    queued = manager.submit(make("y"), device="perm", owner="anna")
    with pytest.raises(NotAllowed, match="belongs to anna"):
        manager.cancel(queued, by="ben")
    assert manager.snapshot(queued).status == "queued"
    manager.cancel(queued, by="anna")
    assert manager.snapshot(queued).status == "cancelled"
    manager.cancel(running, by="ben", teacher=True)
    gate.set()
    assert manager.wait(running, timeout=10).finished


def _record(owner="", run_id="r1", dataset="shapes", acc=None, created=0.0, **config):
    return SimpleNamespace(owner=owner, run_id=run_id, dataset=dataset, test_accuracy=acc, created=created,
                           model_name="cnn3", config={"model": "cnn3_bn", "epochs": 2, **config})


def test_students_delete_only_their_own_runs_the_teacher_any():
    run = _record(owner="anna")
    assert may_delete(run, "anna") and not may_delete(run, "ben") and may_delete(run, "ben", teacher=True)
    with pytest.raises(NotAllowed, match="belongs to anna: only they or the teacher"):
        check_may_delete(run, "ben")
    assert may_delete(_record(owner=""), "")  # single-user use: the guest owns the guest's runs


def test_names_are_cleaned_and_an_empty_one_is_refused():
    assert clean_owner_name("  Anna   Maria \n") == "Anna Maria"
    with pytest.raises(ValueError, match="type a name"):
        clean_owner_name("   ")


def test_teacher_password_matches_only_a_configured_password():
    assert is_teacher_password("s3cret", hash_password("s3cret"))
    assert not is_teacher_password("", "") and not is_teacher_password("x", hash_password("s3cret"))
    assert not is_teacher_password("s3cret", "s3cret")  # the configured value is a hash, never the password


def test_config_file_limits_refuse_an_over_limit_run(tmp_path, monkeypatch):
    path = tmp_path / "cnnlab.toml"
    path.write_text('[limits]\nmax_epochs = 3\nmax_train_images = 500\ndatasets = ["shapes"]\n'
                    'presets = ["cnn3_bn"]\nqueue_per_owner = 4\njobs_per_device = 2\n'
                    '[class]\nrequire_names = true\npages = ["Training runner"]\nteacher_password = "pw"\n')
    monkeypatch.setenv("CNNLAB_CONFIG", str(path))
    monkeypatch.delenv("CNNLAB_TEACHER_PASSWORD", raising=False)
    limits = load_classroom_config()
    assert (limits.max_epochs, limits.queue_per_owner, limits.jobs_per_device) == (3, 4, 2)
    assert limits.require_names and limits.teacher_password_sha256 == hash_password("pw")
    assert limits.shows_page("Training runner") and limits.shows_page("Home") and not limits.shows_page("Grad-CAM viewer")
    check_run_allowed(TrainConfig(epochs=3, train_subset=500, model="cnn3_bn"), limits)  # at the limits: fine
    with pytest.raises(OverLimit, match="5 epochs is over this class's limit of 3: lower the epochs"):
        check_run_allowed(TrainConfig(epochs=5, train_subset=100), limits)
    with pytest.raises(OverLimit, match="all the training images is over .* set the training subset to 500"):
        check_run_allowed(TrainConfig(epochs=1, train_subset=0), limits)
    with pytest.raises(OverLimit, match="dataset 'digits' is not used in this class: choose one of shapes"):
        check_run_allowed(TrainConfig(epochs=1, train_subset=100, dataset="digits"), limits)
    with pytest.raises(OverLimit, match="model 'lenet5'"):
        check_run_allowed(TrainConfig(epochs=1, train_subset=100, model="lenet5"), limits)
    monkeypatch.setenv("CNNLAB_TEACHER_PASSWORD", "from-env")
    assert load_classroom_config().teacher_password_sha256 == hash_password("from-env")


def test_config_file_errors_are_one_clear_line(tmp_path):
    path = tmp_path / "cnnlab.toml"
    path.write_text("[limits]\nmax_epochs = 0\n")
    with pytest.raises(ConfigError, match=r"\[limits\] max_epochs must be a whole number of at least 1"):
        load_classroom_config(path)
    assert not load_classroom_config(tmp_path / "missing.toml").has_limits  # no file: no limits


def test_class_board_shows_each_owners_best_run_on_the_dataset():
    runs = [_record("anna", "a1", acc=0.7), _record("anna", "a2", acc=0.9, lr=0.01),
            _record("ben", "b1", acc=0.8), _record("ben", "b2", dataset="digits", acc=0.99),
            _record("cleo", "c1", acc=None)]
    rows = board_rows(runs, "shapes")
    assert [(r["owner"], r["run"], r["test acc"]) for r in rows] == [("anna", "a2", 0.9), ("ben", "b1", 0.8)]
    assert rows[0]["lr"] == 0.01 and rows[0]["rank"] == 1
    assert rows[0]["origin"] == ""
    copied = _record("dan", "d1", acc=0.95)
    copied.origin = "imported from anna"  # dan imported anna's zip (RunRecord.origin): the board says so
    top = board_rows([*runs, copied], "shapes")[0]
    assert (top["owner"], top["run"], top["origin"]) == ("dan", "d1", "imported from anna")
    assert [r.run_id for r in runs_of(runs, "ben")] == ["b1", "b2"] and len(runs_of(runs, None)) == 5


def test_pins_are_kept_beside_the_runs(tmp_path):
    pin("run", "r1", "look at this", root=tmp_path, teacher=True)
    pin("lesson", "l1", root=tmp_path, teacher=True)
    pin("run", "r1", "again", root=tmp_path, teacher=True)  # pinning twice keeps one
    assert [(p["kind"], p["id"], p["note"]) for p in load_pins(tmp_path)] == [("lesson", "l1", ""), ("run", "r1", "again")]
    unpin("lesson", "l1", root=tmp_path, teacher=True)
    assert [p["id"] for p in load_pins(tmp_path)] == ["r1"]
    with pytest.raises(ValueError, match="can pin a run or a lesson"):
        pin("page", "x", root=tmp_path, teacher=True)
    with pytest.raises(NotAllowed, match="only the teacher can pin"):  # the gate: a student cannot pin
        pin("run", "r2", root=tmp_path)


def test_imported_datasets_and_labs_record_their_owner(tmp_path, monkeypatch):
    import io
    import zipfile

    from PIL import Image

    from cnnkit.data import import_zip
    from cnnkit.data.import_staging import dataset_owner
    from cnnkit.labs.resolution import ResolutionLabResult

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label in ("a", "b"):
            for i in range(3):
                image = io.BytesIO()
                Image.new("RGB", (8, 8), (80 * i, 0 if label == "a" else 200, 0)).save(image, format="PNG")
                archive.writestr(f"{label}/{i}.png", image.getvalue())
    info = import_zip(buffer.getvalue(), "owned_probe", owner="ada")
    assert dataset_owner("owned_probe") == "ada" and sorted(info.classes) == ["a", "b"]  # the owner file is no class
    assert dataset_owner("shapes") == ""
    lab = ResolutionLabResult.from_dict({"lab_id": "x", "lab_dir": str(tmp_path), "status": "done", "dataset": "d",
                                         "model": "m", "classes": [], "native": 32, "resolutions": [32],
                                         "mode": "area", "native_size": False, "config": {}})
    assert lab.owner == ""  # labs saved before owners existed still load


def test_a_linked_run_id_is_a_bare_id_in_the_checkpoint_folder(tmp_path, monkeypatch):
    from cnnkit import store

    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "runs"))
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "runs" / "r1" / "run.json").write_text("{}")
    assert store.run_dir_of_id("r1") == tmp_path / "runs" / "r1"
    for bad in ("../r1", str(tmp_path / "runs" / "r1"), "..", "a\\b", ""):
        with pytest.raises(ValueError, match="is not a run id"):
            store.run_dir_of_id(bad)
    with pytest.raises(FileNotFoundError, match="no saved run 'r2'"):
        store.run_dir_of_id("r2")


class _CountingStore:
    """A class store (cnnkit.classroom.class_state.ClassStore) that counts its lease round trips."""

    def __init__(self):
        self.lock, self.holder, self.acquires, self.releases = threading.Lock(), None, 0, 0

    def acquire(self, name, holder, lease_s):
        with self.lock:
            self.acquires += 1
            if self.holder in (None, holder):
                self.holder = holder
                return True
            return False

    def release(self, name, holder):
        with self.lock:
            self.releases += 1
            if self.holder == holder:
                self.holder = None

    def get(self, key):
        return None

    def put(self, key, value):
        pass


def test_a_burst_of_class_locks_on_one_server_keeps_the_lease_for_its_waiting_threads(tmp_path):
    # 40 students' first pages claim their names at once: one lease round trip per 16 holds, not 2 per hold,
    # one holder at a time, and the lease is given back when nobody of this server waits any more.
    from cnnkit.classroom import class_state

    store = _CountingStore()
    class_state.set_class_store(store)
    inside, most_inside, start = [0], [0], threading.Barrier(40)

    def hold():
        start.wait()
        with class_state.class_lock("names", tmp_path):
            inside[0] += 1
            most_inside[0] = max(most_inside[0], inside[0])
            time.sleep(0.005)
            inside[0] -= 1

    try:
        threads = [threading.Thread(target=hold) for _ in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        class_state.set_class_store(None)
    assert most_inside[0] == 1
    assert 3 <= store.acquires <= 8 and store.releases == store.acquires  # 40 / KEEP_HOLDS (16), give or take
    assert store.holder is None                                            # given back at the end
