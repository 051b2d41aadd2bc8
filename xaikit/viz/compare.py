"""The comparison figure: rows = images, columns = (method, backend) explanations.

This is the picture the benchmark, :func:`xaikit.compare` and the CLI produce. The first
column shows the image (with the predicted class); every other column one explanation.
How a column is drawn is chosen from what its maps contain (:func:`choose_view`), so
that no map is drawn in a way that hides its data:

- maps with negative values (and methods whose sign is the point: occlusion, gradient x
  input, integrated and expected gradients) use the signed red/blue view
  (:func:`xaikit.viz.signed_rgb`): a ``|a|`` heat map would draw evidence *against* the
  class as hot;
- maps offset by a near-constant (tf-explain's occlusion ``1 - p``: the same value but
  where the object is; see :data:`xaikit.explanation.OFFSET_BAND`) are drawn as their
  deviations from their median, and the column and cells say so, because scaled as they
  are they draw as one flat colour;
- vanilla gradients and SmoothGrad show their magnitude ``|a|`` (their sign is mostly
  noise); other non-negative maps (Grad-CAM) a heat-map overlay of ``a / max``.

Column titles read ``"method (backend)"``, the steady-state time per image and the
first-call cost when they were measured (:mod:`xaikit._timing`), and how the maps are
drawn; each cell is titled with the class it explains (a name from ``class_names``, else
the index), so columns with different targets are told apart; a map that is constant is
marked. Colour legends at the bottom say how every map was scaled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._display import has_negative_values, map_offset
from .._timing import steady_seconds_per_image, warmup_seconds
from ..catalogue import METHODS
from ..errors import InputError
from .compare_layout import CompareLayout, compare_layout
from .overlay import Undo, check_maps, overlay, to_display_rgb
from .signed import signed_rgb
from .text import class_name, fit_text, text_width

__all__ = [
    "map_cells",
    "MAGNITUDE_VIEW_METHODS",
    "SIGNED_VIEW_METHODS",
    "View",
    "choose_view",
    "compare_figure",
    "default_view",
    "format_seconds",
]

#: Methods drawn with the signed view by ``view="auto"`` even when a map happens to have
#: no negative value: their sign is the point (evidence for / against the target).
SIGNED_VIEW_METHODS = tuple(m for m, s in METHODS.items() if s.view == "signed" and s.kind == "attribution")
#: Methods whose sign is mostly noise: ``"auto"`` shows their magnitude ``|a|`` as an overlay.
MAGNITUDE_VIEW_METHODS = tuple(m for m, s in METHODS.items() if s.view == "magnitude")
_VIEWS = ("auto", "overlay", "signed")
_OVERLAY_MODES = ("max", "minmax", "abs", "positive")
_NORMALIZE = ("auto", *_OVERLAY_MODES, "signed", "median")
_OVERLAY_TEXT = {"max": "a / max", "minmax": "min-max", "abs": "|a|", "positive": "a⁺", "median": "(a − median)⁺"}


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


@dataclass(frozen=True)
class View:
    """How one column of maps is drawn.

    Attributes
    ----------
    kind : {"overlay", "signed"}
    normalize : str
        Overlay scaling (:func:`xaikit.normalize_maps` mode) or ``"signed"``.
    centered : bool
        Each map is drawn as ``a - median(a)`` (maps offset by a near-constant).
    """

    kind: str
    normalize: str
    centered: bool = False

    @property
    def text(self) -> str:
        """Short description for the column header."""
        if self.kind == "signed":
            return "signed, a − median" if self.centered else "signed"
        return _OVERLAY_TEXT["median" if self.centered else self.normalize]


def choose_view(explanation: Any, view: str = "auto", normalize: str = "auto") -> View:
    """How to draw one column, from the method and what its maps contain (see the module docstring).

    Parameters
    ----------
    explanation
        An :class:`xaikit.Explanation` (its ``method`` and ``attributions`` are read).
    view
        ``"auto"``, ``"overlay"`` or ``"signed"``.
    normalize
        ``"auto"`` (chosen per column), an overlay scaling (``"max"``, ``"minmax"``,
        ``"abs"``, ``"positive"``: they imply the overlay view), ``"signed"`` (the signed
        view of the maps as they are) or ``"median"`` (deviations from each map's median,
        in the signed view unless ``view="overlay"``).
    """
    if view not in _VIEWS:
        raise InputError(f"view must be one of {_VIEWS} (or a dict of them per column); got {view!r}")
    if normalize not in _NORMALIZE:
        raise InputError(f"normalize must be one of {_NORMALIZE}; got {normalize!r}")
    if normalize in _OVERLAY_MODES:
        if view == "signed":
            raise InputError(f"normalize={normalize!r} scales an overlay heat map; the signed view takes "
                             "normalize='auto', 'signed' or 'median' (or use view='overlay')")
        return View("overlay", normalize)
    if normalize == "signed":
        if view == "overlay":
            raise InputError("normalize='signed' draws signed values, which an overlay heat map cannot show; use "
                             "view='signed', or an overlay scaling ('max', 'abs', 'positive', 'minmax')")
        return View("signed", "signed")
    maps = np.asarray(explanation.attributions)
    method = explanation.method
    centered = normalize == "median" or (
        method not in MAGNITUDE_VIEW_METHODS and any(map_offset(m) != 0 for m in maps))
    if view == "overlay" or (view == "auto" and method in MAGNITUDE_VIEW_METHODS and not centered):
        if centered:
            return View("overlay", "median", centered=True)
        magnitude = method in MAGNITUDE_VIEW_METHODS
        signed = any(has_negative_values(m) for m in maps)
        return View("overlay", "abs" if magnitude else "positive" if signed else "max")
    if view == "signed" or centered or method in SIGNED_VIEW_METHODS or any(has_negative_values(m) for m in maps):
        return View("signed", "signed", centered=centered)
    return View("overlay", "max")


def default_view(explanation: Any) -> str:
    """``"signed"`` or ``"overlay"``: the kind :func:`choose_view` picks with everything on ``"auto"``."""
    return choose_view(explanation).kind


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


def _ranked_groups(cols: list[tuple[str, Any]]) -> dict[int, int]:
    """Column index -> number of ranks, for the first column of each group of ``explain_ranked`` results.

    Their ``elapsed`` is the shared total of all ranks, so the time is written once per group.
    Later columns of a group map to 0.
    """
    out: dict[int, int] = {}
    j = 0
    while j < len(cols):
        e = cols[j][1]
        k = (getattr(e, "params", None) or {}).get("ranked_outputs")
        if not k or (e.params.get("rank") not in (0, None)):
            j += 1
            continue
        size = 1
        while (j + size < len(cols) and size < int(k) and cols[j + size][1].params.get("ranked_outputs") == k
               and (cols[j + size][1].method, cols[j + size][1].backend) == (e.method, e.backend)):
            out[j + size] = 0
            size += 1
        out[j] = size
        j += size
    return out


def _time_texts(cols: list[tuple[str, Any]], times: Mapping[str, float] | None,
                first_calls: Mapping[str, float | None] | None) -> list[str | None]:
    """Per column: ``"4.9 ms/img · 1st call 0.12 s"``, or None when no steady-state time is known."""
    ranked = _ranked_groups(cols)
    out: list[str | None] = []
    for j, (label, e) in enumerate(cols):
        steady = times.get(label) if times is not None else steady_seconds_per_image(e)
        first = first_calls.get(label) if first_calls is not None else warmup_seconds(e)
        if steady is None or ranked.get(j) == 0:
            out.append(None)
            continue
        text = f"{format_seconds(steady)}/img"
        if ranked.get(j, 1) > 1:
            text += f" ({ranked[j]} ranks)"
        if first is not None:
            text += f" · 1st call {format_seconds(first)}"
        out.append(text)
    return out


def _cell_note(m: np.ndarray, offset: float, centered: bool) -> str:
    """What a cell title adds about its map: the median it is drawn against, or that it is constant."""
    if float(m.max()) == float(m.min()):
        return f" · constant {float(m.min()):.3g}".replace("-", "\u2212")
    if centered:
        return f" · median {offset:.3g}".replace("-", "\u2212")
    return ""


def map_cells(rgb: np.ndarray, attributions: np.ndarray, view: View, *, plain: bool = False, colormap: Any = "jet",
              alpha: float = 0.4, blend: str = "constant", percentile: float = 99.5, signed_percentile: float = 99.9,
              signed_cmap: Any = "shap", image_alpha: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """The maps drawn as ``view`` says over ``rgb`` (float ``(N, H, W, 3)`` in [0, 1]): uint8 RGB cells ``(N, H, W,
    3)`` and the offset subtracted from each map (its median for a centred view, else 0). ``plain``: no image
    underneath (the overlay is opaque)."""
    maps = np.asarray(attributions, np.float32)
    n = len(maps)
    med = np.asarray([np.median(m) for m in maps], np.float32) if view.centered else np.zeros(n, np.float32)
    drawn = maps - med[:, None, None]
    if view.kind == "signed":
        return signed_rgb(rgb, drawn, percentile=signed_percentile, cmap=signed_cmap, image_alpha=image_alpha,
                          image_range=(0.0, 1.0)), med
    return overlay(rgb, drawn, colormap=colormap, alpha=1.0 if plain else alpha,
                   normalize="positive" if view.centered else view.normalize, percentile=percentile, blend=blend,
                   image_range=(0.0, 1.0)), med


def compare_figure(images: Any, explanations: Any, *, class_names: Any = None, view: Any = "auto",
                   colormap: Any = "jet", alpha: float = 0.4, normalize: str = "auto", blend: str = "constant",
                   percentile: float = 99.5, signed_percentile: float = 99.9, signed_cmap: Any = "shap",
                   image_alpha: float = 0.35, image_range: tuple[float, float] | str = "auto", undo: Undo = None,
                   row_labels: Sequence[str] | None = None, time_in: str | None = "header",
                   times: Mapping[str, float] | None = None, first_calls: Mapping[str, float | None] | None = None,
                   title: str | None = None, cell_inches: float | None = None, max_width: float = 18.0) -> Any:
    """Rows = images, columns = explanations of the same images; the comparison picture.

    Parameters
    ----------
    images
        ``(N, H, W, C)`` images the explanations were computed for, as the model saw them
        or un-preprocessed; see :func:`xaikit.viz.to_display_rgb` for ``image_range`` /
        ``undo``. None: no image column, the maps are drawn on a plain background.
    explanations
        ``list[Explanation]`` (column titles ``"method (backend)"``) or
        ``dict[label, Explanation]`` (titles = labels). All must hold the N images at
        ``(H, W)``; their targets may differ.
    class_names
        Sequence or mapping ``class index -> name`` for the cell titles; None shows
        ``"class k"``.
    view
        ``"auto"`` (chosen per column from the method and the maps, see
        :func:`choose_view`), ``"overlay"``, ``"signed"``, or a dict ``{column label:
        view}`` (missing labels use ``"auto"``).
    normalize
        ``"auto"`` (per column: deviations from the median for offset maps, ``|a|`` for
        gradients, ``a / max`` for other non-negative maps, the signed scale otherwise),
        an overlay scaling (``"max"``, ``"minmax"``, ``"abs"``, ``"positive"``), ``"signed"``
        or ``"median"``; see :func:`choose_view`.
    colormap, alpha, blend, percentile
        Overlay cells, see :func:`xaikit.viz.overlay`.
    signed_percentile, signed_cmap, image_alpha
        Signed cells, see :func:`xaikit.viz.signed_rgb` (each map on its own symmetric
        scale, the ``signed_percentile`` of ``|a|``).
    row_labels
        One label per image, written left of the row; default ``"#i"``.
    time_in
        Where the steady-state time per image is written: ``"header"`` (under the column
        title, default), ``"cell"`` (in every cell title) or None.
    times, first_calls
        Steady-state seconds per image and first-call seconds per column label. Default:
        from each explanation, when its call ran after a warm-up (:mod:`xaikit._timing`;
        :func:`xaikit.compare`, the CLI and the bench do that). A column without a known
        steady-state time shows none: a single call's ``elapsed`` includes tracing.
        Results of :meth:`~xaikit.Explainer.explain_ranked` share one time, written once.
    title
        Figure title.
    cell_inches
        Width of one cell; default: as large as ``max_width`` allows, at most 2.2 in.

    Returns
    -------
    matplotlib.figure.Figure
        ``N * len(explanations)`` map axes (plus the image column and colour-legend
        axes), not registered with pyplot.
    """
    from matplotlib.figure import Figure

    cols, rgb, views, row_labels = _prepare(images, explanations, view, normalize, row_labels, time_in, image_range,
                                            undo)
    n, h, w = rgb.shape[:3]
    time_texts = _time_texts(cols, times, first_calls) if time_in else [None] * len(cols)
    # ---- render every cell first (errors before any figure exists)
    cells, offsets = [], []
    plain = images is None  # no image underneath: the map itself
    for (_, e), v in zip(cols, views, strict=True):
        cell, med = map_cells(rgb, e.attributions, v, plain=plain, colormap=colormap, alpha=alpha, blend=blend,
                              percentile=percentile, signed_percentile=signed_percentile, signed_cmap=signed_cmap,
                              image_alpha=image_alpha)
        cells.append(cell)
        offsets.append(med)
    lay = compare_layout([label for label, _ in cols], views, time_texts, time_in, n=n, h=h, w=w, plain=plain,
                         title=title, cell_inches=cell_inches, max_width=max_width, colormap=colormap,
                         percentile=percentile, signed_cmap=signed_cmap, signed_percentile=signed_percentile)
    fig = Figure(figsize=(lay.fig_w, lay.fig_h))
    for j, text in enumerate(lay.headers):
        fig.text((lay.column_x(j) + lay.cell_w / 2) / lay.fig_w, 1.0 - (lay.header_h - 0.04) / lay.fig_h, text,
                 ha="center", va="bottom", fontsize=lay.head_fs, fontweight="bold" if j >= lay.first_col else "normal",
                 linespacing=1.15)
    texts = [t.split("/img")[0] if time_in == "cell" and t else None for t in time_texts]
    _draw_rows(fig, lay, rgb, cols, cells, offsets, views, row_labels, texts, class_names)
    _draw_legends(fig, lay)
    if title:
        fig.text(0.5, 1.0 - 0.08 / lay.fig_h, title, ha="center", va="top", fontsize=lay.head_fs + 2.5)
    return fig


def _prepare(images: Any, explanations: Any, view: Any, normalize: str, row_labels: Sequence[str] | None,
             time_in: str | None, image_range: tuple[float, float] | str, undo: Undo) -> tuple[Any, ...]:
    """``(columns, rgb, views, row labels)`` of :func:`compare_figure`'s arguments, checked."""
    cols = _as_columns(explanations)
    if images is None:
        n, h, w = cols[0][1].attributions.shape
        rgb = np.full((n, h, w, 3), 0.5, np.float32)
    else:
        rgb = to_display_rgb(images, image_range, undo=undo)
        n, h, w = rgb.shape[:3]
    for label, e in cols:
        if len(e) != n:
            raise InputError(f"column {label!r} explains {len(e)} images but {n} images were given; "
                             "all explanations must be for the same images (select with exp[indices]).")
        check_maps(e.attributions, (n, h, w), resize=False)
    if time_in not in ("header", "cell", None):
        raise InputError(f"time_in must be 'header', 'cell' or None; got {time_in!r}")
    if isinstance(view, Mapping):
        unknown = [k for k in view if k not in {c[0] for c in cols}]
        if unknown:
            raise InputError(f"view has labels {unknown} that are not columns; columns: {[c[0] for c in cols]}")
        asked = [view.get(label, "auto") for label, _ in cols]
    else:
        asked = [view] * len(cols)
    views = [choose_view(e, v, normalize) for v, (_, e) in zip(asked, cols, strict=True)]
    if row_labels is not None:
        row_labels = [str(r) for r in row_labels]
        if len(row_labels) != n:
            raise InputError(f"row_labels must have one entry per image ({n}); got {len(row_labels)}")
    else:
        row_labels = [f"#{i}" for i in range(n)]
    return cols, rgb, views, row_labels


