"""Property tests: any input gives a valid explanation or one of xaikit's documented errors.

Over image shapes (1x1 to non-square), dtypes, value ranges, batch sizes, targets and
every parameter of every (method, backend) -- drawn from the method catalogue's
parameter schemas, so a new method or parameter is covered without editing this file.
The result is either a valid :class:`~xaikit.Explanation` (finite, right shape, and the
same maps for another batch size) or an :class:`~xaikit.XaikitError`; never another
exception type. The number of examples is bounded to keep the run inside the test budget.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xaikit as xk
from xaikit.binding import get_method_class
from xaikit.catalogue import Param
from xaikit.errors import XaikitError
from xaikit.registry import available_backends, list_methods

#: The model a backend explains: a Keras model, a PyTorch module or a NumPy black box (each tiny, any image size).
FRAMEWORK = {"tensorflow": "keras", "tf-explain": "keras", "shap": "keras", "torch": "torch", "captum": "torch",
             "pytorch-grad-cam": "torch", "callable": "numpy"}
_NEEDS = {"keras": "keras", "torch": "torch", "numpy": "numpy"}


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


PAIRS = [(r.id, b) for r in list_methods() if r.id != "activations" for b in r.backends
         if b in FRAMEWORK and b in available_backends() and _installed(_NEEDS[FRAMEWORK[b]])]
PROFILE = settings(max_examples=int(__import__("os").environ.get("XAIKIT_PROPERTY_EXAMPLES", "6")), deadline=None,
                   derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

_MODELS: dict[tuple[str, int], object] = {}


def model_for(framework: str, channels: int):
    """A tiny classifier taking any image size (1x1 convolution, ReLU, global average pooling, 3 classes with a
    softmax), cached per framework and channel count. Layers ``conv`` and ``gap`` in both frameworks."""
    key = (framework, channels)
    if key in _MODELS:
        return _MODELS[key]
    if framework == "keras":
        import keras

        keras.utils.set_random_seed(channels)
        inp = keras.Input((None, None, channels))
        h = keras.layers.Conv2D(3, 1, activation="relu", name="conv")(inp)
        h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
        model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="pred")(h))
    elif framework == "torch":
        import torch
        from torch import nn

        torch.manual_seed(channels)

        class Tiny(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv = nn.Conv2d(channels, 3, 1)
                self.relu = nn.ReLU()
                self.gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
                self.pred = nn.Linear(3, 3)
                self.softmax = nn.Softmax(dim=1)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.softmax(self.pred(self.gap(self.relu(self.conv(x)))))

        model = Tiny().eval()
    else:
        from xaikit_callable import BlackBox

        w = np.random.default_rng(channels).normal(size=(channels, 3)).astype(np.float32)

        def tiny(v: np.ndarray) -> np.ndarray:
            z = np.maximum(v, 0).mean(axis=(1, 2)) @ w
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

        model = BlackBox(tiny, layout="NHWC", output="probability", name="tiny", version=str(channels))
    _MODELS[key] = model
    return model


def value_strategy(p: Param, shape: tuple[int, int, int], channels: int) -> st.SearchStrategy:
    """Valid and invalid values of a parameter (the explainer must accept or refuse them cleanly)."""
    odd = st.sampled_from([None, "text", -1, 0, 1.5, float("nan"), [1, 2, 3], True, 2**70])
    if p.kind == "int":
        low = int(p.low) if p.low is not None else 0
        valid = st.integers(low, min(low + 6, int(p.high) if p.high is not None else low + 6))
    elif p.kind == "float":
        low = float(p.low) if p.low is not None else -1.0
        valid = st.floats(low, low + 1.0, allow_nan=False)
    elif p.kind == "bool":
        valid = st.booleans()
    elif p.kind in ("choice", "score"):
        valid = st.sampled_from(list(p.choices) + ([None] if p.nullable else []))
    elif p.kind == "pair":
        valid = st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4)))
    elif p.kind == "seed":
        valid = st.one_of(st.none(), st.integers(0, 2**31))
    elif p.kind == "layer":
        valid = st.sampled_from([None, "conv", "gap", "nope"])
    elif p.kind == "baseline":  # shape: one image in the model's layout
        valid = st.one_of(st.floats(-1, 1), st.just(np.zeros(channels, np.float32)), st.just(np.zeros(shape)))
    elif p.kind == "images":
        valid = st.just(np.random.default_rng(0).uniform(0, 1, (3, *shape)).astype(np.float32))
    else:
        valid = st.just(p.default)
    return st.one_of(valid, valid, valid, odd)  # mostly valid values


@st.composite
def cases(draw: st.DrawFn, method: str, backend: str) -> tuple:
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.sampled_from([1, 3]))
    n = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.uint8]))
    scale = draw(st.sampled_from([1.0, 255.0, 1e-3, 1e6]))
    x = (np.random.default_rng(draw(st.integers(0, 9))).uniform(0, 1, (n, h, w, c)) * scale).astype(dtype)
    shape = (h, w, c)
    if FRAMEWORK[backend] == "torch":  # PyTorch modules take (N, C, H, W)
        x, shape = np.ascontiguousarray(x.transpose(0, 3, 1, 2)), (c, h, w)
    table = get_method_class(method, backend).param_table()
    params = {}
    for name, p in table.items():
        if name == "batch_size" or (draw(st.booleans()) and p.required is None):
            continue
        params[name] = draw(value_strategy(p, shape, c))
    if "n_samples" in table:
        params["n_samples"] = draw(st.integers(1, 4))
    if "steps" in table:
        params["steps"] = draw(st.integers(1, 5))
    targets = draw(st.one_of(st.none(), st.integers(-1, 3), st.lists(st.integers(0, 2), min_size=n, max_size=n),
                             st.sampled_from([2.0, "circle", np.float64(1)])))
    return x, params, targets


@pytest.mark.parametrize("method,backend", PAIRS, ids=[f"{m}:{b}" for m, b in PAIRS])
def test_any_input_gives_a_valid_explanation_or_a_documented_error(method, backend):
    @PROFILE
    @given(cases(method, backend))
    def check(case: tuple) -> None:
        x, params, targets = case
        torch_layout = FRAMEWORK[backend] == "torch"
        model = model_for(FRAMEWORK[backend], x.shape[1] if torch_layout else x.shape[3])
        try:
            exp = xk.explain(model, x, method=method, backend=backend, targets=targets, batch_size=2, **params)
        except XaikitError:
            return
        n, h, w = (x.shape[0], *x.shape[2:]) if torch_layout else x.shape[:3]
        assert exp.attributions.shape == (n, h, w) and exp.attributions.dtype == np.float32
        assert np.isfinite(exp.attributions).all()
        if "seed" not in params or params.get("seed") is not None:  # a fixed seed (or none): batch-invariant
            other = xk.explain(model, x, method=method, backend=backend, targets=exp.targets, batch_size=64,
                               **{**params, **({"seed": exp.params["seed"]} if "seed" in exp.params else {})})
            if backend in ("tensorflow", "torch", "callable"):  # adapters follow their library's batching
                np.testing.assert_allclose(other.attributions, exp.attributions, rtol=1e-3, atol=1e-5)

    check()
