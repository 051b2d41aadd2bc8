"""The kind of a ``torch.nn.Module`` as :class:`xaikit.spec.LayerInfo` names it (conv, pool, dense, ...).

:func:`layer_kind` reads the module's class only (no pass runs): what the model view
reports for every module of a model (:meth:`xaikit_torch._torch.TorchModelView.describe`).
"""

from __future__ import annotations

from torch import nn

__all__ = ["layer_kind", "layout_hint", "permutation"]

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.LPPool1d,
          nn.LPPool2d, nn.FractionalMaxPool2d, nn.FractionalMaxPool3d)
_ADAPTIVE_POOLS = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
                   nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
_DROPOUTS = (nn.modules.dropout._DropoutNd, nn.AlphaDropout, nn.FeatureAlphaDropout)
_RESHAPES = (nn.Unflatten, nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle, nn.ChannelShuffle,
             nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd,
             nn.modules.padding._ReplicationPadNd, nn.ZeroPad2d)


#: Modules whose 4-D output is channels-first by definition (convolutions, pooling, per-channel norms).
_CHANNELS_FIRST = (nn.modules.conv._ConvNd, *_POOLS, *_ADAPTIVE_POOLS, nn.modules.batchnorm._BatchNorm,
                   nn.modules.instancenorm._InstanceNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.Dropout2d,
                   nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle, nn.ChannelShuffle)


def permutation(module: nn.Module) -> tuple[int, ...] | None:
    """The axes of a permutation module (torchvision's ``ops.misc.Permute``: a ``dims`` list), else None."""
    dims = getattr(module, "dims", None)
    if type(module).__name__ == "Permute" and isinstance(dims, (list, tuple)) and all(isinstance(d, int) for d in dims):
        return tuple(dims)
    return None


def layout_hint(module: nn.Module, shape: tuple[int, ...] | None) -> str | None:
    """What a module's class says about the layout of its per-image output ``shape``, or None.

    Convolutions, pooling and per-channel norms output channels-first maps. A plain
    ``nn.Linear`` or ``nn.LayerNorm`` (its own ``forward``) acts on the last axis: a 3-D
    output whose last axis is its width is channels-last (2-D: tokens). A permutation
    module to ``(0, 2, 3, 1)`` outputs channels-last, to ``(0, 3, 1, 2)`` channels-first.
    A subclass that overrides ``forward`` (torchvision's ``LayerNorm2d`` permutes inside)
    and any other module say nothing.
    """
    if shape is None or len(shape) not in (2, 3):
        return None
    if len(shape) == 3 and isinstance(module, _CHANNELS_FIRST):
        return "channels_first"
    last = "channels_last" if len(shape) == 3 else "tokens"
    if type(module).forward is nn.Linear.forward and isinstance(module, nn.Linear):
        return last if shape[-1] == module.out_features else None
    if type(module).forward is nn.LayerNorm.forward and isinstance(module, nn.LayerNorm):
        return last if tuple(module.normalized_shape) == (shape[-1],) else None
    dims = permutation(module)
    if dims == (0, 2, 3, 1) and len(shape) == 3:
        return "channels_last"
    if dims == (0, 3, 1, 2) and len(shape) == 3:
        return "channels_first"
    return None


def layer_kind(module: nn.Module) -> str:
    """The :class:`xaikit.spec.LayerInfo` kind of a module.

    ``nn.Sequential`` / ``ModuleList`` / ``ModuleDict`` are ``container`` (their output
    is one of their children's); any other module with children is a ``block`` (a
    residual block computes its own output, and it is what a CAM usually looks at).
    """
    if isinstance(module, _CONTAINERS):
        return "container"
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, _ADAPTIVE_POOLS):
        size = module.output_size
        sizes = size if isinstance(size, tuple) else (size,)
        return "global_pool" if all(s == 1 for s in sizes) else "pool"
    if isinstance(module, _POOLS):
        return "pool"
    if isinstance(module, (nn.Linear, nn.Bilinear)):
        return "dense"
    if isinstance(module, nn.Flatten):
        return "flatten"
    if isinstance(module, _DROPOUTS):
        return "dropout"
    if isinstance(module, _NORMS):
        return "norm"
    if isinstance(module, _RESHAPES) or permutation(module) is not None:
        return "reshape"
    if type(module).__module__ == "torch.nn.modules.activation":
        return "activation"
    if next(module.children(), None) is not None:
        return "block"
    return "other"
