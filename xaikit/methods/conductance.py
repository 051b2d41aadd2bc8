"""Layer conductance, written once on the engine's layer gradients."""

from __future__ import annotations

import numpy as np

from ..call_context import CallContext
from ..catalogue import DocsEntry, MethodSchema, shared
from ..catalogue.parts import LAYERS, conductance_floor
from ..explainer import Attribution
from ..kernels import chunks
from .base import EngineExplainer

__all__ = ["LayerConductance"]


class LayerConductance(EngineExplainer, schema=MethodSchema(
        "layer_conductance", "Layer conductance",
        "The flow of integrated gradients through each unit of a layer: the target score's gradient at the layer "
        "times the change of the unit's activation, summed along the path from the baseline; summed over the "
        "channels, upsampled to the input.",
        "Dhamdhere, Sundararajan & Yan, 'How Important Is a Neuron?', ICLR 2019 (arXiv:1805.12233).",
        signed=True, cost="steps + 1 forward + backward passes (down to the layer)",
        params=shared("layer", "layer_layout", "steps", "baseline"), needs=LAYERS, layer="auto",
        floor_fn=conductance_floor, warmup={"steps": 1},
        formula="C_y = sum_k dS_t/dy (p_k) * (y(p_{k+1}) - y(p_k)),  p_k = b + k/steps (x - b),  map = sum_c C_y",
        example_params={"layer": "pool_a", "steps": 3},
        docs=DocsEntry("Layer conductance", "integrated gradients' flow through each unit of a layer",
                       "`steps` + 1 forward + backward (to the layer)", "Dhamdhere et al. 2018"))):
    """Conductance of each unit of a layer: the flow of integrated gradients through it.

    For a unit :math:`y` of the layer, :math:`\\int_0^1 \\frac{\\partial S_t}{\\partial y}(p(\\alpha))
    \\frac{d y(p(\\alpha))}{d\\alpha} d\\alpha` along the straight path
    :math:`p(\\alpha) = b + \\alpha (x - b)` from the baseline, approximated as Captum's
    ``LayerConductance`` does: the gradient at :math:`\\alpha_k = k/\\mathrm{steps}` times the
    change of the unit's activation to :math:`\\alpha_{k+1}`, summed over
    :math:`k = 0..\\mathrm{steps}-1` (``steps + 1`` forward and backward passes per image).
    Summed over the layer it is the integrated gradients' total
    :math:`S_t(x) - S_t(b)` up to the discretisation (``extras["completeness_gap"]``).
    The map is the conductance summed over channels at layer resolution (kept in
    ``layer_attributions``; per unit in ``channel_attributions``), upsampled to the input as
    the CAM methods' maps are.

    Parameters
    ----------
    model
    layer : str or None
        The layer; ``None`` = the CAM methods' default layer (the last map before the head).
    layer_layout : str or None
        As for the CAM methods.
    steps : int, default 50
    baseline : float, array (C,) or image, default 0.0
    batch_size, score
        As in :class:`~xaikit.methods.gradients.VanillaGradients` (``batch_size`` bounds the
        path points per pass).

    References
    ----------
    Dhamdhere, Sundararajan & Yan, "How Important Is a Neuron?", ICLR 2019 (arXiv:1805.12233, 2018).
    """

    def _attribute(self, ctx: CallContext) -> Attribution:
        engine, images, params = ctx.engine, ctx.images, ctx.params
        baseline = params["_baseline"]
        s_x, outputs, used = self._target_scores(ctx)
        s_b = engine.class_scores(baseline[None], params["score"])[0, used]
        steps, layer, layout = params["steps"], params["layer"], params.get("_layout")
        alphas = np.arange(steps + 1, dtype=np.float64) / steps
        t_all = used.astype(np.int32)
        results = []
        for i in range(len(images)):
            total: np.ndarray | None = None
            previous: tuple[np.ndarray, np.ndarray] | None = None
            delta = images[i] - baseline
            for s in chunks(steps + 1, params["batch_size"]):
                a = alphas[s].astype(np.float32).reshape(-1, *([1] * images[i].ndim))
                points = (baseline[None] + a * delta[None]).astype(np.float32)
                acts, grads, _, _ = engine.layer_gradients(points, np.full(len(points), t_all[i], np.int32),
                                                           params["score"], layer, layout=layout)
                acts, grads = acts.astype(np.float64), grads.astype(np.float64)
                if previous is not None:  # the pair across the chunk boundary
                    acts = np.concatenate([previous[0], acts])
                    grads = np.concatenate([previous[1], grads])
                part = (grads[:-1] * (acts[1:] - acts[:-1])).sum(axis=0)
                total = part if total is None else total + part
                previous = (acts[-1:], grads[-1:])
            results.append(total)
        channels = np.stack(results).astype(np.float32)  # (N, h, w, C) channels-last
        gap = channels.reshape(len(images), -1).sum(axis=1, dtype=np.float64) - (s_x - s_b)
        maps = channels.sum(axis=-1) if channels.ndim == 4 else channels
        return Attribution(maps.astype(np.float32), outputs, used, at_layer=True, channels=channels,
                           extras={"completeness_gap": gap.astype(np.float32)})
