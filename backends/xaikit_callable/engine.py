"""The black-box engine: xaikit's score primitives on a :class:`~xaikit_callable.BlackBox`, in NumPy.

Only ``scores``: the model is a function, so methods that need gradients or layers are
not offered; every perturbation method is (occlusion today). Occluded images are built
for a whole chunk at once by the engine's default (:func:`xaikit.kernels.occluded_images`)
and scored in one call of the model.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

import xaikit
from xaikit.engine import Engine
from xaikit.errors import InputError
from xaikit.spec import ModelSpec, predicted_classes
from xaikit.targets import check_score_values

from .blackbox import BlackBox, as_black_box, infer_layout

__all__ = ["CallableEngine", "engine_for"]

_ENGINES = threading.Lock()


def engine_for(model: Any) -> CallableEngine:
    """The engine of ``model``: a :class:`BlackBox` keeps its engine; a bare callable gets a new one."""
    box = as_black_box(model)
    with _ENGINES:
        if box._engine is None:
            box._engine = CallableEngine(box)
        return box._engine


class CallableEngine(Engine):
    """xaikit's score primitives on a black box (see :mod:`xaikit.engine` for the contract)."""

    framework = "callable"

    def __init__(self, box: BlackBox) -> None:
        self.box = box

    @property
    def layout(self) -> str:
        """The declared layout; a black box without one has its layout inferred per batch (:meth:`layout_of`)."""
        if self.box.layout is None:
            raise InputError(f"{self.box.name} has no declared layout: it is inferred from each batch of images; "
                             "state it with BlackBox(f, layout='NHWC' or 'NCHW')")
        return self.box.layout

    def layout_of(self, image_shape: tuple[int | None, ...]) -> str:
        """The layout of images of one image's ``image_shape``: declared, or inferred when unambiguous."""
        return self.box.layout or infer_layout(image_shape, self.box.name)

    def describe(self, image_shape: tuple[int, ...] | None) -> ModelSpec:
        """The spec for images of ``image_shape`` (the model is called once per new shape).

        ``None``: what the box declares without running it (``n_outputs`` 0 when unknown;
        an undeclared layout is given as ``"NHWC"``, the layout images are read in, and
        is inferred from the images when they come).
        """
        box = self.box
        if image_shape is None:
            n_outputs = box.static_outputs or 0
            return ModelSpec(input_shape=box.input_shape or (None, None, None), n_outputs=n_outputs,
                             output_activation=box.output_activation(n_outputs), layout=box.layout or "NHWC",
                             framework=box.framework, name=box.name, no_logit=box.no_logit)
        layout = self.layout_of(image_shape)
        box.check_shape(image_shape, layout)
        n_outputs = box.n_outputs(image_shape)
        channels = image_shape[2] if layout == "NHWC" else image_shape[0]
        free = (None, None, channels) if layout == "NHWC" else (channels, None, None)
        return ModelSpec(input_shape=box.input_shape or free, n_outputs=n_outputs,
                         output_activation=box.output_activation(n_outputs), layout=layout,
                         framework=box.framework, name=box.name, no_logit=box.no_logit)

    def versions(self) -> dict[str, str]:
        return {"xaikit": xaikit.__version__, "numpy": np.__version__, **self.box.versions()}

    def fingerprint(self) -> str:
        return self.box.fingerprint()

    # ----------------------------------------------------------------- scores
    def _scores(self, x: np.ndarray, score: str) -> tuple[np.ndarray, np.ndarray]:
        """``(outputs, class scores)`` of one chunk, in one call of the model (a score function: one column)."""
        if callable(score):
            outputs = self.box.evaluate(x)[0]
            value = score(outputs)
            check_score_values(score, value, len(outputs))
            return outputs, np.asarray(value, np.float32)[:, None]
        outputs, logits = self.box.evaluate(x, logits=score == "logit")
        raw = outputs if score != "logit" else logits
        if raw is None:  # resolve_score refuses "logit" before this (ModelSpec.no_logit)
            raise InputError(f"score='logit' is not available: {self.box.no_logit or 'no logits'}")
        activation = self.box.output_activation(outputs.shape[1])
        if outputs.shape[1] == 1 and activation in ("sigmoid", "linear"):  # binary: two columns
            return outputs, (np.concatenate([1.0 - raw, raw], axis=1) if score != "logit" and activation == "sigmoid"
                             else np.concatenate([-raw, raw], axis=1))
        return outputs, raw

    def _predicted(self, outputs: np.ndarray) -> np.ndarray:
        spec = ModelSpec((None, None, None), outputs.shape[1], self.box.output_activation(outputs.shape[1]))
        return predicted_classes(outputs, spec)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.box.evaluate(x)[0]

    def class_scores(self, x: np.ndarray, score: str) -> np.ndarray:
        return self._scores(x, score)[1]

    def target_scores(self, x: np.ndarray, t: np.ndarray, score: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        outputs, scores = self._scores(x, score)
        t_used = (t if callable(score) else np.where(t < 0, self._predicted(outputs), t)).astype(np.int32)
        return np.take_along_axis(scores, t_used[:, None].astype(np.int64), axis=1)[:, 0], outputs, t_used

    def pass_loop(self, plan: Any, x: np.ndarray, t: np.ndarray, iters: int, *, serial: bool = False) -> None:
        """``iters`` forward passes of batch ``x`` (the floor of a perturbation method; no other pass exists).

        Each pass scores ``x + 1e-7 * i``; passes are sequential calls of the model, so
        ``serial`` changes nothing.
        """
        if plan.kind != "forward":
            raise NotImplementedError(f"a black box runs forward passes only; got {plan.kind!r}")
        for i in range(int(iters)):
            self.class_scores(x + np.float32(1e-7 * i), plan.score)
