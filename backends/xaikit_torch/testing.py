"""The conformance suite's model factory for PyTorch (:mod:`xaikit.testing`): for the native backend and the
adapters over PyTorch libraries (Captum, pytorch-grad-cam, shap)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from xaikit.testing import _K, IMAGE_SHAPE, ModelFactory

__all__ = ["TorchFactory"]


class TorchFactory(ModelFactory):
    """Tiny PyTorch modules with known weights for the conformance checks; images ``(N, C, H, W)``."""

    layout = "NCHW"

    def linear(self, weights: np.ndarray, bias: np.ndarray, activation: str) -> Any:
        import torch
        from torch import nn

        h, w, c, k = weights.shape
        dense = nn.Linear(h * w * c, k)
        with torch.no_grad():  # Flatten of (C, H, W): input index c * H * W + h * W + w
            dense.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights.transpose(2, 0, 1, 3).reshape(-1, k).T)))
            dense.bias.copy_(torch.from_numpy(np.asarray(bias, np.float32)))
        layers: list[tuple[str, nn.Module]] = [("flat", nn.Flatten()), ("dense", dense)]
        if activation == "softmax":
            layers.append(("softmax", nn.Softmax(dim=1)))
        return nn.Sequential(OrderedDict(layers)).eval()

    def cnn(self) -> tuple[Any, str]:
        import torch
        from torch import nn

        h, w, c = IMAGE_SHAPE
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(7)
            model = nn.Sequential(OrderedDict([
                ("conv", nn.Conv2d(c, 5, 3, padding=1)), ("relu", nn.ReLU()), ("pool", nn.MaxPool2d(2)),
                ("flat", nn.Flatten()), ("pred", nn.Linear(5 * (h // 2) * (w // 2), _K)),
                ("softmax", nn.Softmax(dim=1)),
            ]))
        return model.eval(), "conv"
