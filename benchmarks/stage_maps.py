"""Issue 26's check at full size: every stage output of swin_t and convnext_tiny (random weights, one 224x224
image) explains as an (h, w) map with h = w (56/28/14/7), natively, through pytorch-grad-cam (its
``reshape_transform``) and through Captum (a grid module), printing the correlation of each with the native map.

Run::

    python benchmarks/stage_maps.py

The test suite checks the same on narrow builds of both architectures at 64x64 (tests/test_layer_layouts.py).
"""

from __future__ import annotations

import time
import warnings

import numpy as np


def main() -> None:
    import torch
    import torchvision

    import xaikit as xk

    warnings.simplefilter("ignore")
    x = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
    for name, layers in [("swin_t", ["features.1", "features.3", "features.5", "features.7", "norm"]),
                         ("convnext_tiny", ["features.1", "features.3", "features.5", "features.7"])]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = getattr(torchvision.models, name)(weights=None).eval()
        for layer in layers:
            start = time.perf_counter()
            native = xk.explain(model, x, "gradcam", layer=layer, targets=3)
            library = xk.explain(model, x, "gradcam", layer=layer, targets=3, backend="pytorch-grad-cam")
            captum = xk.explain(model, x, "gradcam", layer=layer, targets=3, backend="captum", relu=True)
            r_library = np.corrcoef(native.layer_attributions.ravel(), library.layer_attributions.ravel())[0, 1]
            r_captum = np.corrcoef(native.layer_attributions.ravel(), captum.layer_attributions.ravel())[0, 1]
            print(f"{name} {layer}: map {native.layer_attributions.shape[1:]} ({native.params['layer_layout']}), "
                  f"r(pytorch-grad-cam) = {r_library:.5f}, r(captum) = {r_captum:.5f}, "
                  f"{time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
