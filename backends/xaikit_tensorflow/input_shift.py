"""A Keras model whose first layer absorbs a constant shift of its input (Kindermans et al. 2019).

The counterpart of ``xaikit_torch.input_shift`` for the input invariance check
(:func:`xaikit.input_invariance_check`): a copy of the model whose first layer with weights
has the bias :math:`b - m\\,W\\mathbf 1`, so that ``copy(x + m) == model(x)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xaikit.errors import ModelError

__all__ = ["shift_input"]


def shift_input(model: Any, shift: float, copy: Any) -> Any:
    """``copy`` (a clone of ``model`` with its weights) with its first layer's bias absorbing ``shift``.

    The first layer with weights, in the model's layer order, must be a ``Dense`` or a
    ``Conv1D/2D/3D`` with ``padding="valid"`` and a bias (zero padding: the border outputs
    see only part of the shift, and no bias can compensate it).
    """
    import keras

    shiftable = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
    layer = next((lay for lay in copy.layers if lay.weights), None)
    if layer is None:
        raise ModelError("the model has no layer with weights, so no bias can absorb a shift of the input")
    if not isinstance(layer, shiftable) or isinstance(layer, keras.layers.Conv1DTranspose | keras.layers.Conv2DTranspose
                                                          | keras.layers.Conv3DTranspose):
        raise ModelError(f"the first layer with weights, {layer.name!r}, is a {type(layer).__name__}; the input shift "
                         "can be absorbed only by a Dense or Conv1D/2D/3D first layer's bias")
    if not isinstance(layer, keras.layers.Dense) and layer.padding != "valid":
        raise ModelError(f"the first layer {layer.name!r} pads with zeros (padding={layer.padding!r}): its border "
                         "outputs see only part of a shifted input, so no bias can compensate the shift exactly. "
                         "Check a model whose first convolution has padding='valid'")
    if not layer.use_bias:
        raise ModelError(f"the first layer {layer.name!r} has no bias (use_bias=False) to absorb the input shift")
    kernel = np.asarray(layer.kernel.numpy(), np.float64)
    bias = np.asarray(layer.bias.numpy(), np.float64)
    layer.bias.assign((bias - float(shift) * kernel.reshape(-1, kernel.shape[-1]).sum(axis=0)).astype(
        layer.bias.dtype))
    return copy
