"""The registry's look-ups: which backend explains a model, its model services, model files and preprocessing
schemes, and the lists of backends and methods with what is installed.

The backends themselves are discovered and loaded by :mod:`xaikit.plugins` (entry points
of group ``xaikit.backends``; its names are re-exported here, where backends import
:class:`BackendSpec` from).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalogue import METHODS
from .errors import MissingDependencyError, ModelError, UnknownNameError
from .plugins import (
    ANY_MODEL,
    ENTRY_POINT_GROUP,
    BackendSpec,
    available_backends,
    discover_backends,
    distribution_version,
    get_backend,
    get_services,
    load_target,
    recorded_versions,
    refresh,
)

__all__ = [
    "ANY_MODEL",
    "BackendSpec",
    "BackendStatus",
    "MethodStatus",
    "ENTRY_POINT_GROUP",
    "available_backends",
    "backend_for_model",
    "get_backend",
    "get_services",
    "backend_preprocessing",
    "backend_preprocessing_names",
    "load_model",
    "services_for",
    "services_for_framework",
    "list_backends",
    "list_methods",
    "refresh",
    "backends_for_model",
    "check_backend_takes",
    "backend_versions",
    "discover_backends",
    "distribution_version",
    "load_target",
    "recorded_versions",
]


@dataclass(frozen=True)
class BackendStatus:
    """A row of :func:`list_backends`."""

    name: str
    available: bool
    methods: tuple[str, ...]
    missing: tuple[str, ...]
    install: str
    description: str
    versions: dict[str, str]

    def __str__(self) -> str:
        state = "available" if self.available else f"missing {', '.join(self.missing)} -> {self.install}"
        return f"{self.name:<12} {state:<45} methods: {', '.join(self.methods)}"


@dataclass(frozen=True)
class MethodStatus:
    """A row of :func:`list_methods`."""

    id: str
    name: str
    summary: str
    reference: str
    backends: tuple[str, ...]
    unavailable_backends: tuple[str, ...]

    def __str__(self) -> str:
        extra = f" (not installed: {', '.join(self.unavailable_backends)})" if self.unavailable_backends else ""
        backends = ", ".join(self.backends) or "-"
        return f"{self.id:<22} backends: {backends}{extra}"


def _model_frameworks(model: Any) -> list[str]:
    return [cls.__module__.split(".", 1)[0] for cls in type(model).__mro__ if cls.__module__ != "builtins"]


def backend_for_model(model: Any, method: str | None = None) -> str:
    """Pick the native backend for ``model`` (what ``backend="auto"`` does).

    The rule, in order:

    1. The native backends naming one of the model's frameworks, the top-level modules of
       the classes in ``type(model).__mro__`` (a ``keras.Model`` -> ``tensorflow``); among
       them, one offering ``method`` is preferred.
    2. Only when no registered backend (native or adapter, installed or not) names any of
       the model's frameworks: the catch-all native backends (``frameworks=("*",)``) whose
       services accept the model (:meth:`~xaikit.services.ModelServices.accepts`). The
       ``callable`` backend accepts plain functions and callable objects that are not a
       deep-learning framework's model.

    So a framework's model never falls through to the black-box backend, even when its
    own backend is missing: the error then names the extra to install. To explain a
    framework's model as a black box, pass ``backend="callable"`` or wrap it
    (``xaikit_callable.BlackBox``).
    """
    specs = list(discover_backends().values())
    candidates = [s for s in _specs_for_model(model) if s.native]
    if method is not None:
        candidates = [s for s in candidates if method in s.offered()] or candidates
    if not candidates:
        natives = {s.name: s.frameworks for s in specs if s.native}
        raise UnknownNameError(
            f"no native xaikit backend handles models of type {type(model).__module__}.{type(model).__qualname__}; "
            f"native backends and the model types they accept: {natives}. Pass backend=... explicitly, or wrap "
            f"the model in a framework xaikit supports (a keras.Model for the 'tensorflow' backend; a function "
            f"f(images) -> (N, K) scores for the 'callable' backend).")
    for spec in candidates:
        if not spec.missing():
            return spec.name
    spec = candidates[0]
    raise MissingDependencyError(f"backend {spec.name!r} is needed for this model but {', '.join(spec.missing())} "
                                 f"is not installed: {spec.install_hint()}")


def _specs_for_model(model: Any) -> list[BackendSpec]:
    """The backends explaining ``model``: those naming its frameworks, else the catch-alls accepting it."""
    frameworks = _model_frameworks(model)
    specs = list(discover_backends().values())
    named = [s for s in specs if any(f in s.frameworks for f in frameworks)]
    if named:
        return named
    return [s for s in specs if s.native and ANY_MODEL in s.frameworks and not s.missing()
            and load_target(s.services).accepts(model)]


def check_backend_takes(model: Any, backend: str) -> None:
    """Raise :class:`~xaikit.ModelError` if ``backend`` does not explain models of ``model``'s framework.

    A backend naming frameworks (``BackendSpec.frameworks``) takes models of those
    frameworks; a catch-all one (:data:`ANY_MODEL`) any model its methods can handle.
    Only a model that other backends explain is refused here (a PyTorch module given to
    a Keras library), with the backends that do explain it; anything else is left to the
    backend, whose own message says what it takes.
    """
    spec = get_backend(backend)
    if not spec.frameworks or ANY_MODEL in spec.frameworks:
        return
    if any(f in spec.frameworks for f in _model_frameworks(model)):
        return
    try:
        fitting = ", ".join(backends_for_model(model))
    except Exception:  # noqa: BLE001 - a catch-all's accepts() may fail on odd objects: the backend will say
        fitting = ""
    if not fitting:
        return
    raise ModelError(f"backend {backend!r} explains {' and '.join(spec.frameworks)} models; got a "
                     f"{type(model).__module__}.{type(model).__qualname__}. Backends for this model: {fitting} "
                     "(or backend='auto').")


def backends_for_model(model: Any) -> list[str]:
    """Every registered backend (native or adapter, installed or not) that explains ``model``.

    The rule of :func:`backend_for_model`: the backends naming one of the model's
    frameworks, else the catch-all backends whose services accept it. The bench runs a
    model's methods on these only (a Keras model is not run through the black-box
    backend, an ONNX model not through the Keras adapters).
    """
    return [s.name for s in _specs_for_model(model)]


def backend_versions(backend: str) -> dict[str, str]:
    """The versions of ``backend``'s libraries (recorded with its maps, part of the bench's and bulk's keys)."""
    for b in list_backends():
        if b.name == backend:
            return dict(b.versions)
    return {}


