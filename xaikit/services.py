"""Model services: what the bench, the CLI and the metrics need from a model of any framework.

Each framework backend provides one :class:`ModelServices` object (declared in its
:class:`~xaikit.registry.BackendSpec` as ``services=``); adapters of a library over a
framework point at that framework's services. Nothing outside the backends calls a
framework directly: the bench, the CLI, the metrics' ``predict`` and the randomisation
sanity check use these services, so they run unchanged on a model of any backend.
"""

from __future__ import annotations

import abc
import os
from typing import Any, ClassVar, NamedTuple

import numpy as np

from .engine import Engine
from .errors import ModelError
from .kernels import chunks
from .spec import ModelSpec, resolve_score
from .validation import check_images

__all__ = ["ModelServices", "EngineServices", "InputSignature"]


class InputSignature(NamedTuple):
    """What a model declares about its input and output without seeing images.

    Attributes
    ----------
    shape : tuple
        One image's shape in the model's layout, ``None`` for a free dimension.
    layout : str
        ``"NHWC"`` or ``"NCHW"``.
    n_outputs : int or None
        Width K of the output, None when only a forward pass tells.
    """

    shape: tuple[int | None, ...]
    layout: str
    n_outputs: int | None


class ModelServices(abc.ABC):
    """The framework-specific services for models of one framework.

    Attributes
    ----------
    framework : str
        ``"keras"``, ``"torch"``, ``"callable"``...
    backend : str
        The native backend these services belong to.
    suffixes : tuple of str
        Model-file suffixes :meth:`load` reads (``".keras"``, ``".pt"``, ``".onnx"``...).
    """

    framework: ClassVar[str] = ""
    backend: ClassVar[str] = ""
    suffixes: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def accepts(self, model: Any) -> bool:
        """Whether ``model`` is a model of this framework (checked without importing it if possible)."""

    @abc.abstractmethod
    def describe(self, model: Any, images: np.ndarray) -> ModelSpec:
        """The model's :class:`~xaikit.ModelSpec` for these images (layout, size, classes, activation, layers)."""

    @abc.abstractmethod
    def class_scores(self, model: Any, images: Any, score: str | None = "probability",
                     batch_size: int = 32) -> np.ndarray:
        """``(N, n_classes)`` scores as the explainers see them (a binary model has two columns).

        ``score`` is resolved as in :func:`xaikit.spec.resolve_score`; this is the
        ``predict`` callable the metrics need.
        """

    @abc.abstractmethod
    def fingerprint(self, model: Any) -> str:
        """A hash of the model's weights; see :meth:`xaikit.engine.Engine.fingerprint`."""

    def signature(self, model: Any) -> InputSignature | None:
        """The input shape, layout and output width the model declares, or None when it declares none.

        The command line sizes and lays out the images it reads with it; a model that
        declares nothing (a plain function) needs ``--input-size``.
        """
        return None

    def randomizer(self, model: Any) -> Any:
        """A :class:`xaikit.metrics.Randomizer` re-initialising the model's layers in place (sanity check)."""
        raise ModelError(f"the {self.backend!r} backend cannot randomise a model's weights, so the randomisation "
                         "sanity check cannot run on it")

    def parameter_count(self, model: Any) -> int:
        """Number of trainable and non-trainable parameters (0 when unknown)."""
        return 0

    def load(self, path: str | os.PathLike[str], *, unsafe: bool = False, **options: Any) -> Any:
        """Load a model file of this framework (``suffixes``); files that carry code need ``unsafe``."""
        raise ModelError(f"the {self.backend!r} backend does not load model files")

    def engine(self, model: Any) -> Engine | None:
        """The model's engine, if this framework has a native one."""
        return None


class EngineServices(ModelServices):
    """Services of a native backend, computed on its engine (describe, scores, fingerprint)."""

    @abc.abstractmethod
    def engine(self, model: Any) -> Engine:
        """The engine of ``model``."""

    def describe(self, model: Any, images: np.ndarray) -> ModelSpec:
        x = check_images(images)
        return self.engine(model).describe(tuple(x.shape[1:]))

    def class_scores(self, model: Any, images: Any, score: str | None = "probability",
                     batch_size: int = 32) -> np.ndarray:
        engine = self.engine(model)
        x = check_images(images)
        spec = engine.describe(tuple(x.shape[1:]))
        x = check_images(x, expected_shape=spec.input_shape, layout=spec.layout)
        resolved = resolve_score(score, spec)
        return np.concatenate([engine.class_scores(x[s], resolved) for s in chunks(len(x), int(batch_size))])

    def fingerprint(self, model: Any) -> str:
        return self.engine(model).fingerprint()
