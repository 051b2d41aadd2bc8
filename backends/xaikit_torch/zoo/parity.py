"""How closely the Keras zoo models and their PyTorch twins agree, method by method.

    python -m xaikit_torch.zoo.parity            # every twin, every method, 4 images: a Markdown table
    python -m xaikit_torch.zoo.parity --images 8

For each case, the smallest per-image Pearson correlation between the two backends'
maps and the largest per-image difference relative to the Keras map's largest absolute
value. The tests (``tests/test_torch_twins.py``) assert bounds on the same numbers for
:data:`CASES`. Needs TensorFlow and PyTorch; torch is imported first (see
``docs/backends/torch.md``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CASES", "Agreement", "agreement", "pearson"]

#: ``(zoo model, method, params)`` the tests compare (a ``targets`` entry is the explain call's targets).
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("shapes_cnn4", "occlusion", {"patch_size": 16, "stride": 8}),
    ("shapes_cnn4", "gradcam", {}),
    ("shapes_cnn4", "gradcam++", {"layer": "conv2d_2"}),
    ("shapes_cnn4", "vanilla_gradients", {}),
    ("shapes_cnn4", "gradient_x_input", {}),
    ("shapes_cnn4", "smoothgrad", {"n_samples": 8, "seed": 3}),
    ("shapes_cnn4", "integrated_gradients", {"steps": 16}),
    ("shapes_cnn4", "expected_gradients", {"n_samples": 16, "seed": 4}),
    ("shapes_cnn4", "expected_gradients", {"n_samples": 16, "seed": 4, "local_smoothing": 0.1}),
    ("shapes_cnn4", "expected_gradients", {"n_samples": 16, "seed": 4, "layer": "max_pooling2d_1"}),
    ("shapes_binary", "gradcam", {}),
    ("shapes_binary", "smoothgrad", {"n_samples": 8, "seed": 3, "score": "probability"}),
    ("shapes_binary", "expected_gradients", {"n_samples": 16, "seed": 4, "targets": 0}),
    ("digits_bn", "gradcam", {}),
    ("digits_bn", "integrated_gradients", {"steps": 16}),
    ("digits_bn", "expected_gradients", {"n_samples": 16, "seed": 4, "layer": "max_pooling2d"}),
    # the methods of issue 13, on the same twins
    ("shapes_cnn4", "xgradcam", {}),
    ("shapes_cnn4", "hirescam", {}),
    ("shapes_cnn4", "layercam", {}),
    ("shapes_cnn4", "scorecam", {}),
    ("shapes_cnn4", "ablationcam", {}),
    ("shapes_cnn4", "eigencam", {}),
    ("shapes_cnn4", "guided_backprop", {}),
    ("shapes_cnn4", "deconvnet", {}),
    ("shapes_cnn4", "guided_gradcam", {}),
    ("shapes_cnn4", "vargrad", {"n_samples": 8, "seed": 3}),
    ("shapes_cnn4", "squaregrad", {"n_samples": 8, "seed": 3}),
    ("shapes_cnn4", "rise", {"n_samples": 64, "grid_size": 5, "seed": 3}),
    ("shapes_cnn4", "kernel_shap", {"n_samples": 64, "n_segments": 12, "seed": 3}),
    ("shapes_cnn4", "lime", {"n_samples": 64, "n_segments": 12, "seed": 3}),
    ("shapes_cnn4", "sobol", {"grid_size": 4, "n_designs": 8}),
    ("digits_bn", "gradient_x_input", {}),  # LeakyReLU only: guided backprop is refused there (no ReLU)
    ("digits_bn", "scorecam", {}),
    # pytorch-grad-cam's options of the gradient CAMs (issue 25)
    ("shapes_cnn4", "gradcam", {"eigen_smooth": True}),
    ("shapes_cnn4", "layercam", {"layer": ["conv2d_1", "conv2d_2"]}),
    ("shapes_cnn4", "gradcam++", {"aug_smooth": True}),
    # the methods of issue 25: DeepLift's and LRP's rules are put in place layer by layer in each framework
    ("shapes_cnn4", "deeplift", {}),
]


@dataclass
class Agreement:
    """The two backends' explanations of one case and how close their maps are (per image)."""

    keras: Any
    torch: Any
    pearson: np.ndarray
    relative: np.ndarray


def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image Pearson correlation of two batches of maps."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def agreement(keras_model: Any, twin: Any, images: np.ndarray, background: np.ndarray, method: str,
              params: dict[str, Any]) -> Agreement:
    """Explain channels-last ``images`` with the Keras model and their transposes with the twin."""
    import xaikit as xk

    params = dict(params)
    targets = params.pop("targets", None)
    keras_params, torch_params = dict(params), dict(params)
    if method == "expected_gradients":
        keras_params["background"], torch_params["background"] = background, _nchw(background)
    a = xk.explain(keras_model, images, method=method, targets=targets, backend="tensorflow", **keras_params)
    b = xk.explain(twin, _nchw(images), method=method, targets=targets, backend="torch", **torch_params)
    scale = np.abs(a.attributions).reshape(len(images), -1).max(1)
    relative = np.abs(a.attributions - b.attributions).reshape(len(images), -1).max(1) / scale
    return Agreement(a, b, pearson(a.attributions, b.attributions), relative)


def _nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="images per case (default 4)")
    args = parser.parse_args(argv)
    import torch  # noqa: F401 - before TensorFlow
    from xaikit_tensorflow import zoo as keras_zoo

    from . import TWINS, load_twin

    methods = [("occlusion", {"patch_size": 8, "stride": 4}), ("gradcam", {}), ("gradcam++", {}),
               ("vanilla_gradients", {}), ("gradient_x_input", {}), ("smoothgrad", {"n_samples": 8, "seed": 3}),
               ("integrated_gradients", {"steps": 16}), ("expected_gradients", {"n_samples": 16, "seed": 4}),
               ("expected_gradients", {"n_samples": 16, "seed": 4, "layer": "max_pooling2d_1"}),
               ("expected_gradients", {"n_samples": 16, "seed": 4, "local_smoothing": 0.1})]
    print("| model | method | params | min Pearson | max relative difference |\n|---|---|---|---|---|")
    for name in TWINS:
        keras_model, twin = keras_zoo.load_model(name), load_twin(name)
        data = keras_zoo.load_data(name, n=args.images + 8).images
        for method, params in methods:
            result = agreement(keras_model, twin, data[:args.images], data[args.images:], method, params)
            shown = ", ".join(f"{k}={v}" for k, v in params.items())
            print(f"| {name} | {method} | {shown} | {result.pearson.min():.7f} | {result.relative.max():.1e} |")


if __name__ == "__main__":
    main()
