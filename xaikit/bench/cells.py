"""The bench's cells as functions of plain data, run by an executor in any process.

Each function takes the opened model (:class:`~xaikit.execution.OpenModel`, None for the
agreement), the model's image :class:`Sample` and the cell's parameters, and returns
``(result, arrays)``: the JSON-ready result and the side arrays to keep (or None). They
read nothing from the driver: the local executor runs them in the driver's process, the
Ray executor on its workers (:mod:`xaikit.execution`). Keys, reuse and the store stay with the
driver (:mod:`.runner`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..execution import OpenModel
from ..metrics.explained import MAGNITUDE_METHODS, transform_maps
from ..metrics.model_scores import model_predict, score_label
from .config import CAUSAL_METRICS, MASK_METRICS, ROBUSTNESS_METRICS, SpeedConfig
from .memory import PeakRSS

__all__ = ["MAGNITUDE_METHODS", "Sample", "agreement_cell", "explain_cell", "floor_cell", "metric_cell",
           "randomisation_cell", "transform_maps"]

@dataclass(frozen=True)
class Sample:
    """A model's image sample, as the cells need it.

    Attributes
    ----------
    images : numpy.ndarray
        float32 model input in the model's layout (``layout``).
    targets : numpy.ndarray
        int64 ``(n,)``: the class every method explains.
    layout : str
        ``"NHWC"`` or ``"NCHW"``.
    masks, has_mask : numpy.ndarray or None
        Ground-truth masks ``(n, H, W)`` and which images have one.
    key : str
        Checksum of the sample (its identity in the object store and in cell keys).
    """

    images: np.ndarray
    targets: np.ndarray
    layout: str
    masks: np.ndarray | None
    has_mask: np.ndarray | None
    key: str

    @property
    def images_nhwc(self) -> np.ndarray:
        from ..kernels import to_layout

        return to_layout(self.images, self.layout, "NHWC")


def _predict(model: OpenModel, layout: str, score: str, batch_size: int) -> Any:
    """The metrics' ``predict``: channels-last images (as the metrics perturb them) -> class scores."""
    return model_predict(model.model, model.services, layout, score, batch_size)


