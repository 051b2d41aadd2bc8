"""pytorch-grad-cam's CAM classes, stopped below its min-max scaling.

Where the library scales: ``BaseCAM.compute_cam_per_layer`` takes each layer's map from
``get_cam_image`` (the weighted channel sum, or the layer's own formula), applies
``np.maximum(cam, 0)`` and ``scale_cam_image(cam, target_size)`` (each map minus its
minimum, divided by ``1e-7 +`` its maximum, then ``cv2.resize`` to the image), and
``aggregate_multi_layers`` averages the layers, rectifies and scales again. ``__call__``
returns only that. The adapter subclasses the library's class and records what
``get_cam_image`` (and ``get_cam_weights``, for the weighted CAMs) returns while the
library's ``forward`` runs unchanged -- its hooks, its ``loss.backward()``, its weights --
and discards the scaled output: nothing is undone, nothing of the library's
computation is replaced.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pytorch_grad_cam
from pytorch_grad_cam.ablation_layer import AblationLayer
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from xaikit_torch.adapters import (
    ScoreModel,
    TorchModelMixin,
    function_scores,
    library_call,
    library_score,
    module_of,
    reshape_transform,
    to_tensor,
    versions,
)

from xaikit.catalogue import SHARED, Param
from xaikit.errors import InputError, LayerError
from xaikit.explainer import Attribution, CallContext, Explainer, ModelSpec
from xaikit.kernels import chunks

__all__ = ["GradCAM", "GradCAMPlusPlus", "XGradCAM", "HiResCAM", "LayerCAM", "ScoreCAM", "AblationCAM", "EigenCAM",
           "raw_cam_class"]


@functools.cache
def raw_cam_class(cls: type) -> type:
    """``cls`` (a pytorch-grad-cam class) recording the maps of ``get_cam_image`` and the weights of
    ``get_cam_weights`` in ``xaikit_maps`` / ``xaikit_weights`` as its ``forward`` computes them."""

    def get_cam_image(self: Any, *args: Any, **kwargs: Any) -> Any:
        cam = cls.get_cam_image(self, *args, **kwargs)
        self.xaikit_maps.append(np.array(cam, np.float32, copy=True))
        return cam

    def get_cam_weights(self: Any, *args: Any, **kwargs: Any) -> Any:
        weights = cls.get_cam_weights(self, *args, **kwargs)
        self.xaikit_weights.append(np.array(weights, np.float32, copy=True))
        return weights

    return type(f"Raw{cls.__name__}", (cls,), {"get_cam_image": get_cam_image, "get_cam_weights": get_cam_weights,
                                                "__module__": __name__})


class FunctionTarget:
    """A score function (:mod:`xaikit.targets`) as a pytorch-grad-cam target: the library calls its targets on
    one image's output (no batch axis); the function takes a batch, so the image is given as a batch of one."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, output: Any) -> Any:
        return function_scores(self.fn, output[None])[0]


_LAYER = SHARED["layer"].with_default(None, "The layer whose output is used (pytorch-grad-cam's target_layers, one "
                                            "layer). None: xaikit's rule, the output of the last convolution block "
                                            "(the library has no default).")
_RELU = SHARED["relu"].with_default(True, "pytorch-grad-cam's np.maximum(cam, 0) (it always applies it); False "
                                          "returns the signed map get_cam_image computed, which the library never "
                                          "shows.")
_EIGEN_SMOOTH = Param("eigen_smooth", "bool", False, "pytorch-grad-cam's eigen_smooth: the map is the projection of "
                      "the weighted activations on their first principal component instead of their channel sum.")


