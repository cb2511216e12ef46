"""CPU threads chosen from what the machine can give (issue 24): the rules in cnnkit.threads, the tuner in
the training loop, the job manager's fair share, and a simulated busy core (a spinning process)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from cnnkit import threads as rules
from cnnkit.train.tuning import ThreadTuner

SPIN_S = 12  # a spinning helper never outlives this, even if a test dies before stopping it


@pytest.fixture
def auto_threads(monkeypatch):
    """The tuner on (the suite fixes CNNKIT_THREADS for reproducible runs; these tests need it unset)."""
    for name in (rules.THREADS_ENV, "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def busy_core():
    """One core held by another process: a Python loop spinning for at most SPIN_S seconds."""
    spinner = subprocess.Popen([sys.executable, "-c",
                                f"import time\nend = time.time() + {SPIN_S}\nwhile time.time() < end: pass"])
    time.sleep(0.3)  # let it get going
    yield spinner
    spinner.kill()
    spinner.wait(timeout=5)


# --- the user's own settings --------------------------------------------------------------------------------

def test_explicit_threads_order_flag_then_cnnkit_then_openmp():
    env = {"CNNKIT_THREADS": "3", "OMP_NUM_THREADS": "4"}
    assert rules.explicit_threads(2, env) == (2, "--threads")
    assert rules.explicit_threads(None, env) == (3, "CNNKIT_THREADS")
    assert rules.explicit_threads(None, {"CNNKIT_THREADS": "auto", "OMP_NUM_THREADS": "4,2"}) == (4, "OMP_NUM_THREADS")
    assert rules.explicit_threads(None, {}) is None


@pytest.mark.parametrize("cli, env, named", [(0, {}, "--threads"), (None, {"CNNKIT_THREADS": "many"}, "CNNKIT_THREADS"),
                                             (None, {"OMP_NUM_THREADS": "0"}, "OMP_NUM_THREADS")])
def test_a_bad_thread_count_names_the_setting(cli, env, named):
    with pytest.raises(ValueError, match=named):
        rules.explicit_threads(cli, env)


def test_wait_policy_is_set_only_before_torch_and_never_over_the_users():
    env: dict = {}
    assert "GOMP_SPINCOUNT" in rules.set_openmp_wait_env(env, torch_loaded=False)
    assert env == {"GOMP_SPINCOUNT": rules.AUTO_SPINCOUNT}
    passive = {"CNNKIT_OMP_WAIT": "passive"}
    rules.set_openmp_wait_env(passive, torch_loaded=False)
    assert passive["OMP_WAIT_POLICY"] == "PASSIVE"
    users = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert rules.set_openmp_wait_env(users, torch_loaded=False) == "user: OMP_WAIT_POLICY=ACTIVE"
    assert users == {"OMP_WAIT_POLICY": "ACTIVE"}
    late: dict = {}
    assert rules.set_openmp_wait_env(late, torch_loaded=True).startswith("unchanged") and late == {}
    with pytest.raises(ValueError, match="CNNKIT_OMP_WAIT"):
        rules.set_openmp_wait_env({"CNNKIT_OMP_WAIT": "sometimes"}, torch_loaded=False)


def test_importing_cnnkit_sets_the_wait_policy_before_torch_loads():
    # Every way into the engine (CLI, the pages: Streamlit runs a page file directly, workers) imports cnnkit
    # before torch; the package sets it then. The user's own setting stays.
    import os

    env = {k: v for k, v in os.environ.items() if k not in (*rules.USER_OMP_VARS, rules.WAIT_ENV)}
    code = "import os, sys, cnnkit\nprint('torch' in sys.modules, os.environ.get('GOMP_SPINCOUNT'))"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=root)
    assert out.stdout.split() == ["False", rules.AUTO_SPINCOUNT], out.stderr[-2000:]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**env, "GOMP_SPINCOUNT": "77"}, cwd=root)
    assert out.stdout.split() == ["False", "77"], out.stderr[-2000:]


def test_a_spawned_worker_reaches_its_wait_setting_before_torch():
    # ProcessBackend's worker runs cnnkit.jobs.backends.process._serve in a fresh process: importing cnnkit.jobs (to
    # find it) must not load torch, or set_openmp_wait_env there would come too late
    code = "import sys, cnnkit.jobs, cnnkit.cli\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "False", out.stderr[-2000:]


# --- reading the machine ---------------------------------------------------------------------------------------

def test_machine_busy_time_from_proc_stat_leaves_out_idle_and_iowait(monkeypatch):
    monkeypatch.setattr(rules, "_clock_ticks", lambda: 100.0)
    text = "cpu  100 20 30 5000 400 6 4 40 0 0\ncpu0 1 2 3 4\n"
    assert rules.read_machine_busy_s(text) == pytest.approx((100 + 20 + 30 + 6 + 4 + 40) / 100)
    assert rules.read_machine_busy_s("intr 1 2\n") is None


def test_busy_elsewhere_is_the_machine_minus_this_process_per_second():
    start = rules.CpuSample(wall=0.0, machine_busy_s=10.0, own_busy_s=4.0)
    end = rules.CpuSample(wall=2.0, machine_busy_s=13.0, own_busy_s=5.0)  # 3 s busy, 1 s ours, in 2 s
    assert rules.busy_elsewhere(start, end, cores=2) == pytest.approx(1.0)
    assert rules.busy_elsewhere(start, rules.CpuSample(0.2, 11, 4), 2) is None  # under 0.25 s: too short to tell
    assert rules.busy_elsewhere(start, rules.CpuSample(1.0, 20.0, 4.0), 2) == 2.0  # clamped to the cores


@pytest.mark.parametrize("busy, free", [(None, 2), (0.0, 2), (0.4, 2), (0.6, 1), (1.0, 1), (2.0, 1)])
def test_a_core_more_than_half_busy_elsewhere_is_taken(busy, free):
    assert rules.free_cores(2, busy) == free


# --- the choice --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("free, cap, expected", [(1, None, [1]), (2, None, [1, 2]), (3, None, [1, 3]),
                                                 (8, None, [1, 2, 4, 8]), (16, None, [2, 4, 8, 16]),
                                                 (8, 2, [1, 2]), (2, 1, [1])])
def test_candidates_halve_from_the_free_cores_fewest_first(free, cap, expected):
    assert rules.candidate_threads(free, cap) == expected


def test_the_fastest_wins_and_a_near_tie_goes_to_fewer_threads():
    assert rules.pick_fastest({1: 1800.0, 2: 3300.0}) == 2
    assert rules.pick_fastest({1: 1830.0, 2: 1030.0}) == 1
    assert rules.pick_fastest({1: 2000.0, 2: 2020.0}) == 1  # within 2 %: leave the core to others
    with pytest.raises(ValueError):
        rules.pick_fastest({})


@pytest.mark.parametrize("cores, jobs, shares", [(2, 1, [2]), (2, 2, [1, 1]), (2, 3, [1, 1, 1]),
                                                 (8, 3, [3, 3, 2]), (1, 2, [1, 1])])
def test_fair_share_splits_the_cores_between_running_jobs(cores, jobs, shares):
    assert [rules.fair_share(cores, jobs, i) for i in range(jobs)] == shares


def test_the_choice_in_words():
    assert rules.describe_choice(2, 2, 1.0, "tuned") == "2 threads; 1 core busy elsewhere"
    assert rules.describe_choice(1, 2, 0.9, "tuned") == "1 thread; 1 core busy elsewhere"
    assert rules.describe_choice(2, 2, 0.1, "tuned") == "2 threads; 2 cores free"
    assert rules.describe_choice(3, 4, 2.0, "tuned") == "3 threads; 2 cores busy elsewhere"
    assert rules.describe_choice(1, 2, 1.8, "tuned") == "1 thread; 2 cores busy elsewhere"
    assert rules.describe_choice(4, 2, None, "--threads") == "4 threads (set by --threads)"


def test_retune_after_two_slow_windows_not_one_and_not_too_soon():
    watch = rules.RetuneWatch(chosen_rate=3000.0, threads=2, top=2, now=0.0)
    assert watch.observe(900.0, 1, now=5.0) is None        # too soon after the choice
    assert watch.observe(2900.0, 2, now=11.0) is None      # back to normal resets the count
    assert watch.observe(900.0, 1, now=12.0) is None       # one slow window: noise
    assert watch.observe(900.0, 1, now=13.0) == "throughput drop"


def test_retune_when_cores_came_free_for_a_run_below_its_share():
    watch = rules.RetuneWatch(chosen_rate=1800.0, threads=1, top=2, now=0.0)
    assert watch.observe(1800.0, 1, now=40.0) is None      # still one core busy elsewhere
    assert watch.observe(1800.0, 2, now=41.0) == "cores freed"
    assert watch.observe(1800.0, 2, now=50.0) is None      # at most every RECHECK_S
    full = rules.RetuneWatch(chosen_rate=3000.0, threads=2, top=2, now=0.0)
    assert full.observe(3000.0, 2, now=100.0) is None      # already using all it may


# --- the tuner on real batches -------------------------------------------------------------------------------

def _conv_batches(tuner: ThreadTuner, batches: int, images: int = 32, until=None) -> None:
    """`batches` training batches through the tuner; with `until`, stop as soon as it holds (the 1-thread probe
    times batches until it has watched the other cores for MIN_BUSY_WINDOW_S)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(32, 4))
    x = torch.randn(images, 3, 24, 24)
    for _ in range(batches):
        if until is not None and until():
            return
        tuner.batch_started()
        net(x).sum().backward()
        tuner.batch_done(images)


