"""The README's main job: explain the shipped zoo models with every method, draw the pictures.

Everything runs offline on models trained by the project's own script
(``python -m xaikit_tensorflow.zoo.train``) and data it generates or ships.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_demo", "DEMO_METHODS", "DEMO_PARAMS"]

#: The methods of the demo pictures (one column each): the first eight attribution methods of the catalogue,
#: so that the pictures stay readable and the demo quick. The others (the CAM family, guided passes,
#: gradient statistics, black-box methods) are one ``xaikit compare`` away.
DEMO_METHODS: tuple[str, ...] = ("occlusion", "gradcam", "gradcam++", "vanilla_gradients", "gradient_x_input",
                                 "smoothgrad", "integrated_gradients", "expected_gradients")

#: Per-method parameters used by the demo (everything else at its default).
DEMO_PARAMS: dict[str, dict[str, Any]] = {
    "occlusion": {"patch_size": 8, "stride": 4},
    "smoothgrad": {"n_samples": 50, "noise": 0.15, "seed": 0},
    "integrated_gradients": {"steps": 64},
    "expected_gradients": {"n_samples": 200, "seed": 0},
}


#: Grad-CAM layer per zoo model: the last convolution block. The automatic choice (the last layer
#: with a 4-D output, as tf-explain picks it) is the 2x2 output of the last pooling layer there.
DEMO_CAM_LAYERS: dict[str, str] = {"shapes_cnn4": "conv2d_3", "shapes_binary": "conv2d_3", "digits_bn": "leaky_re_lu_1"}


def _one_per_class(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of up to ``n`` images, cycling through the classes in order."""
    chosen: list[int] = []
    classes = np.unique(labels)
    while len(chosen) < min(n, len(labels)):
        for c in classes:
            candidates = [i for i in np.flatnonzero(labels == c) if i not in chosen]
            if candidates and len(chosen) < n:
                chosen.append(candidates[0])
    return np.array(chosen)


def explain_zoo_model(name: str, n_images: int = 4, methods: tuple[str, ...] = DEMO_METHODS,
                      log: Any = print) -> tuple[np.ndarray, dict[str, Any], Any]:
    """Explain ``n_images`` test images of zoo model ``name`` with ``methods``.

    Returns the images, ``{"method (backend)": Explanation}`` and the dataset. Each method
    is timed after a warm-up (:mod:`xaikit._timing`): the logged time per image is the
    steady state, the first call's cost is logged next to it.
    """
    from . import zoo
    from ._api import get_explainer
    from ._timing import record_warmup, warm_up

    model = zoo.load_model(name)
    test = zoo.load_data(name, split="test")
    index = _one_per_class(test.labels, n_images)
    images = test.images[index]
    background = zoo.load_data(name, split="train", n=64).images
    explanations = {}
    for method in methods:
        params = dict(DEMO_PARAMS.get(method, {}))
        if method in ("gradcam", "gradcam++") and name in DEMO_CAM_LAYERS:
            params["layer"] = DEMO_CAM_LAYERS[name]
        if method == "expected_gradients":
            params["background"] = background
        explainer = get_explainer(model, method, **params)
        first_call, warmed = warm_up(explainer, images)  # so that the time below is the steady state
        exp = record_warmup(explainer.explain(images), first_call, warmed)
        explanations[f"{method} (tensorflow)"] = exp
        gap = exp.extras.get("completeness_gap")
        gap_text = f", completeness gap {np.abs(gap).max():.3g}" if gap is not None else ""
        log(f"  {method:<22} {exp.elapsed / len(exp) * 1000:8.1f} ms/image (first call {first_call * 1000:.0f} ms), "
            f"layer {exp.layer or '-'}{gap_text}")
    return images, explanations, test


#: The pairs of the two-framework picture: the same method on the Keras model and on its PyTorch twin, natively and
#: through the libraries of each framework (each with its own defaults, recorded in the column titles' results).
FRAMEWORK_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("gradcam", "keras", "tensorflow"), ("gradcam", "torch", "torch"), ("gradcam", "torch", "pytorch-grad-cam"),
    ("gradcam", "torch", "captum"), ("integrated_gradients", "keras", "tensorflow"),
    ("integrated_gradients", "torch", "torch"), ("integrated_gradients", "torch", "captum"),
    ("smoothgrad", "keras", "tensorflow"), ("smoothgrad", "torch", "torch"),
)


