"""The tables of the HTML report: the summary with its best and worst values, the glossary, and each model's
metric agreement, sanity, parity, agreement-matrix and speed tables (HTML strings)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from .summary import (
    COLUMNS,
    GLOSSARY,
    agreement_matrices,
    backend_parity,
    causal_scores_text,
    finite_number,
    fmt_cell,
    fmt_interval,
    fmt_number,
    fmt_seconds,
    sanity_verdict,
    summary_rows,
)

__all__ = ["escape", "glossary", "matrix_table", "metric_agreement_html", "parity_table", "sanity_table",
           "speed_table", "summary_table"]


def escape(text: Any) -> str:
    """``text`` as HTML text (quotes escaped too)."""
    return html.escape(str(text), quote=True)


_e = escape  # the tables' short name


def _apart(rows: list[dict[str, Any]], key: str, chosen: set[int], others: list[int]) -> bool:
    """Whether the bootstrap intervals of the ``chosen`` rows are disjoint from every other row's (True without
    intervals: speed columns)."""
    intervals = {i: rows[i].get(f"{key}_ci") for i in [*chosen, *others]}
    if all(v is None for v in intervals.values()) and f"{key}_ci" not in rows[others[0]]:
        return True
    for i in chosen:
        for j in others:
            a, b = intervals[i], intervals[j]
            if a is None or b is None or not (a[1] < b[0] or b[1] < a[0]):
                return False
    return True


def _best_worst(rows: list[dict[str, Any]], key: str, direction: int) -> tuple[set[int], set[int]]:
    """Rows to mark best / worst in a column: extreme means whose bootstrap interval is apart from the others'."""
    if direction == 0:
        return set(), set()
    vals = [(i, d[key]) for i, d in enumerate(rows) if not d["control"] and d.get(key) is not None]
    if direction == -2:  # closer to 0 is better
        vals = [(i, abs(v)) for i, v in vals]
        direction = -1
    if len(vals) < 2:
        return set(), set()
    nums = [v for _, v in vals]
    best = max(nums) if direction > 0 else min(nums)
    worst = min(nums) if direction > 0 else max(nums)
    if best == worst:
        return set(), set()
    best_rows = {i for i, v in vals if v == best}
    worst_rows = {i for i, v in vals if v == worst}
    rest = [i for i, _ in vals]
    if key != "rand_rho":  # its intervals are of ρ, the column ranks |ρ|: compared as means only
        best_rows = best_rows if _apart(rows, key, best_rows, [i for i in rest if i not in best_rows]) else set()
        worst_rows = worst_rows if _apart(rows, key, worst_rows, [i for i in rest if i not in worst_rows]) else set()
    return best_rows, worst_rows