TUNE_AT_MOST = rules.MAX_PROBE_BATCHES + 4 * (rules.TUNE_BATCHES + 1)  # batches a tuning round may take


def test_the_tuner_times_each_candidate_and_keeps_the_fastest(auto_threads):
    events = []
    tuner = ThreadTuner(torch.device("cpu"), lambda kind, **data: events.append((kind, data)))
    _conv_batches(tuner, TUNE_AT_MOST, until=lambda: tuner.choice is not None)
    _conv_batches(tuner, 2)
    assert tuner.choice is not None and tuner.choice.source in ("tuned", "single core")
    if rules.cpu_count() > 1:
        assert 1 in tuner.choice.rates and tuner.choice.threads in tuner.choice.rates
        assert tuner.choice.threads == rules.pick_fastest(tuner.choice.rates)
    assert torch.get_num_threads() == tuner.choice.threads
    kinds = [kind for kind, _ in events]
    assert kinds == ["threads"] and events[0][1]["threads_text"] == tuner.choice.text
    json.dumps(events[0][1]["thread_choice"])  # goes into run.json as it is


def test_a_users_count_is_set_once_and_never_tuned(auto_threads, monkeypatch):
    monkeypatch.setenv(rules.THREADS_ENV, "1")
    events = []
    tuner = ThreadTuner(torch.device("cpu"), lambda kind, **data: events.append(data))
    _conv_batches(tuner, 6)
    assert torch.get_num_threads() == 1 and tuner.choice.rates == {}
    assert [e["threads_text"] for e in events] == ["1 thread (set by CNNKIT_THREADS)"]
    assert ThreadTuner(torch.device("cpu"), lambda *a, **k: None, explicit=2).choice.source == "--threads"


