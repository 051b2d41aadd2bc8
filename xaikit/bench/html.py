"""The self-contained HTML report: one file, figures as base64 PNGs, CSS and JS inline.

Nothing in the page refers to another file or to the network, so it opens from disk,
from an e-mail attachment or a CI artifact, in any browser, without a server.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from .findings import findings
from .intervals import LEVEL, N_BOOT
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
    model_line,
    sanity_verdict,
    summary_rows,
)

__all__ = ["html_report"]

_CSS = """
:root { --fg:#1d2330; --muted:#5d6675; --line:#d9dee6; --bg:#ffffff; --soft:#f4f6f9; --accent:#1f5f9e;
        --good:#e3f3e6; --bad:#fbe7e6; }
* { box-sizing: border-box; }
body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; }
main { max-width: 1440px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.8em; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.35em; margin-top: 2.2em; padding-bottom: 0.25em; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.08em; margin-top: 1.8em; }
p.lead { color: var(--muted); font-size: 1.05em; margin-top: 0; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 10px; margin: 18px 0; }
.fact { background: var(--soft); border-radius: 8px; padding: 10px 14px; }
.fact b { display: block; font-size: 1.2em; }
.fact span { color: var(--muted); font-size: 0.85em; }
nav { background: var(--soft); border-radius: 8px; padding: 10px 16px; margin: 16px 0; font-size: 0.93em; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; white-space: nowrap; }
.scroll { overflow-x: auto; margin: 10px 0 6px; }
table { border-collapse: collapse; font-size: 0.86em; min-width: 60%; }
th, td { padding: 5px 7px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--soft); position: sticky; top: 0; font-weight: 600; }
table.summary th.num { min-width: 4.6em; }
table.sortable th { cursor: pointer; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.group td { background: #e9eef5; font-weight: 600; }
tr.control td { color: var(--muted); font-style: italic; }
td.best { font-weight: 700; background: var(--good); }
td.worst { background: var(--bad); }
span.ci { color: var(--muted); font-size: 0.82em; font-weight: normal; }
.muted { color: var(--muted); }
figure { margin: 18px 0 26px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 0.88em; margin-top: 4px; }
dl.glossary { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 4px 28px;
               margin: 0; }
dl.glossary div { padding: 6px 0; border-bottom: 1px dashed var(--line); }
dl.glossary dt { font-weight: 600; }
dl.glossary dd { margin: 2px 0 0 0; color: #333a46; font-size: 0.93em; }
.dir { display: inline-block; font-size: 0.78em; font-weight: 600; padding: 1px 7px; border-radius: 10px;
       background: #e6eef8; color: var(--accent); margin-left: 6px; }
.callout { border-left: 4px solid #e0a030; background: #fdf6e8; padding: 8px 14px; border-radius: 4px;
           margin: 12px 0; }
.error { border-left-color: #c0392b; background: #fbeceb; }
.callout.good { border-left-color: #2e8b57; background: #eef8f1; }
.callout ul { margin: 6px 0 2px; padding-left: 20px; }
pre { background: var(--soft); padding: 12px; border-radius: 6px; overflow-x: auto; font-size: 0.82em; }
details summary { cursor: pointer; color: var(--accent); }
.matrix td.num { min-width: 3.2em; }
"""

_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.title = 'click to sort';
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return !r.classList.contains('group'); });
      var dir = th.dataset.dir === 'asc' ? -1 : 1; th.dataset.dir = dir === 1 ? 'asc' : 'desc';
      function key(r) { var c = r.cells[col]; if (!c) return ''; var v = c.dataset.v;
                        return v === undefined ? c.textContent : (v === '' ? NaN : parseFloat(v)); }
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        if (typeof x === 'number' && typeof y === 'number') {
          if (isNaN(x)) return 1; if (isNaN(y)) return -1; return dir * (x - y); }
        return dir * String(x).localeCompare(String(y)); });
      Array.prototype.slice.call(body.querySelectorAll('tr.group')).forEach(function (g) { g.remove(); });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


_LEAD = "Which explanation method, and which library’s implementation, to trust on these models, and what it costs."

def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'


def _figure_html(item: tuple[str, str, bytes]) -> str:
    name, caption, data = item
    return f"<figure>{_img(data, name)}<figcaption>{_e(caption)} <span class='muted'>({_e(name)})</span>" \
           f"</figcaption></figure>"


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


def _summary_table(results: Any) -> str:
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


def _glossary(results: Any) -> str:
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


def _metric_agreement_html(mr: Any, seed: int) -> str:
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


def _sanity_table(mr: Any) -> str:
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


def _parity_table(mr: Any) -> str:
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


def _matrix_table(mr: Any) -> str:
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


def _speed_table(mr: Any) -> str:
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


def _config_text(cfg: Any) -> str:
    path = Path(cfg.source)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            pass

    def clean(o: Any) -> Any:
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o if isinstance(o, (str, int, float, bool)) or o is None else repr(o)

    return json.dumps(clean(dataclasses.asdict(cfg)), indent=1)


def html_report(results: Any, figures: dict[str, list[tuple[str, str, bytes]]]) -> str:
    """The whole page as a string."""
    cfg, env = results.config, results.environment
    title = f"xaikit benchmark: {cfg.name}"
    nav = ["<a href='#read'>How to read this</a>", "<a href='#summary'>Summary</a>"]
    nav += [f"<a href='#m-{i}'>{_e(mr.id)}</a>" for i, mr in enumerate(results.models)]
    nav += ["<a href='#notes'>Notes</a>", "<a href='#config'>Configuration</a>"]
    facts = [
        (f"{results.seconds:.0f} s", "run time (this invocation)"),
        (f"{results.computed} / {results.reused}", "cells computed / reused from earlier runs"),
        (str(len(results.errors)), "failed cells"),
        (f"{cfg.n_images}", f"images per model (seed {cfg.seed})"),
        (_e(env.get("cpu", "?")), f"{env.get('cores')} core(s), {env.get('date')}"),
    ]
    parts = [(f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_e(title)}</title>"
             f"<style>{_CSS}</style></head><body><main>"),
             f"<h1>{_e(title)}</h1>",
             f"<p class='lead'>{_e(cfg.description or _LEAD)}</p>",
             "<div class='facts'>" + "".join(f"<div class='fact'><b>{v}</b><span>{_e(k)}</span></div>"
                                             for v, k in facts) + "</div>",
             "<nav>" + "".join(nav) + "</nav>"]
    if results.errors:
        parts.append(f"<div class='callout error'>{len(results.errors)} cell(s) failed; see <a href='#notes'>Notes"
                     "</a>. Their rows have empty cells.</div>")
    parts += ["<h2 id='read'>How to read this</h2>", _glossary(results)]
    parts += ["<h2 id='summary'>Summary</h2>",
              ("<p>One row per model, method and backend. Quality values are means over the images, with their "
              f"{LEVEL:.0%} bootstrap interval over the images underneath (seeded; {N_BOOT} resamples): with a few "
              "images they are wide, and a difference inside them may be the luck of the sample. The best value "
              "of a column within a model is green and the worst red (controls excluded) only when its interval is "
              "apart from every other row's. Click a header to sort. <i>Italic</i> rows are controls. "
              "rand. ρ / SSIM: similarity of the maps after every layer was randomised (closer to 0 = the method "
              "depends on the model; † some maps became constant and are left out; 'const' = all did). "
              "peak RSS (+Δ): the process's resident memory, and what the method added to it.</p>"),
              _summary_table(results)]
    for item in figures.get("all", []):
        parts.append(_figure_html(item))
    for i, mr in enumerate(results.models):
        parts += _model_section(results, i, mr, figures.get(mr.id, []))
    parts += _notes_html(results)
    parts.append(_config_html(results))
    parts.append(f"</main><script>{_JS}</script></body></html>")
    return "\n".join(p for p in parts if p)


def _model_section(results: Any, i: int, mr: Any, items: list[tuple[str, str, bytes]]) -> list[str]:
    """The section of model ``mr`` (the ``i``-th): its findings, figures and tables."""
    cfg = results.config
    parts = []
    parts.append(f"<h2 id='m-{i}'>{_e(mr.id)}</h2><p>{_e(model_line(mr))}</p>")
    if not mr.entry.quality:
        parts.append("<div class='callout'>This model has random weights (<code>weights = \"none\"</code>): "
                     "its maps and any quality number would be meaningless, so only speed is reported.</div>")
    found = findings(results, mr)
    if found:
        parts.append("<div class='callout good'><b>What the numbers say</b> <span class='muted'>(heuristic "
                     "reading; thresholds in the text)</span><ul>" + "".join(f"<li>{_e(f)}</li>" for f in found)
                     + "</ul></div>")
    by_prefix = {name.split("_", 1)[0]: (name, cap, data) for name, cap, data in items}
    if "metrics" in by_prefix:
        parts.append("<h3>Quality across images</h3>" + _figure_html(by_prefix["metrics"]))
    if "curves" in by_prefix:
        parts.append(_figure_html(by_prefix["curves"]))
    if "compare" in by_prefix:
        parts.append("<h3>The maps</h3>" + _figure_html(by_prefix["compare"]))
    parts.append(_metric_agreement_html(mr, int(cfg.seed)))
    sanity = _sanity_table(mr)
    if sanity:
        parts.append("<h3>Sanity check: model-parameter randomisation</h3>" + sanity)
    if "sanity" in by_prefix:
        parts.append(_figure_html(by_prefix["sanity"]))
    parts.append(_parity_table(mr))
    if "agreement" in by_prefix:
        parts.append("<h3>Agreement between methods</h3>" + _figure_html(by_prefix["agreement"]))
    parts.append(_matrix_table(mr))
    parts.append(_speed_table(mr))
    if "speed" in by_prefix:
        parts.append(_figure_html(by_prefix["speed"]))
    return parts


def _notes_html(results: Any) -> list[str]:
    """The notes of the run and of the suite, and the failures with their tracebacks."""
    cfg = results.config
    parts = []
    parts.append("<h2 id='notes'>Notes</h2>")
    notes = list(results.notes) + list(cfg.notes)
    if notes:
        parts.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    if results.errors:
        parts.append("<h3>Failures</h3><ul>")
        for e in results.errors:
            where = " · ".join(str(e[k]) for k in ("model", "label", "backend", "kind", "metric", "cell") if e.get(k))
            tb = f"<details><summary>traceback</summary><pre>{_e(e['traceback'])}</pre></details>" \
                if e.get("traceback") else ""
            parts.append(f"<li><b>{_e(where)}</b>: {_e(e['error'])}{tb}</li>")
        parts.append("</ul>")
    if not notes and not results.errors:
        parts.append("<p class='muted'>No failures, nothing skipped.</p>")
    return parts


def _config_html(results: Any) -> str:
    """The platform, versions, results store and the suite's configuration."""
    cfg, env = results.config, results.environment
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())
    return (f"<h2 id='config'>Configuration and environment</h2><p class='muted'>{_e(env.get('platform'))}; "
            f"{_e(versions)}; memory from {_e(env.get('memory_source'))}. Results store: "
            f"<code>{_e(Path(results.store.path).name)}</code> ({len(results.store)} cells); re-running the "
            "same command reuses every finished cell.</p>"
            f"<details><summary>Suite configuration ({_e(cfg.source)})</summary><pre>{_e(_config_text(cfg))}</pre>"
            "</details>")