def _draw_rows(fig: Any, lay: CompareLayout, rgb: np.ndarray, cols: list[tuple[str, Any]], cells: list[np.ndarray],
               offsets: list[np.ndarray], views: list[View], row_labels: list[str], cell_times: list[str | None],
               class_names: Any) -> None:
    """Each row: its label, the image (titled with the prediction) and the maps (titled with their class)."""
    preds = [np.asarray(e.predictions) for _, e in cols]
    agree = np.all([np.array_equal(preds[0], p) for p in preds])
    room, cell_fs = lay.room, lay.cell_fs
    for i in range(len(rgb)):
        y = lay.row_y(i)
        fig.text(0.5 * lay.left / lay.fig_w, 1.0 - (y + lay.cell_h / 2) / lay.fig_h, row_labels[i], ha="center",
                 va="center", rotation=90, fontsize=cell_fs, color="0.35")
        for j in range(lay.n_cols):
            ax = fig.add_axes(lay.box(lay.column_x(j), y, lay.cell_w, lay.cell_h))
            ax.set_axis_off()
            if j < lay.first_col:
                ax.imshow(rgb[i], interpolation="antialiased")
                if agree and int(preds[0][i]) >= 0:  # -1: not a classifier (a segmentation model)
                    ax.set_title(fit_text(f"pred: {class_name(class_names, int(preds[0][i]))}", room, cell_fs),
                                 fontsize=cell_fs, pad=2, color="0.25")
                continue
            c = j - lay.first_col
            e = cols[c][1]
            ax.imshow(cells[c][i], interpolation="antialiased")
            target = int(e.targets[i])
            suffix = " (≠ pred)" if int(e.predictions[i]) != target and e.target is None else ""
            suffix += _cell_note(e.attributions[i], float(offsets[c][i]), views[c].centered)
            if cell_times[c]:
                suffix += f" · {cell_times[c]}"
            name_room = max(0.3, room - text_width(suffix, cell_fs))
            name = class_name(class_names, target) if e.target is None else e.target  # or the score function
            ax.set_title(fit_text(name, name_room, cell_fs) + suffix, fontsize=cell_fs, pad=2)


