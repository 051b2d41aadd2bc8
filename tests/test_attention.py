"""Attention rollout (Abnar & Zuidema 2020) and generic attention explainability (Chefer et al. 2021) on tiny
vision transformers, against hand computations from attention weights captured independently of xaikit."""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk
from xaikit.errors import ModelError, UnknownNameError

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

X = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)


@pytest.fixture(scope="module")
def toy_vit():
    """torchvision's ViT with 2 blocks, 2 heads, hidden size 32, 8x8 patches of a 32x32 image (16 patches + class)."""
    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                 hidden_dim=32, mlp_dim=64, num_classes=5).eval()
    torch.nn.init.normal_(model.heads.head.weight)  # torchvision zero-initialises the head
    return model


def _hand_attention(model, x):
    """Each block's attention weights (N, heads, T, T) from the inputs of its MultiheadAttention, in NumPy."""
    inputs = []
    hooks = [layer.self_attention.register_forward_pre_hook(lambda m, args, kw: inputs.append(args[0].detach()),
                                                           with_kwargs=True)
             for layer in model.encoder.layers]
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    for h in hooks:
        h.remove()
    weights = []
    for layer, h in zip(model.encoder.layers, inputs):
        mha = layer.self_attention
        w, b = mha.in_proj_weight.detach().numpy(), mha.in_proj_bias.detach().numpy()
        h = h.numpy().astype(np.float64)
        q, k = h @ w[:32].T + b[:32], h @ w[32:64].T + b[32:64]
        q, k = (a.reshape(len(x), -1, 2, 16).transpose(0, 2, 1, 3) for a in (q, k))
        logits = q @ k.transpose(0, 1, 3, 2) / 4.0
        e = np.exp(logits - logits.max(-1, keepdims=True))
        weights.append(e / e.sum(-1, keepdims=True))
    return weights, out


def _hand_rollout(weights, fusion, discard):
    n, t = weights[0].shape[0], weights[0].shape[-1]
    maps = []
    for i in range(n):
        r = np.eye(t)
        for a in weights:
            f = {"mean": a[i].mean(0), "max": a[i].max(0), "min": a[i].min(0)}[fusion].copy()
            if discard:
                order = np.argsort(f.reshape(-1), kind="stable")[:int(t * t * discard)]
                flat = f.reshape(-1)
                flat[order[order != 0]] = 0.0
            step = (f + np.eye(t)) / 2
            r = (step / step.sum(1, keepdims=True)) @ r
        maps.append(r[0, 1:].reshape(4, 4))
    return np.stack(maps)


@pytest.mark.parametrize("fusion,discard", [("mean", 0.0), ("max", 0.0), ("min", 0.5), ("mean", 0.9)])
def test_rollout_matches_a_hand_computation_on_a_two_block_vit(toy_vit, fusion, discard):
    weights, out = _hand_attention(toy_vit, X)
    exp = xk.explain(toy_vit, X, "attention_rollout", head_fusion=fusion, discard_ratio=discard)
    np.testing.assert_allclose(exp.layer_attributions, _hand_rollout(weights, fusion, discard), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(exp.outputs, out, rtol=1e-4, atol=1e-5)  # the recomputed attention is the model's
    assert exp.attributions.shape == (2, 32, 32) and exp.params["prefix_tokens"] == 1
    assert exp.params["head_fusion"] == fusion and exp.params["discard_ratio"] == discard


def test_rollout_and_generic_attention_do_not_depend_on_the_batch(toy_vit):
    for method in ("attention_rollout", "generic_attention"):
        whole = xk.explain(toy_vit, X, method, targets=[1, 3])
        one = xk.explain(toy_vit, X, method, targets=[1, 3], batch_size=1)
        np.testing.assert_allclose(one.attributions, whole.attributions, rtol=1e-5, atol=1e-7)


def _hf_vit():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(1)
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=64, num_labels=5)
    return transformers.ViTForImageClassification(config).eval()


