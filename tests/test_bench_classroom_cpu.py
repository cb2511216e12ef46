"""The class benchmarks' account of whose CPU a burst took (benchmarks/bench_classroom.py: cpu_by_kind): each
process's seconds between two readings, grouped by what its command line says it is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.benchmarks import load_benchmark


def load_bench():
    return load_benchmark("bench_classroom")


def test_cpu_between_two_readings_is_grouped_by_kind_of_process():
    bench = load_bench()
    me = os.getpid()
    before = {11: (10.0, "python -m streamlit run app.py"), 12: (5.0, "python -m streamlit run app.py"),
              13: (1.0, "ray::_train_on_worker"), 14: (2.0, "ray::ClassQueue.changes"), me: (3.0, "python bench")}
    after = {11: (11.25, "python -m streamlit run app.py"), 12: (6.0, "python -m streamlit run app.py"),
             13: (1.5, "ray::_train_on_worker"), 14: (2.1, "ray::ClassQueue.changes"), me: (3.2, "python bench"),
             15: (0.3, "/usr/sbin/haproxy -f cfg"),         # started between the readings: all its seconds
             16: (0.05, "sleep 5"), 17: (7.0, "idle")}     # 17 spent nothing in between: not listed
    assert bench.cpu_by_kind({**before, 17: (7.0, "idle")}, after) == {
        "app servers": 2.25, "trainings": 0.5, "proxy": 0.3, "students' client": 0.2, "class queue": 0.1,
        "other": 0.05}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_this_process_is_read_from_proc_with_its_command_line():
    bench = load_bench()
    seconds, command = bench.process_cpu_seconds()[os.getpid()]
    assert seconds > 0 and ("pytest" in command or "python" in command)
