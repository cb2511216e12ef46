"""Choosing and describing the compute device."""

from __future__ import annotations

from dataclasses import asdict, dataclass

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


def flush_denormals() -> bool:
    """Treat numbers too small for a float's normal range (denormals, below ~1.2e-38) as zero on this thread's
    CPU arithmetic, and on the threads it starts afterwards (torch's OpenMP team: a new thread starts with its
    parent's floating-point state). A CPU computes with them 10-100 times slower; a trained network's
    activations and gradients get some, and training slowed as it went on: a CIFAR-10 run of the report's
    base CNN with dropout and weight decay on one thread trained at 1,301 img/s in its 2nd epoch and 137 in its
    8th; its model trains at 995 img/s with them flushed against 121 without (benchmarks/bench_denormals.py).
    Being that small, they change no figure a lesson shows. Returns whether the CPU supports it (x86 with SSE3,
    ARM)."""
    return bool(torch.set_flush_denormal(True))
