"""Model services for PyTorch modules (shared with the adapters over torch libraries)."""

from __future__ import annotations

import os
from typing import Any

from xaikit.services import EngineServices

__all__ = ["SERVICES", "TorchServices"]


class TorchServices(EngineServices):
    """What xaikit needs from a ``torch.nn.Module`` besides the methods: see :class:`xaikit.services.ModelServices`.

    :meth:`accepts` reads the module names of the model's classes, so asking about any
    object never imports torch.
    """

    framework = "torch"
    backend = "torch"
    suffixes = (".pt", ".pth")

    def accepts(self, model: Any) -> bool:
        roots = {cls.__module__.split(".", 1)[0] for cls in type(model).__mro__}
        return "torch" in roots and not roots & {"keras", "tf_keras"}

    def engine(self, model: Any) -> Any:
        from .engine import engine_for

        return engine_for(model)

    def randomizer(self, model: Any) -> Any:
        from .randomize import TorchRandomizer

        return TorchRandomizer(model)

    def parameter_count(self, model: Any) -> int:
        return int(sum(p.numel() for p in model.parameters()))

    def load(self, path: str | os.PathLike[str], *, unsafe: bool = False, **options: Any) -> Any:
        from .loading import load_model

        return load_model(path, unsafe=unsafe, **options)


SERVICES = TorchServices()
