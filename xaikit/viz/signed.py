"""Signed-map view: positive evidence red, negative blue, the greyscale image underneath.

For methods whose sign means something (expected gradients / SHAP, gradient x input,
integrated gradients, occlusion) a heat map of ``|a|`` hides half the story. This is
shap's ``image_plot`` picture: a symmetric scale ``s`` = the ``percentile`` (99.9 by
default) of ``|a|``, values ``a / s`` clipped to [-1, 1], coloured with shap's
``red_transparent_blue`` (or any diverging matplotlib colormap) whose opacity grows with
``|a| / s``, over a light greyscale copy of the image. Zero is exactly the grey image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._display import map_offset
from ..errors import InputError
from ..validation import as_numpy
from .overlay import Undo, check_maps, get_colormap, to_display_gray

__all__ = ["signed_rgb", "signed_figure", "symmetric_scale", "SHAP_RED", "SHAP_BLUE", "signed_colormap"]

#: The two ends of shap's ``red_transparent_blue`` colormap (shap.plots.colors).
SHAP_RED = (255 / 255, 13 / 255, 87 / 255)
SHAP_BLUE = (30 / 255, 136 / 255, 229 / 255)


def symmetric_scale(maps: Any, percentile: float = 99.9, *, per_image: bool = True) -> np.ndarray:
    """The symmetric display scale ``s`` of signed maps: the ``percentile`` of ``|a|``.

    Parameters
    ----------
    maps
        ``(N, H, W)`` signed maps.
    percentile
        In (0, 100]; 99.9 as shap's image plot, so that a few extreme pixels do not wash
        the picture out.
    per_image
        True: one scale per map (each image uses its full colour range). False: one
        scale for the whole batch (colours comparable across images).

    Returns
    -------
    numpy.ndarray
        float32 ``(N,)`` scales. When the percentile is 0 (sparse maps) the maximum of
        ``|a|`` is used; an all-zero map gets scale 1 (it is drawn as the grey image).
    """
    percentile = float(percentile)
    if not 0 < percentile <= 100:
        raise InputError(f"percentile must be in (0, 100]; got {percentile}")
    a = np.abs(np.asarray(as_numpy(maps), dtype=np.float32))
    if a.ndim != 3:
        raise InputError(f"maps must have shape (N, H, W); got {a.shape}")

    def one(x: np.ndarray) -> float:
        s = float(np.percentile(x, percentile))
        if not s > 0:
            s = float(x.max())
        return s if s > 0 else 1.0

    if per_image:
        return np.asarray([one(m) for m in a], dtype=np.float32)
    return np.full(a.shape[0], one(a), dtype=np.float32)


def _resolve_scales(maps: np.ndarray, scale: Any, percentile: float) -> np.ndarray:
    if isinstance(scale, str):
        if scale not in ("image", "batch"):
            raise InputError("scale must be 'image', 'batch', a positive number or one number per image; "
                             f"got {scale!r}")
        return symmetric_scale(maps, percentile, per_image=scale == "image")
    s = np.asarray(as_numpy(scale), dtype=np.float64)
    if s.ndim == 0:
        s = np.full(maps.shape[0], float(s))
    if s.shape != (maps.shape[0],) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise InputError(f"scale must be a positive number or {maps.shape[0]} positive numbers (one per image); "
                         f"got {scale!r}")
    return s.astype(np.float32)


def _signed_colors(v: np.ndarray, cmap: Any) -> tuple[np.ndarray, np.ndarray]:
    """Colour and opacity for values ``v`` in [-1, 1]: ``(..., 3)`` RGB and ``(...)`` alpha = ``|v|``."""
    if isinstance(cmap, str) and cmap in ("shap", "red_transparent_blue"):
        rgb = np.where(v[..., None] >= 0, np.asarray(SHAP_RED, np.float32), np.asarray(SHAP_BLUE, np.float32))
    else:
        rgb = get_colormap(cmap)((v + 1.0) / 2.0)[..., :3]
    return rgb.astype(np.float32), np.abs(v).astype(np.float32)


def signed_colormap(cmap: Any = "shap", *, background: float = 1.0, n: int = 256) -> Any:
    """An opaque matplotlib colormap of the signed colours over a flat ``background`` grey (for colorbars)."""
    from matplotlib.colors import ListedColormap

    v = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    rgb, a = _signed_colors(v, cmap)
    colors = (1.0 - a[:, None]) * background + a[:, None] * rgb
    name = cmap if isinstance(cmap, str) else getattr(cmap, "name", "signed")
    return ListedColormap(np.clip(colors, 0, 1), name=f"signed_{name}")


def signed_rgb(images: Any, maps: Any, *, percentile: float = 99.9, scale: Any = "image", cmap: Any = "shap",
               image_alpha: float = 0.35, image_range: tuple[float, float] | str = "auto", undo: Undo = None,
               resize: bool = False) -> np.ndarray:
    """Render signed maps in red (positive) and blue (negative) over the greyscale image.

    Parameters
    ----------
    images
        ``(N, H, W, C)`` images, C = 1 or 3; see :func:`xaikit.viz.to_display_rgb` for
        ``image_range`` and ``undo`` (how to show preprocessed inputs).
    maps
        ``(N, H, W)`` signed attributions (``Explanation.attributions``).
    percentile
        The symmetric scale ``s`` is this percentile of ``|a|`` (99.9, as shap).
    scale
        ``"image"`` (default): one ``s`` per image. ``"batch"``: one ``s`` for all
        images. A number or one number per image: explicit scales (e.g. to share a scale
        across methods).
    cmap
        ``"shap"`` (shap's ``red_transparent_blue``: red #ff0d57, blue #1e88e5) or a
        diverging matplotlib colormap name (``"RdBu_r"``, ``"bwr"``, ``"coolwarm"``),
        read at ``(a / s + 1) / 2``.
    image_alpha
        Contrast of the grey image underneath: the background is
        ``(1 - image_alpha) + image_alpha * gray`` (shap draws it at 0.15; 0 gives a
        white background).
    resize
        Upsample maps of another size bilinearly instead of raising.

    Returns
    -------
    numpy.ndarray
        uint8 RGB ``(N, H, W, 3)``: ``out = (1 - |v|) * background + |v| * colour(v)``
        with ``v = clip(a / s, -1, 1)``. Where ``a = 0`` the pixel is the grey
        background (R = G = B).
    """
    image_alpha = float(image_alpha)
    if not 0.0 <= image_alpha <= 1.0:
        raise InputError(f"image_alpha must be in [0, 1]; got {image_alpha}")
    gray = to_display_gray(images, image_range, undo=undo)
    maps = check_maps(maps, gray.shape, resize=resize)
    scales = _resolve_scales(maps, scale, percentile)
    v = np.clip(maps / scales[:, None, None], -1.0, 1.0)
    colour, a = _signed_colors(v, cmap)
    background = (1.0 - image_alpha) + image_alpha * gray
    out = (1.0 - a[..., None]) * background[..., None] + a[..., None] * colour
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def _format_value(x: float) -> str:
    return f"{x:.3g}".replace("-", "\u2212")


def _centred(maps: Any, center: str, label: str) -> tuple[Any, np.ndarray | None, str]:
    """``(maps, medians, label)``: maps offset by a near-constant (or all, ``center="median"``) minus their medians."""
    if center not in ("auto", "median", "none"):
        raise InputError(f"center must be 'auto', 'median' or 'none'; got {center!r}")
    medians = None
    if center != "none":
        arr = np.asarray(as_numpy(maps), dtype=np.float32)
        if center == "median" or any(map_offset(m) != 0 for m in arr):
            medians = np.median(arr.reshape(len(arr), -1), axis=1).astype(np.float32)
            maps = arr - medians[:, None, None]
            label = f"{label} − median"
    return maps, medians, label


def _row_colorbar(fig: Any, cax: Any, s: Any, cmap: Any, label: str) -> None:
    """A row's vertical colorbar from ``-s`` to ``s``."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cb = fig.colorbar(ScalarMappable(norm=Normalize(-s, s), cmap=cmap), cax=cax)
    cb.set_ticks([-s, 0, s], labels=[_format_value(-s), "0", _format_value(s)])
    cb.ax.tick_params(labelsize=7)
    cb.outline.set_visible(False)
    cb.set_label(label, fontsize=8)


def _shared_colorbar(fig: Any, cax: Any, s: float, cmap: Any, label: str, how: str) -> None:
    """The horizontal colorbar under all rows, from ``-s`` to ``s`` (``how``: where ``s`` comes from)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cb = fig.colorbar(ScalarMappable(norm=Normalize(-s, s), cmap=cmap), cax=cax, orientation="horizontal")
    cb.set_ticks([-s, -s / 2, 0, s / 2, s], labels=[_format_value(t) for t in (-s, -s / 2, 0, s / 2, s)])
    cb.ax.tick_params(labelsize=7)
    cb.outline.set_visible(False)
    cb.set_label(f"{label}; s = {_format_value(s)} ({how})", fontsize=8)


def signed_figure(images: Any, maps: Any, *, percentile: float = 99.9, scale: Any = "image", cmap: Any = "shap",
                  image_alpha: float = 0.35, image_range: tuple[float, float] | str = "auto", undo: Undo = None,
                  show_image: bool = True, titles: Any = None, label: str | None = None,
                  cell_size: float = 3.0, resize: bool = False, center: str = "auto") -> Any:
    """A figure of signed maps (one row per image) with a symmetric colorbar.

    Parameters
    ----------
    images
        ``(N, H, W, C)`` images (see :func:`signed_rgb`).
    maps
        ``(N, H, W)`` signed maps, or an :class:`xaikit.Explanation` (its attributions;
        the title and colorbar label then name the method, backend and score).
    show_image
        Put the image itself left of each map.
    titles
        One title per image (e.g. class names), or None.
    label
        Colorbar label; default ``"attribution"`` (or ``"<method> attribution (<score>)"``).
    cell_size
        Width of one panel in inches.
    percentile, scale, cmap, image_alpha, image_range, undo, resize
        As in :func:`signed_rgb`. With ``scale="image"`` every row gets its own
        colorbar; with a shared scale there is one colorbar for the figure.
    center
        ``"auto"``: a map offset by a near-constant (tf-explain's occlusion ``1 - p``; see
        :func:`xaikit.explanation.map_offset`) is drawn as its deviations from its median,
        which would otherwise colour the whole map; the row title says so. ``"median"``:
        every map. ``"none"``: the maps as they are.

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot (nothing to close); save it with
        :func:`xaikit.viz.save_figure` or display it in a notebook.
    """
    from matplotlib.figure import Figure

    suptitle = None
    if hasattr(maps, "attributions") and hasattr(maps, "method"):
        exp = maps
        maps = exp.attributions
        suptitle = f"{exp.method} ({exp.backend})"
        label = label or f"attribution ({exp.score})"
    label = label or "attribution"
    maps, medians, label = _centred(maps, center, label)
    rgb_images = None
    if show_image:
        from .overlay import to_display_rgb

        rgb_images = to_display_rgb(images, image_range, undo=undo)
    rendered = signed_rgb(images, maps, percentile=percentile, scale=scale, cmap=cmap, image_alpha=image_alpha,
                          image_range=image_range, undo=undo, resize=resize)
    maps_arr = check_maps(maps, rendered.shape[:3], resize=resize)
    scales = _resolve_scales(maps_arr, scale, percentile)
    n, h, w = rendered.shape[:3]
    if titles is not None:
        titles = list(titles)
        if len(titles) != n:
            raise InputError(f"titles must have one entry per image ({n}); got {len(titles)}")
    shared = bool(np.all(scales == scales[0])) and not (isinstance(scale, str) and scale == "image" and n > 1)
    # ---- layout: the figure's size and grid (a colorbar per row, or one shared underneath)
    ncols = 2 if show_image else 1
    panel_h = cell_size * h / w
    cbar_w = 0.9  # inches for a per-row vertical colorbar
    fig_w = ncols * cell_size + (cbar_w if not shared else 0.25) + 0.3
    row_extra = 0.35 if (titles is not None or not shared) else 0.08
    fig_h = n * (panel_h + row_extra) + (0.95 if shared else 0.35) + (0.35 if suptitle else 0.0)
    fig = Figure(figsize=(fig_w, fig_h), layout="constrained")
    widths = [1.0] * ncols + ([0.06] if not shared else [])
    gs = fig.add_gridspec(n + (1 if shared else 0), ncols + (0 if shared else 1), width_ratios=widths,
                          height_ratios=[panel_h] * n + ([0.12] if shared else []))
    # ---- drawing
    cbar_cmap = signed_colormap(cmap, background=1.0)
    for i in range(n):
        col = 0
        if show_image:
            ax = fig.add_subplot(gs[i, 0])
            ax.imshow(rgb_images[i], interpolation="antialiased")
            ax.set_axis_off()
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=9)
            col = 1
        ax = fig.add_subplot(gs[i, col])
        ax.imshow(rendered[i], interpolation="antialiased")
        ax.set_axis_off()
        if not shared or medians is not None:
            what = f"median {_format_value(float(medians[i]))} subtracted; " if medians is not None else ""
            ax.set_title(f"{what}s = {_format_value(float(scales[i]))} (P{percentile:g} of |a|)", fontsize=8,
                         color="0.3")
        if not shared:
            _row_colorbar(fig, fig.add_subplot(gs[i, ncols]), scales[i], cbar_cmap, label)
    if shared:
        how = f"P{percentile:g} of |a| over all images" if isinstance(scale, str) else "given scale"
        _shared_colorbar(fig, fig.add_subplot(gs[n, :]), float(scales[0]), cbar_cmap, label, how)
    fig.supxlabel("red: evidence for the target (raises its score), blue: evidence against; "
                  "opacity grows with |a| / s, zero shows the grey image", fontsize=7.5, color="0.35")
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig
