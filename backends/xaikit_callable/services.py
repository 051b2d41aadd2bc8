"""Model services for black boxes: what the bench and the CLI need from a callable or an ONNX file."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from xaikit.errors import InputError, ModelError
from xaikit.services import EngineServices

from .blackbox import BlackBox, as_black_box
from .engine import CallableEngine, engine_for

__all__ = ["FRAMEWORK_MODULES", "SERVICES", "CallableServices"]

#: Top-level modules of deep-learning frameworks: their models are callable, but ``backend="auto"``
#: never takes them for black boxes (they belong to their framework's backend, or are wrapped on purpose).
FRAMEWORK_MODULES = frozenset({"keras", "tf_keras", "tensorflow", "torch", "jax", "flax", "equinox", "haiku",
                               "paddle", "mxnet", "mindspore", "oneflow"})

_TRUST = "pass unsafe=True (command line: --unsafe)"


class CallableServices(EngineServices):
    """Services of the ``callable`` backend: see :class:`xaikit.services.ModelServices`."""

    framework = "callable"
    backend = "callable"
    suffixes = (".onnx",)

    def accepts(self, model: Any) -> bool:
        """A :class:`BlackBox`, or a callable that is not a deep-learning framework's model."""
        if isinstance(model, BlackBox):
            return True
        modules = {cls.__module__.split(".", 1)[0] for cls in type(model).__mro__}
        return callable(model) and not modules & FRAMEWORK_MODULES

    def engine(self, model: Any) -> CallableEngine:
        return engine_for(model)

    def parameter_count(self, model: Any) -> int:
        return as_black_box(model).parameter_count()

    def load(self, path: str | os.PathLike[str], *, unsafe: bool = False, input_size: tuple[int, int] | None = None,
             **options: Any) -> Any:
        """An ``.onnx`` file as an :class:`~xaikit_callable.OnnxModel`, or a ``package.module:attribute`` callable.

        A reference imports its module, which runs its code: it needs ``unsafe=True``. An
        ONNX file holds no code and needs nothing. ``input_size`` is not used: an ONNX
        file declares its input, a function takes the images it is given.
        """
        if options:
            raise InputError(f"the 'callable' backend takes no loading options; got {', '.join(map(repr, options))}")
        text = os.fspath(path)
        if Path(text).suffix.lower() == ".onnx" or Path(text).exists():
            from .onnx_model import OnnxModel

            return OnnxModel(text)  # names a missing file, a folder or a file that is not ONNX
        return load_reference(text, unsafe=unsafe)


def load_reference(reference: str, *, unsafe: bool = False) -> Any:
    """The callable named by ``package.module:attribute`` (dots after the colon reach attributes)."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise InputError(f"{reference!r} is not a Python reference; write package.module:function")
    if not unsafe:
        raise InputError(f"{reference} is Python code: loading it imports {module_name}, which runs that module's "
                         f"code with your permissions. If you trust it, {_TRUST}.")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"{reference}: cannot import {module_name} ({exc}); is it on the Python path (PYTHONPATH)?") \
            from None
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise InputError(f"{reference}: {type(obj).__name__} {getattr(obj, '__name__', '')!s} has no attribute "
                             f"{part!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelError(f"{reference} is a {type(obj).__name__}, not a callable f(images) -> (N, K) scores")
    return obj


SERVICES = CallableServices()
