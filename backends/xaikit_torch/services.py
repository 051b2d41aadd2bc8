"""Model services for PyTorch modules (shared with the adapters over torch libraries)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from xaikit.errors import InputError, LayerError, ModelError
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
        """The engine of ``model`` with its default output selection (a Hugging Face model's ``.logits``)."""
        from .engine import engine_for
        from .outputs import with_output

        return engine_for(with_output(model, None))

    def with_output(self, model: Any, output: Any) -> Any:
        """The model returning the scores ``output`` selects (:func:`xaikit_torch.outputs.with_output`)."""
        from .outputs import with_output

        return with_output(model, output)

    def randomizer(self, model: Any) -> Any:
        from .randomize import TorchRandomizer

        return TorchRandomizer(model)

    def copy_model(self, model: Any) -> Any:
        """``copy.deepcopy(model)``: its own parameters and buffers, on the model's device, modes as they are."""
        import copy

        try:
            return copy.deepcopy(model)
        except Exception as exc:  # whatever the module holds that cannot be copied
            raise ModelError(f"cannot copy model {type(model).__name__} ({type(exc).__name__}: {exc}); the sanity "
                             "check randomises a copy so that the model itself stays unchanged for other callers. "
                             "Make the module deep-copyable (copy.deepcopy) or randomise it yourself with "
                             "xaikit.metrics.cascading_randomisation.") from exc

    def shift_input(self, model: Any, shift: float, images: Any) -> Any:
        """A copy whose first layer's bias absorbs the input shift (:func:`xaikit_torch.input_shift.shift_input`)."""
        from .input_shift import shift_input

        return shift_input(model, shift, images)

    def parameter_count(self, model: Any) -> int:
        return int(sum(p.numel() for p in model.parameters()))

    def load(self, path: str | os.PathLike[str], *, unsafe: bool = False, input_size: tuple[int, int] | None = None,
             **options: Any) -> Any:
        """A ``.pt`` / ``.pth`` file (:func:`xaikit_torch.loading.load_model`; options ``arch``, ``num_classes``).

        ``input_size`` is accepted for the common signature and ignored: a PyTorch module
        takes the size of the images it is given.
        """
        from .loading import load_model

        return load_model(path, unsafe=unsafe, **options)

    # ----------------------------------------------------------------- architectures
    def architectures(self) -> tuple[str, ...]:
        """torchvision's classification architectures and the twins of xaikit's zoo builders."""
        import torchvision

        from .zoo.architectures import BUILDERS

        return (*torchvision.models.list_models(module=torchvision.models), *BUILDERS)

    def architecture_preprocess(self, name: str) -> str | None:
        from .zoo.architectures import BUILDERS

        return "scale255" if name in BUILDERS else "torch"  # torchvision's weights: ImageNet mean and std

    def architecture(self, name: str, *, weights: str | None = None, input_size: tuple[int, int] | None = None,
                     classes: int | None = None, seed: int | None = None) -> Any:
        """A torchvision architecture (or a zoo twin builder) in eval mode.

        ``weights``: ``"none"`` (random initialisation; the same weights for the same
        ``seed``, drawn from a forked RNG so torch's global state is untouched),
        ``"imagenet"`` (torchvision's default weights, downloaded once by torchvision) or a
        state-dict file (``.pt`` / ``.pth``, read with ``weights_only=True``).
        """
        import torch
        import torchvision

        from .loading import load_model
        from .zoo.architectures import BUILDERS

        w = (weights or "none").strip()
        if name in BUILDERS and w.lower() == "imagenet":
            raise InputError(f"{name} is one of xaikit's zoo architectures: it has no ImageNet weights; pass "
                             "weights='none' or a state-dict file")
        if w.lower() not in ("none", "imagenet") and name not in BUILDERS:
            return load_model(w, arch=name, num_classes=classes)
        if name not in BUILDERS and name not in torchvision.models.list_models(module=torchvision.models):
            raise InputError(f"unknown architecture {name!r}; torchvision has: {', '.join(self.architectures())}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if seed is None else int(seed))
            if name in BUILDERS:
                model = BUILDERS[name]((3, *(input_size or (150, 150))), int(classes or 1))
                if w.lower() not in ("none", "imagenet"):
                    model.load_state_dict(torch.load(w, map_location="cpu", weights_only=True))
                return model.eval()
            kwargs: dict[str, Any] = {"weights": "DEFAULT" if w.lower() == "imagenet" else None}
            if classes is not None:
                kwargs["num_classes"] = int(classes)
            try:
                return torchvision.models.get_model(name, **kwargs).eval()
            except (ValueError, TypeError, RuntimeError) as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise InputError(f"cannot build torchvision's {name}({kwargs}): {first}") from None

    # ----------------------------------------------------------------- zoo
    def zoo_model(self, name: str, **options: Any) -> Any:
        """The PyTorch twin of zoo model ``name`` (:func:`xaikit_torch.zoo.load_twin`)."""
        from .zoo import load_twin

        return load_twin(name, **options)

    def zoo_record(self, name: str) -> dict[str, Any] | None:
        """The Keras model's training record: the twin carries the same weights (converted)."""
        from xaikit_tensorflow.zoo import model_info  # the shipped records; imports no TensorFlow

        record = model_info(name).metadata
        return None if record is None else {**record, "weights": f"converted from {name}.keras (xaikit_torch.zoo)"}

    # ----------------------------------------------------------------- layers
    def kernel_layers(self, model: Any) -> list[str]:
        """Modules whose ``weight`` is a 4-D convolution kernel, in registration order."""
        return [name for name, module in model.named_modules()
                if name and getattr(getattr(module, "weight", None), "ndim", 0) == 4]

    def conv_filters(self, model: Any, layer: str) -> np.ndarray:
        """The kernels of convolution ``layer`` as ``(kh, kw, in, out)`` float32.

        PyTorch keeps them as ``(out, in, kh, kw)``.
        """
        modules = dict(model.named_modules())
        weight = getattr(modules.get(layer), "weight", None)
        if weight is None or weight.ndim != 4:
            raise LayerError(f"layer {layer!r} has no 4-D convolution kernel; convolution layers: "
                             f"{', '.join(self.kernel_layers(model))}")
        return np.ascontiguousarray(weight.detach().float().cpu().numpy().transpose(2, 3, 1, 0))


SERVICES = TorchServices()