# --------------------------------------------------------------------------- explain
def explain_cell(model: OpenModel, *, sample: Sample, method: str, backend: str, params: dict[str, Any],
                 ranked_outputs: int | None, dropped: tuple[str, ...], speed: SpeedConfig,
                 aligned: dict[str, Any] | None = None
                 ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Warm up, then time up to ``speed.repeats`` runs of the explainer on the sample; keep the last maps."""
    from .._api import get_explainer
    from .memory import current_rss

    x, t = sample.images, sample.targets

    def run(explainer: Any, xs: np.ndarray, ts: np.ndarray) -> Any:
        if ranked_outputs:
            return explainer.explain_ranked(xs, ranked_outputs)
        return [explainer.explain(xs, ts)]

    explainer = get_explainer(model.model, method, backend=backend, **params)
    warm_seconds = warm_peak = None
    rss_before = current_rss() / 2**20
    warm_images = 0
    if speed.warmup != "none":
        from .._timing import warm_up

        with PeakRSS(speed.memory_interval) as wmem:
            warm_seconds, warm_images = warm_up(explainer, x, t, ranked=ranked_outputs,
                                                mode="cheap" if speed.warmup == "cheap" else "auto")
        warm_peak = wmem.peak_mb
    runs: list[float] = []
    with PeakRSS(speed.memory_interval) as mem:
        while True:
            t0 = time.perf_counter()
            exps = run(explainer, x, t)
            runs.append((time.perf_counter() - t0) / len(x))
            if len(runs) >= speed.repeats or sum(runs) * len(x) >= speed.max_seconds:
                break
    exp = exps[0]
    result = {
        "seconds_per_image": float(np.median(runs)), "runs": runs, "repeats_done": len(runs),
        "repeats_asked": speed.repeats, "n_images": len(x), "peak_rss_mb": mem.peak_mb,
        "rss_start_mb": mem.start_mb, "rss_delta_mb": mem.delta_mb, "rss_samples": mem.samples,
        "rss_before_warmup_mb": rss_before,
        "rss_cell_delta_mb": max(mem.peak_mb, warm_peak or 0.0) - rss_before,
        "warmup": speed.warmup, "warmup_seconds": warm_seconds, "warmup_images": warm_images,
        "warmup_peak_rss_mb": warm_peak,
        "params": exp.params, "score": exp.score, "layer": exp.layer, "info": exp.info,
        "targets_match": bool(np.array_equal(exp.targets, t)),
        "dropped_params": list(dropped),
        "aligned": aligned,
    }
    gap = exp.extras.get("completeness_gap")
    if gap is not None:
        result["completeness_gap_mean_abs"] = float(np.mean(np.abs(gap)))
    arrays = {"attributions": exp.attributions, "targets": exp.targets, "outputs": exp.outputs}
    for r, e in enumerate(exps[1:], start=1):
        arrays[f"rank{r}_attributions"] = e.attributions
        arrays[f"rank{r}_targets"] = e.targets
    return result, arrays


# --------------------------------------------------------------------------- metrics
def metric_cell(model: OpenModel, *, sample: Sample, maps: np.ndarray, metric: str, params: dict[str, Any],
                transform: str, score: str, batch_size: int, seed: int, method: str | None = None,
                backend: str | None = None, method_params: dict[str, Any] | None = None
                ) -> tuple[dict[str, Any], None]:
    """One quality metric of one row's maps (``transform`` ``"abs"`` or ``"signed"``).

    The robustness metrics re-run the row's method (``method``, ``backend``,
    ``method_params``) on perturbed images and apply the same transform to its maps.
    """
    from .. import metrics as M

    maps = np.abs(maps) if transform == "abs" else maps
    x, t = sample.images_nhwc, sample.targets
    if metric in CAUSAL_METRICS:
        predict = _predict(model, sample.layout, score, batch_size)
        label = score_label(score)  # what the report says was scored
        pixels = int(x.shape[1] * x.shape[2])
        if metric == "faithfulness_correlation" and int(params.get("subset_size", 224)) > pixels // 2:
            # a suite's subset size is set for its images (128 of 64 x 64); on smaller ones it would not fit (or be
            # every pixel, the same subset each time): half the image's pixels, recorded in the result's params
            params = {**params, "subset_size": max(1, pixels // 2)}
        fn = getattr(M, metric)
        seeded = metric not in ("deletion", "insertion", "faithfulness_estimate", "monotonicity", "pixel_flipping",
                                "selectivity", "irof", "non_sensitivity")
        res = fn(predict, x, maps, t, batch_size=batch_size, score=label, **({"seed": seed} if seeded else {}),
                 **params)
        out = {"values": res.values, "mean": _nanmean(res.values), "params": res.params, "transform": transform,
               "scored": score}
        if metric in ("deletion", "insertion"):
            out.update(fractions=res.fractions, curve_mean=res.curves.mean(axis=0), curve_std=res.curves.std(axis=0),
                       start=res.curves[:, 0])
        if metric == "road":
            out.update(fractions=res.fractions, curve_mean=res.curves.mean(axis=0),
                       accuracy=res.correct.mean(axis=0))
        return out, None
    if metric in ROBUSTNESS_METRICS:
        from .._api import get_explainer
        from ..kernels import to_layout

        explainer = get_explainer(model.model, method, backend=backend, **(method_params or {}))

        def explain_fn(xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
            res = explainer.explain(to_layout(xs, "NHWC", sample.layout), ts).attributions
            return np.abs(res) if transform == "abs" else res

        extra = {}
        if metric == "relative_output_stability":  # the model's outputs in the denominator
            extra["predict"] = _predict(model, sample.layout, score, batch_size)
        res = getattr(M, metric)(explain_fn, x, t, attributions=maps, batch_size=batch_size, seed=seed, **extra,
                                 **params)
        return {"values": res.values, "mean": _nanmean(res.values), "params": res.params, "transform": transform}, None
    if metric in MASK_METRICS:
        assert sample.masks is not None and sample.has_mask is not None
        keep = np.flatnonzero(sample.has_mask)
        values = np.full(len(x), np.nan)
        values[keep] = getattr(M, metric)(maps[keep], sample.masks[keep], **params)
        valid = values[~np.isnan(values)]
        return {"values": values, "mean": float(valid.mean()) if valid.size else None,
                "n_valid": int(valid.size), "params": params, "transform": transform}, None
    values = getattr(M, metric)(maps, **params)
    return {"values": values, "mean": _nanmean(values), "transform": transform}, None


def _nanmean(values: np.ndarray) -> float | None:
    valid = np.asarray(values, np.float64)
    valid = valid[~np.isnan(valid)]
    return float(valid.mean()) if valid.size else None


# --------------------------------------------------------------------------- randomisation
def randomisation_cell(model: OpenModel, *, sample: Sample, n: int, method: str | None, backend: str | None,
                       params: dict[str, Any], check: dict[str, Any], seed: int, weights_sha: str,
                       model_id: str) -> tuple[dict[str, Any], None]:
    """The cascading (or independent) randomisation check of one method, or of the edge control (``method=None``)."""
    from .._api import get_explainer
    from ..execution import weights_digest
    from ..kernels import to_layout
    from ..metrics import cascading_randomisation
    from ..metrics.controls import edge_maps

    # the check takes channels-last images (as the metrics do); the explainer gets the model's layout back
    x, t = sample.images_nhwc[:n], sample.targets[:n]
    if method is None:
        def explain_fn(xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
            return edge_maps(xs)
    else:
        explainer = get_explainer(model.model, method, backend=backend, **params)

        def explain_fn(xs: np.ndarray, ts: np.ndarray) -> Any:
            # ranked_outputs would re-rank on the randomised model: explain the fixed targets instead
            return explainer.explain(to_layout(xs, "NHWC", sample.layout), ts).attributions

    randomizer = model.services.randomizer(model.model)
    res = cascading_randomisation(explain_fn, randomizer, x, t, layers=check.get("layers"), mode=check["mode"],
                                  seed=seed)
    restored = weights_digest(model.model) == weights_sha
    if not restored:
        raise RuntimeError(f"the weights of {model_id} differ from the original after the randomisation check: "
                           "later cells would be wrong; stopping this model is safest")
    means = res.mean()
    return {"layers": list(res.layers), "spearman": res.spearman, "spearman_abs": res.spearman_abs,
            "ssim": res.ssim, "mean_spearman": means["spearman"], "mean_spearman_abs": means["spearman_abs"],
            "mean_ssim": means["ssim"], "final_spearman": float(means["spearman"][-1]),
            "final_spearman_abs": float(means["spearman_abs"][-1]), "final_ssim": float(means["ssim"][-1]),
            "top_spearman_abs": float(means["spearman_abs"][0]), "weights_restored": restored,
            "n_images": n, "params": res.params, "nan_final": int(np.isnan(res.spearman_abs[-1]).sum())}, None


# --------------------------------------------------------------------------- floor
def floor_cell(model: OpenModel, *, sample: Sample, plan: Any, sizes: list[int], min_seconds: float,
               batch_size: int) -> tuple[dict[str, Any], None]:
    """The pass rate of the method's unavoidable passes (:mod:`.floor`)."""
    from .floor import measure_pass_rate

    if plan.k > 1:
        scores = model.services.class_scores(model.model, sample.images, None, batch_size)
        targets = np.argsort(-scores, axis=1, kind="stable")[:, :plan.k]
    else:
        targets = sample.targets
    rate = measure_pass_rate(model.services.engine(model.model), sample.images, targets, plan, batch_sizes=sizes,
                             min_seconds=min_seconds, feature_batch=batch_size)
    rate["tried"] = {str(k): v for k, v in rate["tried"].items()}
    return rate, None


# --------------------------------------------------------------------------- agreement
def agreement_cell(model: OpenModel | None, *, maps: dict[str, np.ndarray], fraction: float
                   ) -> tuple[dict[str, Any], None]:
    """The agreement of every pair of rows' maps (already transformed for the metrics)."""
    from ..metrics import agreement_table

    table = agreement_table(maps, fraction=fraction)
    return {"names": list(table.names), "matrices": table.matrices, "params": table.params}, None
