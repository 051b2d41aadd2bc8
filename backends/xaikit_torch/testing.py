"""The conformance suite's model factory for PyTorch (:mod:`xaikit.testing`): for the native backend and the
adapters over PyTorch libraries (Captum, pytorch-grad-cam, shap)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from xaikit.testing import IMAGE_SHAPE, N_CLASSES, ModelFactory

__all__ = ["TorchFactory", "parity_network"]


class TorchFactory(ModelFactory):
    """Tiny PyTorch modules with known weights for the conformance checks; images ``(N, C, H, W)``.

    Parameters
    ----------
    device
        Where the modules live (``"cpu"``, ``"cuda"``): the suite then runs on that device.
    """

    layout = "NCHW"

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

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
        return nn.Sequential(OrderedDict(layers)).eval().to(self.device)

    def cnn(self) -> tuple[Any, str]:
        import torch
        from torch import nn

        h, w, c = IMAGE_SHAPE
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(7)
            model = nn.Sequential(OrderedDict([
                ("conv", nn.Conv2d(c, 5, 3, padding=1)), ("relu", nn.ReLU()), ("pool", nn.MaxPool2d(2)),
                ("flat", nn.Flatten()), ("pred", nn.Linear(5 * (h // 2) * (w // 2), N_CLASSES)),
                ("softmax", nn.Softmax(dim=1)),
            ]))
        return model.eval().to(self.device), "conv"


def parity_network() -> tuple[Any, np.ndarray]:
    """The small network (conv, ReLU, BatchNorm, max pooling, conv, softmax; its layer ``"4"`` is the last
    convolution) and the 3 images ``(3, 3, 20, 28)`` on which the adapters' parity tables compare a library with the
    native backend (``python -m xaikit_captum.parity``, ``python -m xaikit_gradcam.parity``)."""
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3),
                              nn.ReLU(), nn.Flatten(), nn.Linear(6 * 7 * 11, 5), nn.Softmax(dim=1)).eval()
    return model, np.random.default_rng(42).uniform(0, 1, (3, 3, 20, 28)).astype(np.float32)
