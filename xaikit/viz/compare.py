"""The comparison figure: rows = images, columns = (method, backend) explanations.

This is the picture the benchmark, :func:`xaikit.compare` and the CLI produce. The first
column shows the image (with the predicted class); every other column one explanation,
drawn as a heat-map overlay (:func:`xaikit.viz.overlay`) or, for methods whose sign
matters, as the signed red/blue view (:func:`xaikit.viz.signed_rgb`). Column titles read
``"method (backend)"`` and the time per image; each cell is titled with the class it
explains (a name from ``class_names``, else the index), so columns with different targets
are told apart. Colour legends at the bottom say how every map was scaled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .overlay import Undo, _check_maps, get_colormap, overlay, to_display_rgb
from .signed import signed_colormap, signed_rgb

__all__ = ["compare_figure", "SIGNED_VIEW_METHODS", "default_view", "format_seconds"]

#: Methods drawn with the signed view by ``view="auto"``: their sign is the point
#: (evidence for / against the target). Vanilla gradients and SmoothGrad are signed too,
#: but their sign is mostly noise, so "auto" shows their magnitude as an overlay.
SIGNED_VIEW_METHODS = ("expected_gradients", "gradient_x_input", "integrated_gradients", "occlusion")
_VIEWS = ("auto", "overlay", "signed")


def format_seconds(seconds: float) -> str:
    """``0.00042 -> "0.42 ms"``, ``0.042 -> "42 ms"``, ``4.2 -> "4.2 s"``, ``420 -> "7.0 min"``."""
    s = float(seconds)
    if s < 0.01:
        return f"{s * 1e3:.2g} ms"
    if s < 1:
        return f"{s * 1e3:.0f} ms"
    if s < 120:
        return f"{s:.3g} s"
    return f"{s / 60:.1f} min"


def default_view(explanation: Any) -> str:
    """``"signed"`` for :data:`SIGNED_VIEW_METHODS` and for unknown methods with negative values, else ``"overlay"``."""
    from ..methods import METHODS

    if explanation.method in SIGNED_VIEW_METHODS:
        return "signed"
    if explanation.method not in METHODS and float(np.min(explanation.attributions)) < 0:
        return "signed"
    return "overlay"


def _as_columns(explanations: Any) -> list[tuple[str, Any]]:
    if hasattr(explanations, "attributions") and hasattr(explanations, "method"):
        explanations = [explanations]
    if isinstance(explanations, Mapping):
        cols = [(str(k), v) for k, v in explanations.items()]
    elif isinstance(explanations, Sequence) and not isinstance(explanations, str):
        cols = [(f"{e.method} ({e.backend})", e) for e in explanations]
    else:
        raise InputError("explanations must be a list of xaikit.Explanation or a dict {label: Explanation}; "
                         f"got {type(explanations).__name__}")
    if not cols:
        raise InputError("explanations is empty; pass at least one xaikit.Explanation.")
    for label, e in cols:
        if not (hasattr(e, "attributions") and hasattr(e, "targets")):
            raise InputError(f"column {label!r} is a {type(e).__name__}, not an xaikit.Explanation.")
    return cols


def _class_name(class_names: Any, k: int) -> str:
    if class_names is None:
        return f"class {k}"
    try:
        return str(class_names[k])
    except (KeyError, IndexError):
        size = len(class_names) if hasattr(class_names, "__len__") else "?"
        raise InputError(f"class index {k} has no entry in class_names ({size} names); pass one name per "
                         "class of the model (or a dict {index: name}).") from None


def _fit(text: str, width_in: float, fontsize: float) -> str:
    """Truncate ``text`` with an ellipsis to roughly fit ``width_in`` inches."""
    max_chars = max(4, int(width_in * 72 / (0.56 * fontsize)))
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _wrap_label(label: str, width_in: float, fontsize: float) -> str:
    max_chars = max(4, int(width_in * 72 / (0.58 * fontsize)))
    if len(label) <= max_chars or " (" not in label:
        return _fit(label, width_in, fontsize)
    head, tail = label.split(" (", 1)
    return _fit(head, width_in, fontsize) + "\n" + _fit("(" + tail, width_in, fontsize)


def compare_figure(images: Any, explanations: Any, *, class_names: Any = None, view: Any = "auto",
                   colormap: Any = "jet", alpha: float = 0.4, normalize: str = "auto", blend: str = "constant",
                   percentile: float = 99.5, signed_percentile: float = 99.9, signed_cmap: Any = "shap",
                   image_alpha: float = 0.35, image_range: tuple[float, float] | str = "auto", undo: Undo = None,
                   row_labels: Sequence[str] | None = None, time_in: str | None = "header",
                   title: str | None = None, cell_inches: float | None = None, max_width: float = 18.0) -> Any:
    """Rows = images, columns = explanations of the same images; the comparison picture.

    Parameters
    ----------
    images
        ``(N, H, W, C)`` images the explanations were computed for, as the model saw them
        or un-preprocessed; see :func:`xaikit.viz.to_display_rgb` for ``image_range`` /
        ``undo``.
    explanations
        ``list[Explanation]`` (column titles ``"method (backend)"``) or
        ``dict[label, Explanation]`` (titles = labels). All must hold the N images at
        ``(H, W)``; their targets may differ.
    class_names
        Sequence or mapping ``class index -> name`` for the cell titles; None shows
        ``"class k"``.
    view
        ``"auto"`` (signed view for :data:`SIGNED_VIEW_METHODS`, overlay otherwise),
        ``"overlay"``, ``"signed"``, or a dict ``{column label: view}`` (missing labels
        use ``"auto"``).
    colormap, alpha, normalize, blend, percentile
        Overlay cells, see :func:`xaikit.viz.overlay`.
    signed_percentile, signed_cmap, image_alpha
        Signed cells, see :func:`xaikit.viz.signed_rgb` (each map on its own symmetric
        scale, the ``signed_percentile`` of ``|a|``).
    row_labels
        One label per image, written left of the row; default ``"#i"``.
    time_in
        Where the elapsed time per image (``Explanation.elapsed / N``) is written:
        ``"header"`` (under the column title, default: it is one number per column),
        ``"cell"`` (in every cell title) or None.
    title
        Figure title.
    cell_inches
        Width of one cell; default: as large as ``max_width`` allows, at most 2.2 in.

    Returns
    -------
    matplotlib.figure.Figure
        ``N * (len(explanations) + 1)`` image axes (plus colour-legend axes), not
        registered with pyplot.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    cols = _as_columns(explanations)
    rgb = to_display_rgb(images, image_range, undo=undo)
    n, h, w = rgb.shape[:3]
    for label, e in cols:
        if len(e) != n:
            raise InputError(f"column {label!r} explains {len(e)} images but {n} images were given; "
                             "all explanations must be for the same images (select with exp[indices]).")
        _check_maps(e.attributions, (n, h, w), resize=False)
    if time_in not in ("header", "cell", None):
        raise InputError(f"time_in must be 'header', 'cell' or None; got {time_in!r}")
    if isinstance(view, Mapping):
        unknown = [k for k in view if k not in {c[0] for c in cols}]
        if unknown:
            raise InputError(f"view has labels {unknown} that are not columns; columns: {[c[0] for c in cols]}")
        views = [view.get(label, "auto") for label, _ in cols]
    else:
        views = [view] * len(cols)
    for v in views:
        if v not in _VIEWS:
            raise InputError(f"view must be one of {_VIEWS} (or a dict of them per column); got {v!r}")
    views = [default_view(e) if v == "auto" else v for v, (_, e) in zip(views, cols, strict=True)]
    if row_labels is not None:
        row_labels = [str(r) for r in row_labels]
        if len(row_labels) != n:
            raise InputError(f"row_labels must have one entry per image ({n}); got {len(row_labels)}")
    else:
        row_labels = [f"#{i}" for i in range(n)]

    # ---- render every cell first (errors before any figure exists)
    cells = []
    for (_, e), v in zip(cols, views, strict=True):
        if v == "signed":
            cells.append(signed_rgb(rgb, e.attributions, percentile=signed_percentile, cmap=signed_cmap,
                                    image_alpha=image_alpha, image_range=(0.0, 1.0)))
        else:
            cells.append(overlay(rgb, e.attributions, colormap=colormap, alpha=alpha, normalize=normalize,
                                 percentile=percentile, blend=blend, image_range=(0.0, 1.0)))

    # ---- geometry, in inches
    n_cols = len(cols) + 1
    left, right, wgap = 0.32, 0.08, 0.06
    if cell_inches is None:
        cell_w = min(2.2, (max_width - left - right - (n_cols - 1) * wgap) / n_cols)
        cell_w = max(cell_w, 1.0)
    else:
        cell_w = float(cell_inches)
    cell_h = cell_w * h / w
    head_fs = 8.5 if cell_w >= 1.7 else 7.5
    cell_fs = 7.5 if cell_w >= 1.7 else 6.5
    cell_title_h = cell_fs * 1.6 / 72
    row_gap = 0.05
    header_h = 3.6 * head_fs / 72 + 0.1 + (0.35 if title else 0.0)
    legend_h = 0.62
    fig_w = left + n_cols * cell_w + (n_cols - 1) * wgap + right
    fig_h = header_h + n * (cell_title_h + cell_h + row_gap) + legend_h
    fig = Figure(figsize=(fig_w, fig_h))

    def box(x_in: float, y_top_in: float, w_in: float, h_in: float) -> list[float]:
        return [x_in / fig_w, 1.0 - (y_top_in + h_in) / fig_h, w_in / fig_w, h_in / fig_h]

    # column headers
    for j in range(n_cols):
        x = left + j * (cell_w + wgap)
        if j == 0:
            text = "image"
        else:
            label, e = cols[j - 1]
            text = _wrap_label(label, cell_w, head_fs)
            extra = []
            if time_in == "header":
                extra.append(f"{format_seconds(e.elapsed / max(len(e), 1))}/img")
            if views[j - 1] == "signed":
                extra.append("signed")
            if extra:
                text += "\n" + " · ".join(extra)
        fig.text((x + cell_w / 2) / fig_w, 1.0 - (header_h - 0.04) / fig_h, text, ha="center", va="bottom",
                 fontsize=head_fs, fontweight="bold" if j else "normal", linespacing=1.15)

    preds = [np.asarray(e.predictions) for _, e in cols]
    agree = np.all([np.array_equal(preds[0], p) for p in preds])
    for i in range(n):
        y = header_h + i * (cell_title_h + cell_h + row_gap) + cell_title_h
        fig.text(0.5 * left / fig_w, 1.0 - (y + cell_h / 2) / fig_h, row_labels[i], ha="center", va="center",
                 rotation=90, fontsize=cell_fs, color="0.35")
        for j in range(n_cols):
            ax = fig.add_axes(box(left + j * (cell_w + wgap), y, cell_w, cell_h))
            ax.set_axis_off()
            if j == 0:
                ax.imshow(rgb[i], interpolation="antialiased")
                if agree:
                    ax.set_title(_fit(f"pred: {_class_name(class_names, int(preds[0][i]))}", cell_w, cell_fs),
                                 fontsize=cell_fs, pad=2, color="0.25")
                continue
            label, e = cols[j - 1]
            ax.imshow(cells[j - 1][i], interpolation="antialiased")
            target = int(e.targets[i])
            suffix = " (≠ pred)" if int(e.predictions[i]) != target else ""
            if time_in == "cell":
                suffix += f" · {format_seconds(e.elapsed / max(len(e), 1))}"
            room = max(0.3, cell_w - len(suffix) * 0.56 * cell_fs / 72)
            ax.set_title(_fit(_class_name(class_names, target), room, cell_fs) + suffix, fontsize=cell_fs, pad=2)

    # colour legends: how every map was scaled
    legends = []
    if "overlay" in views:
        p = f"P{percentile:g}"
        how = {"auto": f"a / max (|a| / {p} of |a| if signed)", "max": "a / max", "minmax": "min-max",
               "abs": f"|a| / {p} of |a|", "positive": f"a⁺ / {p} of a⁺"}[normalize]
        legends.append(("overlay", get_colormap(colormap), (0.0, 1.0), f"importance, per map: {how}"))
    if "signed" in views:
        legends.append(("signed", signed_colormap(signed_cmap, background=1.0), (-1.0, 1.0),
                        f"signed, per map: a / s, s = P{signed_percentile:g} of |a|; red for the target, blue against"))
    if legends:
        width_each = min(3.6, (fig_w - 0.6) / len(legends) - 0.4)
        total = len(legends) * width_each + (len(legends) - 1) * 0.6
        x0 = (fig_w - total) / 2
        for k, (kind, cmap, (lo, hi), text) in enumerate(legends):
            cax = fig.add_axes(box(x0 + k * (width_each + 0.6), fig_h - legend_h + 0.12, width_each, 0.1))
            cb = fig.colorbar(ScalarMappable(norm=Normalize(lo, hi), cmap=cmap), cax=cax, orientation="horizontal")
            if kind == "signed":
                cb.set_ticks([-1, 0, 1], labels=["−s", "0", "+s"])
            else:
                cb.set_ticks([0, 0.5, 1], labels=["0", "0.5", "1"])
            cb.ax.tick_params(labelsize=cell_fs - 0.5, length=2, pad=1)
            cb.outline.set_visible(False)
            cb.set_label(_fit(text, width_each + 0.5, cell_fs - 0.5), fontsize=cell_fs - 0.5, labelpad=2)
    if title:
        fig.text(0.5, 1.0 - 0.08 / fig_h, title, ha="center", va="top", fontsize=head_fs + 2.5)
    return fig
