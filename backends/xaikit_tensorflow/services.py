"""Model services for Keras 3 models (shared by the tensorflow, tf-explain and shap backends)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from xaikit.errors import InputError, LayerError, ModelError
from xaikit.services import EngineServices

from .engine import KerasEngine, engine_for

__all__ = ["KerasServices", "SERVICES"]

#: xaikit's own architectures (:mod:`.zoo.architectures`), by name, with the book's settings.
_OWN_ARCHITECTURES = {"cnn4": {"dense_units": 512}, "conv_bn_leaky": {}}


def _keras() -> Any:
    import keras

    return keras


class KerasServices(EngineServices):
    """What xaikit needs from a Keras 3 model besides the methods: see :class:`xaikit.services.ModelServices`."""

    framework = "keras"
    backend = "tensorflow"
    suffixes = (".keras", ".h5", ".hdf5")

    def accepts(self, model: Any) -> bool:
        return any(cls.__module__.split(".", 1)[0] in ("keras", "tf_keras") for cls in type(model).__mro__)

    def engine(self, model: Any) -> KerasEngine:
        return engine_for(model)

    def with_output(self, model: Any, output: Any) -> Any:
        """A Functional model over the output ``output`` selects (:func:`xaikit_tensorflow.outputs.with_output`)."""
        from .outputs import with_output

        return with_output(model, output)

    def randomizer(self, model: Any) -> Any:
        from .randomize import KerasRandomizer

        return KerasRandomizer(model)

    def copy_model(self, model: Any) -> Any:
        """``keras.models.clone_model`` with the model's weights; nested models are cloned layer by layer.

        A ``Lambda`` layer is re-created from its function (already loaded in this process:
        no code is deserialised), which Keras' safe mode would otherwise refuse.
        """
        keras = _keras()

        def graph(m: Any) -> bool:  # a model clone_model rebuilds layer by layer (its clone_function applies)
            return isinstance(m, keras.Sequential) or type(m).__name__ == "Functional"

        def clone(m: Any) -> Any:
            return keras.models.clone_model(m, clone_function=clone_layer) if graph(m) else keras.models.clone_model(m)

        def clone_layer(layer: Any) -> Any:
            if isinstance(layer, keras.layers.Lambda):
                return type(layer).from_config(layer.get_config(), safe_mode=False)
            if isinstance(layer, keras.Model):
                return clone(layer)
            return type(layer).from_config(layer.get_config())

        try:
            copied = clone(model)
            copied.set_weights(model.get_weights())
        except Exception as exc:  # Keras raises ValueError, TypeError, NotImplementedError...
            raise ModelError(f"cannot copy Keras model {model.name!r} ({type(exc).__name__}: {exc}); the sanity "
                             "check randomises a copy so that the model itself stays unchanged for other callers. "
                             "A subclassed model needs get_config/from_config to be copied; or randomise it "
                             "yourself with xaikit.metrics.cascading_randomisation.") from exc
        return copied

    def shift_input(self, model: Any, shift: float, images: Any) -> Any:
        """A copy (:meth:`copy_model`) whose first layer's bias absorbs the input shift
        (:func:`xaikit_tensorflow.input_shift.shift_input`); ``images`` are not needed (layer order)."""
        from .input_shift import shift_input

        return shift_input(model, shift, self.copy_model(model))

    def parameter_count(self, model: Any) -> int:
        return int(model.count_params())

    def load(self, path: str | os.PathLike[str], *, unsafe: bool = False, input_size: tuple[int, int] | None = None,
             **options: Any) -> Any:
        from .loading import load_model

        if options:
            raise InputError(f"Keras model files take no options {sorted(options)}")
        return load_model(path, unsafe=unsafe, input_size=input_size)

    # ----------------------------------------------------------------- architectures
    def architectures(self) -> tuple[str, ...]:
        """``keras.applications`` (``VGG16``, ``ResNet50``, ``Xception``, ...) and xaikit's zoo builders."""
        apps = _keras().applications
        names = sorted(n for n in dir(apps) if n[:1].isupper() and callable(getattr(apps, n)))
        return (*names, *_OWN_ARCHITECTURES)

    def architecture_preprocess(self, name: str) -> str | None:
        if name in _OWN_ARCHITECTURES:
            return "scale255"
        builder = getattr(_keras().applications, name, None)
        return None if builder is None else builder.__module__.rsplit(".", 1)[-1]

    def architecture(self, name: str, *, weights: str | None = None, input_size: tuple[int, int] | None = None,
                     classes: int | None = None, seed: int | None = None) -> Any:
        """``keras.applications.<name>`` (or a zoo builder) with random (seeded) or file weights.

        ``weights``: ``"none"`` (random initialisation, the same weights for the same
        ``seed``), ``"imagenet"`` (Keras downloads them once into ``~/.keras``) or a weights
        file (``.h5`` / ``.weights.h5``).
        """
        keras = _keras()
        w = (weights or "none").strip()
        if w.lower() == "none":
            w_arg: Any = None
            if seed is not None:
                keras.utils.set_random_seed(int(seed))
        elif w.lower() == "imagenet":
            w_arg = "imagenet"
        else:
            p = Path(w)
            if not p.is_file():
                raise InputError(f"--weights {w}: no such file; pass a weights file (.h5 / .weights.h5), 'none' "
                                 "(random initialisation) or 'imagenet' (downloaded once by Keras into ~/.keras)")
            w_arg = str(p)
        if name in _OWN_ARCHITECTURES:
            from .zoo.architectures import BUILDERS

            shape = (*(input_size or (150, 150)), 3)
            model = BUILDERS[name](shape, int(classes or 1), **_OWN_ARCHITECTURES[name])
            if w_arg not in (None, "imagenet"):
                model.load_weights(w_arg)
            return model
        builder = getattr(keras.applications, name, None)
        if builder is None:
            raise InputError(f"unknown architecture {name!r}; keras.applications has: "
                             f"{', '.join(self.architectures())}")
        kwargs: dict[str, Any] = {"weights": w_arg, "include_top": True}
        if input_size is not None:
            kwargs["input_shape"] = (int(input_size[0]), int(input_size[1]), 3)
        if classes is not None:
            kwargs["classes"] = int(classes)
        try:
            return builder(**kwargs)
        except (ValueError, TypeError, OSError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(f"cannot build {name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}): {first}") \
                from None

    def preprocessing(self, name: str) -> Any:
        from .preprocessing import family_scheme

        return family_scheme(name)

    # ----------------------------------------------------------------- zoo
    def zoo_model(self, name: str, **options: Any) -> Any:
        from .zoo import load_model

        return load_model(name, **options)

    def zoo_record(self, name: str) -> dict[str, Any] | None:
        from .zoo import ZOO

        return ZOO[name].metadata

    # ----------------------------------------------------------------- layers
    def layer_reference(self, model: Any, kind: str, index: int) -> str:
        """``model.layers[index]`` (``kind="index"``) or the layer feeding it (``"input_of"``), by name.

        Indices count the input layer first, as Keras' ``model.layers`` does for
        Functional models (SHAP's ``model.layers[i].input`` idiom).
        """
        keras = _keras()
        layers = list(model.layers)
        if not 0 <= index < len(layers):
            raise LayerError(f"the model has {len(layers)} layers (0..{len(layers) - 1})")
        if kind == "index":
            return layers[index].name
        inp = layers[index].input
        if isinstance(inp, (list, tuple)):
            raise LayerError(f"layer {layers[index].name!r} has several inputs; name the layer instead")
        history = getattr(inp, "_keras_history", None)
        producer = getattr(history, "operation", None) if history is not None else None
        if producer is None:
            raise LayerError(f"cannot tell which layer feeds {layers[index].name!r}; name the layer instead")
        if isinstance(producer, keras.layers.InputLayer):
            raise LayerError(f"{layers[index].name!r} is fed by the model input; explain at the input (no layer) "
                             "instead")
        return producer.name

    def conv_filters(self, model: Any, layer: str) -> np.ndarray:
        view = self.engine(model).view
        if layer not in view.layers:
            raise LayerError(f"unknown layer {layer!r}; convolution layers: {', '.join(self.kernel_layers(model))}")
        weights = view.layers[layer].weights
        if not weights or len(weights[0].shape) != 4:
            raise LayerError(f"layer {layer!r} has no 4-D convolution kernel; convolution layers: "
                             f"{', '.join(self.kernel_layers(model))}")
        return np.asarray(_keras().ops.convert_to_numpy(weights[0]), np.float32)

    def kernel_layers(self, model: Any) -> list[str]:
        """Layers (nested ones included) whose first weight is a 4-D kernel."""
        view = self.engine(model).view
        return [n for n, lyr in view.layers.items()
                if not isinstance(lyr, _keras().Model) and lyr.weights and len(lyr.weights[0].shape) == 4]


SERVICES = KerasServices()