def test_a_throughput_drop_starts_a_new_round(auto_threads, monkeypatch):
    monkeypatch.setattr(rules, "MIN_RETUNE_GAP_S", 0.0)
    monkeypatch.setattr("cnnkit.train.tuning.WINDOW_S", 0.0)  # every batch is a window
    events = []
    tuner = ThreadTuner(torch.device("cpu"), lambda kind, **data: events.append(data))
    _conv_batches(tuner, TUNE_AT_MOST, until=lambda: len(events) == 1)
    assert len(events) == 1 and tuner.choice.reason == "start"
    tuner._watch.chosen_rate *= 100  # as if the machine had become 100 times slower since the choice
    tuner._watch.min_gap_s = 0.0
    _conv_batches(tuner, rules.DROP_WINDOWS + TUNE_AT_MOST, until=lambda: len(events) >= 2)
    assert len(events) >= 2 and events[1]["thread_choice"]["reason"] == "throughput drop"


def test_a_busy_core_is_seen_and_the_tuner_takes_fewer_threads(auto_threads, busy_core):
    if rules.cpu_count() < 2:
        pytest.skip("needs two cores")
    start = rules.sample_cpu()
    time.sleep(0.5)  # this process idle: whatever is busy is busy elsewhere
    busy = rules.busy_elsewhere(start, rules.sample_cpu(), rules.cpu_count())
    assert busy is not None and busy >= 0.7  # the spinner holds (at least most of) a core
    assert rules.free_cores(rules.cpu_count(), busy) <= rules.cpu_count() - 1
    events = []
    tuner = ThreadTuner(torch.device("cpu"), lambda kind, **data: events.append(data))
    _conv_batches(tuner, TUNE_AT_MOST, until=lambda: tuner.choice is not None)
    assert tuner.choice.busy_elsewhere >= 0.5 and "busy elsewhere" in tuner.choice.text
    assert tuner.choice.threads <= rules.cpu_count() - 1
    assert busy_core.poll() is None  # the spinner was there all along


# --- training and the job manager ------------------------------------------------------------------------------

def test_a_run_records_its_choice(auto_threads, monkeypatch, tmp_path):
    from cnnkit import store
    from cnnkit.train import TrainConfig, train
    from tests.helpers.train import patch_dataset, tiny_dataset, tiny_spec

    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "runs"))
    patch_dataset(monkeypatch, tiny_dataset())
    events = []
    result = train(TrainConfig(dataset="tiny", model=tiny_spec(), epochs=1, batch_size=8, device="cpu"),
                   on_progress=events.append, threads=1)
    assert result.threads == "1 thread (set by --threads)"
    assert [e["threads_text"] for e in events if e["kind"] == "threads"] == [result.threads]
    assert store.read_run_meta(Path(result.run_dir))["threads"]["threads"] == 1
    assert result.summary()["threads"] == result.threads  # the CLI's JSON line