def explain_both_frameworks(name: str, n_images: int = 4, log: Any = print) -> tuple[np.ndarray, dict[str, Any], Any]:
    """Zoo model ``name`` in Keras and as its PyTorch twin (the same weights): :data:`FRAMEWORK_PAIRS` on the same
    test images. Returns the images (channels-last), ``{"method · framework (backend)": Explanation}`` and the data.

    The native backends compute the same maps in both frameworks; the libraries' columns show their own defaults
    (pytorch-grad-cam's score is the model's output, Captum's LayerGradCam keeps the sign, ...).
    """
    from . import zoo
    from ._api import explain
    from .registry import available_backends

    installed = set(available_backends())
    test = zoo.load_data(name, split="test")
    images = test.images[_one_per_class(test.labels, n_images)]
    models = {"keras": zoo.load_model(name), "torch": zoo.load_model(name, "torch")}
    inputs = {"keras": images, "torch": np.ascontiguousarray(images.transpose(0, 3, 1, 2))}
    explanations = {}
    for method, framework, backend in FRAMEWORK_PAIRS:
        if backend not in installed:
            continue
        params = dict(DEMO_PARAMS.get(method, {}))
        if method == "gradcam" and name in DEMO_CAM_LAYERS:
            params["layer"] = DEMO_CAM_LAYERS[name]
        if backend == "captum" and method == "integrated_gradients":
            params["integration"] = "riemann_trapezoid"
        exp = explain(models[framework], inputs[framework], method=method, backend=backend, **params)
        explanations[f"{method} · {framework} ({backend})"] = exp
        log(f"  {method:<22} {framework:<6} {backend:<17} score {exp.score}, {exp.elapsed / len(exp) * 1000:.1f} "
            "ms/image")
    return images, explanations, test


def run_demo(out_dir: str | os.PathLike[str] = "out", *, overwrite: bool = False, n_images: int = 4,
             log: Any = print) -> list[Path]:
    """Write the demo pictures into ``out_dir`` and return their paths.

    - ``demo.png``: the synthetic-shapes CNN, one row per test image, one column per method;
    - ``demo_binary.png``: the same for the single-sigmoid (cats-vs-dogs style) model;
    - ``demo_digits.png``: the Conv-BatchNorm-LeakyReLU model on upscaled digits (1 channel);
    - ``demo_activations.png``: every channel of every conv and pooling layer for one image;
    - ``demo_frameworks.png`` (with PyTorch installed): the synthetic-shapes CNN in Keras and as its PyTorch twin,
      natively and through pytorch-grad-cam and Captum (:func:`explain_both_frameworks`).
    """
    from . import zoo
    from ._api import activations
    from .viz.activation_figures import activation_grid
    from .viz.compare import compare_figure
    from .viz.save import save_figure

    out = Path(out_dir)
    written: list[Path] = []
    for name, filename in [("shapes_cnn4", "demo.png"), ("shapes_binary", "demo_binary.png"),
                           ("digits_bn", "demo_digits.png")]:
        info, record = zoo.model_info(name), zoo.training_record(name) or {}
        accuracy = record.get("test_accuracy")
        log(f"{name}: {info.description}" + ("" if accuracy is None else f" (test accuracy {accuracy:.1%})"))
        images, explanations, data = explain_zoo_model(name, n_images, log=log)
        fig = compare_figure(images, explanations, class_names=list(data.class_names),
                             title=f"xaikit demo: {name} ({info.description})")
        written.append(save_figure(fig, out / filename, overwrite=overwrite))
        if name == "shapes_cnn4":
            acts = activations(zoo.load_model(name), images[:1])
            fig = activation_grid(acts, image_index=0)
            written.append(save_figure(fig, out / "demo_activations.png", overwrite=overwrite))
    from .registry import available_backends

    if "torch" in available_backends():
        log("shapes_cnn4 in both frameworks: the Keras model and its PyTorch twin (the same weights)")
        images, explanations, data = explain_both_frameworks("shapes_cnn4", n_images, log=log)
        fig = compare_figure(images, explanations, class_names=list(data.class_names),
                             title="shapes_cnn4 in Keras and PyTorch: native backends and the libraries of each")
        written.append(save_figure(fig, out / "demo_frameworks.png", overwrite=overwrite))
    for path in written:
        log(f"wrote {path}")
    return written
