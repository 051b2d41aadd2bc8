"""A conformance suite for xaikit backends, in the spirit of scikit-learn's ``check_estimator``.

Every backend in the repository runs it (``tests/test_conformance.py``), and a third party
runs it on its own backend: give a :class:`ModelFactory` that builds two tiny models in
your framework, then call the checks::

    from xaikit.testing import ModelFactory, conformance_checks

    class MyFactory(ModelFactory):
        layout = "NCHW"
        def linear(self, weights, bias, activation): ...   # f(x) = act(W . x + b)
        def cnn(self): ...                                   # (model, layer name)

    @pytest.mark.parametrize("check", conformance_checks("mybackend", MyFactory()), ids=str)
    def test_conformance(check):
        check()

What is checked, for every method the backend offers (``xaikit.list_methods``):

- **contract**: an :class:`~xaikit.Explanation` with float32 ``(N, H, W)`` finite maps,
  int64 targets and predictions, the model's outputs, the effective parameters and the
  layout recorded; explicit targets (an int, one per image) are honoured; an
  out-of-range target is an :class:`~xaikit.InputError`;
- **score functions** (:mod:`xaikit.targets`): a backend either explains one -- the
  score function ``outputs[:, 1]`` gives the maps of class 1 with ``score="output"``,
  and the result records the function (``target``), no class (``targets`` -1) -- or
  refuses it with an :class:`~xaikit.InputError` (``score_function_refusal``);
- **batch-size invariance**: ``batch_size=1`` gives the maps of ``batch_size=64``, for
  classes and for a score function;
- **seeds** (random methods): the same seed gives the same maps, another seed other
  maps, ``seed=None`` records the seed it drew (and it reproduces the maps of a score
  function), and NumPy's global random state is not touched;
- **threads**: four threads explaining one model give the sequential results, one of
  them explaining a score function;
- **references** (native backends): on a linear model ``f(x) = W x + b`` the methods
  have closed forms -- vanilla gradients ``W_t``, gradient x input ``x W_t``,
  integrated gradients ``(x - b) W_t`` for every quadrature rule, SmoothGrad ``W_t``,
  expected gradients with one reference ``(x - r) W_t``, occlusion the patch share of
  ``W_t (x - baseline)``, guided backpropagation and deconvnet refused with a
  :class:`~xaikit.ModelError` naming ``vanilla_gradients`` (no ReLU to modify: they would be
  the gradient under another name), VarGrad 0 and SquareGrad ``W_t^2`` (a constant gradient), KernelSHAP and
  LIME without ridge the sum of ``W_t (x - baseline)`` over each segment, RISE keeping
  every pixel ``f_t(x)`` everywhere, Sobol Jansen's estimator of the additive model on
  the same designs -- compared with the NumPy kernels of the core.
"""

from __future__ import annotations

import abc
import concurrent.futures as cf
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError, ModelError
from .kernels import (
    accumulate_windows,
    grid_segments,
    jansen_total_indices,
    patch_windows,
    sobol_designs,
    sobol_rows,
    to_layout,
)
from .targets import MultiLabel, Regression

__all__ = ["ModelFactory", "Check", "conformance_checks", "IMAGE_SHAPE", "N_CLASSES"]

#: The canonical image shape of the checks, ``(H, W, C)`` (non-square on purpose).
IMAGE_SHAPE = (6, 8, 3)
#: Classes of the conformance models (their outputs).
N_CLASSES = 4


class ModelFactory(abc.ABC):
    """Builds the two tiny models the checks need, in a backend's framework.

    Attributes
    ----------
    layout : str
        ``"NHWC"`` or ``"NCHW"``: how the models take a batch.
    """

    layout: str = "NHWC"

    @abc.abstractmethod
    def linear(self, weights: np.ndarray, bias: np.ndarray, activation: str) -> Any:
        """``f(x) = activation(sum_hwc W[h, w, c, k] x[h, w, c] + b[k])`` on images of :data:`IMAGE_SHAPE`.

        ``weights`` is ``(H, W, C, K)`` in the canonical channels-last order whatever the
        model's layout; ``activation`` is ``"linear"`` (the outputs are logits) or
        ``"softmax"``.
        """

    @abc.abstractmethod
    def cnn(self) -> tuple[Any, str]:
        """A small seeded CNN on :data:`IMAGE_SHAPE` images with :data:`N_CLASSES` softmax outputs, and a spatial
        layer name for layer methods (a convolution's output)."""

    def images(self, n: int = 3, seed: int = 0) -> np.ndarray:
        """``n`` random images in the model's layout."""
        x = np.random.default_rng(seed).uniform(0, 1, (n, *IMAGE_SHAPE)).astype(np.float32)
        return to_layout(x, "NHWC", self.layout)


