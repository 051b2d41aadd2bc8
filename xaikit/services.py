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
    def describe(self, model: Any, images: np.ndarray | None) -> ModelSpec:
        """The model's :class:`~xaikit.ModelSpec` for these images (layout, size, classes, activation, layers).

        With ``images=None``: what is known without running the model (``input_shape`` may
        hold ``None``; ``n_outputs`` is 0 when the model does not declare it).
        """

    @abc.abstractmethod
    def class_scores(self, model: Any, images: Any, score: str | None = "probability",
                     batch_size: int = 32) -> np.ndarray:
        """``(N, n_classes)`` scores as the explainers see them (a binary model has two columns).

        ``score`` is resolved as in :func:`xaikit.spec.resolve_score`; this is the
        ``predict`` callable the metrics need. A score function (:mod:`xaikit.targets`)
        gives one column: its value on the model's raw output.
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

    def with_output(self, model: Any, output: Any) -> Any:
        """``model`` returning only the class scores chosen by ``output=`` (:mod:`xaikit.outputs`).

        The same model (same layers, same weights) whose call returns one ``(N, K)``
        tensor: ``model`` itself when it already does, else a thin wrapper (PyTorch: a
        module sharing the model's modules; Keras: a model over the same layers). The
        wrapper's ``selected_output`` is the key that picked the scores. A backend that
        cannot select refuses a non-None ``output``.
        """
        if output is None:
            return model
        raise ModelError(f"the {self.backend!r} backend cannot select one of a model's outputs (output={output!r}); "
                         "pass a model that returns the class scores")

    def randomizer(self, model: Any) -> Any:
        """A :class:`xaikit.metrics.Randomizer` re-initialising the model's layers in place (sanity check)."""
        raise ModelError(f"the {self.backend!r} backend cannot randomise a model's weights, so the randomisation "
                         "sanity check cannot run on it")

    def copy_model(self, model: Any) -> Any:
        """An independent copy of ``model``: the same layers (same names) and weights, variables of its own.

        The sanity check randomises the copy, so that the model itself keeps serving other
        callers (another thread explaining it, the user's own code) unchanged meanwhile.
        """
        raise ModelError(f"the {self.backend!r} backend cannot copy a model, so the randomisation sanity check "
                         "cannot run on it")

    def shift_input(self, model: Any, shift: float, images: Any) -> Any:
        """A copy of ``model`` that takes inputs shifted by the constant ``shift``: ``copy(x + shift) == model(x)``.

        The first layer's bias absorbs the shift, :math:`b' = b - m\\,W\\mathbf 1` (Kindermans
        et al. 2019; the input invariance check, :func:`xaikit.input_invariance_check`). ``images``
        (a batch in the model's layout) show which layer sees the input first. Refused
        where the compensation cannot be exact (a first layer that pads with zeros).
        """
        raise ModelError(f"the {self.backend!r} backend cannot shift a model's first-layer bias, so the input "
                         "invariance check cannot run on it; build the shifted model yourself and call "
                         "xaikit.metrics.input_invariance")

    def parameter_count(self, model: Any) -> int:
        """Number of trainable and non-trainable parameters (0 when unknown)."""
        return 0

    def load(self, path: str | os.PathLike[str], *, unsafe: bool = False, input_size: tuple[int, int] | None = None,
             **options: Any) -> Any:
        """Load a model file of this framework (``suffixes``); files that carry code need ``unsafe``.

        ``input_size`` is the ``(H, W)`` of models that do not declare one (ignored by the
        others); other ``options`` are the framework's (e.g. ``arch=`` for a state dict).
        """
        raise ModelError(f"the {self.backend!r} backend does not load model files")

    def engine(self, model: Any) -> Engine | None:
        """The model's engine, if this framework has a native one."""
        return None

    # ----------------------------------------------------------------- models by name
    def architectures(self) -> tuple[str, ...]:
        """Names of the architectures :meth:`architecture` builds (``keras.applications``, torchvision...)."""
        return ()

    def architecture(self, name: str, *, weights: str | None = None, input_size: tuple[int, int] | None = None,
                     classes: int | None = None, seed: int | None = None) -> Any:
        """A model of a named architecture: random weights (``"none"``, seeded) or a ``weights`` file."""
        raise ModelError(f"the {self.backend!r} backend builds no named architectures")

    def architecture_preprocess(self, name: str) -> str | None:
        """The preprocessing scheme (:mod:`xaikit.preprocessing`) the architecture's original weights take."""
        return None

    def zoo_model(self, name: str, **options: Any) -> Any:
        """A fresh copy of zoo model ``name`` (:mod:`xaikit.zoo`) in this framework."""
        raise ModelError(f"the {self.backend!r} backend has no zoo models")

    def zoo_record(self, name: str) -> dict[str, Any] | None:
        """How zoo model ``name`` was made in this framework (``test_accuracy``...), None if not made."""
        return None

    def layer_reference(self, model: Any, kind: str, index: int) -> str:
        """The name of the layer a suite refers to by position: ``kind="index"`` (the ``index``-th
        layer as the framework counts them) or ``"input_of"`` (the layer feeding it, SHAP's
        ``model.layers[i].input``)."""
        raise ModelError(f"the {self.backend!r} backend cannot resolve layers by position; name the layer")

    def conv_filters(self, model: Any, layer: str) -> np.ndarray:
        """The kernels of convolution ``layer`` as ``(kh, kw, in, out)`` float32 (filter pictures)."""
        raise ModelError(f"the {self.backend!r} backend cannot read convolution kernels")

    def preprocessing(self, name: str) -> Any:
        """The :class:`~xaikit.preprocessing.Scheme` this framework defines under ``name`` (None if none)."""
        return None

    def kernel_layers(self, model: Any) -> list[str]:
        """Names of the layers :meth:`conv_filters` can read, in model order."""
        return []


class EngineServices(ModelServices):
    """Services of a native backend, computed on its engine (describe, scores, fingerprint)."""

    @abc.abstractmethod
    def engine(self, model: Any) -> Engine:
        """The engine of ``model``."""

    def describe(self, model: Any, images: np.ndarray | None) -> ModelSpec:
        if images is None:
            return self.engine(model).describe(None)
        x = check_images(images)
        return self.engine(model).describe(tuple(x.shape[1:]))

    def class_scores(self, model: Any, images: Any, score: str | None = "probability",
                     batch_size: int = 32) -> np.ndarray:
        engine = self.engine(model)
        x = check_images(images)
        spec = engine.describe(tuple(x.shape[1:]))
        x = check_images(x, expected_shape=spec.input_shape, layout=spec.layout)
        resolved = score if callable(score) else resolve_score(score, spec)
        return np.concatenate([engine.class_scores(x[s], resolved) for s in chunks(len(x), int(batch_size))])

    def fingerprint(self, model: Any) -> str:
        return self.engine(model).fingerprint()
