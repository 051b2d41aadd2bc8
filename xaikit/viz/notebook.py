"""Inline display in Jupyter: a small figure and a short table per result.

:class:`~xaikit.Explanation`, :class:`~xaikit.Activations` and
:class:`~xaikit.Comparison` call these from ``_repr_html_``, so that a result left at the
end of a cell shows what was explained and what the maps look like. It stays cheap for
any batch: only the first few images (layers, channels) are drawn, at screen resolution,
and the table says how many there are in all.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MAX_IMAGES", "activations_html", "comparison_html", "explanation_html", "png_data_uri", "ranked_html",
           "sanity_html", "strip_figure"]

#: Images drawn inline at most (the table gives the batch size).
MAX_IMAGES = 4
_DPI = 80
_CELL = 1.9  # inches per map: 152 pixels at _DPI
_FONT = 10.0  # points: as large as the notebook's own text at _DPI


def png_data_uri(fig: Any, dpi: float = _DPI) -> str:
    """The figure as a ``data:image/png;base64,...`` URI (nothing written to disk, nothing left in pyplot)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.05, facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _rows(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{_e(k)}</th><td style='text-align:left'>"
                   f"{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _grid(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    th = "".join(f"<th style='text-align:left'>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{_e(v)}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _block(title: str, uri: str | None, tables: str, note: str = "") -> str:
    img = f"<img src='{uri}' style='max-width:100%'>" if uri else ""
    small = f"<div style='color:#666;font-size:0.85em'>{_e(note)}</div>" if note else ""
    return (f"<div class='xaikit'><div style='font-weight:600'>{_e(title)}</div>{small}"
            f"<div style='display:flex;flex-wrap:wrap;gap:1.2em;align-items:flex-start'><div>{tables}</div>"
            f"<div>{img}</div></div></div>")


def _list(values: Sequence[Any], k: int = 8) -> str:
    shown = ", ".join(str(v) for v in list(values)[:k])
    return shown + (f", … ({len(values)} in all)" if len(values) > k else "")


def _timing(exp: Any) -> str:
    from .._timing import warmup_seconds
    from .compare import format_seconds

    per_image = format_seconds(exp.elapsed / max(len(exp), 1))
    warm = warmup_seconds(exp)
    if warm is None:
        return f"{format_seconds(exp.elapsed)} for the call ({per_image}/image, including any first-call tracing)"
    return f"{per_image}/image steady state; first call {format_seconds(warm)}"


def _display_rgb(exp: Any, k: int) -> np.ndarray | None:
    """The first ``k`` explained images as display RGB in [0, 1] (the preprocessing the result records undone),
    or None when the result kept none or their range cannot be read."""
    from ..errors import InputError
    from .overlay import to_display_rgb

    images = getattr(exp, "preview_images", None)
    if images is None or len(images) < k:
        return None
    try:
        return to_display_rgb(images[:k], undo=exp.info.get("preprocess"), layout=exp.layout)
    except InputError:  # a range the display cannot tell (say preprocess= to explain): the maps alone
        return None


def strip_figure(rows: Sequence[tuple[str, Any]], *, max_images: int = MAX_IMAGES, class_names: Any = None,
                 cell_inches: float = _CELL, fontsize: float = _FONT) -> Any:
    """Rows = explanations of the same images (a method; the ranks of ``explain_ranked``), columns = the first
    ``max_images`` images: each map drawn over its image (the result's :attr:`~xaikit.Explanation.preview_images`)
    as :func:`~xaikit.viz.choose_view` says, titled with the explained class (``class_names``: a sequence or a
    mapping index -> name). The notebook display of results; a matplotlib Figure, not in pyplot."""
    from matplotlib.figure import Figure

    from .compare import choose_view, map_cells
    from .text import class_name

    first = rows[0][1]
    n, h, w = first.shape
    k = min(n, max_images)
    rgb = _display_rgb(first, k)
    plain = rgb is None
    if plain:
        rgb = np.full((k, h, w, 3), 0.5, np.float32)
    label_w = 1.5 if len(rows) > 1 else 0.0
    cell_h = cell_inches * h / w
    title_h = 2.5 * fontsize / 72
    top = 0.35 if len(rows) == 1 else 0.1
    fig = Figure(figsize=(label_w + k * (cell_inches + 0.1), top + len(rows) * (cell_h + title_h + 0.1)))
    fw, fh = fig.get_size_inches()
    for r, (label, exp) in enumerate(rows):
        view = choose_view(exp)
        cells, _ = map_cells(rgb, exp.attributions[:k], view, plain=plain)
        y = top + r * (cell_h + title_h + 0.1) + title_h
        if label_w:
            fig.text(0.05 / fw, 1 - (y + cell_h / 2) / fh, f"{label}\n{view.text}", ha="left", va="center",
                     fontsize=fontsize, fontweight="bold")
        for i in range(k):
            ax = fig.add_axes([(label_w + i * (cell_inches + 0.1)) / fw, 1 - (y + cell_h) / fh, cell_inches / fw,
                               cell_h / fh])
            ax.set_axis_off()
            ax.imshow(cells[i], interpolation="antialiased")
            target = int(exp.targets[i])
            wrong = " (≠ pred)" if int(exp.predictions[i]) != target else ""
            ax.set_title(f"#{i}: {class_name(class_names, target)}{wrong}", fontsize=fontsize, pad=3)
    if len(rows) == 1:
        label, exp = rows[0]
        fig.text(0.5, 1 - 0.05 / fh, f"{label} · {choose_view(exp).text}"
                 + (" · no image kept: maps alone" if plain else ""), ha="center", va="top", fontsize=fontsize + 1,
                 fontweight="bold")
    return fig


def explanation_html(exp: Any, max_images: int = MAX_IMAGES, class_names: Any = None) -> str:
    """What ``Explanation._repr_html_`` shows: the first maps over their images (:func:`strip_figure`) and a
    table of what was explained."""
    from .._display import format_params
    from .compare import choose_view

    n, h, w = exp.shape
    k = min(n, max_images)
    fig = strip_figure([(f"{exp.method} ({exp.backend})", exp)], max_images=k, class_names=class_names)
    rows = [("method", f"{exp.method} ({exp.backend})"), ("images", f"{n} of {h}×{w}"),
            ("score explained", exp.score), ("layer", exp.layer or "–"), ("targets", _list(exp.targets.tolist())),
            ("predictions", _list(exp.predictions.tolist())), ("drawn as", choose_view(exp).text),
            ("time", _timing(exp)), ("parameters", format_params(exp.params))]
    note = f"first {k} of {n} images; .plot(images) draws every image" if n > k else ""
    return _block("xaikit.Explanation", png_data_uri(fig), _rows(rows), note)


def ranked_html(ranked: Any, max_images: int = MAX_IMAGES) -> str:
    """What ``RankedExplanations._repr_html_`` shows: each rank's maps side by side (one row per rank), with the
    class names the result was given."""
    first = ranked[0]
    n = len(first)
    k = min(n, max_images)
    fig = strip_figure([(f"rank {r}", e) for r, e in enumerate(ranked)], max_images=k,
                       class_names=ranked.class_names)
    rows = [("method", f"{first.method} ({first.backend})"), ("ranks", f"the top {len(ranked)} classes of each image"),
            ("images", str(n)), ("score explained", first.score), ("time", _timing(first))]
    note = f"first {k} of {n} images; .plot(images) draws every image" if n > k else ""
    return _block("xaikit.RankedExplanations", png_data_uri(fig), _rows(rows), note)


def sanity_html(check: Any) -> str:
    """What ``SanityCheck._repr_html_`` shows: the maps of the first image at every step and the table of mean
    similarities."""
    fig = check.plot(0)
    steps = check.steps[1:]
    means = check.mean()
    rows = [[label, *(("—" if np.isnan(v) else f"{v:.2f}") for v in means[label])] for label in check.labels]
    table = _grid(["method", *steps], rows)
    note = check.describe()
    return _block(f"xaikit.SanityCheck ({len(check.labels)} rows, {len(check.layers)} layers, "
                  f"{len(check.targets)} images)", png_data_uri(fig, dpi=_DPI), table, note)


def activations_html(acts: Any, max_layers: int = 3, max_channels: int = 16) -> str:
    """What ``Activations._repr_html_`` shows: the first image's first spatial layers and every layer's shape."""
    layers = acts.layers
    spatial = [name for name in layers if np.ndim(acts[name]) == 4][:max_layers]
    uri = None
    if spatial:
        uri = png_data_uri(acts.plot(layers=spatial, max_channels=max_channels, tile_inches=0.45))
    shapes = [(name, "×".join(str(d) for d in acts[name].shape)) for name in layers[:12]]
    if len(layers) > 12:
        shapes.append(("…", f"{len(layers) - 12} more layers"))
    n = int(acts[layers[0]].shape[0]) if layers else 0
    note = (f"image 0 of {n}; first {len(spatial)} spatial layer(s), at most {max_channels} channels each; "
            ".plot(layers=..., image_index=...) draws others")
    return _block(f"xaikit.Activations ({acts.backend}, {len(layers)} layers)", uri, _grid(["layer", "shape"], shapes),
                  note)


def comparison_html(cmp: Any, max_images: int = 3) -> str:
    """What ``Comparison._repr_html_`` shows: the first images' maps per pair, times, parameters, agreement."""
    from .._display import format_params
    from .._timing import warmup_seconds
    from .compare import format_seconds

    n = len(cmp.targets)
    k = min(n, max_images)
    fig = cmp.plot(max_images=k, cell_inches=_CELL)
    timing_rows = []
    for label, exp in cmp.explanations.items():
        warm = warmup_seconds(exp)
        timing_rows.append((label, f"{format_seconds(exp.elapsed / max(len(exp), 1))}/image",
                            "not measured" if warm is None else format_seconds(warm), exp.score,
                            format_params(exp.params)))
    names = cmp.agreement.names
    rho = cmp.agreement.matrices.get("spearman")
    agreement = ""
    if rho is not None:
        agreement = "<div style='margin-top:0.6em'>Spearman ρ between the maps (mean over images)</div>" + _grid(
            ["", *names], [[a, *(f"{v:.2f}" for v in rho[i])] for i, a in enumerate(names)])
    tables = _grid(["pair", "steady state", "first call", "score", "effective parameters"], timing_rows) + agreement
    note = f"first {k} of {n} images; .plot(images) draws them over the images"
    return _block(f"xaikit.Comparison ({len(cmp.explanations)} pairs, {n} images)", png_data_uri(fig), tables, note)