def _draw_legends(fig: Any, lay: CompareLayout) -> None:
    """The colour legends, centred at the bottom."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    if not lay.legends:
        return
    cell_fs, width_each = lay.cell_fs, lay.width_each
    total = len(lay.legends) * width_each + (len(lay.legends) - 1) * 0.6
    x0 = (lay.fig_w - total) / 2
    for k, ((kind, cmap, (lo, hi), _), text) in enumerate(zip(lay.legends, lay.legend_texts, strict=True)):
        cax = fig.add_axes(lay.box(x0 + k * (width_each + 0.6), lay.fig_h - lay.legend_h + 0.12, width_each, 0.1))
        cb = fig.colorbar(ScalarMappable(norm=Normalize(lo, hi), cmap=cmap), cax=cax, orientation="horizontal")
        if kind == "signed":
            cb.set_ticks([-1, 0, 1], labels=["−s", "0", "+s"])
        else:
            cb.set_ticks([0, 0.5, 1], labels=["0", "0.5", "1"])
        cb.ax.tick_params(labelsize=cell_fs - 0.5, length=2, pad=1)
        cb.outline.set_visible(False)
        cb.set_label(text, fontsize=cell_fs - 0.5, labelpad=2, linespacing=1.1)


def first_images_figure(images: Any, explanations: Mapping[str, Any], max_images: int | None = None,
                        **kwargs: Any) -> Any:
    """:func:`compare_figure` of the first ``max_images`` images (None: all), with the times of the whole calls.

    The explanations are sliced to the images drawn, but their steady-state times and
    first-call costs (``times`` / ``first_calls``, unless given) are those of the calls
    that explained every image. ``images`` (or None) must hold one image per explanation
    row.
    """
    from ..validation import as_numpy, check_positive_int

    cols = dict(_as_columns(dict(explanations)))
    n = len(next(iter(cols.values())))
    k = n if max_images is None else min(n, check_positive_int("max_images", max_images))
    if images is not None:
        images = as_numpy(images)
        if len(images) != n:
            raise InputError(f"{len(images)} images given for explanations of {n} images; pass the images that "
                             "were explained, in the same order")
        images = images[:k]
    kwargs.setdefault("times", {label: steady_seconds_per_image(e) for label, e in cols.items()})
    kwargs.setdefault("first_calls", {label: warmup_seconds(e) for label, e in cols.items()})
    if k < n:
        kwargs["title"] = (kwargs.get("title") + " · " if kwargs.get("title") else "") + f"first {k} of {n} images"
    return compare_figure(images, {label: e[:k] for label, e in cols.items()}, **kwargs)
