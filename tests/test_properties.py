"""Property tests: any input gives a valid explanation or one of xaikit's documented errors.

Over image shapes (1x1 to non-square), dtypes, value ranges, batch sizes, targets and
every parameter of every (method, backend) -- drawn from the method catalogue's
parameter schemas, so a new method or parameter is covered without editing this file.
The result is either a valid :class:`~xaikit.Explanation` (finite, right shape, and the
same maps for another batch size) or an :class:`~xaikit.XaikitError`; never another
exception type. A case drawn valid (every parameter from its schema's valid values, minus
the documented refusals of :data:`CONTEXT_RULES`, valid targets, images every default
fits) must give a result: a regression refusing valid values does not pass as "a
documented error". The number of examples is bounded to keep the run inside the test budget.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xaikit as xk
from xaikit.binding import get_method_class
from xaikit.catalogue import ATTENTION_METHODS, Param
from xaikit.catalogue.constraints import Constraint
from xaikit.errors import XaikitError
from xaikit.registry import available_backends, list_methods

#: The model a backend explains: a Keras model, a PyTorch module or a NumPy black box (each tiny, any image size).
FRAMEWORK = {"tensorflow": "keras", "tf-explain": "keras", "shap": "keras", "torch": "torch", "captum": "torch",
             "pytorch-grad-cam": "torch", "callable": "numpy"}
_NEEDS = {"keras": "keras", "torch": "torch", "numpy": "numpy"}


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# The attention methods need a transformer (tests/test_attention.py); these tiny CNNs are refused by name.
PAIRS = [(r.id, b) for r in list_methods() if r.id != "activations" and r.id not in ATTENTION_METHODS
         for b in r.backends if b in FRAMEWORK and b in available_backends() and _installed(_NEEDS[FRAMEWORK[b]])]
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


#: Values a parameter's schema allows that the method refuses for a documented reason of its own: not "valid".
CONTEXT_RULES = {"n_designs": lambda v: v & (v - 1) == 0,  # Sobol designs: a power of two
                 "steps": lambda v: v >= 2, "n_samples": lambda v: v >= 2,  # some integrations and statistics
                 "n_segments": lambda v: v >= 2}  # Captum's KernelShap needs two segments
#: The smallest image every default fits (occlusion's 8-pixel patch).
VALID_SIZE = 8


def value_strategy(p: Param, shape: tuple[int, int, int], channels: int, framework: str,
                   valid_only: bool = False) -> st.SearchStrategy:
    """``(value, valid)``: valid values of a parameter, and (unless ``valid_only``) odd ones the explainer must
    accept or refuse cleanly (among them the parameter's own invalid example, :mod:`xaikit.catalogue.constraints`)."""
    c = p.constraint
    odd = st.sampled_from([None, "text", -1, 0, 1.5, float("nan"), [1, 2, 3], True, 2**70, c.invalid_example()])
    if p.kind == "int":  # a few integers from the range's valid example up
        low = c.valid_example()
        valid = st.integers(low, low + 3).filter(lambda v: _accepts(c, v))
    elif p.kind == "float":  # a few points of the range (not its subnormal edge: a documented numerical refusal)
        start = c.low if c.low is not None else -1.0
        valid = st.sampled_from([v for v in (start + d for d in (0.0, 0.1, 0.5, 1.0)) if _accepts(c, v)]
                                or [p.default])
    elif p.kind == "bool":
        valid = st.booleans()
    elif p.kind in ("choice", "score"):  # a black box returning probabilities has no logit
        choices = [v for v in c.choices if not (framework == "numpy" and v == "logit")]
        valid = st.sampled_from(choices + ([None] if p.nullable else []))
    elif p.kind == "pair":  # from 2: a 1-pixel patch on a valid image is 64 passes, too slow for this budget
        valid = st.one_of(st.integers(2, 4), st.tuples(st.integers(2, 4), st.integers(2, 4)))
    elif p.kind == "seed":
        valid = st.one_of(st.none(), st.integers(0, 2**31))
    elif p.kind == "layer":
        valid = st.sampled_from([c.valid_example(), "conv"])
        odd = st.sampled_from(["gap", c.invalid_example(), 3])  # a layer without a spatial output, no such layer
    elif p.kind == "baseline":  # shape: one image in the model's layout
        valid = st.one_of(st.floats(-1, 1), st.just(np.zeros(channels, np.float32)), st.just(np.zeros(shape)))
    elif p.kind == "images":
        valid = st.just(np.random.default_rng(0).uniform(0, 1, (3, *shape)).astype(np.float32))
    else:
        valid = st.just(p.default)
    rule = CONTEXT_RULES.get(p.name)
    valid = valid.map(lambda v: (v, rule is None or not isinstance(v, int) or isinstance(v, bool) or rule(v)))
    if valid_only:
        return valid.filter(lambda pair: pair[1])
    return st.one_of(valid, valid, valid, odd.map(lambda v: (v, False)))  # mostly valid values


def _accepts(constraint: Constraint, value: object) -> bool:
    """Whether ``constraint.check`` takes ``value``."""
    try:
        constraint.check(value)
    except XaikitError:
        return False
    return True


def _stride_fits(params: dict, table: dict) -> bool:
    """Whether a numeric ``stride`` is at most the patch (occlusion refuses windows with gaps between them)."""
    stride = params.get("stride")
    if "stride" not in table or isinstance(stride, bool) or not isinstance(stride, (int, tuple)):
        return True
    patch = params.get("patch_size", table["patch_size"].default)
    if isinstance(patch, bool) or not isinstance(patch, (int, tuple)):
        return True
    return all(s <= p for s, p in zip(_pair(stride), _pair(patch)))


def _pair(value: int | tuple) -> tuple:
    return (value, value) if isinstance(value, int) else tuple(value)


@st.composite
def cases(draw: st.DrawFn, method: str, backend: str) -> tuple:
    """``(images, params, targets, valid)``: ``valid`` when every parameter and the targets were drawn valid.

    Half of the cases are drawn valid on purpose (images every default fits, valid values only), so that every
    (method, backend) pair meets valid ones whatever the number of examples.
    """
    valid_only = draw(st.booleans())
    sizes = st.just(VALID_SIZE) if valid_only else st.integers(1, 9)
    h, w = draw(sizes), draw(sizes)
    c = draw(st.sampled_from([1, 3]))
    n = draw(st.integers(1, 2 if valid_only else 3))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.uint8]))
    scale = draw(st.sampled_from([1.0, 255.0, 1e-3, 1e6]))
    x = (np.random.default_rng(draw(st.integers(0, 9))).uniform(0, 1, (n, h, w, c)) * scale).astype(dtype)
    shape = (h, w, c)
    if FRAMEWORK[backend] == "torch":  # PyTorch modules take (N, C, H, W)
        x, shape = np.ascontiguousarray(x.transpose(0, 3, 1, 2)), (c, h, w)
    table = get_method_class(method, backend).param_table()
    params, valid = {}, min(h, w) >= VALID_SIZE
    for name, p in table.items():
        if name == "batch_size" or (draw(st.booleans()) and p.required is None):
            continue
        params[name], ok = draw(value_strategy(p, shape, c, FRAMEWORK[backend], valid_only))
        valid = valid and ok
    if "n_samples" in table:
        params["n_samples"] = draw(st.integers(2 if valid_only else 1, 4))
    if "steps" in table:
        params["steps"] = draw(st.integers(2 if valid_only else 1, 5))
    if "n_designs" in table:  # Sobol's default 32 designs: 2,000 masked passes an image, 10 s a pair
        params["n_designs"] = draw(st.sampled_from([2, 4] if valid_only else [2, 3, 4]))
        valid = valid and params["n_designs"] in (2, 4)  # a power of two
    valid = valid and all(rule(params[name]) for name, rule in CONTEXT_RULES.items()
                          if isinstance(params.get(name), int) and not isinstance(params[name], bool))
    if backend == "pytorch-grad-cam" and params.get("relu") is False and (
            params.get("aug_smooth") is True or isinstance(params.get("layer"), list)):
        valid = False  # the library rectifies each layer's / augmentation's map before averaging: refused by name
    if not _stride_fits(params, table):  # windows leaving pixels between them: refused with the fix
        if valid_only:
            del params["stride"]
        valid = valid and valid_only
    good = st.one_of(st.none(), st.integers(0, 2), st.lists(st.integers(0, 2), min_size=n, max_size=n))
    bad = st.sampled_from([-1, 3, 2.0, "circle", np.float64(1)])
    targets, ok = draw(good.map(lambda t: (t, True)) if valid_only else
                       st.one_of(good.map(lambda t: (t, True)), bad.map(lambda t: (t, False))))
    return x, params, targets, valid and ok