@dataclass(frozen=True)
class Check:
    """One conformance check: call it; it raises ``AssertionError`` with the details when it fails."""

    name: str
    run: Callable[[], None]

    def __call__(self) -> None:
        self.run()

    def __str__(self) -> str:
        return self.name


def _method_params(method: str, factory: ModelFactory, layer: str | None, backend_params: set[str]) -> dict:
    x = factory.images(4, seed=9)
    table = {
        "occlusion": {"patch_size": 2, "baseline": 0.5},
        "smoothgrad": {"n_samples": 4, "seed": 3},
        "vargrad": {"n_samples": 4, "seed": 3},
        "squaregrad": {"n_samples": 4, "seed": 3},
        "integrated_gradients": {"steps": 6},
        "expected_gradients": {"background": x, "n_samples": 8, "seed": 4},
        "rise": {"n_samples": 16, "grid_size": 3, "seed": 3},
        "kernel_shap": {"n_samples": 24, "n_segments": 12, "seed": 3},
        # lasso_alpha: Captum's Lime fits a Lasso whose default penalty zeroes every coefficient of these tiny
        # models' probabilities (whatever the seed); an unpenalised fit shows what the draws change
        "lime": {"n_samples": 24, "n_segments": 12, "seed": 3, "lasso_alpha": 0.0},
        "sobol": {"grid_size": 2, "n_designs": 4},
        "partition_shap": {"max_evals": 24},  # shap's default 500 masked passes per image and target: 20 s a check
        "deepliftshap": {"background": x[:2]},
        "layer_conductance": {"steps": 4, "integration": "riemann_trapezoid"},
    }
    params = dict(table.get(method, {}))
    from .catalogue import METHODS

    if METHODS[method].layer == "auto":  # the CAM family
        params["layer"] = layer
    if "noise_std" in backend_params and "n_samples" in params:  # tf-explain's absolute noise
        params["noise_std"] = 0.1
    return {k: v for k, v in params.items() if k in backend_params}


def _offered(backend: str) -> list[str]:
    from .catalogue import ATTENTION_METHODS
    from .registry import get_backend

    # the attention methods need a transformer; the suite's models are CNNs (tests/test_attention.py covers them)
    return [m for m in get_backend(backend).offered() if m != "activations" and m not in ATTENTION_METHODS]


def conformance_checks(backend: str, factory: ModelFactory, methods: list[str] | None = None) -> list[Check]:
    """The checks of ``backend`` (see the module docstring), one :class:`Check` per (kind, method)."""
    from .binding import get_method_class
    from .registry import get_backend

    spec = get_backend(backend)
    methods = methods or _offered(backend)
    checks: list[Check] = []
    state: dict[str, Any] = {}

    def cnn() -> tuple[Any, str]:
        if "cnn" not in state:
            state["cnn"] = factory.cnn()
        return state["cnn"]

    for method in methods:
        cls = get_method_class(method, backend)
        accepted = set(cls.param_names())
        random = "seed" in accepted

        def params(m: str = method, a: set[str] = accepted) -> dict:
            return _method_params(m, factory, cnn()[1], a)

        def fn(m: str = method) -> Any:
            return _score_function(backend, m, cnn()[0])

        checks.append(Check(f"{backend}:{method}:contract", lambda m=method, p=params, f=fn: _contract(
            backend, m, cnn()[0], factory, p(), f())))
        if spec.native or not random:
            checks.append(Check(f"{backend}:{method}:batch_size", lambda m=method, p=params, f=fn: _batch_size(
                backend, m, cnn()[0], factory, p(), f())))
        if random:
            checks.append(Check(f"{backend}:{method}:seeds", lambda m=method, p=params, f=fn: _seeds(
                backend, m, cnn()[0], factory, p(), f())))
        checks.append(Check(f"{backend}:{method}:threads", lambda m=method, p=params, f=fn: _threads(
            backend, m, cnn()[0], factory, p(), f())))
        if spec.native and method in _REFERENCES:
            checks.append(Check(f"{backend}:{method}:reference", lambda m=method: _REFERENCES[m](backend, factory)))
    return checks


# ----------------------------------------------------------------------------- checks
def _score_function(backend: str, method: str, model: Any) -> Any:
    """A score function of the raw output every framework's tensors take; None where the explainer refuses them."""
    import xaikit as xk

    explainer = xk.get_explainer(model, method, backend=backend)  # a dispatching class gives the model's own
    return None if explainer.score_function_refusal else MultiLabel([0, 2])


