"""What a benchmark run produced, per model and row, and the machine it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..execution import ResultStore
from .config import ModelEntry, SuiteConfig
from .memory import rss_source
from .plan import Pair

__all__ = ["BenchResults", "ModelResult", "RowResult", "environment"]


@dataclass
class RowResult:
    """Everything measured for one row (a pair, or a control)."""

    label: str
    method: str
    backend: str
    control: bool = False
    pair: Pair | None = None
    explain: dict[str, Any] | None = None
    explain_key: str | None = None
    maps_key: str | None = None
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    randomisation: dict[str, Any] | None = None
    floor: dict[str, Any] | None = None
    transform: str = "signed"
    maps: np.ndarray | None = None  # (n, H, W), kept in memory during the run only

    @property
    def row(self) -> str:
        return f"{self.label} ({self.backend})"


@dataclass
class ModelResult:
    entry: ModelEntry
    info: dict[str, Any]
    rows: list[RowResult] = field(default_factory=list)
    agreement: dict[str, Any] | None = None
    prepared: Any = None  # PreparedModel during the run

    @property
    def id(self) -> str:
        return self.entry.id


@dataclass
class BenchResults:
    """What a run produced: per-model rows, errors, notes, counts, environment."""

    config: SuiteConfig
    out_dir: Path
    store: ResultStore
    models: list[ModelResult] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    computed: int = 0
    reused: int = 0
    shared: int = 0
    seconds: float = 0.0
    environment: dict[str, Any] = field(default_factory=dict)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("xaikit", "numpy", "tensorflow", "keras", "tf-explain", "shap", "torch", "opencv-python-headless",
                 "matplotlib", "ray", "zarr"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[dist] = md.version(dist)
    return out


def environment() -> dict[str, Any]:
    """Machine and library versions recorded with the results."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        cores = os.cpu_count() or 0
    return {"platform": platform.platform(), "cpu": cpu, "cores": cores, "memory_source": rss_source(),
            "versions": _versions(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}

