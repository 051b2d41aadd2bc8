"""Backend discovery and loading through the ``xaikit.backends`` entry-point group.

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
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .catalogue import METHODS
from .errors import MissingDependencyError, UnknownNameError

__all__ = [
    "ANY_MODEL",
    "BackendSpec",
    "ENTRY_POINT_GROUP",
    "available_backends",
    "discover_backends",
    "distribution_version",
    "get_backend",
    "get_services",
    "load_target",
    "recorded_versions",
    "refresh",
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


def load_target(target: str) -> Any:
    """The object a ``"module:attribute"`` target names (a backend's engine, services or method class), imported now."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


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