def list_backends() -> list[BackendStatus]:
    """Every registered backend, whether it can be used here, and what to install if not."""
    rows = []
    for spec in discover_backends().values():
        missing = spec.missing()
        versions = {d: v for d in spec.distributions if (v := distribution_version(d)) is not None}
        rows.append(BackendStatus(spec.name, not missing, spec.offered(), tuple(missing),
                                  spec.install_hint(), spec.description, versions))
    return rows


def list_methods() -> list[MethodStatus]:
    """Every method with the backends that implement it (installed and not)."""
    specs = discover_backends()
    rows = []
    for info in METHODS.values():
        offering = [s for s in specs.values() if info.id in s.offered()]
        rows.append(MethodStatus(info.id, info.name, info.summary, info.reference,
                                 tuple(s.name for s in offering if not s.missing()),
                                 tuple(s.name for s in offering if s.missing())))
    return rows


def services_for(model: Any) -> Any:
    """The model services of ``model``'s framework (the native backend ``backend="auto"`` picks)."""
    return get_services(backend_for_model(model))


def services_for_framework(framework: str) -> Any:
    """The model services of the native backend for ``framework`` (``"keras"``, ``"torch"``, ...)."""
    natives = [s for s in discover_backends().values() if s.native and s.services and framework in s.frameworks]
    if not natives:
        known = sorted({f for s in discover_backends().values() if s.native for f in s.frameworks})
        raise UnknownNameError(f"no native xaikit backend for framework {framework!r}; frameworks: {', '.join(known)}")
    for spec in natives:
        if not spec.missing():
            return get_services(spec.name)
    raise MissingDependencyError(f"framework {framework!r} needs backend {natives[0].name!r}: "
                                 f"{natives[0].install_hint()}")


def _routes(path: Path) -> list[BackendSpec]:
    name = path.name.lower()
    out = []
    for spec in discover_backends().values():
        for pattern in spec.model_files:
            folder = pattern.startswith("/")  # "/saved_model.pb": a folder holding that file
            if (folder and path.is_dir() and (path / pattern[1:]).exists()) or \
                    (not folder and name.endswith(pattern.lower()) and not path.is_dir()):
                out.append(spec)
    return out


def load_model(path: str | os.PathLike[str], *, unsafe: bool = False, **options: Any) -> Any:
    """Load a model file with the backend that reads its kind (by suffix; nothing else is imported).

    Files that carry code (a Keras ``Lambda`` layer, a SavedModel graph, TorchScript, a
    pickled module) load only with ``unsafe=True``, after you decide to trust them; each
    backend's message says why. ``options`` go to the backend (e.g. ``arch=`` for a
    PyTorch state dict).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    routes = _routes(path)
    if not routes:
        kinds = sorted({p for s in discover_backends().values() for p in s.model_files})
        raise UnknownNameError(f"no xaikit backend reads {path} (by its suffix); model files: {', '.join(kinds)}")
    spec = next((s for s in routes if not s.missing()), routes[0])
    return get_services(spec.name).load(path, unsafe=unsafe, **options)


# --------------------------------------------------------------------------- preprocessing
def backend_preprocessing_names() -> list[str]:
    """The preprocessing schemes installed backends add (e.g. Keras' families), without importing them."""
    return [n for s in discover_backends().values() if not s.missing() for n in s.preprocessing if not n.endswith(".*")]


def backend_preprocessing(name: str) -> Any:
    """The :class:`~xaikit.preprocessing.Scheme` a backend defines under ``name``, or None."""
    for spec in discover_backends().values():
        if any(name == n or (n.endswith(".*") and name.startswith(n[:-1])) for n in spec.preprocessing):
            return get_services(spec.name).preprocessing(name)
    return None
