"""The checks every method of a backend passes: the result's contract, score functions, batch-size invariance,
seeds and threads."""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

import numpy as np

from ..errors import InputError
from ..targets import MultiLabel, Regression
from .factory import IMAGE_SHAPE, N_CLASSES, ModelFactory

__all__ = ["accepted_params", "check_batch_size", "check_contract", "check_score_function", "check_seeds",
           "check_threads", "explain_with", "floor_from_params", "score_function_for"]


def score_function_for(backend: str, method: str, model: Any) -> Any:
    """A score function of the raw output every framework's tensors take; None where the explainer refuses them."""
    import xaikit as xk

    explainer = xk.get_explainer(model, method, backend=backend)  # a dispatching class gives the model's own
    return None if explainer.score_function_refusal else MultiLabel([0, 2])


def explain_with(backend: str, method: str, model: Any, x: np.ndarray, targets: Any = None, **params: Any) -> Any:
    import xaikit as xk

    return xk.explain(model, x, method=method, backend=backend, targets=targets, **params)


def floor_from_params(method: str, exp: Any) -> None:
    """The bench's and the speed suite's floor of ``exp`` comes from what the result records (every backend must
    record what its method's floor counts, e.g. the channels of a per-channel CAM)."""
    from ..catalogue import METHODS

    if METHODS[method].floor_fn is None:  # a library-only method: no floor
        return
    plan = METHODS[method].floor(exp.params, layer=exp.layer, score=exp.score or "output",
                                 image_size=exp.attributions.shape[1:])
    assert plan.passes >= 1, plan


def check_contract(backend: str, method: str, model: Any, factory: ModelFactory, params: dict, fn: Any) -> None:
    import xaikit as xk

    x = factory.images(3)
    n, (h, w) = len(x), IMAGE_SHAPE[:2]
    exp = explain_with(backend, method, model, x, **params)
    assert isinstance(exp, xk.Explanation), type(exp)
    assert exp.method == method and exp.backend == backend, (exp.method, exp.backend)
    assert exp.attributions.shape == (n, h, w) and exp.attributions.dtype == np.float32, exp.attributions.shape
    assert np.isfinite(exp.attributions).all(), "non-finite attributions"
    assert exp.targets.dtype == np.int64 and exp.targets.shape == (n,), exp.targets
    assert exp.predictions.dtype == np.int64 and exp.predictions.shape == (n,), exp.predictions
    assert exp.outputs.shape == (n, N_CLASSES), exp.outputs.shape
    np.testing.assert_array_equal(exp.targets, exp.predictions, err_msg="targets=None must explain the prediction")
    assert exp.layout == factory.layout, (exp.layout, factory.layout)
    assert "batch_size" in exp.params and "score" in exp.params, sorted(exp.params)
    floor_from_params(method, exp)
    fixed = explain_with(backend, method, model, x, targets=1, **params)
    assert fixed.targets.tolist() == [1] * n, fixed.targets
    each = explain_with(backend, method, model, x, targets=[3, 2, 1], **params)
    assert each.targets.tolist() == [3, 2, 1], each.targets
    try:
        explain_with(backend, method, model, x, targets=[N_CLASSES, 0, 0], **params)
    except InputError:
        pass
    else:
        raise AssertionError(f"target {N_CLASSES} of a {N_CLASSES}-class model must raise InputError")
    check_score_function(backend, method, model, x, params, fn)


def check_score_function(backend: str, method: str, model: Any, x: np.ndarray, params: dict, fn: Any) -> None:
    """A score function is explained like the class it selects, and recorded by name; or refused."""
    column = Regression(1)
    if fn is None:
        try:
            explain_with(backend, method, model, x, targets=column, **params)
        except InputError as exc:
            assert "cannot explain a score function" in str(exc), exc
            return
        raise AssertionError("a class with score_function_refusal must refuse a score function")
    via = explain_with(backend, method, model, x, targets=column, **params)
    assert via.target == "Regression(i=1)" and via.score == "function", (via.target, via.score)
    assert via.targets.tolist() == [-1] * len(x) and via.params["target"] == via.target, via.targets
    if "score" in accepted_params(backend, method):
        ref = explain_with(backend, method, model, x, targets=1, **{**params, "score": "output"})
        np.testing.assert_allclose(via.attributions, ref.attributions, rtol=1e-4,
                                   atol=1e-6 * max(1.0, float(np.abs(ref.attributions).max())),
                                   err_msg="the score function outputs[:, 1] must give the maps of class 1 "
                                           "with score='output'")


def accepted_params(backend: str, method: str) -> set[str]:
    from ..binding import get_method_class

    return set(get_method_class(method, backend).param_names())


def check_batch_size(backend: str, method: str, model: Any, factory: ModelFactory, params: dict, fn: Any) -> None:
    x = factory.images(5)
    t = [0, 1, 2, 3, 0]
    big = explain_with(backend, method, model, x, targets=t, **{**params, "batch_size": 64})
    for b in (1, 3):
        small = explain_with(backend, method, model, x, targets=t, **{**params, "batch_size": b})
        np.testing.assert_allclose(small.attributions, big.attributions, rtol=2e-4, atol=1e-6,
                                   err_msg=f"batch_size={b} vs 64")
    if fn is not None:
        big, small = (explain_with(backend, method, model, x, targets=fn, **{**params, "batch_size": b})
                      for b in (64, 1))
        np.testing.assert_allclose(small.attributions, big.attributions, rtol=2e-4, atol=1e-6,
                                   err_msg="batch_size=1 vs 64 with a score function")


def check_seeds(backend: str, method: str, model: Any, factory: ModelFactory, params: dict, fn: Any) -> None:
    x = factory.images(2)
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    a = explain_with(backend, method, model, x, targets=[0, 1], **params)
    b = explain_with(backend, method, model, x, targets=[0, 1], **params)
    np.testing.assert_array_equal(a.attributions, b.attributions, err_msg="same seed, different maps")
    other = explain_with(backend, method, model, x, targets=[0, 1], **{**params, "seed": params["seed"] + 1})
    assert not np.allclose(other.attributions, a.attributions), "another seed gave the same maps"
    drawn_targets = [0, 1] if fn is None else fn  # a score function reproduces its maps by seed too
    drawn = explain_with(backend, method, model, x, targets=drawn_targets, **{**params, "seed": None})
    assert isinstance(drawn.params["seed"], int), "seed=None must record the seed it drew"
    again = explain_with(backend, method, model, x, targets=drawn_targets, **{**params, "seed": drawn.params["seed"]})
    np.testing.assert_array_equal(again.attributions, drawn.attributions, err_msg="the recorded seed does not "
                                  "reproduce the result")
    np.testing.assert_array_equal(np.random.get_state()[1], state, err_msg="NumPy's global random state changed")


def check_threads(backend: str, method: str, model: Any, factory: ModelFactory, params: dict, fn: Any) -> None:
    x = factory.images(3)
    jobs: list[Any] = [[0, 1, 2], [1, 2, 3], [2, 3, 0] if fn is None else fn, [3, 0, 1]]
    expected = [explain_with(backend, method, model, x, targets=t, **params).attributions for t in jobs]
    with cf.ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda t: explain_with(backend, method, model, x, targets=t, **params).attributions, jobs))
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg="threads changed the result")

