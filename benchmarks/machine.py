"""Describing the machine a benchmark ran on (shared by the benchmark scripts): figures mean nothing without it."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path


def read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    for line in read_text("/proc/cpuinfo").splitlines():
        if line.startswith(("model name", "Model", "Hardware")) and ":" in line:
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def meminfo_gib(field: str = "MemTotal") -> float | None:
    for line in read_text("/proc/meminfo").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 2**20
    return None


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def usable_cpus() -> int | None:
    """CPUs this process may run on (affinity), which on shared machines is less than the CPU count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def describe_machine() -> str:
    """One markdown line naming the machine and the versions that matter, for the top of a report."""
    ram = meminfo_gib("MemTotal")
    versions = ", ".join(f"{p} {package_version(p)}" for p in ("jax", "cyvcf2", "numpy", "pandas") if package_version(p))
    return (f"Machine: {cpu_model()}, {usable_cpus()} usable CPU(s), {ram:.0f} GiB RAM; "
            f"Python {platform.python_version()}; {versions}")
