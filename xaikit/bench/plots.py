"""Figures of a benchmark run (matplotlib, object-oriented API, nothing registered with pyplot).

Every function takes :class:`~xaikit.bench.runner.ModelResult` objects and returns a
:class:`matplotlib.figure.Figure`, or None when there is nothing to draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "METRIC_INFO",
    "agreement_figure",
    "curves_figure",
    "metric_spread_figure",
    "place_labels",
    "png_bytes",
    "sanity_figure",
    "speed_figure",
    "time_quality_figure",
]

#: metric -> (title, direction) with direction +1 = higher is better, -1 = lower, 0 = neither.
METRIC_INFO = {
    "deletion": ("deletion AUC", -1),
    "insertion": ("insertion AUC", +1),
    "mu_fidelity": ("MuFidelity", +1),
    "pointing_game": ("pointing game", +1),
    "energy_pointing_game": ("energy pointing game", +1),
    "sparseness": ("sparseness (Gini)", 0),
    "complexity": ("complexity (entropy)", 0),
}
_ARROW = {1: "higher is better", -1: "lower is better", 0: "descriptive"}
def _horizontal() -> dict[str, Any]:
    import matplotlib

    major, minor = (int(v) for v in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


_BACKEND_MARKERS = {"tensorflow": "o", "tf-explain": "s", "shap": "^", "control": "x"}


def png_bytes(fig: Any, dpi: float = 110) -> bytes:
    """The figure as PNG bytes, without the software metadata chunk."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.08, facecolor="white",
                metadata={"Software": None})
    return buffer.getvalue()


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]


def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), layout="constrained")


