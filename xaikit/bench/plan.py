"""What a suite runs on a model: its (method, backend) pairs, with their merged parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import ConfigError, ModelEntry, SuiteConfig

__all__ = ["Pair", "backends_for_entry", "entry_framework", "plan_pairs"]

#: Model files by suffix: the framework that reads them (what a dry run can tell without loading the model).
_FILE_FRAMEWORKS = {".keras": "keras", ".h5": "keras", ".hdf5": "keras", ".pt": "torch", ".pth": "torch"}


@dataclass(frozen=True)
class Pair:
    """One row of the benchmark: a method entry computed by one backend on one model."""

    model_id: str
    label: str
    method: str
    backend: str
    params: dict[str, Any]
    ranked_outputs: int | None = None
    dropped: tuple[str, ...] = ()
    shared: tuple[str, ...] = ()
    """Names of the parameters set for every backend of the entry (its ``params`` and the model's), not for this
    backend alone: with ``align = true`` they are part of the definition every backend is aligned on."""

    @property
    def row(self) -> str:
        return f"{self.label} ({self.backend})"


def _installed_backends(method: str) -> tuple[list[str], list[str]]:
    from ..registry import list_methods

    for row in list_methods():
        if row.id == method:
            return list(row.backends), list(row.unavailable_backends)
    return [], []


def plan_pairs(config: SuiteConfig, model: ModelEntry, notes: list[str] | None = None) -> list[Pair]:
    """The (method, backend) pairs run on ``model``, with their merged parameters.

    Parameters are merged from low to high priority: the suite's ``batch_size`` and
    ``seed``, the entry's ``params``, its ``backend_params`` for the backend, then the
    model's ``params`` for the method id and for the entry's label. A parameter the
    backend does not take is dropped (and listed in ``Pair.dropped``); a parameter no
    backend of the entry takes is a configuration error.
    """
    from ..binding import get_method_class

    notes = notes if notes is not None else []
    pairs = []
    explaining = backends_for_entry(model)
    left_out: set[str] = set()
    for entry in config.methods:
        if entry.models is not None and model.id not in entry.models:
            continue
        installed, _ = _installed_backends(entry.method)
        if entry.backends is None:
            backends = installed
        else:
            backends = [b for b in entry.backends if b in installed]
            for b in entry.backends:
                if b not in installed:
                    from ..registry import get_backend

                    notes.append(f"{entry.label}: backend {b!r} is not installed here and was skipped "
                                 f"({get_backend(b).install_hint()})")
        if explaining is not None:  # a Keras model is not run through the PyTorch adapters, nor the reverse
            left_out.update(b for b in backends if b not in explaining)
            backends = [b for b in backends if b in explaining]
        if not backends:
            notes.append(f"{entry.label}: no installed backend implements {entry.method!r} for this model; skipped")
            continue
        accepted = {b: set(get_method_class(entry.method, b).param_names()) for b in backends}
        given = {**entry.params, **{k: v for bp in entry.backend_params.values() for k, v in bp.items()},
                 **model.params.get(entry.method, {}), **model.params.get(entry.label, {})}
        nowhere = [k for k in given if not any(k in a for a in accepted.values())]
        if nowhere:
            listing = "; ".join(f"{b}: {', '.join(sorted(a))}" for b, a in accepted.items())
            raise ConfigError(f"{config.source}: method {entry.label!r} on model {model.id!r}: parameter(s) "
                              f"{nowhere} are not taken by any of its backends ({listing}).")
        for b in backends:
            merged: dict[str, Any] = {"batch_size": config.batch_size}
            if "seed" in accepted[b]:
                merged["seed"] = config.seed
            merged.update(entry.params)
            merged.update(entry.backend_params.get(b, {}))
            merged.update(model.params.get(entry.method, {}))
            if entry.label != entry.method:
                merged.update(model.params.get(entry.label, {}))
            dropped = tuple(k for k in merged if k not in accepted[b])
            params = {k: v for k, v in merged.items() if k in accepted[b]}
            shared = tuple(k for k in (*entry.params, *model.params.get(entry.method, {}),
                                       *model.params.get(entry.label, {})) if k in params)
            pairs.append(Pair(model.id, entry.label, entry.method, b, params, entry.ranked_outputs, dropped,
                              shared))
    if left_out:
        notes.append(f"backend(s) {', '.join(sorted(left_out))} do not explain this model's framework: not run")
    return pairs


def entry_framework(entry: ModelEntry) -> str | None:
    """The framework of ``entry``'s model as its entry tells without loading it (``"keras"``, ``"torch"``, ``"*"``
    for a black box), or None when only loading it would tell (an architecture both frameworks may know)."""
    from pathlib import Path

    if entry.zoo is not None:
        return entry.framework or "keras"
    if entry.framework is not None:
        return entry.framework
    if entry.path is not None:
        p = Path(entry.path)
        if p.is_dir():
            return "keras"  # a SavedModel folder
        return _FILE_FRAMEWORKS.get(p.suffix.lower(), "*" if p.suffix.lower() == ".onnx" or ":" in entry.path
                                    else None)
    return None


def backends_for_entry(entry: ModelEntry) -> set[str] | None:
    """The backends explaining ``entry``'s model: the rule of :func:`xaikit.registry.backends_for_model` (the
    backends naming the model's framework, else the catch-alls) applied to the framework the entry names
    (:func:`entry_framework`), without loading the model; None when the entry does not tell."""
    from ..registry import ANY_MODEL, discover_backends

    framework = entry_framework(entry)
    if framework is None:
        return None
    wanted = ANY_MODEL if framework == "*" else framework
    return {name for name, s in discover_backends().items() if wanted in s.frameworks}
