"""Bootstrap confidence intervals over images, for the benchmark's tables and findings.

A benchmark mean over 4 or 16 images says little by itself: which method "wins" can be
the luck of the sample. Every mean in the reports therefore comes with a percentile
bootstrap interval over the images (:data:`N_BOOT` resamples, drawn from a generator
seeded by the suite's seed, so a report is reproducible), and a claim that one row is
better than another is made only when the interval of their *difference* excludes zero.

All rows of a model are computed on the same images, so the resamples are shared
between rows (:func:`resamples`) and differences are paired: image-to-image variation,
which every method shares, cancels out of the difference.

With few images the plain percentile interval is too narrow (with 4 images the bootstrap
has 35 distinct resamples), so the intervals are *expanded percentile* intervals
(Hesterberg, "What Teachers Should Know About the Bootstrap", The American Statistician
2015): the percentiles are taken at the tail probability of
``sqrt(n / (n - 1)) * t(n - 1)`` instead of the normal quantile, which keeps the coverage
close to the nominal level for small ``n`` (for 4 images the interval reaches to about
the extreme resample means; for 16 it is the 1.4 and 98.6 percentiles).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["LEVEL", "N_BOOT", "Interval", "difference", "expanded_tail", "interval", "resamples", "separated"]

#: Resamples of the bootstrap.
N_BOOT = 2000
#: Coverage of the intervals.
LEVEL = 0.95

Interval = tuple[float, float, float]  # (mean, low, high)


def resamples(n: int, seed: int, n_boot: int = N_BOOT) -> np.ndarray:
    """``(n_boot, n)`` image indices drawn with replacement, the same for every row of a model."""
    return np.random.default_rng([int(seed), 0x1B007, int(n)]).integers(0, n, size=(n_boot, n))


def _values(values: Sequence[Any] | None) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in (values if values is not None else [])], np.float64)


def _interval(v: np.ndarray, idx: np.ndarray, level: float) -> Interval | None:
    """Mean and percentile interval of ``v`` (NaN = no value for that image) over the resamples ``idx``."""
    valid = ~np.isnan(v)
    if not valid.any():
        return None
    mean = float(v[valid].mean())
    if valid.sum() < 2:
        return mean, float("nan"), float("nan")
    filled = np.where(valid, v, 0.0)
    counts = valid[idx].sum(axis=1)
    means = filled[idx].sum(axis=1)[counts > 0] / counts[counts > 0]
    tail = expanded_tail(int(valid.sum()), level)
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return mean, float(lo), float(hi)


def expanded_tail(n: int, level: float = LEVEL) -> float:
    """The tail probability of the expanded percentile interval of ``n`` values (``(1 - level) / 2`` as n grows)."""
    from scipy.stats import norm, t

    z = np.sqrt(n / (n - 1)) * t.ppf(1 - (1 - level) / 2, n - 1)
    return float(norm.sf(z))


def interval(values: Sequence[Any] | None, idx: np.ndarray, level: float = LEVEL) -> Interval | None:
    """``(mean, low, high)`` of per-image ``values`` (None/NaN skipped); None without values.

    With fewer than two values the interval is NaN (nothing to resample). ``idx`` comes
    from :func:`resamples` and must have one column per value.
    """
    v = _values(values)
    if v.size == 0:
        return None
    if idx.shape[1] != v.size:
        raise ValueError(f"{v.size} values but resamples of {idx.shape[1]} images")
    return _interval(v, idx, level)


def difference(a: Sequence[Any] | None, b: Sequence[Any] | None, idx: np.ndarray,
               level: float = LEVEL) -> Interval | None:
    """``(mean, low, high)`` of ``a - b`` per image (paired; images without both values skipped)."""
    va, vb = _values(a), _values(b)
    if va.size == 0 or va.shape != vb.shape:
        return None
    return interval(va - vb, idx, level)


def separated(diff: Interval | None) -> int:
    """+1 if the interval of a difference lies above zero, -1 below, 0 if it contains zero (or is undefined)."""
    if diff is None or not np.isfinite(diff[1]) or not np.isfinite(diff[2]):
        return 0
    return 1 if diff[1] > 0 else -1 if diff[2] < 0 else 0
