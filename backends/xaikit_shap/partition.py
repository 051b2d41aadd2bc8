"""shap's Partition explainer with an image masker, on any model xaikit can score (Keras, PyTorch, black boxes).

Framework-free: the model is reached through its model services
(:func:`xaikit.registry.services_for`), which give shap a NumPy function of channels-last
images returning the class scores, whatever the model is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shap

from xaikit.catalogue import Param
from xaikit.errors import InputError
from xaikit.explainer import Attribution, CallContext, Explainer, ModelSpec
from xaikit.kernels import GLOBAL_RNG_LOCK, chunks, image_seeds, to_layout
from xaikit.registry import services_for

__all__ = ["ShapPartition"]


class ShapPartition(Explainer):
    """shap's ``PartitionExplainer`` with ``shap.maskers.Image``: Owen values of a hierarchy of image regions.

    shap builds a binary partition tree of the image's pixels (``Image.build_partition_tree``:
    the image is cut in halves along its longer side, recursively, down to single values)
    and estimates the Owen values of the game "score with the regions outside the
    coalition masked" within ``max_evals`` model evaluations per image, spending them on
    the regions whose split changes the score most. A masked region takes the masker's
    value: ``"blur"`` (``cv2.blur`` of the image with a ``blur_size`` kernel; shap's
    ``"blur(h,w)"``), ``"inpaint_telea"`` / ``"inpaint_ns"`` (``cv2.inpaint``; shap casts the
    image to uint8 first, so these suit [0, 255] pixels only) or ``"baseline"`` (the
    ``baseline`` value, as xaikit's other perturbation methods). What this computes for
    a region is a value per pixel and channel; the map is their sum over the channels
    (``channel_attributions`` keeps them, in the model's layout). shap's values sum to
    :math:`S_t(x) - S_t(\\text{all masked})`; ``extras["base_value"]`` is the second term.

    The model: shap calls a NumPy function of channels-last image batches; the adapter
    hands it the model's class scores through its model services (any model xaikit
    explains: Keras, PyTorch, black boxes and ONNX), ``batch_size`` masked images per
    call; shap's own ``batch_size`` (``shap_batch_size``) is how many masked images it
    evaluates per step of its search, which decides the order in which it expands the
    tree, and so the values (unlike ``batch_size``, which changes nothing but memory).
    ``score=None`` is what shap users hand it, the model's
    output as it is: the probability of a softmax/sigmoid model, the logit of a model
    returning logits, the raw output otherwise. Images are explained one at a time
    (shap takes one ``outputs`` list per call); shap's progress bar is off.

    Caches: shap's blur masker keeps the blurred image under ``id()`` of the image array,
    which Python reuses once an array is freed, so a later image could be masked with an
    earlier image's blur; the adapter builds a new masker (and explainer) for each image.

    Ties: shap orders its search by the score changes and breaks ties with
    ``np.random.randn()`` from NumPy's *global* generator, so on regions that change the
    score equally its values depend on the generator's state. The adapter seeds that
    generator before each image with a seed keyed by the image's content (and restores
    the caller's state afterwards, one such call at a time in the process): a result is
    reproducible and does not depend on the batch.

    Parameters
    ----------
    model
        Any model with model services (``xaikit.registry.services_for``).
    max_evals : int, default 500
    masker : {"blur", "inpaint_telea", "inpaint_ns", "baseline"}, default "blur"
    blur_size : int, (int, int) or None
        ``None``: a quarter of the image's height and width.
    baseline : float, array (C,) or image, default 0.0
        The fill of ``masker="baseline"``.
    shap_batch_size : int or None
        shap's ``batch_size`` (``None``: shap's ``"auto"``).
    batch_size : int, default 32
    score : {None, "logit", "probability", "output"}
    """

    method = "partition_shap"
    backend = "shap"
    param_changes = {
        "shap_batch_size": Param("shap_batch_size", "int", None, "shap's batch_size: masked images shap evaluates "
                                 "per step of its search; the order in which it expands the partition tree, and so "
                                 "the values, depend on it.", low=1,
                                 nullable="shap's 'auto' (10 for the image masker)"),
    }

    def _services(self) -> Any:
        return services_for(self.model)

    def _describe(self, images: np.ndarray) -> ModelSpec:
        return self._services().describe(self.model, images[:1])

    def _predict(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        engine = self._services().engine(self.model)
        return np.concatenate([engine.predict(images[s]) for s in chunks(len(images), batch_size)])

    def _info(self) -> dict[str, Any]:
        import xaikit
        from xaikit.registry import distribution_version

        return {"xaikit": xaikit.__version__, "shap": distribution_version("shap") or "unknown"}

    def _default_score(self, spec: ModelSpec) -> str:
        if spec.output_activation in ("softmax", "sigmoid"):
            return "probability"
        return "logit" if spec.output_activation == "linear" and not spec.no_logit else "output"

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        height, width = spec.image_size if None not in spec.image_size else images.shape[-2:]
        if params["blur_size"] is None:
            params["blur_size"] = [max(1, int(height) // 4), max(1, int(width) // 4)]
        if params["max_evals"] < 3:
            raise InputError("max_evals must be at least 3 (shap evaluates the image and the fully masked image "
                             "first)")
        return params

    def _masker(self, params: dict[str, Any], hwc: tuple[int, ...], layout: str) -> Any:
        kind = params["masker"]
        if kind == "blur":
            value: Any = "blur({},{})".format(*params["blur_size"])
        elif kind == "baseline":
            value = to_layout(params["_baseline"][None], layout, "NHWC")[0].astype(np.float64)
        else:
            value = kind
        return shap.maskers.Image(value, hwc)

    def _attribute(self, ctx: CallContext) -> Attribution:
        services, images, params = self._services(), ctx.images, ctx.params
        batch_size, score, layout = params["batch_size"], params["score"], ctx.layout
        outputs, targets = ctx.outputs_and_targets()

        def scores(batch_hwc: np.ndarray) -> np.ndarray:
            x = to_layout(np.asarray(batch_hwc, np.float32), "NHWC", layout)
            return np.concatenate([services.class_scores(self.model, x[s], score) for s in chunks(len(x), batch_size)])

        x_hwc = to_layout(images, layout, "NHWC")
        values = np.zeros(x_hwc.shape, np.float64)
        base = np.zeros(len(images), np.float64)
        with GLOBAL_RNG_LOCK:  # shap breaks ties in its search with np.random.randn()
            state = np.random.get_state()
            try:
                for i, tie_seed in enumerate(image_seeds(0, x_hwc, "NHWC", high=2**32)):
                    # a new masker per image: shap's blur masker caches the blurred image under id() of the
                    # image array, an id Python reuses, so a later image could be blurred as an earlier one
                    explainer = shap.PartitionExplainer(scores, self._masker(params, tuple(x_hwc.shape[1:]), layout))
                    np.random.seed(tie_seed)
                    result = explainer(x_hwc[i:i + 1], max_evals=params["max_evals"],
                                       batch_size=params["shap_batch_size"] or "auto", outputs=[int(targets[i])],
                                       silent=True)
                    values[i] = np.asarray(result.values, np.float64).reshape(x_hwc.shape[1:])
                    base[i] = float(np.asarray(result.base_values, np.float64).ravel()[0])
            finally:
                np.random.set_state(state)
        channels = to_layout(values.astype(np.float32), "NHWC", layout)
        return Attribution(values.sum(axis=-1).astype(np.float32), outputs, targets, channels=channels,
                           extras={"base_value": base.astype(np.float32)})
