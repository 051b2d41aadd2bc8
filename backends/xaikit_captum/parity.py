"""How far the Captum adapter is from the native PyTorch backend, method by method, on any model.

Each row configures both backends to compute the same quantity (or applies the documented
relationship where Captum's definition differs) and reports the largest absolute and relative
difference. ``python -m xaikit_captum.parity`` runs it on a small seeded CNN (Conv-ReLU,
BatchNorm, pooling, softmax) on non-square 20x28 images; :func:`parity_table` takes your model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["parity_table", "main"]


def _row(name: str, actual: Any, expected: Any, relation: str) -> dict[str, Any]:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    diff, scale = float(np.abs(actual - expected).max()), float(np.abs(expected).max())
    return {"method": name, "max_abs": diff, "max_rel": diff / scale if scale > 0 else float("nan"),
            "relation": relation}


def parity_table(model: Any, images: np.ndarray, targets: Any, *, layer: str, steps: int = 6, baseline: float = 0.25,
                 patch_size: int = 4) -> list[dict[str, Any]]:
    """Differences between ``backend="captum"`` and ``backend="torch"`` per method (``score="probability"`` for
    a softmax model: Captum explains the model's output)."""
    import torch

    import xaikit as xk

    def cap(method: str, **kw: Any) -> Any:
        return xk.explain(model, images, method, backend="captum", targets=targets, **kw)

    def nat(method: str, **kw: Any) -> Any:
        return xk.explain(model, images, method, backend="torch", targets=targets, **kw)

    score = cap("gradient_x_input").score
    rows = [_row("vanilla_gradients", cap("vanilla_gradients", abs=False).channel_attributions,
                 nat("vanilla_gradients", score=score).channel_attributions, "Saliency(abs=False) = native"),
            _row("gradient_x_input", cap("gradient_x_input").channel_attributions,
                 nat("gradient_x_input", score=score).channel_attributions, "InputXGradient = native")]
    for captum_rule, rule in (("riemann_right", "right"), ("riemann_middle", "midpoint")):
        rows.append(_row(f"integrated_gradients ({captum_rule})",
                         cap("integrated_gradients", integration=captum_rule, steps=steps,
                             baseline=baseline).channel_attributions,
                         nat("integrated_gradients", integration=rule, steps=steps, baseline=baseline,
                             score=score).channel_attributions, f"= native {rule}"))
    rows.append(_row("integrated_gradients (riemann_trapezoid)",
                     cap("integrated_gradients", integration="riemann_trapezoid", steps=steps,
                         baseline=baseline).channel_attributions,
                     nat("integrated_gradients", integration="trapezoid", steps=steps, baseline=baseline,
                         score=score).channel_attributions * (steps - 1) / steps,
                     "= (steps-1)/steps x native trapezoid"))
    rows.append(_row("gradcam", cap("gradcam", layer=layer, relu=True).layer_attributions,
                     nat("gradcam", layer=layer, score=score).layer_attributions, "LayerGradCam(relu) = native"))
    guided, cam = nat("guided_backprop", score=score), nat("gradcam", layer=layer, score=score)
    up = torch.nn.functional.interpolate(torch.from_numpy(cam.layer_attributions)[:, None], size=images.shape[2:],
                                         mode="nearest").numpy()
    rows.append(_row("guided_gradcam", cap("guided_gradcam", layer=layer).channel_attributions,
                     guided.channel_attributions * up, "= native guided backprop x nearest-upsampled Grad-CAM"))
    for method in ("guided_backprop", "deconvnet"):
        rows.append(_row(method, cap(method).channel_attributions, nat(method, score=score).channel_attributions,
                         "= native"))
    rows.append(_row("occlusion", cap("occlusion", patch_size=patch_size, baseline=0.5).attributions,
                     nat("occlusion", patch_size=patch_size, baseline=0.5, score=score).attributions,
                     "same windows = native"))
    return rows


def main() -> None:  # pragma: no cover - a command
    from xaikit_torch.testing import parity_network

    model, images = parity_network()
    print(f"{'method':<42} {'max |diff|':>11} {'relative':>10}  relation")
    for row in parity_table(model, images, [1, 2, 3], layer="4"):
        print(f"{row['method']:<42} {row['max_abs']:>11.3g} {row['max_rel']:>10.2g}  {row['relation']}")


if __name__ == "__main__":
    main()
