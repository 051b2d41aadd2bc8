"""The call context (:mod:`xaikit.call_context`): built once per call, the engine and the description looked up once."""

from __future__ import annotations

import numpy as np
import pytest

from xaikit.call_context import CallContext
from xaikit.engine import Engine
from xaikit.errors import InputError
from xaikit.methods import IMPLEMENTATIONS
from xaikit.spec import LayerInfo, ModelSpec


class _CountingEngine(Engine):
    """A linear 'model' on 2x2x1 images that counts its descriptions and forward passes."""

    capabilities = frozenset({"scores", "gradients"})
    framework = "test"

    def __init__(self) -> None:
        self.described = 0
        self.predicted = 0

    @property
    def layout(self) -> str:
        return "NHWC"

    def describe(self, image_shape):
        self.described += 1
        return ModelSpec((2, 2, 1), 2, "linear", ("dense",), layer_info=(LayerInfo("dense", "dense", (2,)),))

    def fingerprint(self) -> str:
        return "fixed"

    def predict(self, x):
        self.predicted += 1
        flat = x.reshape(len(x), -1).sum(1)
        return np.stack([flat, -flat], 1).astype(np.float32)

    def class_scores(self, x, score):
        return self.predict(x)

    def target_scores(self, x, t, score):
        out = self.predict(x)
        t = np.where(t < 0, out.argmax(1), t)
        return out[np.arange(len(x)), t], out, t

    def path_gradient_sums(self, x, seg, r, e, u, w, t, score, *, layer=None, times_delta=False, second_moment=False):
        return np.broadcast_to(x, (t.shape[1], *x.shape)).astype(np.float32)  # a map that is not constant


def _bound(method: str):
    engine, lookups, contexts = _CountingEngine(), [], []

    def factory(model):
        lookups.append(model)
        return engine

    base = IMPLEMENTATIONS[method]

    def attribute(self, ctx):
        contexts.append(ctx)
        return base._attribute(self, ctx)

    cls = type("Bound", (base,), {"backend": "test", "engine_factory": staticmethod(factory), "_attribute": attribute})
    return cls, engine, lookups, contexts


def test_one_context_per_call_with_the_engine_and_the_description_looked_up_once():
    cls, engine, lookups, contexts = _bound("smoothgrad")
    x = np.array([[[[1.0], [2.0]], [[0.0], [1.0]]], [[[-1.0], [0.0]], [[0.0], [-2.0]]]], np.float32)
    result = cls(object(), n_samples=2, seed=0, batch_size=8).explain(x)
    assert len(lookups) == 1 and engine.described == 1 and engine.predicted == 1
    (ctx,) = contexts
    assert isinstance(ctx, CallContext) and ctx.engine is engine and ctx.targets is None
    assert ctx.spec.layout == "NHWC" and ctx.image_size == (2, 2) and ctx.channel_axis == 3
    assert not any(key == "_spec" for key in ctx.params)  # the description travels in the context only
    np.testing.assert_array_equal(result.targets, [0, 1])  # the predicted classes, resolved in one place
    # a second call builds a new context and looks the engine up again (the model's structure may have changed)
    cls(object(), n_samples=2, seed=0).explain(x, targets=1)
    assert len(lookups) == 2 and len(contexts) == 2 and contexts[1].targets.tolist() == [1, 1]


def test_the_context_computes_outputs_once_and_resolves_targets():
    calls = []

    def predict(images, batch_size):
        calls.append(batch_size)
        return np.array([[0.1, 0.9], [0.8, 0.2]], np.float32)

    spec = ModelSpec((2, 2, 1), 2, "softmax")
    ctx = CallContext(np.zeros((2, 2, 2, 1), np.float32), None, {"batch_size": 4}, spec, predict=predict)
    outputs, targets = ctx.outputs_and_targets()
    assert ctx.outputs is outputs and calls == [4]
    assert targets.tolist() == [1, 0] and ctx.graph_targets().tolist() == [-1, -1]
    ranked = ctx.with_targets(np.array([0, 0]))
    assert ranked.targets_for(outputs).tolist() == [0, 0] and ranked.graph_targets().dtype == np.int32


def test_unknown_parameter_names_are_checked_in_one_place():
    cls, *_ = _bound("smoothgrad")
    with pytest.raises(InputError, match="has no parameter.*'noise_level'.*n_samples"):
        cls(object(), noise_level=0.1)
    with pytest.raises(InputError, match="has no parameter.*'noise_level'.*n_samples"):
        cls(object()).set_params(noise_level=0.1)


def test_an_adapter_walks_the_torch_module_tree_once_per_call(monkeypatch):
    """Regression: a Captum call walked the module tree 7 times (description, layer, prediction, the forward handed
    to the library, the tensors, the library call), pytorch-grad-cam's 9, shap's expected gradients 18."""
    torch = pytest.importorskip("torch")
    import xaikit_torch.views as view_module
    from xaikit_torch.adapters import ScoreModel, TorchModelMixin, library_call, module_of, to_tensor

    from xaikit.explainer import Attribution, Explainer

    class Adapter(TorchModelMixin, Explainer):  # what the adapters do to a model, without a library
        method, backend = "gradcam", "test"

        def _attribute(self, ctx):
            outputs, targets = ctx.outputs_and_targets()
            forward = ScoreModel(self.model, ctx.params["score"], tuple(ctx.images.shape[1:]))
            module_of(self.model, ctx.params["layer"])
            with library_call(self.model):
                forward(to_tensor(ctx.images, self.model))
            return Attribution(ctx.images.sum(axis=1), outputs, targets)

    walks = []
    structure = view_module._structure
    monkeypatch.setattr(view_module, "_structure", lambda model: walks.append(model) or structure(model))
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(32, 3)).eval()
    x = np.random.default_rng(0).normal(size=(3, 3, 4, 4)).astype(np.float32)
    Adapter(model, layer="0").explain(x)
    assert len(walks) == 1