def summary_table(results: Any) -> str:
    rows = summary_rows(results)
    arrows = {1: " ↑", -1: " ↓", -2: " →0", 0: ""}
    head = "".join(f"<th>{_e(h)}</th>" for h in ("method", "backend")) + "".join(
        f"<th class='num'>{_e(c.header + arrows[c.direction])}</th>" for c in COLUMNS)
    body = []
    for mr in results.models:
        mrows = [d for d in rows if d["model"] == mr.id]
        marks = {c.key: _best_worst(mrows, c.key, c.direction) for c in COLUMNS}
        body.append(f"<tr class='group'><td colspan='{2 + len(COLUMNS)}'>{_e(mr.id)}"
                    f"{' — speed only (random weights)' if not mr.entry.quality else ''}</td></tr>")
        for i, d in enumerate(mrows):
            method = f"{d['label']} (control)" if d["control"] else d["label"]
            backend = "–" if d["control"] else d["backend"]
            cells = [f"<td title='{_e(d['model'])}'>{_e(method)}</td>", f"<td>{_e(backend)}</td>"]
            for c in COLUMNS:
                best, worst = marks[c.key]
                cls = "num" + (" best" if i in best else " worst" if i in worst and len(mrows) > 3 else "")
                v = d.get(c.key)
                ci = fmt_interval(c.key, d)
                ci_html = f"<br><span class='ci'>{_e(ci)}</span>" if ci else ""
                cells.append(f"<td class='{cls}' data-v='{'' if v is None else v}'>{_e(fmt_cell(c.key, d))}"
                             f"{ci_html}</td>")
            body.append(f"<tr class='{'control' if d['control'] else ''}'>{''.join(cells)}</tr>")
    return (f"<div class='scroll'><table class='sortable summary'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def glossary(results: Any) -> str:
    enabled = set(results.config.metrics.enabled)
    keys = [k for k in ("deletion", "insertion", "mu_fidelity", "faithfulness_correlation", "road", "infidelity",
                        "max_sensitivity", "pointing_game", "energy_pointing_game", "relevance_mass_accuracy",
                        "randomisation", "sparseness", "complexity", "agreement") if k in enabled]
    keys += ["metric_agreement"]
    keys += ["time", "floor", "peak"]
    items = []
    for k in keys:
        name, direction, text = GLOSSARY[k]
        items.append(f"<div><dt>{_e(name)}<span class='dir'>{_e(direction)}</span></dt><dd>{_e(text)}</dd></div>")
    cfg = results.config
    mp = cfg.metrics.params
    extra = (f"Parameters: deletion substrate {mp['deletion'].get('substrate')!s} and insertion substrate "
             f"{mp['insertion'].get('substrate')!s} with {mp['deletion'].get('steps')} steps; MuFidelity on a "
             f"{mp['mu_fidelity'].get('grid_size')} grid with {mp['mu_fidelity'].get('n_samples')} subsets of "
             f"{mp['mu_fidelity'].get('subset_percent')}; {causal_scores_text(results)}. "
             f"Maps are fed to the metrics {cfg.map_transform!r}: 'auto' takes |map| for vanilla gradients and "
             "SmoothGrad (their sign is mostly noise) and the signed map otherwise. The controls are "
             "model-independent maps (uniform noise, Sobel edges): a method should beat them.")
    return f"<dl class='glossary'>{''.join(items)}</dl><p class='muted'>{_e(extra)}</p>"


def metric_agreement_html(mr: Any, seed: int) -> str:
    """The section "Do the faithfulness metrics agree?" of one model ("" without enough methods or metrics)."""
    from .metric_agreement import metric_agreement

    found = metric_agreement(mr, seed)
    if found is None:
        return ""

    def ci(t: Any) -> str:
        if t is None or not np.isfinite(t[0]):
            return "–"
        interval = f"<br><span class='ci'>[{t[1]:.2f}, {t[2]:.2f}]</span>" if np.isfinite(t[1]) else ""
        return f"{t[0]:.2f}{interval}"

    body = "".join(f"<tr><td>{_e(p['a'])}</td><td>{_e(p['b'])}</td><td class='num'>{ci(p['per_image'])}</td>"
                   f"<td class='num'>{ci(p['overall'])}</td></tr>" for p in found["pairs"])
    return ("<h3>Do the faithfulness metrics agree?</h3>"
            f"<p>{_e(found['sentence'])}</p><div class='scroll'><table class='sortable'><thead><tr><th>metric</th>"
            "<th>metric</th><th class='num'>ρ per image</th><th class='num'>ρ of the means</th></tr></thead>"
            f"<tbody>{body}</tbody></table></div>")


def sanity_table(mr: Any) -> str:
    rows = [r for r in mr.rows if r.randomisation]
    if not rows:
        return ""
    body = []
    for r in rows:
        rd = r.randomisation
        verdict = sanity_verdict(rd, r.control)
        cls = "" if r.control else "best" if "passes" in verdict or "constant" in verdict else \
            "worst" if "fails" in verdict else ""
        body.append(f"<tr class='{'control' if r.control else ''}'><td>{_e(r.label)}</td><td>{_e(r.backend)}</td>"
                    f"<td class='num'>{fmt_number(rd.get('top_spearman_abs'))}</td>"
                    f"<td class='num'>{fmt_number(rd.get('final_spearman'))}</td>"
                    f"<td class='num'>{fmt_number(rd.get('final_spearman_abs'))}</td>"
                    f"<td class='num'>{fmt_number(rd.get('final_ssim'))}</td>"
                    f"<td class='num'>{rd.get('nan_final', 0)}/{rd.get('n_images')}</td>"
                    f"<td class='{cls}'>{_e(verdict)}</td>"
                    f"<td>{'yes' if rd.get('weights_restored') else 'NO'}</td></tr>")
    return ("<div class='scroll'><table><thead><tr><th>method</th><th>backend</th><th class='num'>ρ top layer</th>"
            "<th class='num'>ρ signed maps, all layers</th><th class='num'>ρ all layers</th>"
            "<th class='num'>SSIM all layers</th>"
            "<th class='num'>constant maps</th><th>reading</th><th>weights restored</th></tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div><p class='muted'>Reading: ρ after all layers below 0.5 "
            "= the map changed with the model (passes), 0.5-0.8 = partly, above 0.8 = barely changed (fails). "
            "Maps that become constant (e.g. Grad-CAM's ReLU of a random model) count as changed.</p>")


def parity_table(mr: Any) -> str:
    parity = backend_parity(mr)
    if not parity:
        return ""
    body = "".join(f"<tr><td>{_e(p['label'])}</td><td>{_e(p['a'])} vs {_e(p['b'])}</td>"
                   f"<td class='num'>{fmt_number(p.get('spearman'))}</td>"
                   f"<td class='num'>{fmt_number(p.get('spearman_abs'))}</td>"
                   f"<td class='num'>{fmt_number(p.get('topk_iou'))}</td>"
                   f"<td class='num'>{fmt_number(p.get('ssim'))}</td>"
                   f"<td>{_e(p.get('definitions', ''))}</td></tr>"
                   for p in parity)
    return ("<h3>Agreement between backends (same method)</h3><div class='scroll'><table><thead><tr><th>method</th>"
            "<th>backends</th><th class='num'>Spearman</th><th class='num'>Spearman of |·|</th>"
            "<th class='num'>top-10% IoU</th><th class='num'>SSIM</th><th>definitions</th></tr></thead><tbody>"
            + body + "</tbody></table></div><p class='muted'>1 = the two libraries compute the same map. With the "
            "suite's <code>align = true</code> (the default) every library runs the method's definition (the same "
            "score, signed values, noise as a fraction of each image's range, baseline, ReLU, layer) through its own "
            "parameters; the last column says what a library cannot express, where the maps may differ by "
            "definition rather than by implementation. With <code>align = false</code> each library runs its own "
            "defaults.</p>")


def matrix_table(mr: Any) -> str:
    names, mats = agreement_matrices(mr)
    if not names or "spearman_abs" not in mats:
        return ""
    m = mats["spearman_abs"]

    def colour(v: float) -> str:
        if not np.isfinite(v):
            return ""
        a = min(1.0, abs(v))
        r, g, b = (198, 61, 47) if v > 0 else (52, 101, 164)
        return f" style='background: rgba({r},{g},{b},{a * 0.55:.2f})'"

    head = "<th></th>" + "".join(f"<th class='num' title='{_e(n)}'>{i + 1}</th>" for i, n in enumerate(names))
    body = "".join(
        f"<tr><td>{i + 1}. {_e(n)}</td>" + "".join(f"<td class='num'{colour(v)}>{fmt_number(v, 2)}</td>" for v in m[i])
        + "</tr>" for i, n in enumerate(names))
    return ("<details><summary>Agreement between all maps, as a table (Spearman ρ of |maps|)</summary>"
            f"<div class='scroll'><table class='matrix'><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            "</table></div></details>")


def speed_table(mr: Any) -> str:
    rows = [r for r in mr.rows if r.explain]
    if not rows:
        return ""
    body = []
    for r in rows:
        ex = r.explain["result"]
        fl = r.floor or {}
        tried = fl.get("tried") or {}
        tried_txt = ", ".join(f"{b}: {fmt_seconds(finite_number(s))}" for b, s in tried.items())
        warm = ex.get("warmup_seconds")
        body.append(
            f"<tr><td>{_e(r.label)}</td><td>{_e(r.backend)}</td><td>{_e(ex.get('score'))}</td>"
            f"<td>{_e(ex.get('layer') or '–')}</td>"
            f"<td class='num' data-v='{ex['seconds_per_image']}'>{fmt_seconds(ex['seconds_per_image'])}</td>"
            f"<td class='num'>{ex['repeats_done']}/{ex['repeats_asked']}</td>"
            f"<td>{_e(fl.get('description', '–'))}</td>"
            f"<td class='num' title='{_e(tried_txt)}'>{fmt_seconds(finite_number(fl.get('seconds_per_pass')))} "
            f"@{fl.get('batch_size', '–')}</td>"
            f"<td class='num'>{fmt_seconds(finite_number(fl.get('floor_per_image')))}</td>"
            f"<td class='num'>{fmt_number(fl.get('ratio'), 1)}</td>"
            f"<td class='num'>{fmt_number(ex.get('peak_rss_mb'), 0)}</td>"
            f"<td class='num'>+{fmt_number(ex.get('rss_cell_delta_mb', ex.get('rss_delta_mb')), 0)}</td>"
            f"<td class='num'>{fmt_seconds(finite_number(warm))}</td></tr>")
    return ("<h3>Speed details</h3><div class='scroll'><table class='sortable'><thead><tr><th>method</th>"
            "<th>backend</th><th>score</th><th>layer</th><th class='num'>time/img</th><th class='num'>runs</th>"
            "<th>floor = unavoidable passes</th><th class='num'>per pass @ best batch</th>"
            "<th class='num'>floor/img</th><th class='num'>×floor</th><th class='num'>peak RSS MB</th>"
            "<th class='num'>Δ RSS MB</th><th class='num'>warm-up</th></tr></thead><tbody>" + "".join(body) +
            "</tbody></table></div><p class='muted'>Hover the per-pass time for every batch size tried. Δ RSS: "
            "increase over the RSS before the warm-up (TensorFlow keeps freed memory in its pools, so rows later in "
            "the run show smaller increases).</p>")
