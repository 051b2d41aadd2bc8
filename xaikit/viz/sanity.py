"""The randomisation sanity-check grid: Figure 2 of Adebayo et al., "Sanity Checks for Saliency Maps" (2018).

For one image: one row per method, one column per step of the check (the original
model, then the model with more and more of its layers re-initialised from the output
down), each cell that method's map. A method whose maps depend on what the model
learned turns to noise from left to right; one whose maps keep their picture explains
the image more than the model.

Every map is drawn as its magnitude ``|a|``, scaled to [0, 1] by its own
``percentile`` (each cell on its own scale, as in the paper: a randomised model's
gradients are far smaller or larger than the original's, and a common scale would show
only that). The cells compare shapes, not brightness; the figure says so in its
caption. Maps are drawn without the image underneath, which would lend every cell the
image's edges.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._display import normalize_maps
from ..errors import InputError
from ..validation import check_positive_int
from .overlay import Undo, colorize, to_display_rgb
from .text import class_name, fit_text, text_width, wrap_label

__all__ = ["break_name", "randomisation_grid"]


def _number(value: float) -> str:
    """Two decimals with a typographic minus."""
    return f"{value:.2f}".replace("-", "\u2212")


def break_name(name: str, width_in: float, fontsize: float, bold: bool = False, lines: int = 4) -> str:
    """A layer name on at most ``lines`` lines of ``width_in`` inches, broken after ``.``, ``_`` or ``/`` where it
    can (anywhere else where it must), so that no part of it is cut; only a name longer than ``lines`` lines is."""
    out, current = [], ""
    for ch in name:
        if current and text_width(current + ch, fontsize, bold) > width_in:
            cut = max(current.rfind(c) for c in "._/") + 1
            if 0 < cut < len(current):  # break after the last separator, carry the rest
                out.append(current[:cut])
                current = current[cut:]
            else:
                out.append(current)
                current = ""
        current += ch
    out.append(current)
    if len(out) > lines:
        out = [*out[:lines - 1], fit_text("".join(out[lines - 1:]), width_in, fontsize, bold)]
    return "\n".join(out)


def _shown_steps(n_steps: int, max_steps: int) -> list[int]:
    """Indices of the randomised steps drawn: all of them, or ``max_steps`` evenly spaced ones ending with the last."""
    if n_steps <= max_steps:
        return list(range(n_steps))
    return sorted({round(float(v)) for v in np.linspace(0, n_steps - 1, max_steps)})


def randomisation_grid(check: Any, image_index: int = 0, *, images: Any = None,
                       image_range: tuple[float, float] | str = "auto", undo: Undo = None, colormap: Any = "gray",
                       percentile: float = 99.5, class_names: Any = None, max_steps: int = 12,
                       cell_inches: float = 1.0, title: str | None = None) -> Any:
    """Rows = methods, columns = steps of the randomisation check: the maps of one image.

    Parameters
    ----------
    check : SanityCheck
        The result of :func:`xaikit.sanity_check`.
    image_index : int
        Which of the checked images to draw.
    images : array-like, optional
        The images to show in the first column, channels last (e.g. the pixels before
        preprocessing); default: the images the model took (``check.images``), made
        displayable with ``image_range`` / ``undo`` (see :func:`xaikit.viz.to_display_rgb`).
    image_range, undo
        How ``images`` map to display colours.
    colormap
        Colormap of the magnitudes (``"gray"``: black = 0, white = large, as the paper).
    percentile
        Each map's ``|a|`` is divided by this percentile of its own ``|a|`` and clipped to 1.
    class_names
        Sequence or mapping ``class index -> name``, for the image's title.
    max_steps
        Draw at most this many randomised steps (evenly spaced, the last one always);
        the title says when some were left out.
    cell_inches
        Width of one cell.
    title
        Figure title; default: the check, the image and its class.

    Returns
    -------
    matplotlib.figure.Figure
        ``rows x (2 + steps)`` axes (the image column, the original and each randomised
        step), not registered with pyplot.
    """
    from matplotlib.figure import Figure

    n = len(check.targets)
    if isinstance(image_index, bool) or not isinstance(image_index, (int, np.integer)) or not 0 <= image_index < n:
        raise InputError(f"image_index must be an integer in [0, {n}) (the check has {n} image(s)); "
                         f"got {image_index!r}")
    max_steps = check_positive_int("max_steps", max_steps)
    shown = _shown_steps(len(check.layers), max_steps)
    source = check.images if images is None else images
    rgb = to_display_rgb(source, image_range, undo=undo, layout="NHWC")
    if rgb.shape[:3] != check.images.shape[:3]:
        raise InputError(f"images has shape {rgb.shape[:3]} (N, H, W) but the check's maps are "
                         f"{check.images.shape[:3]}; pass the checked images, channels last, at the model's size")
    labels = check.labels
    steps = check.steps
    columns = [0, *(k + 1 for k in shown)]  # 0: the original model
    cells = {label: normalize_maps(check.maps(label)[columns, image_index], "abs", percentile=percentile)
             for label in labels}

    # ---- geometry, in inches
    cell = float(cell_inches)
    h, w = rgb.shape[1:3]
    cell_h = cell * h / w
    fs = 7.5 if cell >= 0.9 else 6.5
    head_fs = fs + 0.5
    label_w = max(text_width(label, head_fs, bold=True) for label in labels)
    label_w = max(label_w, text_width(f"last step: mean ρ −0.00 ({n}/{n})", fs)) + 0.25
    label_w = min(max(label_w, 1.3), 2.6)
    gap, row_gap = 0.06, 0.08
    cell_title_h = fs * 1.5 / 72
    n_cols = 1 + len(columns)
    title_h = 0.5
    heads = ["image", *(break_name(steps[c], cell - 0.04, head_fs, bold=True) for c in columns)]
    header_h = (max(h.count("\n") for h in heads) + 2.4) * 1.15 * head_fs / 72 + 0.06
    caption_lines = 3
    caption_h = caption_lines * 1.3 * fs / 72 + 0.2
    fig_w = label_w + n_cols * cell + (n_cols - 1) * gap + 0.1
    fig_h = title_h + header_h + len(labels) * (cell_title_h + cell_h + row_gap) + caption_h
    fig = Figure(figsize=(fig_w, fig_h))

    def box(x_in: float, y_top_in: float, w_in: float, h_in: float) -> list[float]:
        return [x_in / fig_w, 1.0 - (y_top_in + h_in) / fig_h, w_in / fig_w, h_in / fig_h]

    for j, text in enumerate(heads):
        x = label_w + j * (cell + gap) + cell / 2
        fig.text(x / fig_w, 1.0 - (title_h + header_h - 0.04) / fig_h, text, ha="center", va="bottom",
                 fontsize=head_fs, fontweight="bold", color="0.2" if j else "0.4", linespacing=1.1)
    target = int(check.targets[image_index])
    for i, label in enumerate(labels):
        res = check.results[label]
        y = title_h + header_h + i * (cell_title_h + cell_h + row_gap) + cell_title_h
        control = check.rows[label].get("method") is None
        final = res.mean()["spearman_abs"][-1]
        counted = int(check.valid_counts(label)[-1])
        value = "—" if np.isnan(final) else _number(final)
        if counted < n:
            value += f" ({counted}/{n})"
        fig.text((label_w - 0.12) / fig_w, 1.0 - (y + cell_h / 2 - 0.02) / fig_h,
                 fit_text(label, label_w - 0.15, head_fs, bold=True), ha="right", va="bottom", fontsize=head_fs,
                 fontweight="bold", color="0.35" if control else "black")
        fig.text((label_w - 0.12) / fig_w, 1.0 - (y + cell_h / 2 + 0.02) / fig_h,
                 f"last step: mean ρ {value}", ha="right", va="top", fontsize=fs, color="0.3")
        for j in range(n_cols):
            ax = fig.add_axes(box(label_w + j * (cell + gap), y, cell, cell_h))
            ax.set_axis_off()
            if j == 0:
                ax.imshow(rgb[image_index], interpolation="nearest")
                if i == 0:
                    ax.set_title(fit_text(class_name(class_names, target), cell, fs), fontsize=fs, pad=2, color="0.3")
                continue
            c = columns[j - 1]
            m = cells[label][j - 1]
            ax.imshow(colorize(m[None], colormap)[0], interpolation="nearest")
            raw = check.maps(label)[c, image_index]
            if float(raw.max()) == float(raw.min()):
                note = "constant"
            elif c == 0:
                note = ""
            else:
                rho = float(res.spearman_abs[c - 1, image_index])
                note = "ρ —" if np.isnan(rho) else f"ρ {_number(rho)}"
            if note:
                ax.set_title(note, fontsize=fs, pad=2, color="0.3")
    how = "cumulatively from the output down" if check.mode == "cascading" else "one at a time"
    if title is None:
        title = (f"Model-parameter randomisation (Adebayo et al. 2018): image #{image_index}, "
                 f"explaining {class_name(class_names, target)}")
    left_out = len(check.layers) - len(shown)
    subtitle = f"layers re-initialised {how}, seed {check.seed}" + (
        f"; {len(shown)} of {len(check.layers)} steps drawn" if left_out else "")
    fig.text(0.5, 1.0 - 0.1 / fig_h, fit_text(title, fig_w - 0.2, head_fs + 1.5), ha="center", va="top",
             fontsize=head_fs + 1.5)
    fig.text(0.5, 1.0 - 0.33 / fig_h, fit_text(subtitle, fig_w - 0.2, fs), ha="center", va="top", fontsize=fs,
             color="0.3")
    caption = (f"Each cell: |map| scaled to [0, 1] by its own {percentile:g}th percentile (black = 0; per cell: "
               "compare shapes, not brightness). ρ: Spearman rank correlation of |map| with the original map of "
               f"this image ('constant': no rank correlation). Left: the mean ρ over the {n} checked image(s) at "
               "the last step ((k/N): only k images had a non-constant map).")
    fig.text(0.5, (caption_h - 0.08) / fig_h, wrap_label(caption, fig_w - 0.6, fs, bold=False, lines=caption_lines),
             ha="center", va="top", fontsize=fs, color="0.3", linespacing=1.3)
    return fig

