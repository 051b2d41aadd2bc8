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
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_files import atomic_write_bytes, atomic_write_text
from ..execution import json_ready
from .findings import findings
from .intervals import LEVEL
from .metric_agreement import metric_agreement
from .plots import (
    agreement_figure,
    curves_figure,
    metric_spread_figure,
    png_bytes,
    sanity_figure,
    speed_figure,
    time_quality_figure,
)
from .summary import (
    COLUMNS,
    CROSS_FRAMEWORK_COLUMNS,
    EXTRA_COLUMNS,
    GLOSSARY,
    Column,
    agreement_matrices,
    backend_parity,
    causal_scores_text,
    cross_framework_rows,
    fmt_number,
    markdown_table,
    model_line,
    sanity_verdict,
    summary_rows,
)

__all__ = ["COLUMNS", "GLOSSARY", "Column", "findings", "markdown_report", "markdown_table", "sanity_verdict",
           "summary_rows", "write_reports"]


def markdown_report(results: Any) -> str:
    """The report of ``results`` in Markdown (``report.md``)."""
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
              f"class; {causal_scores_text(results)}; maps fed to the metrics: "
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
    extra = [c for c in EXTRA_COLUMNS if any(d.get(c.key) is not None for d in rows)]
    if extra:
        lines += ["## Further metrics", "", "The metrics this suite names beyond the default ones (same conventions; "
                  "docs/evaluation.md defines them).", "",
                  markdown_table([d for d in rows if any(d.get(c.key) is not None for c in extra)], extra), ""]
    across = cross_framework_rows(results)
    if across:
        lines += ["## Libraries across frameworks", "",
                  ("The zoo networks run in both frameworks (the PyTorch twins carry the Keras weights): each method's "
                   "rows for every library, Keras and PyTorch, together. The same definition on the same network "
                   "should give the same numbers; each library's own defaults (score, ReLU, noise, sign) are "
                   "recorded in its results and explained on its backend page."), "",
                  markdown_table(across, CROSS_FRAMEWORK_COLUMNS), ""]
    for mr in results.models:
        lines += _model_lines(results, mr)
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


def _model_lines(results: Any, mr: Any) -> list[str]:
    """The section of model ``mr``: findings, metric agreement, sanity check, backend and method agreement."""
    lines = [f"## {mr.id}", "", model_line(mr), ""]
    found = findings(results, mr)
    if found:
        lines += ["### What the numbers say", ""] + [f"- {f}" for f in found] + [""]
    lines += _metric_agreement_lines(mr, int(results.config.seed))
    lines += _sanity_lines(mr)
    parity = backend_parity(mr)
    if parity:
        lines += ["### Agreement between backends (same method)", "",
                  "| method | backends | Spearman | Spearman of abs | top-10% IoU | SSIM | definitions |",
                  "|---|---|---:|---:|---:|---:|---|"]
        for p in parity:
            lines.append(f"| {p['label']} | {p['a']} vs {p['b']} | {fmt_number(p.get('spearman'))} | "
                         f"{fmt_number(p.get('spearman_abs'))} | {fmt_number(p.get('topk_iou'))} | "
                         f"{fmt_number(p.get('ssim'))} | "
                         f"{p.get('definitions', '')} |")
        lines.append("")
    names, mats = agreement_matrices(mr)
    if names and "spearman_abs" in mats:
        m = mats["spearman_abs"]
        short = [n.replace(" (tensorflow)", " (tf)").replace(" (control)", "*") for n in names]
        lines += ["### Agreement between methods (Spearman ρ of |maps|)", "",
                  "| | " + " | ".join(short) + " |", "|---|" + "---:|" * len(names)]
        for i, n in enumerate(short):
            lines.append(f"| {n} | " + " | ".join(fmt_number(v, 2) for v in m[i]) + " |")
        lines += ["", "(tf) = tensorflow backend, * = control", ""]
    return lines


def _sanity_lines(mr: Any) -> list[str]:
    """The cascading randomisation table of the rows that ran it (none: no lines)."""
    srows = [r for r in mr.rows if r.randomisation]
    if not srows:
        return []
    lines = ["### Sanity check (cascading randomisation)", "",
             ("| method | backend | ρ top layer | ρ all layers | SSIM all layers | constant maps | "
              "reading |"), "|---|---|---:|---:|---:|---:|---|"]
    for r in srows:
        rd = r.randomisation
        lines.append(f"| {r.label} | {r.backend} | {fmt_number(rd.get('top_spearman_abs'))} | "
                     f"{fmt_number(rd.get('final_spearman_abs'))} | {fmt_number(rd.get('final_ssim'))} | "
                     f"{rd.get('nan_final', 0)}/{rd.get('n_images')} | {sanity_verdict(rd, r.control)} |")
    lines.append("")
    return lines


def _ci(t: Any) -> str:
    if t is None or not np.isfinite(t[0]):
        return "–"
    return f"{t[0]:.2f}" + (f" [{t[1]:.2f}, {t[2]:.2f}]" if np.isfinite(t[1]) else "")


def _metric_agreement_lines(mr: Any, seed: int) -> list[str]:
    """The section "Do the faithfulness metrics agree?" of one model (empty without enough methods or metrics)."""
    found = metric_agreement(mr, seed)
    if found is None:
        return []
    lines = ["### Do the faithfulness metrics agree?", "", found["sentence"], "",
             ("Spearman ρ between the orderings of the methods given by two metrics (each oriented so that better "
              "is higher), per image (mean over images) and of the means over all images, with bootstrap intervals "
              "over the images. Near 1: the ranking survives the change of metric."), "",
             "| metric | metric | ρ per image | ρ of the means |", "|---|---|---:|---:|"]
    for p in found["pairs"]:
        lines.append(f"| {p['a']} | {p['b']} | {_ci(p['per_image'])} | {_ci(p['overall'])} |")
    return [*lines, ""]


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
