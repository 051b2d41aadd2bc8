"""Backend discovery through the ``xaikit.backends`` entry-point group.

A backend is a plugin package that exposes a :class:`BackendSpec` object as an entry
point, exactly as a third party would::

    [project.entry-points."xaikit.backends"]
    mybackend = "my_package:BACKEND"

A native backend names its engine (``"module:factory"``, see :mod:`xaikit.engine`) and
its capabilities: it then offers every method of the catalogue whose ``needs`` those
capabilities cover, computed by the core's implementation (:mod:`xaikit.methods`) on
its engine (:func:`xaikit.binding.get_method_class` binds them). An adapter of a library
names its own classes as ``"module:Class"`` strings. Neither is imported to list
backends, so listing never imports a framework; availability is checked with
:func:`importlib.util.find_spec`. A plugin that fails to load becomes a warning, not a crash (xarray does the same).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalogue import METHODS
from .errors import MissingDependencyError, ModelError, UnknownNameError

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

ENTRY_POINT_GROUP = "xaikit.backends"
#: ``BackendSpec.frameworks`` entry of a catch-all backend: it takes any model its services accept.
ANY_MODEL = "*"


@dataclass(frozen=True)
class BackendSpec:
    """What a backend plugin declares.

    Attributes
    ----------
    name : str
        Backend id (``backend=`` value).
    description : str
        One line for ``xaikit list``.
    methods : Mapping[str, str]
        Method id -> ``"module:Class"`` implementing it (adapters; a native backend may
        also override a core implementation here).
    requires : tuple of str
        Importable module names the backend needs.
    extra : str
        The pip extra that installs them (``pip install "xaikit[<extra>]"``).
    frameworks : tuple of str
        Top-level module names of the model classes the backend explains
        (``"keras"`` for Keras 3 models); :data:`ANY_MODEL` (``"*"``) for a catch-all
        backend that takes any model its services accept (see :func:`backend_for_model`).
    native : bool
        Whether ``backend="auto"`` may pick it for those frameworks.
    distributions : tuple of str
        Distribution names whose versions are recorded in results.
    engine : str
        ``"module:callable"`` returning the :class:`~xaikit.engine.Engine` of a model
        (native backends).
    capabilities : tuple of str
        What the engine computes (:data:`xaikit.catalogue.CAPABILITIES`), declared here
        only: the backend offers every core method whose ``needs`` they cover.
    services : str
        ``"module:object"``: the :class:`~xaikit.services.ModelServices` of the models
        this backend explains (adapters point at their framework's native services).
    model_files : tuple of str
        Model-file suffixes the services load (``".keras"``; ``"/saved_model.pb"`` for a
        folder holding that file), so a file is routed without importing any framework.
    preprocessing : tuple of str
        Names of the preprocessing schemes the services add (``"vgg16"``; a name ending
        in ``.*`` is a prefix), resolved by :meth:`~xaikit.services.ModelServices.preprocessing`.
    """

    name: str
    description: str
    methods: Mapping[str, str] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    extra: str = ""
    frameworks: tuple[str, ...] = ()
    native: bool = False
    distributions: tuple[str, ...] = field(default_factory=tuple)
    engine: str = ""
    capabilities: tuple[str, ...] = ()
    services: str = ""
    model_files: tuple[str, ...] = ()
    preprocessing: tuple[str, ...] = ()

    def offered(self) -> tuple[str, ...]:
        """The method ids this backend offers, in catalogue order (nothing is imported)."""
        caps = set(self.capabilities)
        return tuple(m for m, schema in METHODS.items()
                     if m in self.methods or (self.engine and schema.core and schema.needs <= caps))

    def missing(self) -> list[str]:
        """Required modules that are not importable (checked without importing them)."""
        out = []
        for module in self.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                out.append(module)
        return out

    def install_hint(self) -> str:
        """The command that installs this backend's dependencies."""
        return f'pip install "xaikit[{self.extra}]"' if self.extra else "pip install " + " ".join(self.requires)


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


@functools.cache
def discover_backends() -> dict[str, BackendSpec]:
    """Every installed backend plugin by name (entry points of group ``xaikit.backends``), read once.

    A plugin that fails to load, or is not a :class:`BackendSpec`, is skipped with a warning;
    :func:`refresh` forgets the result.
    """
    specs: dict[str, BackendSpec] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken third-party plugin must not break xaikit
            warnings.warn(f"xaikit backend plugin {ep.name!r} ({ep.value}) failed to load and is skipped: "
                          f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3)
            continue
        if not isinstance(spec, BackendSpec):
            warnings.warn(f"xaikit backend plugin {ep.name!r} ({ep.value}) is not a BackendSpec and is skipped",
                          RuntimeWarning, stacklevel=3)
            continue
        if spec.name in specs:
            warnings.warn(f"two xaikit backend plugins are named {spec.name!r}; keeping the first ({specs[spec.name]})",
                          RuntimeWarning, stacklevel=3)
            continue
        specs[spec.name] = spec
    return specs


def refresh() -> None:
    """Forget discovered backends (after installing a plugin in a running session)."""
    discover_backends.cache_clear()
    get_services.cache_clear()
    distribution_version.cache_clear()


@functools.cache
def distribution_version(dist: str) -> str | None:
    """The installed version of distribution ``dist`` (None if it is not installed), read once per process.

    Results record the versions of the libraries that computed them; reading a package's
    metadata parses its METADATA file (about 1 ms), which on a small model was a third of
    a one-image explanation. :func:`refresh` forgets them (after installing a package).
    """
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None



def recorded_versions(*distributions: str, optional: tuple[str, ...] = ()) -> dict[str, str]:
    """The library versions a backend's results record: xaikit's, each of ``optional`` that is installed, then
    each of ``distributions`` (``"unknown"`` where it is not installed). A backend adds its framework's own."""
    from .version import __version__

    out = {"xaikit": __version__}
    for name in optional:
        version = distribution_version(name)
        if version is not None:
            out[name] = version
    for name in distributions:
        out[name] = distribution_version(name) or "unknown"
    return out


def get_backend(name: str) -> BackendSpec:
    """Return the spec of a registered backend, or raise with the list of known ones."""
    specs = discover_backends()
    if name not in specs:
        known = ", ".join(sorted(specs)) or "none (is xaikit installed with pip install -e .?)"
        raise UnknownNameError(f"unknown backend {name!r}; registered backends: {known}, or 'auto'")
    return specs[name]


def available_backends() -> list[str]:
    """Names of registered backends whose dependencies are installed."""
    return [name for name, spec in discover_backends().items() if not spec.missing()]


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


def load_target(target: str) -> Any:
    """The object a ``"module:attribute"`` target names (a backend's engine, services or method class), imported now."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


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


# --------------------------------------------------------------------------- model services
@functools.cache
def get_services(backend: str) -> Any:
    """The :class:`~xaikit.services.ModelServices` of ``backend`` (imports its framework)."""
    spec = get_backend(backend)
    if not spec.services:
        raise UnknownNameError(f"backend {backend!r} declares no model services")
    missing = spec.missing()
    if missing:
        raise MissingDependencyError(f"backend {backend!r} needs {', '.join(missing)}, which is not installed: "
                                     f"{spec.install_hint()}")
    return load_target(spec.services)


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
