"""The class that computes a (method, backend) pair: an adapter's own, or the core's bound to an engine.

The registry (:mod:`xaikit.registry`) knows backends; this module joins them with the
method implementations (:mod:`xaikit.methods`), which is why it sits above both.
"""

from __future__ import annotations

import functools

from .catalogue import METHODS
from .errors import MissingDependencyError, UnknownNameError
from .registry import discover_backends, get_backend, load_target

__all__ = ["get_method_class", "clear_bindings"]


@functools.cache
def _bound_class(method: str, backend: str) -> type:
    """The core's implementation of ``method`` bound to ``backend``'s engine (one class per pair)."""
    from .methods import IMPLEMENTATIONS

    spec = get_backend(backend)
    core = IMPLEMENTATIONS[method]
    factory = load_target(spec.engine)
    return type(core.__name__, (core,), {"backend": backend, "engine_factory": staticmethod(factory),
                                         "__module__": core.__module__,
                                         "__qualname__": f"{core.__qualname__}[{backend}]"})


def clear_bindings() -> None:
    """Forget the bound classes (with :func:`xaikit.registry.refresh`, after installing a plugin)."""
    _bound_class.cache_clear()


def get_method_class(method: str, backend: str) -> type:
    """Import and return the class implementing ``method`` in ``backend``.

    Raises
    ------
    UnknownNameError
        Unknown method or backend, or a backend that does not offer the method (the
        message lists the backends that do).
    MissingDependencyError
        The backend's dependencies are not installed (the message gives the pip extra).
    """
    if method not in METHODS:
        raise UnknownNameError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
    spec = get_backend(backend)
    if method not in spec.offered():
        offering = [s.name for s in discover_backends().values() if method in s.offered()]
        needs = ", ".join(sorted(METHODS[method].needs))
        raise UnknownNameError(f"backend {backend!r} does not implement {method!r} (it needs {needs}); it offers "
                               f"{', '.join(spec.offered())}. Backends with {method!r}: "
                               f"{', '.join(offering) or 'none'}")
    missing = spec.missing()
    if missing:
        raise MissingDependencyError(f"backend {backend!r} needs {', '.join(missing)}, which is not installed: "
                                     f"{spec.install_hint()}")
    if method in spec.methods:
        return load_target(spec.methods[method])
    return _bound_class(method, backend)
