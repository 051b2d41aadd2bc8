"""How far the tf-explain adapter is from the native backend, method by method, on any model.

Each row configures both backends to compute the same quantity (or applies the documented
relationship where tf-explain's definition differs) and reports the largest absolute and
relative difference. Run ``python -m xaikit_tfexplain.parity`` for a small random CNN on
non-square 20x28 images, or call :func:`parity_table` on your own model::

    from xaikit_tfexplain.parity import parity_table
    for row in parity_table(model, images, targets=[281, 285]):
        print(row)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["parity_table", "main"]


def _row(name: str, actual: np.ndarray, expected: np.ndarray, relation: str) -> dict[str, Any]:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    diff = float(np.abs(actual - expected).max())
    scale = float(np.abs(expected).max())
    return {"method": name, "max_abs": diff, "max_rel": diff / scale if scale > 0 else float("nan"), "scale": scale,
            "relation": relation}


def parity_table(model: Any, images: np.ndarray, targets: Any, *, layer: str | None = None, patch_size: int = 4,
                 baseline: float = 0.5, steps: int = 6, n_samples: int = 4, noise: float = 0.2,
                 seed: int = 5) -> list[dict[str, Any]]:
    """Differences between ``backend="tf-explain"`` and ``backend="tensorflow"`` per method.

    ``model`` must end in softmax (tf-explain's scores are probabilities); ``layer`` is the
    Grad-CAM layer (default: tf-explain's auto-detected one).
    """
    import xaikit as xk

    images = np.asarray(images, np.float32)
    n = len(images)
    t = np.asarray(targets if np.ndim(targets) else [targets] * n, np.int64)
    rows = []

    def tfx(x: np.ndarray, method: str, tt: Any = t, **p: Any) -> Any:
        return xk.explain(model, x, method=method, backend="tf-explain", targets=tt, **p)

    def nat(x: np.ndarray, method: str, tt: Any = t, **p: Any) -> Any:
        return xk.explain(model, x, method=method, backend="tensorflow", targets=tt, **p)

    a = tfx(images, "gradcam", layer=layer, guided=False)
    b = nat(images, "gradcam", layer=a.layer, relu=False, score="probability")
    rows.append(_row(f"gradcam ({a.layer})", a.layer_attributions, b.layer_attributions,
                     "tfx(guided=False) == native(relu=False, score='probability')"))
    for method in ("vanilla_gradients", "gradient_x_input"):
        a = tfx(images, method, score="probability")
        b = nat(images, method, score="probability", channel_reduce="abs_sum")
        rows.append(_row(method, a.channel_attributions, b.channel_attributions,
                         "same score and channel_reduce"))
    a = tfx(images, "occlusion", patch_size=patch_size, baseline=baseline, upsample="patch")
    b = nat(images, "occlusion", patch_size=patch_size, stride=patch_size, baseline=baseline, score="probability")
    p = a.outputs[np.arange(n), t]
    rows.append(_row("occlusion", a.attributions, b.attributions + (1 - p)[:, None, None],
                     "tfx(upsample='patch') == native(stride=patch, score='probability') + (1 - p_c(x))"))
    a = tfx(images, "integrated_gradients", steps=steps, baseline=baseline, multiply_by_input=True)
    right = nat(images, "integrated_gradients", steps=steps - 1, baseline=baseline, integration="right",
                score="probability")
    g_b = nat(np.full_like(images, baseline), "vanilla_gradients", score="probability")
    expected = ((steps - 1) * right.channel_attributions + (images - baseline) * g_b.channel_attributions) / steps
    rows.append(_row("integrated_gradients", a.channel_attributions, expected,
                     "steps * tfx == (steps - 1) * native(right, steps - 1) + (x - b) * grad(b)"))
    a = tfx(images, "smoothgrad", n_samples=n_samples, noise_std=noise, seed=seed)
    noisy = np.repeat(images, n_samples, axis=0) + np.random.RandomState(seed).normal(
        0, noise, (n * n_samples, *images.shape[1:])).astype(np.float32)
    tt = np.repeat(t, n_samples)
    g = nat(noisy, "vanilla_gradients", tt=tt, score="probability")
    p = g.outputs[np.arange(n * n_samples), tt]
    expected = -(g.channel_attributions / p[:, None, None, None]).reshape(n, n_samples, *images.shape[1:]).mean(1)
    rows.append(_row("smoothgrad", a.channel_attributions, expected,
                     "tfx == mean over the same noisy samples of -(1/p_c) * native d p_c/dx"))
    return rows


def main() -> None:  # pragma: no cover - a report, exercised by hand
    import keras
    from keras import layers

    keras.utils.set_random_seed(1)
    inp = keras.Input((20, 28, 3))
    x = inp
    for layer in [layers.Conv2D(4, 3, activation="relu", name="conv_a"), layers.BatchNormalization(name="bn"),
                  layers.Activation("relu", name="bn_relu"), layers.MaxPooling2D(2, name="pool_a"),
                  layers.Conv2D(6, 3, activation="relu", name="conv_b"), layers.Flatten(name="flat"),
                  layers.Dense(5, activation="softmax", name="pred")]:
        x = layer(x)
    model = keras.Model(inp, x)
    images = np.random.default_rng(42).uniform(0, 1, (3, 20, 28, 3)).astype(np.float32)
    print(f"{'method':32s} {'max abs':>10s} {'max rel':>10s} {'scale':>10s}  relation")
    for row in parity_table(model, images, [1, 2, 3], layer="conv_b"):
        print(f"{row['method']:32s} {row['max_abs']:10.2e} {row['max_rel']:10.2e} {row['scale']:10.2e}  "
              f"{row['relation']}")


if __name__ == "__main__":  # pragma: no cover
    main()