def _explain(backend: str, method: str, model: Any, x: np.ndarray, targets: Any = None, **params: Any) -> Any:
    import xaikit as xk

    return xk.explain(model, x, method=method, backend=backend, targets=targets, **params)


def _floor_from_params(method: str, exp: Any) -> None:
    """The bench's and the speed suite's floor of ``exp`` comes from what the result records (every backend must
    record what its method's floor counts, e.g. the channels of a per-channel CAM)."""
    from .catalogue import METHODS

    if METHODS[method].floor_fn is None:  # a library-only method: no floor
        return
    plan = METHODS[method].floor(exp.params, layer=exp.layer, score=exp.score or "output",
                                 image_size=exp.attributions.shape[1:])
    assert plan.passes >= 1, plan


def _contract(backend: str, method: str, model: Any, factory: ModelFactory, params: dict, fn: Any) -> None:
    import xaikit as xk

    x = factory.images(3)
    n, (h, w) = len(x), IMAGE_SHAPE[:2]
    exp = _explain(backend, method, model, x, **params)
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
    _floor_from_params(method, exp)
    fixed = _explain(backend, method, model, x, targets=1, **params)
    assert fixed.targets.tolist() == [1] * n, fixed.targets
    each = _explain(backend, method, model, x, targets=[3, 2, 1], **params)
    assert each.targets.tolist() == [3, 2, 1], each.targets
    try:
        _explain(backend, method, model, x, targets=[N_CLASSES, 0, 0], **params)
    except InputError:
        pass
    else:
        raise AssertionError(f"target {N_CLASSES} of a {N_CLASSES}-class model must raise InputError")
    _score_function_contract(backend, method, model, x, params, fn)


def _score_function_contract(backend: str, method: str, model: Any, x: np.ndarray, params: dict, fn: Any) -> None:
    """A score function is explained like the class it selects, and recorded by name; or refused."""
    column = Regression(1)
    if fn is None:
        try:
            _explain(backend, method, model, x, targets=column, **params)
        except InputError as exc:
            assert "cannot explain a score function" in str(exc), exc
            return
        raise AssertionError("a class with score_function_refusal must refuse a score function")
    via = _explain(backend, method, model, x, targets=column, **params)
    assert via.target == "Regression(i=1)" and via.score == "function", (via.target, via.score)
    assert via.targets.tolist() == [-1] * len(x) and via.params["target"] == via.target, via.targets
    if "score" in _accepted(backend, method):
        ref = _explain(backend, method, model, x, targets=1, **{**params, "score": "output"})
        np.testing.assert_allclose(via.attributions, ref.attributions, rtol=1e-4,
                                   atol=1e-6 * max(1.0, float(np.abs(ref.attributions).max())),
                                   err_msg="the score function outputs[:, 1] must give the maps of class 1 "
                                           "with score='output'")


def _accepted(backend: str, method: str) -> set[str]:
    from .binding import get_method_class

    return set(get_method_class(method, backend).param_names())


def _batch_size(backend: str, method: str, model: Any, factory: ModelFactory, params: dict, fn: Any) -> None:
    x = factory.images(5)
    t = [0, 1, 2, 3, 0]
    big = _explain(backend, method, model, x, targets=t, **{**params, "batch_size": 64})
    for b in (1, 3):
        small = _explain(backend, method, model, x, targets=t, **{**params, "batch_size": b})
        np.testing.assert_allclose(small.attributions, big.attributions, rtol=2e-4, atol=1e-6,
                                   err_msg=f"batch_size={b} vs 64")
    if fn is not None:
        big, small = (_explain(backend, method, model, x, targets=fn, **{**params, "batch_size": b}) for b in (64, 1))
        np.testing.assert_allclose(small.attributions, big.attributions, rtol=2e-4, atol=1e-6,
                                   err_msg="batch_size=1 vs 64 with a score function")


def _seeds(backend: str, method: str, model: Any, factory: ModelFactory, params: dict, fn: Any) -> None:
    x = factory.images(2)
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    a = _explain(backend, method, model, x, targets=[0, 1], **params)
    b = _explain(backend, method, model, x, targets=[0, 1], **params)
    np.testing.assert_array_equal(a.attributions, b.attributions, err_msg="same seed, different maps")
    other = _explain(backend, method, model, x, targets=[0, 1], **{**params, "seed": params["seed"] + 1})
    assert not np.allclose(other.attributions, a.attributions), "another seed gave the same maps"
    drawn_targets = [0, 1] if fn is None else fn  # a score function reproduces its maps by seed too
    drawn = _explain(backend, method, model, x, targets=drawn_targets, **{**params, "seed": None})
    assert isinstance(drawn.params["seed"], int), "seed=None must record the seed it drew"
    again = _explain(backend, method, model, x, targets=drawn_targets, **{**params, "seed": drawn.params["seed"]})
    np.testing.assert_array_equal(again.attributions, drawn.attributions, err_msg="the recorded seed does not "
                                  "reproduce the result")
    np.testing.assert_array_equal(np.random.get_state()[1], state, err_msg="NumPy's global random state changed")