def test_a_run_too_short_to_compare_still_says_what_it_trained_at(auto_threads, monkeypatch, tmp_path):
    from cnnkit import store
    from cnnkit.train import TrainConfig, train
    from tests.helpers.train import patch_dataset, tiny_dataset, tiny_spec

    monkeypatch.setattr(rules, "cpu_count", lambda: 2)
    monkeypatch.setenv("CNNKIT_CHECKPOINT_DIR", str(tmp_path / "runs"))
    patch_dataset(monkeypatch, tiny_dataset(n_train=48))
    result = train(TrainConfig(dataset="tiny", model=tiny_spec(), epochs=1, batch_size=16, device="cpu"))
    record = store.read_run_meta(Path(result.run_dir))["threads"]
    assert record["threads"] == 1 and "too few batches" in record["reason"]  # 3 batches: the 1-thread round only
    assert result.threads.startswith("1 thread")


def test_running_jobs_share_the_cores_and_the_live_text_shows_the_choice(monkeypatch):
    from cnnkit import jobs

    monkeypatch.setattr(rules, "cpu_count", lambda: 2)
    manager = jobs.JobManager(max_concurrent_per_device=2)
    release, shares = threading.Event(), {}

    def job(name):
        def fn(context):
            shares[name] = context.thread_share()
            context.progress({"kind": "threads", "threads_text": "1 thread; 1 core busy elsewhere"})
            release.wait(10)
        return fn

    first = manager.submit(job("a"), device="cpu")
    deadline = time.time() + 10
    while "a" not in shares and time.time() < deadline:
        time.sleep(0.01)
    assert shares["a"] == 2  # alone: both cores
    second = manager.submit(job("b"), device="cpu")
    while "b" not in shares and time.time() < deadline:
        time.sleep(0.01)
    assert shares["b"] == 1 and manager._thread_share(first) == 1  # two at once: one each
    snap = manager.snapshot(first)
    snap.phase, snap.epochs, snap.epoch, snap.steps_per_epoch, snap.epoch_step = "training", 2, 1, 10, 3
    assert snap.progress_text.endswith("1 thread; 1 core busy elsewhere")
    release.set()
    manager.wait(first, 10), manager.wait(second, 10)


# --- pages before trainings: a job thread steps back -------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [(None, 10), ("", 10), ("0", 0), ("5", 5), ("19", 19)])
def test_job_nice_reads_the_setting_default_ten(raw, expected):
    assert rules.job_nice({} if raw is None else {rules.JOB_NICE_ENV: raw}) == expected


@pytest.mark.parametrize("raw", ["-1", "20", "high", "2.5"])
def test_a_bad_job_nice_names_the_setting(raw):
    with pytest.raises(ValueError, match="CNNKIT_JOB_NICE"):
        rules.job_nice({rules.JOB_NICE_ENV: raw})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a per-thread nice value is Linux's")
def test_a_thread_backend_job_and_its_openmp_team_run_behind_the_pages(monkeypatch):
    import os

    from cnnkit.jobs import JobManager

    monkeypatch.setenv(rules.JOB_NICE_ENV, "7")
    page_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def job(context):
        x = torch.ones(256, 256)
        with torch.inference_mode():
            (x @ x).sum()  # an op that may start this thread's OpenMP team
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    manager = JobManager()
    job_id = manager.submit(job, "niced")
    assert manager.wait(job_id, timeout=30).result == min(19, page_nice + 7)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == page_nice  # the pages' thread: unchanged
    monkeypatch.setenv(rules.JOB_NICE_ENV, "0")
    job_id = manager.submit(job, "not niced")
    assert manager.wait(job_id, timeout=30).result == page_nice


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a per-thread nice value is Linux's")
def test_a_worker_thread_running_job_after_job_steps_back_once():
    import os

    seen = []

    def worker():
        start = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        seen.extend([start, rules.step_back_this_thread(3), rules.step_back_this_thread(3),
                     os.getpriority(os.PRIO_PROCESS, threading.get_native_id())])

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    start, first, second, now = seen
    assert first == now == min(19, start + 3) and second is None


def test_the_jobs_writing_states_are_the_stores():
    # both read cnnkit.run_status (cnnkit.jobs may not import cnnkit.store: it loads torch, see the test above)
    from cnnkit import jobs, store

    assert jobs.WRITING_STATUSES == store.WRITING_STATUSES
