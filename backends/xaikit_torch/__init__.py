"""Native PyTorch backend for xaikit.

The backend is an engine (:mod:`.engine`: xaikit's primitives on a ``torch.nn.Module``,
on the model's device) and model services (:mod:`.services`); every method comes from
the core (:mod:`xaikit.methods`). Images are ``(N, C, H, W)`` as PyTorch models take
them (NumPy arrays or tensors, on any device); layers are module paths as
``model.named_modules()`` names them (``"layer4"``, ``"features.28"``) or the module
objects. Importing this package does not import torch.
"""

from xaikit.registry import BackendSpec

_M = "xaikit_torch"

BACKEND = BackendSpec(
    name="torch",
    description="Native PyTorch implementations (any nn.Module, on the model's device, seeded)",
    engine=f"{_M}.engine:engine_for",
    capabilities=("scores", "gradients", "layers", "head", "guided", "attention", "propagation"),
    services=f"{_M}.services:SERVICES",
    model_files=(".pt", ".pth"),
    requires=("torch",),
    extra="torch",
    frameworks=("torch",),
    native=True,
    distributions=("torch", "torchvision"),
)

__all__ = ["BACKEND"]
