"""Why some architectures give constant maps with random weights: activations that vanish with depth.

Three architectures of the "Supported architectures" and "Default CAM layers" pages explain
nothing with their frameworks' random initialisation, for one cause: with BatchNorm at its
initial statistics (the identity at inference), their initialisers shrink the activations at
every layer, so the last map holds numbers near 1e-10 and the class scores barely (or not at
all, in float32) depend on the image:

- torchvision ``googlenet`` (``init_weights=True``: every convolution N(0, 0.01), truncated):
  the logits are the head's bias to float32 precision; every perturbation scores the same;
- Keras ``MobileNetV2`` and ``MobileNetV3Large`` (``glorot_uniform`` convolutions, bias-free
  head): the logits differ by ~1e-10, the 1000 softmax probabilities are all exactly 0.001,
  so the predicted class is class 0 by tie-breaking, whose Grad-CAM is negative at every
  location for these weights (ReLU: all zero).

For each it prints the largest activation at the default CAM layer, the spread of the output
over three images, and what Grad-CAM gives, with the framework's initialisation and with the
convolutions re-initialised He normal (fan in), as docs/architectures.py builds GoogLeNet.

Run (a few minutes; ``--only`` one of the names)::

    python benchmarks/random_weights.py [--only googlenet|MobileNetV2|MobileNetV3Large]
"""

from __future__ import annotations

import argparse
import json
import os
import warnings

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _torch_row(reinit: bool) -> dict:
    import torch
    import torchvision

    import xaikit as xk

    torch.manual_seed(0)
    model = torchvision.models.get_model("googlenet", weights=None, num_classes=10, aux_logits=False,
                                         init_weights=True).eval()
    if reinit:
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    seen = {}
    handle = model.inception5b.register_forward_hook(lambda m, i, o: seen.setdefault("a", o.detach().numpy()))
    with torch.no_grad():
        out = [model(torch.from_numpy(v)).numpy() for v in (x, x[..., ::-1].copy(), np.zeros_like(x))]
    handle.remove()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        occlusion = xk.explain(model, x, "occlusion", patch_size=[32, 32])
        gradcam = xk.explain(model, x, "gradcam")
    return {"model": "torchvision googlenet", "init": "He normal" if reinit else "torchvision's",
            "layer": gradcam.layer, "max_activation": float(np.abs(seen["a"]).max()),
            "output_spread_over_images": float(np.ptp(np.stack(out), axis=0).max()),
            "occlusion_map_spread": float(np.ptp(occlusion.attributions)),
            "gradcam_map_spread": float(np.ptp(gradcam.attributions))}


def he_normal_keras(model, seed: int = 0) -> None:
    """Re-initialise every convolution kernel of a Keras model N(0, 2 / fan_in) (He normal).

    The fan-in of a depthwise kernel ``(kh, kw, C, m)`` is ``kh * kw`` (each output sees one
    input channel); Keras' ``HeNormal`` counts ``kh * kw * C`` and would still shrink them.
    """
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kernel = layer.kernel
            fan_in = kernel.shape[0] * kernel.shape[1]
        elif isinstance(layer, keras.layers.Conv2D):
            kernel = layer.kernel
            fan_in = kernel.shape[0] * kernel.shape[1] * kernel.shape[2]
        else:
            continue
        kernel.assign(rng.normal(0.0, np.sqrt(2.0 / fan_in), size=tuple(kernel.shape)).astype(np.float32))


def _keras_row(name: str, reinit: bool) -> dict:
    import keras

    import xaikit as xk

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(64, 64, 3))
    if reinit:
        he_normal_keras(model)
    x = np.random.default_rng(0).uniform(0, 255, size=(1, 64, 64, 3)).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gradcam = xk.explain(model, x, "gradcam")
    layer = keras.Model(model.inputs, model.get_layer(gradcam.layer).output)
    probabilities = np.asarray(model(x))
    last = model.layers[-1]  # Dense(softmax) (MobileNetV2) or Activation(softmax) after a 1x1 convolution
    before = np.asarray(keras.Model(model.inputs, last.input)(x)).reshape(1, -1)
    logits = before @ np.asarray(last.kernel) + np.asarray(last.bias) if hasattr(last, "kernel") else before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        top_logit = xk.explain(model, x, "gradcam", targets=[int(np.argmax(logits))])
    row = {"model": f"keras.applications {name}", "init": "He normal" if reinit else "Keras'",
           "layer": gradcam.layer, "max_activation": float(np.abs(np.asarray(layer(x))).max()),
           "probability_spread_over_classes": float(np.ptp(probabilities)), "target": int(gradcam.targets[0]),
           "gradcam_map_spread": float(np.ptp(gradcam.attributions)),
           "degenerate_map_warning": any(issubclass(w.category, xk.DegenerateMapWarning) for w in caught),
           "logit_spread_over_classes": float(np.ptp(logits)), "top_logit_class": int(np.argmax(logits)),
           "gradcam_map_spread_at_top_logit_class": float(np.ptp(top_logit.attributions))}
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["googlenet", "MobileNetV2", "MobileNetV3Large"])
    args = parser.parse_args(argv)
    if args.only in (None, "googlenet"):
        import torch  # before TensorFlow (see docs/backends/torch.md)

        torch.set_num_threads(1)
        for reinit in (False, True):
            print(json.dumps(_torch_row(reinit)), flush=True)
    for name in ("MobileNetV2", "MobileNetV3Large"):
        if args.only in (None, name):
            for reinit in (False, True):
                print(json.dumps(_keras_row(name, reinit)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