def test_generic_attention_matches_chefer_from_hugging_face_attentions():
    """Chefer et al.'s rule computed by hand from Hugging Face's own ``output_attentions`` and autograd."""
    model = _hf_vit()
    implementation = model.config._attn_implementation
    exp = xk.explain(model, X, "generic_attention", targets=[2, 4])
    assert model.config._attn_implementation == implementation  # the eager switch is put back
    model.config._attn_implementation = "eager"
    try:
        result = model(torch.from_numpy(X), output_attentions=True)
    finally:
        model.config._attn_implementation = implementation
    score = result.logits[[0, 1], [2, 4]].sum()
    grads = torch.autograd.grad(score, result.attentions)
    expected = []
    for i in range(2):
        r = np.eye(17)
        for a, g in zip(result.attentions, grads):
            cam = np.maximum(g[i].numpy() * a[i].detach().numpy(), 0).mean(0)
            r = r + cam @ r
        expected.append(r[0, 1:].reshape(4, 4))
    np.testing.assert_allclose(exp.layer_attributions, np.stack(expected), rtol=1e-4, atol=1e-6)
    assert exp.params["output"] == "logits" and list(exp.targets) == [2, 4]


def test_timm_vit_attention_is_read_from_its_unfused_path():
    timm = pytest.importorskip("timm")
    torch.manual_seed(2)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, num_classes=5,
                              depth=2, embed_dim=32, num_heads=2).eval()
    exp = xk.explain(model, X, "attention_rollout")
    assert all(block.attn.fused_attn for block in model.blocks)  # the fused path is put back
    with torch.no_grad():
        np.testing.assert_allclose(exp.outputs, model(torch.from_numpy(X)).numpy(), rtol=1e-4, atol=1e-5)
    assert exp.layer_attributions.shape == (2, 4, 4) and np.all(exp.layer_attributions > 0)


def test_models_without_attention_are_refused_naming_the_reason(keras):
    with pytest.raises(ModelError, match="exposes no attention weights.*MultiheadAttention"):
        xk.explain(torchvision.models.resnet18(num_classes=3), X[:1], "attention_rollout")
    inp = keras.Input((8, 8, 3))
    cnn = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(inp)))
    with pytest.raises(UnknownNameError, match="does not implement 'generic_attention'.*Backends with"):
        xk.explain(cnn, np.zeros((1, 8, 8, 3), np.float32), "generic_attention")


def test_attention_from_several_threads_is_the_sequential_result(toy_vit):
    from concurrent.futures import ThreadPoolExecutor

    timm = pytest.importorskip("timm")
    torch.manual_seed(3)
    tiny = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, num_classes=5,
                             depth=2, embed_dim=32, num_heads=2).eval()
    jobs = [(toy_vit, "generic_attention"), (tiny, "generic_attention"), (tiny, "attention_rollout")] * 2
    sequential = [xk.explain(m, X, method).attributions for m, method in jobs]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda job: xk.explain(job[0], X, job[1]).attributions, jobs))
    for a, b in zip(sequential, threaded):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
    assert all(block.attn.fused_attn for block in tiny.blocks)


def test_a_pass_in_another_thread_while_the_hooks_are_half_registered_runs_unchanged(toy_vit):
    """Regression (a CI run): torch registers a forward hook before it marks it as taking keyword arguments, so
    another thread's forward on the same module could call the attention hook as ``(module, args, output)`` in
    between, and failed with "hook() missing 1 required positional argument: 'output'"."""
    from xaikit_torch.attention import attention_modules, capture_attention
    from xaikit_torch.passes import PassState

    modules = dict(toy_vit.named_modules())
    found = attention_modules(modules, "toy_vit")
    with torch.no_grad():
        expected = toy_vit(torch.from_numpy(X))
    with capture_attention(toy_vit, modules, found, PassState()):
        for name, _ in found:  # the window between the two steps of torch's registration
            modules[name]._forward_hooks_with_kwargs.clear()
        with torch.no_grad():
            got = toy_vit(torch.from_numpy(X))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert all(not m._forward_hooks for m in toy_vit.modules())
