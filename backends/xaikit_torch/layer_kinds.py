"""The kind of a ``torch.nn.Module`` as :class:`xaikit.spec.LayerInfo` names it (conv, pool, dense, ...).

:func:`layer_kind` reads the module's class only (no pass runs): what the model view
reports for every module of a model (:meth:`xaikit_torch._torch.TorchModelView.describe`).
"""

from __future__ import annotations

from torch import nn

__all__ = ["layer_kind"]

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
    if isinstance(module, _RESHAPES):
        return "reshape"
    if type(module).__module__ == "torch.nn.modules.activation":
        return "activation"
    if next(module.children(), None) is not None:
        return "block"
    return "other"