class _LibraryCAM(TorchModelMixin, Explainer):
    """One pytorch-grad-cam class, its map before rectification and scaling; see the module docstring.

    Score: the library differentiates ``ClassifierOutputTarget(c)``, the model's output
    column ``c`` as it is (the logit of a usual torch classifier, the probability after a
    final ``nn.Softmax``); ``score=None`` is that, and other scores hand the library
    xaikit's class scores instead (:class:`xaikit_torch.adapters.ScoreModel`; a
    single-output model gives two columns, so classes 0 and 1 both work). Images are sent
    ``batch_size`` at a time, one library call each. The library writes the parameters'
    ``.grad`` (``model.zero_grad()``, ``loss.backward()``) and calls ``model.eval()``:
    both are put back after the call. A score function is handed to the library as its
    target (:class:`FunctionTarget`, applied to the model's raw output), as
    ``SemanticSegmentationTarget`` and the library's other targets are.
    """

    backend = "pytorch-grad-cam"
    library_class: ClassVar[str]
    param_changes: ClassVar[dict[str, Param | None]] = {"layer": _LAYER, "relu": _RELU, "eigen_smooth": _EIGEN_SMOOTH}

    def _info(self) -> dict[str, Any]:
        return versions("grad-cam")

    def _default_score(self, spec: ModelSpec) -> str:
        return library_score(spec)

    #: Whether ``layer`` may name several layers (the library's ``target_layers``) and ``aug_smooth`` applies.
    several_layers: ClassVar[bool] = True

    def _construct(self, forward: ScoreModel, layers: list[Any], batch_size: int, transform: Any) -> Any:
        cam = raw_cam_class(getattr(pytorch_grad_cam, self.library_class))(model=forward, target_layers=layers,
                                                                           reshape_transform=transform)
        cam.batch_size = batch_size  # read by ScoreCAM (its default: 16)
        return cam

    def _resolve_layer(self, layer: Any, spec: ModelSpec, images: np.ndarray) -> Any:
        if not (self.several_layers and isinstance(layer, (list, tuple))):
            return super()._resolve_layer(layer, spec, images)
        names = [super(_LibraryCAM, self)._resolve_layer(one, spec, images) for one in layer]
        if not names or len(set(names)) != len(names):
            raise InputError(f"layer={list(layer)!r}: give one layer, or a list of distinct layers (pytorch-grad-cam's "
                             "target_layers).")
        return names if len(names) > 1 else names[0]

    def _layer_of_params(self, params: Mapping[str, Any]) -> str | None:
        layer = params.get("layer")
        return " + ".join(layer) if isinstance(layer, list) else layer

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        if isinstance(params["layer"], list) or params.get("aug_smooth", False):
            if not params["relu"]:
                raise InputError("pytorch-grad-cam rectifies and min-max scales each layer's (and each augmentation's) "
                                 "map before averaging them: relu=False needs one layer and aug_smooth=False (or the "
                                 "native backend, which keeps the sign).")
            layouts = params.get("_layouts", [params.get("_layout")])
            if len({layout.name for layout in layouts}) > 1:
                raise LayerError(f"pytorch-grad-cam reads every target layer with one reshape_transform; layers "
                                 f"{params['layer']} are laid out as {[layout.name for layout in layouts]}. Use layers "
                                 "of one layout, or the native backend.")
            params["min_max_scaled"] = True  # the library's output: each map min-max scaled, then averaged
        return params

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        batch_size = params["batch_size"]
        outputs, targets = ctx.outputs_and_targets()
        function = params["score"] if callable(params["score"]) else None
        forward = ScoreModel(self.model, None if function else params["score"], tuple(images.shape[1:]))
        several = isinstance(params["layer"], list)
        layers = [module_of(self.model, name) for name in (params["layer"] if several else [params["layer"]])]
        # the library's own way to read a token/channels-last layer (one for all the layers: checked)
        transform = reshape_transform(params["_layouts"][0] if several else params["_layout"])
        aggregated = several or params.get("aug_smooth", False)  # only the library's scaled output exists then
        maps, weights = [], []
        with library_call(self.model):
            for s in chunks(len(images), batch_size):
                cam = self._construct(forward, layers, batch_size, transform)
                cam.xaikit_maps, cam.xaikit_weights = [], []
                try:
                    scaled = cam(input_tensor=to_tensor(images[s], self.model),
                                 targets=[FunctionTarget(function) if function else ClassifierOutputTarget(int(c))
                                          for c in targets[s]],
                                 eigen_smooth=params.get("eigen_smooth", False),
                                 aug_smooth=params.get("aug_smooth", False))
                finally:
                    cam.activations_and_grads.release()
                maps.append(np.asarray(scaled, np.float32) if aggregated else cam.xaikit_maps[0])
                weights += cam.xaikit_weights[:1]
        maps = np.concatenate(maps)
        if params["relu"]:
            maps = np.maximum(maps, 0.0)
        complete = not aggregated and weights and sum(len(w) for w in weights) == len(maps)  # the weighted CAMs
        extras = {"weights": np.concatenate(weights)} if complete else {}
        return Attribution(maps, outputs, targets, at_layer=not aggregated, extras=extras)


