"""The input invariance check of a method on a model (Kindermans et al. 2019), through the model's backend.

:func:`input_invariance_check` builds the model's shifted twin with its backend's services
(:meth:`xaikit.services.ModelServices.shift_input`: a copy whose first layer's bias absorbs
a constant shift of the input), checks that the twin computes the same outputs on the
shifted images, explains both with the same method and parameters, and scores the change
of the maps with :func:`xaikit.metrics.input_invariance`.

>>> import xaikit as xk
>>> res = xk.input_invariance_check(model, images, "gradient_x_input")   # doctest: +SKIP
>>> res.values                                                           # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._api import get_explainer
from .errors import ModelError
from .kernels import to_layout
from .metrics import MetricResult
from .metrics.axioms import input_invariance
from .validation import check_images, check_positive_int, check_targets

__all__ = ["input_invariance_check"]


def input_invariance_check(model: Any, images: Any, method: str, *, shift: float = -1.0, targets: Any = None,
                           backend: str = "auto", batch_size: int = 32, **params: Any) -> MetricResult:
    """Input invariance of ``method`` on ``model`` (Kindermans et al., "The (Un)reliability of Saliency Methods").

    Parameters
    ----------
    model
        A model whose backend can shift its first layer (PyTorch, Keras). Left unchanged.
    images : array-like
        A batch in the model's layout, preprocessed as the model takes it.
    method : str
        The method id; ``params`` are its parameters (the same on both models).
    shift : float
        The constant added to every input value (Quantus's default -1).
    targets : None, int or sequence of int
        The classes explained on both models; ``None``: the model's predicted classes.
    backend : str
        The method's backend (``"auto"``: the model's native one).
    batch_size : int
        Largest number of images explained or scored at once.

    Returns
    -------
    MetricResult
        :func:`xaikit.metrics.input_invariance` per image (0: invariant); ``params`` also
        hold the method, its backend and the largest output difference of the twin.

    Raises
    ------
    ModelError
        The backend cannot build the shifted twin, or the twin's outputs on the shifted
        images differ from the model's (something before the first layer does not commute
        with the shift, such as a rescaling inside the model).
    """
    from .registry import services_for

    services = services_for(model)
    layout = services.describe(model, None).layout
    x = check_images(images, layout=layout)
    batch_size = check_positive_int("batch_size", batch_size)
    shifted_model = services.shift_input(model, shift, x)
    x_shifted = (x + np.float32(shift)).astype(np.float32)
    before = services.class_scores(model, x, "output", batch_size)
    after = services.class_scores(shifted_model, x_shifted, "output", batch_size)
    gap = float(np.abs(before - after).max())
    if gap > 1e-4 * max(1.0, float(np.abs(before).max())):
        raise ModelError(f"the model with its first layer's bias shifted by {shift} gives outputs up to {gap:.3g} "
                         "away from the model's on the shifted images: something before its first layer (a "
                         "rescaling, a normalisation in forward) does not pass a constant shift through unchanged. "
                         "Check the model without that step (feed it the already normalised images)")
    t = np.argmax(before, axis=1).astype(np.int64) if targets is None else check_targets(targets, len(x), None)
    kwargs = {"batch_size": batch_size, **params} if "batch_size" in _param_names(method, model, backend) else params
    explainers = [get_explainer(m, method, backend=backend, **kwargs) for m in (model, shifted_model)]
    first: dict[str, Any] = {}

    def runner(explainer: Any) -> Any:
        def explain_fn(xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
            exp = explainer.explain(to_layout(xs, "NHWC", layout), ts)
            first.setdefault("method", exp.method)
            first.setdefault("backend", exp.backend)
            first.setdefault("params", dict(exp.params))
            return exp.attributions
        return explain_fn

    res = input_invariance(runner(explainers[0]), runner(explainers[1]), to_layout(x, layout, "NHWC"), t,
                           shift=shift, batch_size=batch_size)
    return MetricResult(values=res.values, targets=res.targets,
                        params={**res.params, **first, "output_gap": gap})


def _param_names(method: str, model: Any, backend: str) -> tuple[str, ...]:
    from .binding import get_method_class
    from .registry import backend_for_model

    name = backend_for_model(model, method) if backend == "auto" else backend
    return tuple(get_method_class(method, name).param_names())
