"""The self-contained HTML report: one file, figures as base64 PNGs, CSS and JS inline.

Nothing in the page refers to another file or to the network, so it opens from disk,
from an e-mail attachment or a CI artifact, in any browser, without a server. This module
assembles the page (style, script, sections, figures); the tables are in :mod:`.html_tables`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

from .findings import findings
from .html_tables import escape as _e
from .html_tables import (
    glossary,
    matrix_table,
    metric_agreement_html,
    parity_table,
    sanity_table,
    speed_table,
    summary_table,
)
from .intervals import LEVEL, N_BOOT
from .summary import (
    model_line,
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

def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'


def _figure_html(item: tuple[str, str, bytes]) -> str:
    name, caption, data = item
    return f"<figure>{_img(data, name)}<figcaption>{_e(caption)} <span class='muted'>({_e(name)})</span>" \
           f"</figcaption></figure>"


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
    parts += ["<h2 id='read'>How to read this</h2>", glossary(results)]
    parts += ["<h2 id='summary'>Summary</h2>",
              ("<p>One row per model, method and backend. Quality values are means over the images, with their "
              f"{LEVEL:.0%} bootstrap interval over the images underneath (seeded; {N_BOOT} resamples): with a few "
              "images they are wide, and a difference inside them may be the luck of the sample. The best value "
              "of a column within a model is green and the worst red (controls excluded) only when its interval is "
              "apart from every other row's. Click a header to sort. <i>Italic</i> rows are controls. "
              "rand. ρ / SSIM: similarity of the maps after every layer was randomised (closer to 0 = the method "
              "depends on the model; † some maps became constant and are left out; 'const' = all did). "
              "peak RSS (+Δ): the process's resident memory, and what the method added to it.</p>"),
              summary_table(results)]
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
    parts.append(metric_agreement_html(mr, int(cfg.seed)))
    sanity = sanity_table(mr)
    if sanity:
        parts.append("<h3>Sanity check: model-parameter randomisation</h3>" + sanity)
    if "sanity" in by_prefix:
        parts.append(_figure_html(by_prefix["sanity"]))
    parts.append(parity_table(mr))
    if "agreement" in by_prefix:
        parts.append("<h3>Agreement between methods</h3>" + _figure_html(by_prefix["agreement"]))
    parts.append(matrix_table(mr))
    parts.append(speed_table(mr))
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

