"""What the numbers of a benchmark say: :func:`findings`, heuristic claims each report states for a model.

Only what the paired bootstrap intervals over the images support is claimed (the causal
gap of insertion over deletion), and plain readings of the sanity check, the agreement
between backends and the speed, with the thresholds below stated in the text.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .intervals import LEVEL, difference, interval, separated
from .summary import backend_parity, final_rho, fmt_seconds, image_resamples, summary_rows

__all__ = ["OVERHEAD_RATIO", "PARITY_MIN_RHO", "SANITY_FAIL_RHO", "findings"]


#: Thresholds of :func:`findings` (heuristics, stated in the report).
SANITY_FAIL_RHO = 0.8
PARITY_MIN_RHO = 0.7
OVERHEAD_RATIO = 5.0


def _fmt_ci(ci: Any, digits: int = 3, signed: bool = False) -> str:
    """``"0.21 [0.10, 0.33]"`` from ``(mean, low, high)``; the interval is left out when undefined."""
    mean, lo, hi = ci
    sign = "+" if signed else ""
    text = f"{mean:{sign}.{digits}f}"
    return text + (f" [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) and np.isfinite(hi) else "")


def _gap_values(r: Any) -> list[float] | None:
    """Per-image causal gap (insertion AUC − deletion AUC) of a row."""
    ins, dele = (r.metrics.get(m, {}).get("values") for m in ("insertion", "deletion"))
    if ins is None or dele is None or len(ins) != len(dele):
        return None
    return [np.nan if a is None or b is None else a - b for a, b in zip(ins, dele)]


def _faithfulness_findings(results: Any, mr: Any) -> list[str]:
    """Claims about the causal gap that the paired bootstrap intervals over the images support, and only those."""
    rows = [r for r in mr.rows if not r.control and _gap_values(r) is not None]
    rnd = next((r for r in mr.rows if r.control and r.label == "random" and _gap_values(r) is not None), None)
    if not rows:
        return []
    n = len(_gap_values(rows[0]))
    idx = image_resamples(results, n)
    pct = f"{LEVEL:.0%}"
    sample = f"{n} image{'s' if n != 1 else ''}"
    gaps = {r.row: _gap_values(r) for r in rows}
    out = []
    beats: list[Any] = []
    if rnd is not None:
        groups: dict[int, list[str]] = {1: [], 0: [], -1: []}
        for r in rows:
            diff = difference(gaps[r.row], _gap_values(rnd), idx)
            side = separated(diff)
            if side > 0:
                beats.append(r)
            if diff is not None:
                groups[side].append(f"{r.row} ({_fmt_ci(diff, signed=True)})")
        head = (f"the difference in causal gap (insertion AUC − deletion AUC) to the random map, with its paired "
                f"{pct} bootstrap interval over the {sample}")
        if groups[1]:
            out.append(f"Better than the random map (interval above 0; {head}): {', '.join(groups[1])}.")
        if groups[0]:
            out.append(f"Not distinguishable from the random map on these {sample} (interval contains 0): "
                       f"{', '.join(groups[0])}. More images (--n-images) narrow the intervals.")
        if groups[-1]:
            out.append(f"Worse than the random map (interval below 0): {', '.join(groups[-1])}.")
        for metric in ("deletion", "insertion"):  # a gap can beat the random map's on one curve alone
            level = [f"{r.row} ({_fmt_ci(diff, signed=True)})" for r in rows
                     if (diff := difference(r.metrics[metric]["values"], rnd.metrics[metric]["values"], idx))
                     is not None and separated(diff) == 0]
            if level and len(level) < len(rows):
                out.append(f"{metric.capitalize()} AUC alone not distinguishable from the random map's (paired "
                           f"{pct} interval of the difference contains 0): {', '.join(level)}.")
    sanity = {r.row: _sanity(results, r) for r in rows}
    candidates = [r for r in (beats if rnd is not None else rows) if sanity[r.row] is not False]
    if not candidates:
        if rnd is not None:
            out.append(f"No method is separated from the random map on these {sample}, so none is called the most "
                       "faithful.")
        return out
    mean_gap = {r.row: float(np.nanmean(gaps[r.row])) for r in candidates}
    best = max(candidates, key=lambda r: mean_gap[r.row])
    tied = [r for r in candidates if r is not best and separated(difference(gaps[best.row], gaps[r.row], idx)) <= 0]

    def numbers(r: Any) -> str:
        parts = []
        for m in ("deletion", "insertion"):
            ci = interval(r.metrics[m]["values"], idx)
            parts.append(f"{m} {_fmt_ci(ci)}" if ci else m)
        return f"{r.row}: {', '.join(parts)}"

    criteria = (f"the largest causal gap (insertion AUC − deletion AUC) among the methods that beat the random map "
                f"and do not fail the sanity check (ρ < {SANITY_FAIL_RHO})" if rnd is not None
                else "the largest causal gap (insertion AUC − deletion AUC)")
    if not tied:
        others = "every other candidate's" if len(candidates) > 1 else "the random map's"
        out.append(f"Most faithful ({criteria}, and the paired {pct} intervals of its differences to {others} "
                   f"lie above 0): {numbers(best)}.")
    else:
        group = [best, *tied]
        out.append(f"No single most faithful method on these {sample}: {criteria} is {best.row}'s, but "
                   f"{', '.join(r.row for r in tied)} {'is' if len(tied) == 1 else 'are'} not separated from it "
                   f"(the paired {pct} intervals of the differences contain 0). "
                   + "; ".join(numbers(r) for r in group) + ".")
        timed = [r for r in group if r.explain]
        if len(timed) > 1:
            cheap = min(timed, key=lambda r: r.explain["result"]["seconds_per_image"])
            out.append(f"Cheapest of those: {cheap.row} at {fmt_seconds(cheap.explain['result']['seconds_per_image'])}"
                       "/image.")
    return out


def _sanity(results: Any, r: Any) -> bool | None:
    """False when the whole interval of ρ (|maps| after randomising every layer) lies at or above the threshold,
    True when it lies below, None when it straddles it or is undefined."""
    rho = final_rho(r.randomisation)
    if rho is None:
        return True if r.randomisation and r.randomisation.get("nan_final") else None
    ci = interval(rho, image_resamples(results, len(rho)))
    if ci is None:
        return True if r.randomisation.get("nan_final") else None
    lo, hi = (ci[1], ci[2]) if np.isfinite(ci[1]) else (ci[0], ci[0])
    return False if lo >= SANITY_FAIL_RHO else True if hi < SANITY_FAIL_RHO else None


def findings(results: Any, mr: Any) -> list[str]:
    """What the numbers of one model say, in sentences: only what the bootstrap intervals over the images
    support (see :mod:`.intervals`), with heuristic thresholds given in the text."""
    all_rows = [d for d in summary_rows(results) if d["model"] == mr.id]
    rows = [d for d in all_rows if not d["control"]]
    if not rows:
        return []

    def name(d: dict[str, Any]) -> str:
        return f"{d['label']} ({d['backend']})"

    out = []
    if mr.entry.quality:
        out += _faithfulness_findings(results, mr)
        fail = [r for r in mr.rows if not r.control and _sanity(results, r) is False]
        if fail:
            rhos = [final_rho(r.randomisation) for r in fail]
            listed = [f"{r.row} ({_fmt_ci(interval(rho, image_resamples(results, len(rho))), 2)})"
                      for r, rho in zip(fail, rhos)]
            out.append(f"Barely change when every layer is randomised (the {LEVEL:.0%} interval of ρ of |maps| lies "
                       f"at or above {SANITY_FAIL_RHO}; the maps follow the image more than the model): "
                       + ", ".join(listed) + ".")
        for p in backend_parity(mr):
            v = p.get("spearman_abs")
            if v is not None and v < PARITY_MIN_RHO:
                out.append(f"{p['label']}: {p['a']} and {p['b']} disagree (ρ of |maps| {v:.2f} < "
                           f"{PARITY_MIN_RHO}): the libraries compute different things (score, reduction, "
                           "baseline, guided gradients...): see the score column of the speed table.")
    slow = [d for d in rows if d.get("ratio") is not None and d["ratio"] > OVERHEAD_RATIO]
    if slow:
        out.append(f"More than {OVERHEAD_RATIO:g}x their floor (time lost outside the unavoidable model passes): "
                   + ", ".join(f"{name(d)} ×{d['ratio']:.0f}" for d in sorted(slow, key=lambda d: -d["ratio"]))
                   + ".")
    timed = [d for d in rows if d.get("time") is not None]
    if timed and not mr.entry.quality:
        fastest = min(timed, key=lambda d: d["time"])
        slowest = max(timed, key=lambda d: d["time"])
        out.append(f"Fastest: {name(fastest)} at {fmt_seconds(fastest['time'])}/image; slowest: {name(slowest)} at "
                   f"{fmt_seconds(slowest['time'])}/image.")
    return out
