"""Reports of a benchmark run: Markdown, one self-contained HTML page, figures, JSON summary.

Everything is written atomically into the output folder:

``report.md``
    The summary table (rows = model / method / backend; columns = quality metrics,
    time per image, floor, time / floor, peak memory), then per model the sanity
    check, the agreement between backends and between methods, and the failures.
``report.html``
    The same, readable in a browser without a server: every figure embedded as a
    base64 PNG, the style sheet inline, no external request.
``figures/*.png``
    Per model: metric spread across images, deletion/insertion curves, comparison
    figure (:func:`xaikit.viz.compare_figure`), sanity check, agreement heat map,
    speed; and time against quality for all models.
``summary.json``
    The aggregated numbers, for scripts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_bytes, atomic_write_text
from .intervals import LEVEL, difference, interval, resamples, separated
from .plots import (
    agreement_figure,
    curves_figure,
    metric_spread_figure,
    png_bytes,
    sanity_figure,
    speed_figure,
    time_quality_figure,
)
from .store import json_ready

__all__ = ["COLUMNS", "GLOSSARY", "Column", "findings", "markdown_report", "sanity_verdict", "summary_rows",
           "write_reports"]


@dataclass(frozen=True)
class Column:
    """A column of the summary table: ``direction`` +1 higher is better, -1 lower, -2 closer to 0, 0 neither."""

    key: str
    header: str
    direction: int
    kind: str = "quality"  # "quality" or "speed"


COLUMNS = (
    Column("deletion", "deletion AUC", -1),
    Column("insertion", "insertion AUC", +1),
    Column("mu_fidelity", "MuFidelity", +1),
    Column("pointing_game", "pointing", +1),
    Column("energy_pointing_game", "energy PG", +1),
    Column("rand_rho", "rand. ρ", -2),
    Column("rand_ssim", "rand. SSIM", -2),
    Column("sparseness", "Gini", +1),
    Column("complexity", "entropy", -1),
    Column("time", "time/img", -1, "speed"),
    Column("first", "1st call", 0, "speed"),
    Column("floor", "floor/img", 0, "speed"),
    Column("ratio", "×floor", -1, "speed"),
    Column("peak", "peak RSS MB (+Δ)", 0, "speed"),
)

#: metric -> (name, direction text, what it measures). The text of "how to read this".
GLOSSARY = {
    "deletion": ("Deletion AUC", "lower is better",
                 ("Pixels are removed (set to the substrate) from most to least important; the curve is the "
                 "probability of the explained class. A faithful map makes it fall fast. Petsiuk et al., RISE, 2018.")),
    "insertion": ("Insertion AUC", "higher is better",
                  ("Pixels are put back on a blurred image from most to least important; a faithful map makes the "
                  "probability rise fast.")),
    "mu_fidelity": ("MuFidelity", "higher is better (1 = perfect, 0 = unrelated)",
                    ("Correlation, over random subsets of grid cells, between the attribution a subset holds and the "
                    "drop in probability when it is removed. Bhatt et al., IJCAI 2020.")),
    "pointing_game": ("Pointing game", "higher is better",
                      ("Share of images whose most important pixel lies on the ground-truth object (synthetic shapes "
                      "only). Zhang et al., ECCV 2016.")),
    "energy_pointing_game": ("Energy pointing game", "higher is better",
                             ("Share of the positive attribution that falls on the object. Wang et al., Score-CAM, "
                             "2020.")),
    "randomisation": ("Randomisation sanity check (rand. ρ, rand. SSIM)", "closer to 0 is better",
                      ("The model's layers are re-initialised from the output down; the maps of the fully randomised "
                      "model are compared with the original ones (Spearman ρ of |maps|, SSIM). A map that does not "
                      "change is not explaining the model -- an edge detector stays at 1. Adebayo et al., NeurIPS "
                      "2018. Weights are restored afterwards (checked by checksum).")),
    "sparseness": ("Sparseness (Gini)", "higher = more concentrated",
                   ("Gini index of |map|: 0 for a uniform map, close to 1 for a few pixels. Easier to read, not more "
                   "correct. Chalasani et al., ICML 2020.")),
    "complexity": ("Complexity (entropy)", "lower = simpler",
                   "Entropy of the normalised |map| in nats; ln(H·W) for a uniform map. Bhatt et al., IJCAI 2020."),
    "agreement": ("Agreement", "1 = identical maps",
                  ("Spearman ρ of maps (signed and of |maps|), IoU of the top 10 % pixels and SSIM, between two "
                  "backends computing the same method (implementation parity) or between methods.")),
    "time": ("Time per image (steady state) and first call", "lower is better",
             ("Median over the timed runs of the wall time of one explain call on the sample, divided by the "
             "number of images, after a warm-up that traces and compiles with the timed call's tensor shapes "
             "(native methods: the first image with the real parameters; one-pass methods and library adapters, "
             "which trace again for every new shape: the same call). '1st call' is that warm-up's wall time: what "
             "the first call of a session costs on top.")),
    "floor": ("Floor per image and ×floor", "×floor close to 1 is better",
              ("The time of the model passes the method cannot avoid (e.g. n_samples forward+backward passes for "
              "SmoothGrad, one forward per patch for occlusion), measured in the same run with a compiled loop at "
              "the best batch size. ×floor = time / floor: how much an implementation adds on top.")),
    "peak": ("Peak RSS (+Δ)", "lower is better",
             ("Highest resident memory of the process during the timed runs, sampled every 5 ms in a background "
             "thread (TensorFlow's allocations are invisible to tracemalloc). It includes everything loaded "
             "before; +Δ is the increase over the RSS before the warm-up, i.e. what the method added. TensorFlow "
             "keeps freed memory in its pools, so a method run after a hungrier one shows a small Δ.")),
}


# --------------------------------------------------------------------------- numbers
def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def sanity_verdict(rand: dict[str, Any] | None, control: bool = False) -> str:
    """A short reading of the randomisation result (heuristic thresholds on ρ of |maps|)."""
    if not rand:
        return ""
    if control:
        return "unchanged, as a model-independent map must be"
    rho = _num(rand.get("final_spearman_abs"))
    const = rand.get("nan_final") or 0
    if rho is None:
        return "changes (maps become constant)" if const else "undefined"
    if rho < 0.5:
        return "changes: passes"
    if rho < 0.8:
        return "partly changes"
    return "barely changes: fails"


PER_IMAGE_METRICS = ("deletion", "insertion", "mu_fidelity", "pointing_game", "energy_pointing_game", "sparseness",
                     "complexity")


def _resamples(results: Any, n: int) -> Any:
    return resamples(n, int(getattr(results.config, "seed", 0)))


def _final_rho(rd: dict[str, Any] | None) -> list[Any] | None:
    """Per-image Spearman ρ of |maps| after every layer was randomised."""
    values = (rd or {}).get("spearman_abs")
    return list(values[-1]) if values else None


def summary_rows(results: Any) -> list[dict[str, Any]]:
    """One dict per row of every model: identification and every :data:`COLUMNS` value.

    Quality values are means over images; ``"<column>_ci"`` holds their bootstrap
    interval ``(low, high)`` over the images (:mod:`.intervals`; None when there is
    nothing to resample).
    """
    out = []
    for mr in results.models:
        rows = [r for r in mr.rows if not r.control] + [r for r in mr.rows if r.control]
        for r in rows:
            d: dict[str, Any] = {"model": mr.id, "label": r.label, "method": r.method, "backend": r.backend,
                                 "control": r.control, "quality": bool(mr.entry.quality)}
            for m in PER_IMAGE_METRICS:
                d[m] = _num(r.metrics.get(m, {}).get("mean")) if m in r.metrics else None
                values = r.metrics.get(m, {}).get("values")
                ci = interval(values, _resamples(results, len(values))) if values else None
                d[f"{m}_ci"] = ci[1:] if ci is not None and np.isfinite(ci[1]) else None
            rd = r.randomisation
            d["rand_rho"] = _num(rd.get("final_spearman_abs")) if rd else None
            rho = _final_rho(rd)
            ci = interval(rho, _resamples(results, len(rho))) if rho else None
            d["rand_rho_ci"] = ci[1:] if ci is not None and np.isfinite(ci[1]) else None
            d["rand_ssim"] = _num(rd.get("final_ssim")) if rd else None
            d["rand_const"] = (rd.get("nan_final"), rd.get("n_images")) if rd else None
            d["sanity"] = sanity_verdict(rd, r.control)
            ex = r.explain["result"] if r.explain else None
            d["time"] = _num(ex["seconds_per_image"]) if ex else None
            d["first"] = _num(ex.get("warmup_seconds")) if ex else None
            d["runs"] = ex["repeats_done"] if ex else None
            d["peak"] = _num(ex["peak_rss_mb"]) if ex else None
            d["peak_delta"] = _num(ex.get("rss_cell_delta_mb", ex.get("rss_delta_mb"))) if ex else None
            d["score"] = ex.get("score") if ex else None
            d["layer"] = ex.get("layer") if ex else None
            d["floor"] = _num(r.floor["floor_per_image"]) if r.floor else None
            d["ratio"] = _num(r.floor["ratio"]) if r.floor else None
            d["floor_desc"] = r.floor["description"] if r.floor else None
            d["floor_batch"] = r.floor["batch_size"] if r.floor else None
            d["transform"] = r.transform
            out.append(d)
    return out


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    if s < 120:
        return f"{s:.3g} s"
    return f"{s / 60:.1f} min"


def fmt_interval(col: str, d: dict[str, Any]) -> str:
    """``"[0.08, 0.17]"``: the bootstrap interval of a quality column, or ``""``."""
    ci = d.get(f"{col}_ci")
    if not ci:
        return ""
    digits = 2 if col == "complexity" else 3
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def fmt_cell(col: str, d: dict[str, Any], intervals: bool = False) -> str:
    """The text of one summary cell; with ``intervals``, quality means are followed by their bootstrap interval."""
    text = _fmt_value(col, d)
    ci = fmt_interval(col, d) if intervals else ""
    return f"{text} {ci}" if ci else text


def _fmt_value(col: str, d: dict[str, Any]) -> str:
    v = d.get(col)
    if col in ("time", "floor", "first"):
        return fmt_seconds(v)
    if v is None:
        if col == "rand_rho" and d.get("rand_const") and d["rand_const"][0]:
            return "const"
        return "–"
    if col == "ratio":
        return f"{v:.1f}"
    if col == "peak":
        delta = d.get("peak_delta")
        return f"{v:.0f}" + (f" (+{max(delta, 0):.0f})" if delta is not None else "")
    if col == "complexity":
        return f"{v:.2f}"
    text = f"{v:.3f}"
    if col == "rand_rho" and d.get("rand_const") and d["rand_const"][0]:
        text += "†"
    return text


def _row_name(d: dict[str, Any]) -> tuple[str, str]:
    if d["control"]:
        return f"{d['label']} (control)", "–"
    return d["label"], d["backend"]


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column] = COLUMNS, *,
                   intervals: bool = True) -> str:
    """The summary table; quality means are followed by their bootstrap interval over images (``intervals``)."""
    arrows = {1: " ↑", -1: " ↓", -2: " →0", 0: ""}
    head = ["model", "method", "backend"] + [c.header + arrows[c.direction] for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * len(columns)]
    for d in rows:
        method, backend = _row_name(d)
        lines.append("| " + " | ".join([d["model"], method, backend]
                                       + [fmt_cell(c.key, d, intervals) for c in columns]) + " |")
    return "\n".join(lines)


def _agreement_lookup(mr: Any) -> tuple[list[str], dict[str, np.ndarray]]:
    ag = mr.agreement or {}
    names = ag.get("names", [])
    mats = {k: np.asarray([[np.nan if v is None else v for v in row] for row in m], float)
            for k, m in ag.get("matrices", {}).items()}
    return names, mats


def backend_parity(mr: Any) -> list[dict[str, Any]]:
    """Agreement between backends computing the same method entry."""
    names, mats = _agreement_lookup(mr)
    if not names:
        return []
    index = {n: i for i, n in enumerate(names)}
    out = []
    by_label: dict[str, list[Any]] = {}
    for r in mr.rows:
        if not r.control and r.row in index:
            by_label.setdefault(r.label, []).append(r)
    for label, rows in by_label.items():
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                a, b = index[rows[i].row], index[rows[j].row]
                out.append({"label": label, "a": rows[i].backend, "b": rows[j].backend,
                            **{k: _num(m[a, b]) for k, m in mats.items()}})
    return out


def _f(v: Any, digits: int = 3) -> str:
    v = _num(v)
    return "–" if v is None else f"{v:.{digits}f}"


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
    idx = _resamples(results, n)
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
    rho = _final_rho(r.randomisation)
    if rho is None:
        return True if r.randomisation and r.randomisation.get("nan_final") else None
    ci = interval(rho, _resamples(results, len(rho)))
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
            rhos = [_final_rho(r.randomisation) for r in fail]
            listed = [f"{r.row} ({_fmt_ci(interval(rho, _resamples(results, len(rho))), 2)})"
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


def markdown_report(results: Any) -> str:
    cfg = results.config
    env = results.environment
    rows = summary_rows(results)
    lines = [f"# xaikit benchmark: {cfg.name}", ""]
    if cfg.description:
        lines += [cfg.description.strip(), ""]
    lines += [(f"- date: {env.get('date')}; machine: {env.get('cpu')}, {env.get('cores')} core(s); "
              f"{env.get('platform')}"),
              "- versions: " + ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items()),
              (f"- run: {results.seconds:.0f} s; cells computed {results.computed}, reused from earlier runs "
              f"{results.reused}, failed {len(results.errors)}"),
              (f"- sample: {cfg.n_images} images per model (seed {cfg.seed}); each method explains the predicted "
              f"class; causal metrics score the {cfg.metrics.score}; maps fed to the metrics: "
              f"{cfg.map_transform} (auto = |map| for vanilla gradients and SmoothGrad)"), ""]
    lines += ["## Summary", "",
              (f"Quality values are means over the images with their {LEVEL:.0%} bootstrap interval over the images "
              "[low, high] (seeded): a difference inside the intervals may be the luck of the sample. "
              "↑ higher is better, ↓ lower is better, →0 closer to 0 is better. rand. ρ / SSIM: similarity of the "
              "maps after all layers were randomised (Spearman ρ of |maps|; near 0 = the method depends on the "
              "model; † some maps became constant and are left out). 1st call: the warm-up before the timed runs "
              "(tracing, compiling). ×floor: time / floor. peak RSS: the process "
              "during the timed runs (+Δ: over the RSS before the warm-up). Quality columns are empty for "
              "speed-only models (random weights)."), "",
              markdown_table(rows), ""]
    for mr in results.models:
        lines += [f"## {mr.id}", "", _model_line(mr), ""]
        found = findings(results, mr)
        if found:
            lines += ["### What the numbers say", ""] + [f"- {f}" for f in found] + [""]
        srows = [r for r in mr.rows if r.randomisation]
        if srows:
            lines += ["### Sanity check (cascading randomisation)", "",
                      ("| method | backend | ρ top layer | ρ all layers | SSIM all layers | constant maps | "
                      "reading |"), "|---|---|---:|---:|---:|---:|---|"]
            for r in srows:
                rd = r.randomisation
                lines.append(f"| {r.label} | {r.backend} | {_f(rd.get('top_spearman_abs'))} | "
                             f"{_f(rd.get('final_spearman_abs'))} | {_f(rd.get('final_ssim'))} | "
                             f"{rd.get('nan_final', 0)}/{rd.get('n_images')} | {sanity_verdict(rd, r.control)} |")
            lines.append("")
        parity = backend_parity(mr)
        if parity:
            lines += ["### Agreement between backends (same method)", "",
                      "| method | backends | Spearman | Spearman of abs | top-10% IoU | SSIM |",
                      "|---|---|---:|---:|---:|---:|"]
            for p in parity:
                lines.append(f"| {p['label']} | {p['a']} vs {p['b']} | {_f(p.get('spearman'))} | "
                             f"{_f(p.get('spearman_abs'))} | {_f(p.get('topk_iou'))} | {_f(p.get('ssim'))} |")
            lines.append("")
        names, mats = _agreement_lookup(mr)
        if names and "spearman_abs" in mats:
            m = mats["spearman_abs"]
            short = [n.replace(" (tensorflow)", " (tf)").replace(" (control)", "*") for n in names]
            lines += ["### Agreement between methods (Spearman ρ of |maps|)", "",
                      "| | " + " | ".join(short) + " |", "|---|" + "---:|" * len(names)]
            for i, n in enumerate(short):
                lines.append(f"| {n} | " + " | ".join(_f(v, 2) for v in m[i]) + " |")
            lines += ["", "(tf) = tensorflow backend, * = control", ""]
    notes = list(results.notes) + list(cfg.notes)
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    if results.errors:
        lines += ["## Failures", ""]
        for e in results.errors:
            where = " · ".join(str(e[k]) for k in ("model", "label", "backend", "kind", "metric", "cell") if e.get(k))
            lines.append(f"- {where}: {e['error']}")
        lines.append("")
    return "\n".join(lines)


def _model_line(mr: Any) -> str:
    info = mr.info
    parts = [f"{info.get('source')}", f"{info.get('n_params', 0):,} parameters",
             f"input {'x'.join(map(str, info.get('input_shape', [])))}", f"{info.get('n_images')} images",
             f"preprocess {info.get('preprocess')}"]
    if info.get("test_accuracy") is not None:
        parts.append(f"test accuracy {info['test_accuracy']:.3f}")
    if info.get("sample_accuracy") is not None:
        parts.append(f"accuracy on the sample {info['sample_accuracy']:.3f}")
    if not info.get("quality", True):
        parts.append("speed only (random weights: quality numbers would be meaningless)")
    return "; ".join(parts) + "."


# --------------------------------------------------------------------------- figures
def _explanations(results: Any, mr: Any, n_show: int) -> tuple[dict[str, Any], np.ndarray, list[str]] | None:
    """Explanation objects rebuilt from the stored maps, for the comparison figure."""
    from .._timing import record_warmup
    from ..explanation import Explanation

    pm = mr.prepared
    cols: dict[str, Any] = {}
    for r in mr.rows:
        if r.control or not r.explain_key or r.explain_key not in results.store:
            continue
        arrays = results.store.arrays(r.explain_key)
        ex = r.explain["result"]
        n = min(n_show, len(arrays["attributions"]))
        outputs = np.asarray(arrays["outputs"][:n], np.float32)
        preds = np.asarray(pm.targets[:n], np.int64) if pm is not None else np.argmax(outputs, axis=1)
        exp = Explanation(
            attributions=np.asarray(arrays["attributions"][:n], np.float32), method=r.method, backend=r.backend,
            targets=np.asarray(arrays["targets"][:n], np.int64), outputs=outputs, predictions=preds,
            params={}, elapsed=ex["seconds_per_image"] * n, score=str(ex.get("score")), layer=ex.get("layer"))
        if ex.get("warmup_seconds") is not None:  # the median time after a warm-up: steady state
            exp = record_warmup(exp, ex["warmup_seconds"], ex.get("warmup_images") or 1)
        cols[r.row] = exp
    if not cols or pm is None:
        return None
    n = min(n_show, len(pm.display))
    return cols, pm.display[:n], pm.names[:n]


def _figures(results: Any, n_show: int = 4) -> dict[str, list[tuple[str, str, bytes]]]:
    """section -> [(file name, caption, png bytes)]; sections are model ids and "all"."""
    from matplotlib.figure import Figure  # noqa: F401 - fail early without matplotlib

    out: dict[str, list[tuple[str, str, bytes]]] = {}
    metrics = results.config.metrics.enabled

    def add(section: str, name: str, fig: Any, caption: str, dpi: float = 110) -> None:
        if fig is not None:
            out.setdefault(section, []).append((name, caption, png_bytes(fig, dpi=dpi)))

    add("all", "time_quality.png", time_quality_figure([m for m in results.models if m.entry.quality]),
        "Time per image against the causal gap (insertion AUC − deletion AUC) of every method and backend. "
        "Dotted and dashed lines: the random and edge controls.")
    for mr in results.models:
        out.setdefault(mr.id, [])  # every model has a section, figures or not
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in mr.id)
        if mr.entry.quality:
            add(mr.id, f"metrics_{safe}.png", metric_spread_figure(mr, metrics),
                "Per-image values of each metric (box: quartiles, points: images). Grey rows are the "
                "model-independent controls.")
            add(mr.id, f"curves_{safe}.png", curves_figure(mr),
                "Mean deletion and insertion curves (solid: tensorflow, dashed: tf-explain, dash-dot: shap; "
                "grey: controls).")
        made = _explanations(results, mr, n_show)
        if made is not None:
            from ..viz.compare import compare_figure

            cols, display, names = made
            pm = mr.prepared
            title = f"{mr.id}: the same images explained by every method and backend"
            if not mr.entry.quality:
                title += " (random weights)"
            fig = compare_figure(display, cols, class_names=pm.class_names, image_range=(0.0, 1.0),
                                 row_labels=[n if len(n) <= 22 else n[:21] + "…" for n in names], title=title)
            add(mr.id, f"compare_{safe}.png", fig, "The maps themselves, each scaled on its own and drawn as its "
                "content asks (signed maps in red/blue, maps offset by a constant as their deviations from the "
                "median). Column headers give the steady-state time per image and the first call.", dpi=90)
        if mr.entry.quality:
            add(mr.id, f"sanity_{safe}.png", sanity_figure(mr),
                "Similarity to the original maps as the layers are re-initialised from the output down. The edge "
                "control (thick dashed) cannot change; a method that follows it does not depend on the model.")
            add(mr.id, f"agreement_{safe}.png", agreement_figure(mr),
                "Pairwise Spearman ρ of |maps| between all rows (mean over images).")
        add(mr.id, f"speed_{safe}.png", speed_figure(mr),
            "Median time per image and the floor (the passes the method cannot avoid, at the best batch size); "
            "× = time / floor.")
    return out


# --------------------------------------------------------------------------- summary json
def summary_json(results: Any) -> dict[str, Any]:
    cfg = results.config
    models = []
    for mr in results.models:
        models.append({
            "id": mr.id, "info": {k: v for k, v in mr.info.items() if k not in ("names", "targets")},
            "rows": [{"label": r.label, "method": r.method, "backend": r.backend, "control": r.control,
                      "metrics": {k: {kk: vv for kk, vv in v.items() if kk in ("mean", "values", "n_valid")}
                                  for k, v in r.metrics.items()},
                      "randomisation": ({k: r.randomisation[k] for k in ("layers", "mean_spearman",
                                                                         "mean_spearman_abs", "mean_ssim",
                                                                         "weights_restored", "nan_final")}
                                        if r.randomisation else None),
                      "speed": ({k: r.explain["result"].get(k) for k in (
                          "seconds_per_image", "runs", "peak_rss_mb", "rss_cell_delta_mb", "score", "layer",
                          "params")} if r.explain else None),
                      "floor": r.floor, "explain_key": r.explain_key}
                     for r in mr.rows],
            "agreement": mr.agreement,
        })
    return {"suite": cfg.name, "source": cfg.source, "environment": results.environment,
            "seconds": results.seconds, "computed": results.computed, "reused": results.reused,
            "shared": results.shared,
            "errors": results.errors, "notes": list(results.notes) + list(cfg.notes), "models": models,
            "table": summary_rows(results)}


def write_reports(results: Any, out_dir: str | Path | None = None, *, figures: bool = True,
                  n_show: int = 4) -> dict[str, Path]:
    """Write ``report.md``, ``report.html``, ``summary.json`` and ``figures/*.png``; return their paths."""
    from .html import html_report

    out = Path(out_dir) if out_dir is not None else Path(results.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    figs = _figures(results, n_show) if figures else {}
    for items in figs.values():
        for name, _, data in items:
            written[name] = atomic_write_bytes(out / "figures" / name, data)
    written["report.md"] = atomic_write_text(out / "report.md", markdown_report(results))
    written["summary.json"] = atomic_write_text(
        out / "summary.json", json.dumps(json_ready(summary_json(results)), indent=1, default=str,
                                         allow_nan=False))
    written["report.html"] = atomic_write_text(out / "report.html", html_report(results, figs))
    return written