def _threads(backend: str, method: str, model: Any, factory: ModelFactory, params: dict, fn: Any) -> None:
    x = factory.images(3)
    jobs: list[Any] = [[0, 1, 2], [1, 2, 3], [2, 3, 0] if fn is None else fn, [3, 0, 1]]
    expected = [_explain(backend, method, model, x, targets=t, **params).attributions for t in jobs]
    with cf.ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda t: _explain(backend, method, model, x, targets=t, **params).attributions, jobs))
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg="threads changed the result")


# ----------------------------------------------------------------------------- references on a linear model
def _linear(factory: ModelFactory, activation: str = "linear") -> tuple[Any, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    weights = rng.normal(0, 1, (*IMAGE_SHAPE, N_CLASSES)).astype(np.float32)
    bias = rng.normal(0, 0.1, N_CLASSES).astype(np.float32)
    return factory.linear(weights, bias, activation), weights, bias


def _canonical(exp: Any, factory: ModelFactory) -> np.ndarray:
    """``channel_attributions`` in canonical channels-last order."""
    return to_layout(exp.channel_attributions, factory.layout, "NHWC")


def _ref_gradients(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(3)
    t = np.array([0, 2, 3])
    exp = _explain(backend, "vanilla_gradients", model, x, targets=t)
    expected = np.stack([weights[..., k] for k in t])
    np.testing.assert_allclose(_canonical(exp, factory), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(exp.attributions, expected.sum(-1), rtol=1e-5, atol=1e-5)


def _ref_gradient_x_input(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(3)
    t = np.array([1, 1, 0])
    exp = _explain(backend, "gradient_x_input", model, x, targets=t)
    expected = to_layout(x, factory.layout, "NHWC") * np.stack([weights[..., k] for k in t])
    np.testing.assert_allclose(_canonical(exp, factory), expected, rtol=1e-5, atol=1e-6)


def _ref_smoothgrad(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(2)
    exp = _explain(backend, "smoothgrad", model, x, targets=[3, 1], n_samples=5, noise=0.3, seed=0)
    expected = np.stack([weights[..., 3], weights[..., 1]])  # the gradient of a linear model is constant
    np.testing.assert_allclose(_canonical(exp, factory), expected, rtol=1e-5, atol=1e-5)


def _ref_integrated_gradients(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(2)
    t = np.array([0, 3])
    delta = to_layout(x, factory.layout, "NHWC") - 0.25
    expected = delta * np.stack([weights[..., k] for k in t])
    for rule in ("trapezoid", "left", "right", "midpoint"):
        exp = _explain(backend, "integrated_gradients", model, x, targets=t, steps=4, baseline=0.25,
                       integration=rule)
        np.testing.assert_allclose(_canonical(exp, factory), expected, rtol=1e-5, atol=1e-5, err_msg=rule)
        np.testing.assert_allclose(exp.extras["completeness_gap"], 0.0, atol=1e-4, err_msg=rule)


def _ref_expected_gradients(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(2)
    reference = factory.images(1, seed=5)
    t = np.array([2, 0])
    exp = _explain(backend, "expected_gradients", model, x, targets=t, background=reference, n_samples=16, seed=0)
    delta = to_layout(x - reference, factory.layout, "NHWC")
    expected = delta * np.stack([weights[..., k] for k in t])
    np.testing.assert_allclose(_canonical(exp, factory), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(exp.extras["completeness_gap"], 0.0, atol=1e-3)


def _ref_occlusion(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(2)
    t = np.array([1, 2])
    exp = _explain(backend, "occlusion", model, x, targets=t, patch_size=(2, 3), stride=(1, 2), baseline=0.5)
    h, w = IMAGE_SHAPE[:2]
    windows = patch_windows(h, w, (2, 3), (1, 2))
    contrib = (to_layout(x, factory.layout, "NHWC") - 0.5) * np.stack([weights[..., k] for k in t])
    drops = np.stack([[contrib[i, top:bottom, left:right].sum() for top, left, bottom, right in windows]
                      for i in range(len(x))])
    np.testing.assert_allclose(exp.attributions, accumulate_windows(drops, windows, (h, w)), rtol=1e-4, atol=1e-5)


def _ref_modified_backward(backend: str, factory: ModelFactory) -> None:
    model, _, _ = _linear(factory)
    x = factory.images(2)
    t = np.array([3, 0])
    for method in ("guided_backprop", "deconvnet"):  # no ReLU to modify: the gradient under another name, refused
        try:
            _explain(backend, method, model, x, targets=t)
        except ModelError as exc:
            if "vanilla_gradients" not in str(exc):
                raise AssertionError(f"{method} on a network without ReLU: the refusal does not name "
                                     f"vanilla_gradients: {exc}") from None
        else:
            raise AssertionError(f"{method} on a network without ReLU returned a result instead of refusing")


def _ref_gradient_statistics(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(2)
    t = np.array([1, 2])
    w = np.stack([weights[..., k] for k in t])
    var = _explain(backend, "vargrad", model, x, targets=t, n_samples=5, noise=0.3, seed=0)
    square = _explain(backend, "squaregrad", model, x, targets=t, n_samples=5, noise=0.3, seed=0)
    np.testing.assert_allclose(_canonical(var, factory), 0.0, atol=1e-6 * float((w ** 2).max()))
    np.testing.assert_allclose(_canonical(square, factory), w ** 2, rtol=1e-5, atol=1e-6)


def _segment_values(contribution: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each pixel's segment's total of ``contribution`` (per-pixel, channels summed)."""
    totals = np.bincount(labels.ravel(), weights=contribution.ravel(), minlength=int(labels.max()) + 1)
    return totals[labels]


def _ref_surrogates(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(2)
    t = np.array([2, 1])
    contribution = ((to_layout(x, factory.layout, "NHWC") - 0.25) * np.stack([weights[..., k] for k in t])).sum(-1)
    for method, extra in (("kernel_shap", {}), ("lime", {"ridge_alpha": 0.0})):
        exp = _explain(backend, method, model, x, targets=t, segmentation="grid", n_segments=6, n_samples=40,
                       baseline=0.25, seed=0, **extra)
        labels = grid_segments(IMAGE_SHAPE[:2], (2, 3))
        np.testing.assert_array_equal(exp.extras["segments"], np.stack([labels, labels]))
        expected = np.stack([_segment_values(c, labels) for c in contribution])
        np.testing.assert_allclose(exp.attributions, expected, rtol=1e-4, atol=1e-4, err_msg=method)


def _ref_rise(backend: str, factory: ModelFactory) -> None:
    model, _, _ = _linear(factory)
    x = factory.images(2)
    exp = _explain(backend, "rise", model, x, targets=[0, 3], n_samples=3, p_keep=1.0, seed=0)
    expected = exp.outputs[[0, 1], [0, 3]][:, None, None]  # every mask keeps every pixel
    np.testing.assert_allclose(exp.attributions, np.broadcast_to(expected, exp.attributions.shape), rtol=1e-5)


def _ref_sobol(backend: str, factory: ModelFactory) -> None:
    model, weights, _ = _linear(factory)
    x = factory.images(1)
    exp = _explain(backend, "sobol", model, x, targets=2, grid_size=2, n_designs=16, baseline=0.5)
    labels = grid_segments(IMAGE_SHAPE[:2], (2, 2))
    contribution = ((to_layout(x, factory.layout, "NHWC")[0] - 0.5) * weights[..., 2]).sum(-1)
    cells = np.bincount(labels.ravel(), weights=contribution.ravel(), minlength=4)
    a, b = sobol_designs(4, 16)
    expected = jansen_total_indices(sobol_rows(a, b, np.arange(16 * 5)) @ cells, 16)  # f = f(b) + cells . mask
    np.testing.assert_allclose(exp.layer_attributions[0].ravel(), expected, rtol=1e-3, atol=1e-5)


_REFERENCES: dict[str, Callable[[str, ModelFactory], None]] = {
    "vanilla_gradients": _ref_gradients,
    "gradient_x_input": _ref_gradient_x_input,
    "smoothgrad": _ref_smoothgrad,
    "integrated_gradients": _ref_integrated_gradients,
    "expected_gradients": _ref_expected_gradients,
    "occlusion": _ref_occlusion,
    "guided_backprop": _ref_modified_backward,
    "vargrad": _ref_gradient_statistics,
    "kernel_shap": _ref_surrogates,
    "rise": _ref_rise,
    "sobol": _ref_sobol,
}


def iter_checks(backend: str, factory: ModelFactory) -> Iterator[Check]:  # pragma: no cover - convenience
    """The checks one by one (for running outside pytest: ``for c in iter_checks(...): c()``)."""
    yield from conformance_checks(backend, factory)
