"""Expected gradients computed by shap's ``GradientExplainer`` (its PyTorch implementation) on PyTorch modules."""

from __future__ import annotations

from typing import Any

import numpy as np
import shap
import torch
from xaikit_torch.adapters import (
    HeadModel,
    ScoreModel,
    TorchModelMixin,
    as_numpy,
    library_call,
    library_score,
    library_seeds,
    seeded,
    to_tensor,
    versions,
)

from xaikit.errors import LayerError
from xaikit.explainer import Attribution, CallContext, ModelSpec
from xaikit.kernels import chunks, reduce_channels

from ._common import ShapExpectedGradientsBase
from ._shapes import normalize_shap_values, split_shap_result

__all__ = ["TorchShapExpectedGradients"]


class TorchShapExpectedGradients(TorchModelMixin, ShapExpectedGradientsBase):
    """Expected gradients by ``shap.GradientExplainer`` on a PyTorch module, at the input or at a layer.

    shap's PyTorch explainer computes the estimator of the Keras path (and of the native
    ``expected_gradients``): for ``n_samples`` draws, a reference :math:`r` from
    ``background`` (``np.random.choice``), :math:`t \\sim U(0, 1)` (``np.random.uniform``) and,
    with ``local_smoothing``, noise on the image (``torch.normal_``), the mean of
    :math:`\\nabla S_t(t \\tilde x + (1 - t) r) \\odot (\\tilde x - r)`.

    **Targets.** shap's PyTorch implementation has no ``output_rank_order="custom"``
    (the Keras path uses it): without ``ranked_outputs`` it differentiates *every*
    output. So the adapter hands shap, for each image, a model returning only the target's
    score (:class:`xaikit_torch.adapters.ScoreModel` with one column): ``n_samples``
    gradients per image, as on Keras. :meth:`explain_ranked` is shap's own
    ``ranked_outputs=k`` on the whole batch (one call, shap's ranking).

    **Randomness.** shap re-seeds NumPy's global generator with ``rseed`` and draws from
    it (and from torch's for the smoothing noise). The adapter calls shap once per image
    with ``rseed`` = a seed keyed by ``seed`` and the image's content, inside a block that
    restores both global generators afterwards: a map does not depend on the batch
    (unlike one shap call over a batch, where image ``i``'s draws follow those of images
    ``0 .. i-1``; :meth:`explain_ranked` keeps that, being one shap call).

    **Layers.** shap's ``GradientExplainer((model, layer), data)`` attributes to the
    *input* of ``layer``; xaikit's ``layer`` means the layer's *output*, as on the Keras
    path: the background and the images go through the part below the layer (the
    native engine), and shap explains the part above it
    (:class:`xaikit_torch.adapters.HeadModel`). A layer that another path bypasses (a
    residual connection) raises :class:`~xaikit.LayerError`.

    ``score=None`` is what shap explains when handed the model: its output as it is (the
    logit of a usual torch classifier, the probability after ``nn.Softmax``). Parameters
    as for the Keras path (:class:`xaikit_shap.expected_gradients.KerasShapExpectedGradients`);
    ``extras["completeness_gap"]`` likewise.
    """

    def _info(self) -> dict[str, Any]:
        return versions("shap")

    def _default_score(self, spec: ModelSpec) -> str:
        return library_score(spec)

    def _resolve_layer(self, layer: Any, spec: ModelSpec, images: np.ndarray) -> str | None:
        layer = super()._resolve_layer(layer, spec, images) if layer is not None else None
        if layer is None:
            return None
        shape = spec.layer(layer).output_shape if spec.layer(layer) else None
        if shape is None or len(shape) != 3:
            shown = "unknown" if shape is None else "(N, " + ", ".join(str(s) for s in shape) + ")"
            raise LayerError(f"layer {layer!r} outputs shape {shown}; expected gradients at a layer gives maps only "
                             f"for spatial (N, C, h, w) outputs: {', '.join(spec.spatial_layers())}")
        return layer

    # ------------------------------------------------------------------ spaces
    def _model(self, params: dict[str, Any], image_shape: tuple[int, ...], column: int | None) -> torch.nn.Module:
        if params["layer"] is None:
            return ScoreModel(self.model, params["score"], image_shape, column)
        return HeadModel(self.model, params["layer"], params["score"], image_shape, column)

    def _space(self, x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """Images, or their activations at ``layer`` (channels first, as the model computes them)."""
        if params["layer"] is None:
            return x
        from xaikit_torch.engine import engine_for

        engine = engine_for(self.model)
        return np.concatenate([engine.layer_outputs(x[s], [params["layer"]])[0][params["layer"]]
                               for s in chunks(len(x), params["batch_size"])])

    def _scores(self, model: torch.nn.Module, values: np.ndarray, batch_size: int) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([as_numpy(model(to_tensor(values[s], self.model)))
                                   for s in chunks(len(values), batch_size)]).astype(np.float64)

    def _finish(self, values: np.ndarray, targets: np.ndarray, outputs: np.ndarray, params: dict[str, Any],
                x_scores: np.ndarray, bg_mean: np.ndarray) -> Attribution:
        """Values ``(N, C, h, w)`` of ``targets`` -> the Attribution (maps, channels, completeness gap)."""
        n = len(values)
        gap = values.reshape(n, -1).sum(axis=1) - (x_scores[np.arange(n), targets] - bg_mean[targets])
        at_layer = params["layer"] is not None
        channels = values.astype(np.float32)
        maps = reduce_channels(channels, params["channel_reduce"], axis=1)
        if at_layer:  # layer tensors are reported channels-last
            channels = np.ascontiguousarray(channels.transpose(0, 2, 3, 1))
        return Attribution(maps, outputs, targets.astype(np.int64), at_layer=at_layer, channels=channels,
                           extras={"completeness_gap": gap.astype(np.float32)})

    # ------------------------------------------------------------------ method
    def _prepare(self, images: np.ndarray, params: dict[str, Any]) -> tuple[Any, ...]:
        image_shape = tuple(int(s) for s in images.shape[1:])
        full = self._model(params, image_shape, None)
        x_space = self._space(images, params)
        bg_space = self._space(params["_background"], params)
        bg_mean = self._scores(full, bg_space, params["batch_size"]).mean(axis=0)
        return image_shape, x_space, bg_space, self._scores(full, x_space, params["batch_size"]), bg_mean

    def _attribute(self, ctx: CallContext) -> Attribution:
        images, params = ctx.images, ctx.params
        outputs, targets = ctx.outputs_and_targets()
        image_shape, x_space, bg_space, x_scores, bg_mean = self._prepare(images, params)
        seed = params["seed"] if params["seed"] is not None else int(np.random.SeedSequence().entropy % (2**32))
        params["seed"] = seed
        explainers: dict[int, Any] = {}
        values = []
        with library_call(self.model):
            background = to_tensor(bg_space, self.model)
            for j, image_seed in enumerate(library_seeds(seed, images)):
                t = int(targets[j])
                if t not in explainers:  # one explainer per target (its construction runs the background once)
                    explainers[t] = shap.GradientExplainer(self._model(params, image_shape, t), background,
                                                           batch_size=params["batch_size"],
                                                           local_smoothing=params["local_smoothing"])
                with seeded(image_seed, self.model):
                    raw = explainers[t].shap_values(to_tensor(x_space[j:j + 1], self.model),
                                                    nsamples=params["n_samples"], rseed=image_seed % 2**32)
                values.append(normalize_shap_values(raw, n_images=1, feature_shape=x_space.shape[1:], n_outputs=1)[0])
        return self._finish(np.concatenate(values), targets, outputs, params, x_scores, bg_mean)

    def _attribute_ranked(self, ctx: CallContext, ranked: np.ndarray) -> list[Attribution]:
        images, params, outputs = ctx.images, ctx.params, ctx.outputs
        image_shape, x_space, bg_space, x_scores, bg_mean = self._prepare(images, params)
        seed = params["seed"] if params["seed"] is not None else int(np.random.SeedSequence().entropy % (2**32))
        params["seed"] = seed
        k = int(ranked.shape[1])
        with library_call(self.model):
            explainer = shap.GradientExplainer(self._model(params, image_shape, None), to_tensor(bg_space, self.model),
                                               batch_size=params["batch_size"],
                                               local_smoothing=params["local_smoothing"])
            with seeded(seed, self.model):
                result = explainer.shap_values(to_tensor(x_space, self.model), nsamples=params["n_samples"],
                                               ranked_outputs=k, rseed=seed)
        raw, indexes = split_shap_result(result, ranked=True)
        indexes = np.asarray(indexes.cpu().numpy() if hasattr(indexes, "cpu") else indexes, np.int64)
        values = normalize_shap_values(raw, n_images=len(images), feature_shape=x_space.shape[1:], n_outputs=k)
        return [self._finish(values[r], indexes[:, r], outputs, params, x_scores, bg_mean) for r in range(k)]