class GradCAM(_LibraryCAM):
    """pytorch-grad-cam's ``GradCAM``: :math:`\\sum_k \\mathrm{mean}_{ij}(g_k) A_k`, rectified.

    The native ``gradcam`` with the same score (tested); the library's own output is
    ``minmax(resize(relu(map)))`` of this map (``scale_cam_image``; tested).

    Parameters
    ----------
    model : torch.nn.Module
    layer : str, module, list of them, or None
        Several layers are the library's ``target_layers``: its output (each layer's map
        rectified, min-max scaled, resized and averaged) is returned, recorded as
        ``min_max_scaled``.
    relu : bool, default True
    eigen_smooth : bool, default False
    aug_smooth : bool, default False
        The library's test-time augmentation; its (scaled) output is returned, as for
        several layers.
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
    """

    method = "gradcam"
    library_class = "GradCAM"


class GradCAMPlusPlus(GradCAM):
    """pytorch-grad-cam's ``GradCAMPlusPlus``: weights :math:`\\sum_{ij} \\alpha_{ij} \\mathrm{ReLU}(g_{ij})` with
    :math:`\\alpha = g^2 / (2 g^2 + \\sum_{ab} A_{ab}\\, g^3 + 10^{-6})` (0 where :math:`g = 0`)."""

    method = "gradcam++"
    library_class = "GradCAMPlusPlus"
    align_limits = ("pytorch-grad-cam adds 1e-6 to the alpha denominator (2 g^2 + sum(A) g^3), which the definition "
                    "does not: where the squared gradients are not far above 1e-6 (small scores, random weights) its "
                    "alpha becomes g^2 / 1e-6 and its map differs (docs/methods/gradcam-plus-plus.md)",)


class XGradCAM(GradCAM):
    """pytorch-grad-cam's ``XGradCAM``: weights :math:`\\sum_{ij} g_{ij} A_{ij} / (\\sum_{ab} A_{ab} + 10^{-7})`."""

    method = "xgradcam"
    library_class = "XGradCAM"


class HiResCAM(GradCAM):
    """pytorch-grad-cam's ``HiResCAM``: :math:`\\sum_k g_k \\odot A_k` (no spatial averaging), rectified
    (``eigen_smooth`` prints the library's warning that the guarantees then fail)."""

    method = "hirescam"
    library_class = "HiResCAM"


class LayerCAM(GradCAM):
    """pytorch-grad-cam's ``LayerCAM``: :math:`\\sum_k \\mathrm{ReLU}(g_k) \\odot A_k`, rectified."""

    method = "layercam"
    library_class = "LayerCAM"


class _PerChannel(_LibraryCAM):
    """A CAM making one pass per channel of the layer: the channel count is recorded (``n_channels``), as the native
    method records it, because the floor of the bench and the speed suite counts the passes by it."""

    several_layers = False

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        channels = spec.layer_channels(params["layer"])
        if channels is not None:
            params["n_channels"] = channels
        return params