#: Refusals that depend on the image or the model, not on the parameters alone: valid values may meet them (SLIC finds
#: one segment in a flat 8 x 8 image whatever n_segments asks, and Captum's KernelShap needs two; tf-explain's
#: occlusion takes the one score its model's output allows; DeepLift's and LRP's rules stop at a final softmax, which
#: these tiny models have: score='probability' is refused on them).
DEPENDS_ON_THE_INPUT = {("kernel_shap", "captum"): "needs at least 2 segments per image",
                        ("occlusion", "tf-explain"): "for this model that is score=",
                        **{(m, b): "has no rule for the final" for m in ("deeplift", "deepliftshap", "lrp")
                           for b in ("tensorflow", "torch", "captum")}}


@pytest.mark.parametrize("method,backend", PAIRS, ids=[f"{m}:{b}" for m, b in PAIRS])
def test_any_input_gives_a_valid_explanation_or_a_documented_error(method, backend):
    @PROFILE
    @given(cases(method, backend))
    def check(case: tuple) -> None:
        x, params, targets, valid = case
        torch_layout = FRAMEWORK[backend] == "torch"
        model = model_for(FRAMEWORK[backend], x.shape[1] if torch_layout else x.shape[3])
        try:
            exp = xk.explain(model, x, method=method, backend=backend, targets=targets, batch_size=2, **params)
        except XaikitError as exc:
            documented = DEPENDS_ON_THE_INPUT.get((method, backend))
            if valid and not (documented and documented in str(exc)):
                # a regression refusing valid values must not pass as "a documented error"
                raise AssertionError(f"valid input refused: images {x.shape} {x.dtype}, targets {targets!r}, "
                                     f"params {params!r}: {exc}") from exc
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
