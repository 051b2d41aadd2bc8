"""Keras 3 implementation of :class:`xaikit.metrics.Randomizer` for the parameter
randomisation sanity check (Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018).

>>> from xaikit.metrics import cascading_randomisation               # doctest: +SKIP
>>> from xaikit_tensorflow.randomize import KerasRandomizer           # doctest: +SKIP
>>> result = cascading_randomisation(explain_fn, KerasRandomizer(model), images, targets)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xaikit.errors import LayerError, ModelError

__all__ = ["KerasRandomizer"]

# Weight name -> initializer attributes to look for, besides "<name>_initializer".
_INITIALIZER_ATTRS = {
    "kernel": ("depthwise_initializer",),  # DepthwiseConv2D keeps its kernel as "kernel"
    "depthwise_kernel": ("depthwise_initializer",),
    "pointwise_kernel": ("pointwise_initializer",),
    "recurrent_kernel": ("recurrent_initializer",),
}


def _keras() -> Any:
    try:
        import keras
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from xaikit.errors import MissingDependencyError

        raise MissingDependencyError('KerasRandomizer needs Keras 3: pip install "xaikit[tensorflow]"') from exc
    return keras


class KerasRandomizer:
    """Re-initialise the layers of a Keras 3 model in place, and restore them.

    Each weight of a randomised layer is drawn again from the layer's own initializer
    (``kernel_initializer``, ``bias_initializer``, ``gamma_initializer``,
    ``moving_variance_initializer``, ...), seeded; a weight without a known
    initializer (custom layers) is drawn from a seeded normal
    :math:`\\mathcal N(0, \\sigma^2)` with :math:`\\sigma` the standard deviation of its
    original values. The original values are copied the first time a layer is
    randomised and put back bit-exactly by :meth:`restore` (also on leaving a
    ``with`` block). Layers of nested models are reached individually, named
    ``"outer/inner"``; layers without weights are skipped.

    Parameters
    ----------
    model : keras.Model
        A built model (called once, or built with an input shape). It is modified in
        place: explain with the same object.

    Attributes
    ----------
    initializers_used : dict
        layer -> {weight name: initializer description} for the layers randomised
        since the last :meth:`restore`.
    """

    def __init__(self, model: Any) -> None:
        keras = _keras()
        if not isinstance(model, keras.Model):
            raise ModelError(f"KerasRandomizer needs a keras.Model (Keras 3); got {type(model).__name__}.")
        if not model.built:
            raise ModelError("the model is not built: call it once on a batch or use model.build(input_shape) "
                             "before randomising its layers.")
        self.model = model
        self._by_name: dict[str, Any] = {}
        self._collect(model, "")
        self._originals: dict[str, list[np.ndarray]] = {}
        self.initializers_used: dict[str, dict[str, str]] = {}

    def _collect(self, model: Any, prefix: str) -> None:
        keras = _keras()
        for layer in model.layers:
            name = prefix + layer.name
            if isinstance(layer, keras.Model) and layer.layers:
                self._collect(layer, name + "/")
            elif layer.weights:
                self._by_name[name] = layer

    # ------------------------------------------------------------ Randomizer API
    def layers(self) -> list[str]:
        """Names of the layers with weights, top (output side) first."""
        return list(reversed(self._by_name))

    def randomize(self, layer: str, seed: int) -> None:
        """Re-initialise ``layer``'s weights from its initializers, seeded by ``seed``."""
        keras = _keras()
        target = self._layer(layer)
        variables = list(target.weights)
        if layer not in self._originals:
            self._originals[layer] = [np.array(keras.ops.convert_to_numpy(v), copy=True) for v in variables]
        used = {}
        for j, (variable, original) in enumerate(zip(variables, self._originals[layer])):
            sub_seed = int(np.random.SeedSequence([int(seed), j]).generate_state(1)[0] & 0x7FFFFFFF)
            value, description = self._draw(target, variable, original, sub_seed)
            variable.assign(value)
            used[_short_name(variable)] = description
        self.initializers_used[layer] = used

    def restore(self) -> None:
        """Put back the original weights of every layer randomised so far (bit-exact)."""
        for name, values in list(self._originals.items()):
            for variable, value in zip(self._by_name[name].weights, values):
                variable.assign(value)
            del self._originals[name]
        self.initializers_used.clear()

    def __enter__(self) -> KerasRandomizer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.restore()

    # ------------------------------------------------------------------ helpers
    def _layer(self, name: str) -> Any:
        try:
            return self._by_name[name]
        except KeyError:
            raise LayerError(f"no layer with weights named {name!r}; the layers with weights are, top first: "
                             f"{', '.join(self.layers())}") from None

    @staticmethod
    def _draw(layer: Any, variable: Any, original: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
        keras = _keras()
        initializer = _initializer_for(layer, _short_name(variable))
        if initializer is not None:
            config = initializer.get_config()
            if "seed" in config:
                initializer = type(initializer).from_config({**config, "seed": seed})
            value = keras.ops.convert_to_numpy(initializer(shape=tuple(original.shape), dtype=str(original.dtype)))
            return np.asarray(value, dtype=original.dtype).reshape(original.shape), type(initializer).__name__
        std = float(np.std(original.astype(np.float64))) if original.size else 0.0
        rng = np.random.default_rng(seed)
        value = rng.normal(0.0, std, size=original.shape).astype(original.dtype)
        return value, f"seeded normal(0, {std:.4g})"


def _short_name(variable: Any) -> str:
    name = str(getattr(variable, "name", ""))
    return name.rsplit("/", 1)[-1].split(":", 1)[0]


def _initializer_for(layer: Any, weight: str) -> Any:
    """The layer's initializer for the weight named ``weight``, or None."""
    keras = _keras()
    for owner in (layer, getattr(layer, "cell", None)):
        if owner is None:
            continue
        for attr in (f"{weight}_initializer", *_INITIALIZER_ATTRS.get(weight, ())):
            init = getattr(owner, attr, None)
            if init is not None:
                try:
                    return keras.initializers.get(init)
                except (ValueError, TypeError):
                    return None
    return None