class ScoreCAM(_PerChannel, GradCAM):
    """pytorch-grad-cam's ``ScoreCAM``: weights = softmax over channels of the score of the image multiplied by
    each channel's upsampled, min-max normalised activation.

    The library upsamples with ``torch.nn.UpsamplingBilinear2d`` (``align_corners=True``),
    the native ``scorecam`` with xaikit's half-pixel bilinear resize: they agree exactly
    where the layer has the input's resolution (tested), and differ by that convention
    elsewhere -- much where the layer sums to 0 over its channels, as a transformer's
    LayerNorm at initialisation (docs/methods/scorecam.md). It scores ``batch_size``
    masked images per pass (``cam.batch_size``; the library's default 16) and draws a
    tqdm progress bar per image on stderr.
    """

    method = "scorecam"
    library_class = "ScoreCAM"
    align_limits = ("pytorch-grad-cam upsamples the masks with align_corners=True (torch.nn.UpsamplingBilinear2d), "
                    "the definition (the authors' code) with half-pixel centres: identical on a layer at the input's "
                    "resolution, different masks and scores on a coarser one; where the layer sums to 0 over its "
                    "channels (a LayerNorm at initialisation: the equal part of the softmax weights cancels) the maps "
                    "differ much (a narrow ViT with random weights: r = 0.67, and 1 - 1e-9 with the library's "
                    "upsampling; docs/methods/scorecam.md)",)


class AblationCAM(_PerChannel, GradCAM):
    """pytorch-grad-cam's ``AblationCAM``: weights :math:`(y - y_k)/y` with :math:`y_k` the score when channel
    :math:`k` is ablated.

    The library swaps the layer for its ``AblationLayer`` in the model for the call (put
    back afterwards) and runs the **whole** model once per channel (``batch_size``
    channels per pass). Its ablated value is 0 when the layer's activations have minimum
    0 (after a ReLU: the native ``ablationcam``'s zero, tested), and
    ``min(activations) - 1e7`` otherwise -- a different ablation from the native one
    for layers with negative values. Draws a tqdm progress bar per image on stderr.
    """

    method = "ablationcam"
    library_class = "AblationCAM"

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        if params["_layout"].kind != "channels_first":
            raise LayerError(f"pytorch-grad-cam's AblationCAM ablates channels of a (N, C, h, w) output with its "
                             f"AblationLayer; layer {params['layer']!r} is {params['_layout'].describe()}. Use the "
                             "native ablationcam (channels-last layers) or a channels-first layer.")
        return params

    def _construct(self, forward: ScoreModel, layers: list[Any], batch_size: int, transform: Any) -> Any:
        cls = raw_cam_class(pytorch_grad_cam.AblationCAM)
        return cls(model=forward, target_layers=layers, ablation_layer=AblationLayer(), batch_size=batch_size)


class EigenCAM(GradCAM):
    """pytorch-grad-cam's ``EigenCAM``: the projection of the layer's centred activations on their first right
    singular vector (``get_2d_projection``), rectified; class-agnostic (the target is recorded, not used).

    The library keeps the orientation ``np.linalg.svd`` happens to return, so its map may
    be the negative lobe of the native ``eigencam``'s (which fixes the sign): compare
    either orientation (tested). ``eigen_smooth`` does not apply.
    """

    method = "eigencam"
    library_class = "EigenCAM"
    several_layers = False
    param_changes = {"layer": _LAYER, "relu": _RELU}


class EigenGradCAM(GradCAM):
    """pytorch-grad-cam's ``EigenGradCAM``: the projection of the gradient-weighted activations
    :math:`g \\odot A` on their first right singular vector (``get_2d_projection``), rectified.

    The library keeps the orientation ``np.linalg.svd`` happens to return, so its map may
    be the other lobe of the native ``eigengradcam``'s (which follows the channel sum):
    compare either orientation (tested). The projection is the definition, so
    ``eigen_smooth`` does not apply.
    """

    method = "eigengradcam"
    library_class = "EigenGradCAM"
    several_layers = False
    param_changes = {"layer": _LAYER, "relu": _RELU}