def _legend_layout(n_entries: int, height: float) -> tuple[int, float]:
    """``(columns, figure height)`` for a legend of ``n_entries`` beside the plots: a taller figure and more columns
    when the entries would not fit, so the legend never overflows the figure and pushes the title into the plots."""
    columns = max(1, -(-n_entries // 30))
    return columns, max(height, 0.16 * -(-n_entries // columns) + 1.0)


def _finite(values: Any) -> np.ndarray:
    arr = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    return arr[np.isfinite(arr)]


def metric_spread_figure(mr: Any, metrics: Sequence[str]) -> Any:
    """One panel per metric: the per-image values of every row (box + points)."""
    _HORIZONTAL = _horizontal()
    metrics = [m for m in metrics if m in METRIC_INFO and m != "pointing_game"
               and any(m in r.metrics for r in mr.rows)]
    rows = [r for r in mr.rows if any(m in r.metrics for m in metrics)]
    if not metrics or not rows:
        return None
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    height = max(2.6, 0.24 * len(rows) + 1.0)
    fig = _figure(4.3 * ncols, height * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    labels = [r.row for r in rows]
    rng = np.random.default_rng(0)
    for k, metric in enumerate(metrics):
        ax = axes[k // ncols][k % ncols]
        data = [_finite(r.metrics.get(metric, {}).get("values", [])) for r in rows]
        positions = np.arange(len(rows))[::-1]
        nonempty = [i for i, d in enumerate(data) if d.size]
        if nonempty:
            bp = ax.boxplot([data[i] for i in nonempty], positions=positions[nonempty], widths=0.6,
                            showfliers=False, patch_artist=True, medianprops={"color": "black"}, **_HORIZONTAL)
            for patch, i in zip(bp["boxes"], nonempty):
                patch.set_facecolor("0.88" if rows[i].control else "#cfe3f6")
        for i, d in enumerate(data):
            if d.size:
                ax.scatter(d, positions[i] + rng.uniform(-0.18, 0.18, d.size), s=7, alpha=0.6,
                           color="0.4" if rows[i].control else "#1f5f9e", zorder=3, linewidths=0)
        title, direction = METRIC_INFO[metric]
        ax.set_title(f"{title}\n({_ARROW[direction]})", fontsize=9)
        ax.set_yticks(positions)
        ax.set_yticklabels(labels if k % ncols == 0 else [""] * len(labels), fontsize=7.5)
        ax.tick_params(axis="x", labelsize=7.5)
        ax.grid(axis="x", alpha=0.3)
    for k in range(len(metrics), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    fig.suptitle(f"{mr.id}: per-image values ({mr.info.get('n_images')} images)", fontsize=10)
    return fig


def curves_figure(mr: Any) -> Any:
    """Mean deletion and insertion curves of every row."""
    panels = [m for m in ("deletion", "insertion") if any(m in r.metrics for r in mr.rows)]
    if not panels:
        return None
    rows = [r for r in mr.rows if any(m in r.metrics for m in panels)]
    columns, height = _legend_layout(len(rows), 3.6)
    fig = _figure(5.2 * len(panels) + 2.6 * columns, height)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colors = _colors(len(rows))
    for ax, metric in zip(axes, panels):
        for r, c in zip(rows, colors):
            res = r.metrics.get(metric)
            if not res or res.get("curve_mean") is None:
                continue
            x = np.asarray(res["fractions"], float)
            y = np.asarray([np.nan if v is None else v for v in res["curve_mean"]], float)
            style = {"color": "0.45", "linestyle": ":" if r.label == "random" else "--"} if r.control else \
                {"color": c, "linestyle": {"tensorflow": "-", "tf-explain": "--", "shap": "-."}.get(r.backend, "-")}
            ax.plot(x, y, lw=1.4, label=f"{r.row}  (AUC {res['mean']:.3f})", **style)
        direction = "lower AUC is better" if metric == "deletion" else "higher AUC is better"
        what = "removed" if metric == "deletion" else "inserted"
        ax.set_title(f"{metric}: {direction}", fontsize=9.5)
        ax.set_xlabel(f"fraction of pixels {what} (most important first)", fontsize=8.5)
        ax.set_ylabel("score of the explained class (mean over images)", fontsize=8.5)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    axes[-1].legend(handles, [lab.split("  (")[0] for lab in labels], fontsize=7.2, loc="center left",
                    bbox_to_anchor=(1.02, 0.5), frameon=False, ncols=columns)
    fig.suptitle(f"{mr.id}: deletion and insertion curves", fontsize=10)
    return fig


def sanity_figure(mr: Any) -> Any:
    """Similarity to the original maps as layers are randomised from the top down."""
    rows = [r for r in mr.rows if r.randomisation]
    if not rows:
        return None
    layers = rows[0].randomisation["layers"]
    columns, height = _legend_layout(len(rows), 3.9)
    fig = _figure(9.0 + 2.5 * columns, height)
    axes = fig.subplots(1, 2)
    colors = _colors(len(rows))
    x = np.arange(len(layers) + 1)
    for r, c in zip(rows, colors):
        rd = r.randomisation
        for ax, key in zip(axes, ("mean_spearman_abs", "mean_ssim")):
            y = np.asarray([1.0] + [np.nan if v is None else v for v in rd[key]], float)
            style = {"color": "0.3", "linestyle": "--", "lw": 2} if r.control else \
                {"color": c, "linestyle": {"tensorflow": "-", "tf-explain": "--", "shap": "-."}.get(r.backend, "-"),
                 "lw": 1.4}
            ax.plot(x, y, marker=".", label=r.row, **style)
    lowest = min([float(np.nanmin(np.asarray([np.nan if v is None else v for v in r.randomisation[k]], float)))
                  for r in rows for k in ("mean_spearman_abs", "mean_ssim")
                  if np.any(np.isfinite(np.asarray([np.nan if v is None else v for v in r.randomisation[k]],
                                                   float)))] or [0.0])
    for ax, title in zip(axes, ("Spearman rank correlation of |maps|", "SSIM of min-max normalised maps")):
        ax.set_xticks(x)
        ax.set_xticklabels(["original"] + [f"+{name}" for name in layers], rotation=40, ha="right", fontsize=7.5)
        ax.set_ylim(max(-1.05, min(-0.15, lowest - 0.08)), 1.05)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_title(f"{title}\n(falls towards 0 = the map depends on the learned weights: passes)", fontsize=9)
        ax.set_xlabel("layers randomised, cumulatively from the output down", fontsize=8.5)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7.2, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, ncols=columns)
    fig.suptitle(f"{mr.id}: model-parameter randomisation sanity check (Adebayo et al. 2018)", fontsize=10)
    return fig


def agreement_figure(mr: Any, metric: str = "spearman_abs") -> Any:
    """Heat map of the pairwise agreement between all maps of a model."""
    ag = mr.agreement
    if not ag or metric not in ag["matrices"]:
        return None
    names = ag["names"]
    m = np.asarray([[np.nan if v is None else v for v in row] for row in ag["matrices"][metric]], float)
    size = max(4.5, 0.42 * len(names) + 2.2)
    fig = _figure(size + 0.8, size)
    ax = fig.subplots()
    im = ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)))
    ax.set_yticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7.5)
    ax.set_yticklabels(names, fontsize=7.5)
    if len(names) <= 20:
        for i in range(len(names)):
            for j in range(len(names)):
                if np.isfinite(m[i, j]):
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if abs(m[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, shrink=0.7, label="Spearman ρ of |maps| (mean over images)")
    ax.set_title(f"{mr.id}: agreement between maps", fontsize=10)
    return fig


def speed_figure(mr: Any) -> Any:
    """Seconds per image and the floor of each row (log scale), with the ratio."""
    rows = [r for r in mr.rows if r.explain]
    if not rows:
        return None
    fig = _figure(8.5, max(2.4, 0.32 * len(rows) + 1.2))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    times = [r.explain["result"]["seconds_per_image"] for r in rows]
    floors = [r.floor["floor_per_image"] if r.floor else np.nan for r in rows]
    ax.barh(y + 0.18, times, height=0.36, color="#3b7dc4", label="time per image (median)")
    ax.barh(y - 0.18, floors, height=0.36, color="0.7", label="floor: unavoidable passes, best batch")
    for yi, t, f in zip(y, times, floors):
        if np.isfinite(f) and f > 0:
            ax.text(t * 1.08, yi + 0.18, f"×{t / f:.1f}", va="center", fontsize=7.5)
    ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels([r.row for r in rows], fontsize=8)
    ax.set_xlabel("seconds per image (log scale)", fontsize=8.5)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3, which="both")
    fig.legend(fontsize=7.5, loc="outside lower center", ncols=2, frameon=False)
    lo = min([v for v in times + floors if np.isfinite(v) and v > 0], default=1e-3)
    hi = max([v for v in times + floors if np.isfinite(v)], default=1.0)
    ax.set_xlim(lo / 2, hi * 4)
    ax.set_title(f"{mr.id}: speed (× = time / floor)", fontsize=10)
    return fig


def _overlap(a: Any, b: Any) -> float:
    """Area shared by two display-space boxes."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def place_labels(fig: Any, ax: Any, points: Sequence[tuple[float, float]], texts: Sequence[str],
                 fontsize: float = 6.8) -> list[Any]:
    """Annotate data ``points`` with ``texts`` so that no two labels overlap each other, a marker or the frame.

    Each label tries positions around its point (right, left, above, below, then farther
    out, with a leader line); the first free one wins, else the one overlapping least.
    The figure's layout is run first and then frozen, so the positions stay valid when
    it is saved. Returns the annotations.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.draw_without_rendering()  # constrained layout places the axes
    fig.set_layout_engine("none")  # ... and keeps them there
    renderer = fig.canvas.get_renderer()
    scale = fig.dpi / 72.0
    frame = ax.get_window_extent(renderer)
    marks = []
    for x, y in points:
        px, py = ax.transData.transform((x, y))
        marks.append(Bbox.from_extents(px - 4 * scale, py - 4 * scale, px + 4 * scale, py + 4 * scale))
    order = sorted(range(len(points)), key=lambda i: (-points[i][1], points[i][0]))
    placed: list[Any] = []
    annotations: list[Any] = [None] * len(points)
    for i in order:
        ann = ax.annotate(texts[i], points[i], fontsize=fontsize, xytext=(0, 0), textcoords="offset points",
                          va="center", ha="left", annotation_clip=False)
        width = ann.get_window_extent(renderer).width / scale  # points
        best, best_cost = None, np.inf
        for reach in (1.0, 2.2, 3.6, 5.2):
            for dx, dy in ((6, 0), (-6 - width, 0), (-width / 2, 9), (-width / 2, -9), (6, 8), (6, -8),
                           (-6 - width, 8), (-6 - width, -8)):
                off = (dx * (reach if dx > 0 else 1) - (reach - 1) * 6 * (dx < 0), dy * reach)
                ann.set_position(off)
                box = ann.get_window_extent(renderer)
                outside = (box.x0 < frame.x0) + (box.x1 > frame.x1) + (box.y0 < frame.y0) + (box.y1 > frame.y1)
                cost = (sum(_overlap(box, other) for other in placed)
                        + sum(_overlap(box, m) for j, m in enumerate(marks)) + 1e6 * outside)
                if cost < best_cost:
                    best, best_cost = off, cost
                if cost == 0:
                    break
            if best_cost == 0:
                break
        ann.set_position(best)
        if abs(best[0]) > 20 or abs(best[1]) > 12:  # far from its point: draw a leader line
            ann.remove()
            ann = ax.annotate(texts[i], points[i], fontsize=fontsize, xytext=best, textcoords="offset points",
                              va="center", ha="left", annotation_clip=False,
                              arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5, "shrinkA": 0, "shrinkB": 3})
        placed.append(ann.get_window_extent(renderer))
        annotations[i] = ann
    return annotations


def time_quality_figure(models: Sequence[Any]) -> Any:
    """Per quality model: time per image against the causal gap (insertion - deletion AUC)."""
    panels = []
    for mr in models:
        pts = []
        for r in mr.rows:
            if not r.explain or "deletion" not in r.metrics or "insertion" not in r.metrics:
                continue
            d, i = r.metrics["deletion"].get("mean"), r.metrics["insertion"].get("mean")
            if d is None or i is None:
                continue
            pts.append((r, r.explain["result"]["seconds_per_image"], i - d))
        if pts:
            panels.append((mr, pts))
    if not panels:
        return None
    fig = _figure(min(6.2 * len(panels), 19.5), 5.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (_, pts) in zip(axes, panels):
        methods = sorted({r.label for r, _, _ in pts})
        colors = dict(zip(methods, _colors(len(methods))))
        for r, t, q in pts:
            ax.scatter(t, q, marker=_BACKEND_MARKERS.get(r.backend, "o"), color=colors[r.label], s=40, zorder=3)
        from matplotlib.ticker import LogLocator, NullFormatter
        from matplotlib.transforms import blended_transform_factory

        along = blended_transform_factory(ax.transAxes, ax.transData)
        for r in mr.rows:
            if r.control and "deletion" in r.metrics and "insertion" in r.metrics:
                d, i = r.metrics["deletion"].get("mean"), r.metrics["insertion"].get("mean")
                if d is not None and i is not None:
                    ax.axhline(i - d, color="0.5", ls=":" if r.label == "random" else "--", lw=1)
                    ax.text(0.99, i - d, f"{r.label} control", transform=along, fontsize=6.5, color="0.35",
                            va="bottom", ha="right")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("seconds per image (log)", fontsize=8.5)
        ax.set_ylabel("insertion AUC − deletion AUC (higher is better)", fontsize=8.5)
        ax.set_title(mr.id, fontsize=9.5)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, which="both")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker=m, color="0.3", ls="", label=b)
               for b, m in _BACKEND_MARKERS.items() if b != "control"]
    axes[-1].legend(handles=handles, fontsize=7.5, loc="best", title="backend", title_fontsize=7.5)
    fig.suptitle("time against faithfulness: up and to the left is better", fontsize=10)
    for ax, (_, pts) in zip(axes, panels):  # labels last: they are placed around the drawn points
        ts = [t for _, t, _ in pts]
        qs = [q for _, _, q in pts]
        ax.set_xlim(min(ts) / 2.5, max(ts) * 6)  # room for the labels
        pad = 0.12 * (max(qs) - min(qs) or 0.1)
        low, high = ax.get_ylim()
        ax.set_ylim(min(low, min(qs) - pad), max(high, max(qs) + pad))
        place_labels(fig, ax, [(t, q) for _, t, q in pts], [r.row for r, _, _ in pts])
    return fig
