"""Do the faithfulness metrics agree? The rank correlation of the method orderings they give.

Different faithfulness metrics rank the same methods differently (Tomsett et al., "Sanity
Checks for Saliency Metrics", AAAI 2020; Hedström et al., "The Meta-Evaluation Problem in
Explainable AI", 2023). For every pair of faithfulness metrics computed on a model, each
oriented so that higher is better (:data:`~.suite.FAITHFULNESS_METRICS`):

- *per image*: the Spearman correlation, over the methods, of the two metrics' values on
  that image; the mean over the images, with a bootstrap interval over the images;
- *overall*: the Spearman correlation of the methods' means over all images (the ordering a
  results table shows), with a bootstrap interval from the same image resamples.

A value near 1 means "method A beats method B" survives the change of metric; near 0 or
below, the verdict depends on the metric. The controls are left out (every metric agrees
that noise is bad, which would inflate the agreement). At least 3 methods are needed.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .intervals import LEVEL, expanded_tail, interval, resamples
from .suite import FAITHFULNESS_METRICS

__all__ = ["MIN_METHODS", "agreement_sentence", "metric_agreement", "rank_correlation"]

#: Fewest method rows for which an ordering is compared.
MIN_METHODS = 3


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of the last axis of ``a`` and ``b`` (average ranks for ties; NaN where
    fewer than 3 entries are finite on both sides, or one side is constant)."""
    from scipy.stats import rankdata

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    flat_a, flat_b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    ok = np.isfinite(flat_a) & np.isfinite(flat_b)
    out = np.full(len(flat_a), np.nan)
    patterns, which = np.unique(ok, axis=0, return_inverse=True)
    for p, keep in enumerate(patterns):  # rows missing the same methods are ranked together
        rows = np.flatnonzero(which.reshape(-1) == p)
        if keep.sum() >= MIN_METHODS:
            out[rows] = _pearson(rankdata(flat_a[rows][:, keep], axis=1), rankdata(flat_b[rows][:, keep], axis=1))
    return out.reshape(a.shape[:-1])


def _pearson(ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    da = ra - ra.mean(axis=1, keepdims=True)
    db = rb - rb.mean(axis=1, keepdims=True)
    den = np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (da * db).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def _scores(mr: Any) -> tuple[list[str], dict[str, np.ndarray]]:
    """Method labels and, per faithfulness metric run on every method row, oriented ``(methods, images)`` values."""
    rows = [r for r in mr.rows if not r.control and any(m in r.metrics for m in FAITHFULNESS_METRICS)]
    labels = [r.row for r in rows]
    scores = {}
    for metric, direction in FAITHFULNESS_METRICS.items():
        values = [r.metrics.get(metric, {}).get("values") for r in rows]
        present = [v for v in values if v is not None]
        if len(present) < MIN_METHODS:
            continue
        n = len(present[0])
        arr = np.asarray([[np.nan if x is None else x for x in v] if v is not None else [np.nan] * n
                          for v in values], np.float64)          # a failed cell: NaN, left out of the ordering
        params = next(r.metrics[metric].get("params") or {} for r in rows if metric in r.metrics)
        if metric == "road" and params.get("order") == "lerf":
            direction = +1
        scores[metric] = direction * arr
    return labels, scores


def metric_agreement(mr: Any, seed: int = 0) -> dict[str, Any] | None:
    """The agreement of every pair of faithfulness metrics on one model's method rows.

    Returns ``None`` with fewer than :data:`MIN_METHODS` method rows or fewer than two
    faithfulness metrics; else ``{"metrics", "methods", "n_images", "pairs", "sentence"}``
    where each pair is ``{"a", "b", "per_image": (mean, low, high), "overall": (rho, low,
    high), "per_image_values": [...]}``.
    """
    labels, scores = _scores(mr)
    metrics = list(scores)
    if len(labels) < MIN_METHODS or len(metrics) < 2:
        return None
    n_images = next(iter(scores.values())).shape[1]
    idx = resamples(n_images, seed)
    tail = expanded_tail(n_images, LEVEL) if n_images > 1 else None
    pairs = []
    for i, a in enumerate(metrics):
        for b in metrics[i + 1:]:
            sa, sb = scores[a], scores[b]
            per_image = rank_correlation(sa.T, sb.T)                  # (images,)
            ci = interval(per_image.tolist(), idx)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                overall = float(rank_correlation(np.nanmean(sa, axis=1), np.nanmean(sb, axis=1)))
            lo = hi = float("nan")
            if tail is not None and np.isfinite(overall):
                with warnings.catch_warnings():  # a resample without any value of a method: NaN, skipped
                    warnings.simplefilter("ignore", RuntimeWarning)
                    means_a, means_b = np.nanmean(sa[:, idx], axis=2), np.nanmean(sb[:, idx], axis=2)
                boot = rank_correlation(means_a.T, means_b.T)
                boot = boot[np.isfinite(boot)]
                if boot.size:
                    lo, hi = (float(v) for v in np.quantile(boot, [tail, 1 - tail]))
            pairs.append({"a": a, "b": b, "per_image": ci, "overall": (overall, lo, hi),
                          "per_image_values": per_image.tolist()})
    result = {"metrics": metrics, "methods": labels, "n_images": n_images, "pairs": pairs}
    result["sentence"] = agreement_sentence(result)
    return result


def agreement_sentence(result: dict[str, Any]) -> str:
    """A plain reading of :func:`metric_agreement`'s result."""
    from .summary import GLOSSARY

    def name(m: str) -> str:
        return GLOSSARY[m][0] if m in GLOSSARY else m.replace("_", " ")

    pairs = [p for p in result["pairs"] if np.isfinite(p["overall"][0])]
    if not pairs:
        return "The metrics' orderings could not be compared (constant or missing values)."
    ordered = sorted(pairs, key=lambda p: p["overall"][0])
    worst, best = ordered[0], ordered[-1]

    def quote(p: dict[str, Any]) -> str:
        rho, lo, hi = p["overall"]
        ci = f" [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else ""
        return f"{name(p['a'])} and {name(p['b'])} (ρ = {rho:.2f}{ci})"

    unsure = sum(1 for p in pairs if np.isfinite(p["overall"][1]) and p["overall"][1] <= 0 <= p["overall"][2])
    text = (f"Over {len(result['methods'])} methods and {result['n_images']} images, the faithfulness metrics "
            f"agree most between {quote(best)} and least between {quote(worst)}.")
    if worst["overall"][0] < 0.5:
        text += (" Where ρ is low, whether one method beats another depends on the metric chosen: report "
                 "more than one.")
    else:
        text += " The orderings broadly agree: a ranking by one metric holds under the others."
    if unsure:
        text += f" {unsure} of {len(pairs)} pairs have an interval that includes 0 (no agreement shown)."
    return text
