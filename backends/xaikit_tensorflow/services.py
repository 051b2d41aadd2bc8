"""Model services for Keras 3 models (shared by the tensorflow, tf-explain and shap backends)."""

from __future__ import annotations

import os
from typing import Any

from xaikit.errors import ModelError
from xaikit.services import EngineServices, InputSignature

from .engine import KerasEngine, engine_for

__all__ = ["KerasServices", "SERVICES"]


class KerasServices(EngineServices):
    """What xaikit needs from a Keras 3 model besides the methods: see :class:`xaikit.services.ModelServices`."""

    framework = "keras"
    backend = "tensorflow"
    suffixes = (".keras", ".h5", ".hdf5")

    def accepts(self, model: Any) -> bool:
        return any(cls.__module__.split(".", 1)[0] in ("keras", "tf_keras") for cls in type(model).__mro__)

    def engine(self, model: Any) -> KerasEngine:
        return engine_for(model)

    def signature(self, model: Any) -> InputSignature:
        inputs = getattr(model, "inputs", None)
        if not inputs or len(inputs) != 1:
            raise ModelError(f"the model {getattr(model, 'name', '')!r} must have one image input; it has "
                             f"{len(inputs) if inputs else 'no known'} inputs")
        outputs = getattr(model, "outputs", None)
        width = outputs[0].shape[-1] if outputs else None
        return InputSignature(tuple(inputs[0].shape)[1:], "NHWC", None if width is None else int(width))

    def randomizer(self, model: Any) -> Any:
        from .randomize import KerasRandomizer

        return KerasRandomizer(model)

    def parameter_count(self, model: Any) -> int:
        return int(model.count_params())

    def load(self, path: str | os.PathLike[str], *, unsafe: bool = False, **options: Any) -> Any:
        from .loading import load_model

        return load_model(path, unsafe=unsafe, **options)


SERVICES = KerasServices()
