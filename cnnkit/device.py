"""Choosing and describing the compute device."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator

import torch


@dataclass
class DeviceInfo:
    kind: str  # "cuda" or "cpu"
    name: str  # GPU name, or "CPU"
    threads: int  # torch CPU threads
    cuda_available: bool
    memory_gb: float | None = None  # GPU memory, when a GPU is in use

    def label(self) -> str:
        if self.kind == "cuda":
            mem = f", {self.memory_gb:.0f} GB" if self.memory_gb else ""
            return f"GPU: {self.name}{mem}"
        return f"CPU ({self.threads} threads)"

    def to_dict(self) -> dict:
        return asdict(self)


def cpu_instructions() -> str:
    """The vector instructions torch's CPU kernels use here ("AVX512", "AVX2", ...; "" when torch cannot say). Two
    CPUs with different ones round the same sums differently, and training magnifies that: the same seed and thread
    count repeat a run's figures only on a CPU with the same instructions."""
    try:
        return str(torch.backends.cpu.get_cpu_capability() or "")
    except (AttributeError, RuntimeError):
        return ""


def resolve_device(name: str = "auto") -> torch.device:
    """Turn "auto", "cpu" or "cuda[:N]" into a torch.device; "cuda" without a GPU is an error."""
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; choose 'cpu' or 'auto'")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; choose 'auto', 'cpu' or 'cuda'")
    return torch.device(name)


def describe_device(name: str = "auto") -> DeviceInfo:
    device = resolve_device(name)
    threads = torch.get_num_threads()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return DeviceInfo("cuda", props.name, threads, True, props.total_memory / 1024**3)
    return DeviceInfo("cpu", "CPU", threads, torch.cuda.is_available())


@contextmanager
def denormals_flushed() -> Iterator[bool]:
    """Within the block, treat numbers too small for a float's normal range (denormals, below ~1.2e-38) as zero in
    this thread's CPU arithmetic, and in the threads it starts meanwhile (torch's OpenMP team: a new thread starts
    with its parent's floating-point state); the thread's own setting comes back after. A CPU computes with
    denormals 10-100 times slower, and weight decay leaves some in a network: a CIFAR-10 run of the report's base
    CNN with dropout and weight decay trained at 1,301 img/s in its 2nd epoch and 137 in its 8th; its model trains
    at 640 img/s flushed against 73 (benchmarks/bench_denormals.py). Numbers that small change no figure a lesson
    shows. Scoped, not set for good: a caller's own thread (a notebook, a test runner checking that floats work as
    IEEE-754 says) keeps its arithmetic. Yields whether the CPU supports it (x86 with SSE3, ARM)."""
    was_flushing = torch.tensor([1e-39]).item() == 0.0  # created as 0: this thread flushes already
    supported = bool(torch.set_flush_denormal(True))
    try:
        yield supported
    finally:
        if supported and not was_flushing:
            torch.set_flush_denormal(False)
