"""How far the pytorch-grad-cam adapter is from the native PyTorch backend and from the library's own output.

``python -m xaikit_gradcam.parity`` runs :func:`parity_table` on a small seeded CNN; each row is
the largest absolute and relative difference of the adapter's raw layer map from the native
one (same score and layer), and of ``minmax(resize(minmax(map)))`` from what the library's
``__call__`` returns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["parity_table", "main"]

_CLASSES = {"gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM", "hirescam": "HiResCAM",
            "layercam": "LayerCAM", "scorecam": "ScoreCAM", "ablationcam": "AblationCAM", "eigencam": "EigenCAM",
            "eigengradcam": "EigenGradCAM"}


def _minmax(maps: np.ndarray) -> np.ndarray:
    maps = maps - maps.min(axis=(1, 2), keepdims=True)
    return maps / (1e-7 + maps.max(axis=(1, 2), keepdims=True))


def parity_table(model: Any, images: np.ndarray, targets: list[int], *, layer: str) -> list[dict[str, Any]]:
    """Per CAM: ``vs_native`` (max relative difference of the layer maps; EigenCAM: the closer orientation) and
    ``vs_library`` (max absolute difference from the library's own [0, 1] output)."""
    import pytorch_grad_cam
    import torch
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from xaikit_torch.adapters import library_call, module_of

    import xaikit as xk
    from xaikit.kernels import resize_maps

    rows = []
    for method, name in _CLASSES.items():
        ours = xk.explain(model, images, method, backend="pytorch-grad-cam", layer=layer, targets=targets)
        native = xk.explain(model, images, method, backend="torch", layer=layer, targets=targets, score=ours.score,
                            **({"relu": False} if method in ("eigencam", "eigengradcam") else {}))
        a, b = ours.layer_attributions.astype(np.float64), native.layer_attributions.astype(np.float64)
        if method in ("eigencam", "eigengradcam"):  # the SVD keeps its orientation per image: the closer one
            b = np.stack([max((np.maximum(s * bi, 0) for s in (1, -1)), key=lambda c: -np.abs(c - ai).max())
                          for ai, bi in zip(a, b)])
        vs_native = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
        cam = getattr(pytorch_grad_cam, name)(model=model, target_layers=[module_of(model, layer)])
        try:
            with library_call(model):
                theirs = cam(input_tensor=torch.from_numpy(images.copy()),
                             targets=[ClassifierOutputTarget(t) for t in targets])
        finally:
            cam.activations_and_grads.release()
        scaled = _minmax(resize_maps(_minmax(ours.layer_attributions), images.shape[2:]))
        rows.append({"method": method, "vs_native": vs_native, "vs_library": float(np.abs(scaled - theirs).max())})
    return rows


def main() -> None:  # pragma: no cover - a command
    from xaikit_torch.testing import parity_network

    model, images = parity_network()
    print(f"{'method':<12} {'vs native (rel.)':>17} {'vs library output (abs.)':>25}")
    for row in parity_table(model, images, [1, 2, 3], layer="4"):
        print(f"{row['method']:<12} {row['vs_native']:>17.2g} {row['vs_library']:>25.2g}")


if __name__ == "__main__":
    main()
