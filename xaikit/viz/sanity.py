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

from dataclasses import dataclass
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

    lay = _grid_layout(labels, [steps[c] for c in columns], n, rgb.shape[1:3], float(cell_inches))
    fig = Figure(figsize=(lay.fig_w, lay.fig_h))
    for j, text in enumerate(lay.heads):
        x = lay.column_x(j) + lay.cell / 2
        fig.text(x / lay.fig_w, 1.0 - (lay.title_h + lay.header_h - 0.04) / lay.fig_h, text, ha="center", va="bottom",
                 fontsize=lay.head_fs, fontweight="bold", color="0.2" if j else "0.4", linespacing=1.1)
    target = int(check.targets[image_index])
    for i, label in enumerate(labels):
        _draw_row(fig, lay, check, label, i, columns, cells[label], image_index,
                  rgb[image_index], class_name(class_names, target), colormap)
    _draw_titles(fig, lay, check, image_index, len(shown), class_name(class_names, target), title, percentile)
    return fig


@dataclass
class _GridLayout:
    """Sizes of the randomisation grid, in inches (y from the top)."""

    cell: float
    cell_h: float
    fs: float
    head_fs: float
    label_w: float
    gap: float
    row_gap: float
    cell_title_h: float
    n_cols: int
    title_h: float
    heads: list[str]
    header_h: float
    caption_lines: int
    caption_h: float
    fig_w: float
    fig_h: float

    def box(self, x_in: float, y_top_in: float, w_in: float, h_in: float) -> list[float]:
        """``[left, bottom, width, height]`` in figure fractions of a box given in inches from the top left."""
        return [x_in / self.fig_w, 1.0 - (y_top_in + h_in) / self.fig_h, w_in / self.fig_w, h_in / self.fig_h]

    def column_x(self, j: int) -> float:
        """The left edge of column ``j`` (0: the image)."""
        return self.label_w + j * (self.cell + self.gap)

    def row_y(self, i: int) -> float:
        """The top of row ``i``'s cells (below their titles)."""
        return self.title_h + self.header_h + i * (self.cell_title_h + self.cell_h + self.row_gap) + self.cell_title_h


def _grid_layout(labels: list[str], step_names: list[str], n: int, size: tuple[int, int],
                 cell: float) -> _GridLayout:
    """The layout of rows ``labels`` by the image and the steps ``step_names``, cells ``cell`` inches wide."""
    h, w = size
    cell_h = cell * h / w
    fs = 7.5 if cell >= 0.9 else 6.5
    head_fs = fs + 0.5
    label_w = max(text_width(label, head_fs, bold=True) for label in labels)
    label_w = max(label_w, text_width(f"last step: mean ρ −0.00 ({n}/{n})", fs)) + 0.25
    label_w = min(max(label_w, 1.3), 2.6)
    gap, row_gap = 0.06, 0.08
    cell_title_h = fs * 1.5 / 72
    n_cols = 1 + len(step_names)
    title_h = 0.5
    heads = ["image", *(break_name(name, cell - 0.04, head_fs, bold=True) for name in step_names)]
    header_h = (max(h.count("\n") for h in heads) + 2.4) * 1.15 * head_fs / 72 + 0.06
    caption_lines = 3
    caption_h = caption_lines * 1.3 * fs / 72 + 0.2
    fig_w = label_w + n_cols * cell + (n_cols - 1) * gap + 0.1
    fig_h = title_h + header_h + len(labels) * (cell_title_h + cell_h + row_gap) + caption_h
    return _GridLayout(cell, cell_h, fs, head_fs, label_w, gap, row_gap, cell_title_h, n_cols, title_h, heads,
                       header_h, caption_lines, caption_h, fig_w, fig_h)


def _draw_row(fig: Any, lay: _GridLayout, check: Any, label: str, i: int, columns: list[int], cells: np.ndarray,
              image_index: int, image: np.ndarray, target_name: str, colormap: Any) -> None:
    """Row ``i``: the method's label and last-step mean ρ, the image (first row: titled), its maps titled with ρ."""
    n = len(check.targets)
    res = check.results[label]
    y = lay.row_y(i)
    control = check.rows[label].get("method") is None
    final = res.mean()["spearman_abs"][-1]
    counted = int(check.valid_counts(label)[-1])
    value = "—" if np.isnan(final) else _number(final)
    if counted < n:
        value += f" ({counted}/{n})"
    fig.text((lay.label_w - 0.12) / lay.fig_w, 1.0 - (y + lay.cell_h / 2 - 0.02) / lay.fig_h,
             fit_text(label, lay.label_w - 0.15, lay.head_fs, bold=True), ha="right", va="bottom",
             fontsize=lay.head_fs, fontweight="bold", color="0.35" if control else "black")
    fig.text((lay.label_w - 0.12) / lay.fig_w, 1.0 - (y + lay.cell_h / 2 + 0.02) / lay.fig_h,
             f"last step: mean ρ {value}", ha="right", va="top", fontsize=lay.fs, color="0.3")
    for j in range(lay.n_cols):
        ax = fig.add_axes(lay.box(lay.column_x(j), y, lay.cell, lay.cell_h))
        ax.set_axis_off()
        if j == 0:
            ax.imshow(image, interpolation="nearest")
            if i == 0:
                ax.set_title(fit_text(target_name, lay.cell, lay.fs), fontsize=lay.fs, pad=2, color="0.3")
            continue
        c = columns[j - 1]
        ax.imshow(colorize(cells[j - 1][None], colormap)[0], interpolation="nearest")
        raw = check.maps(label)[c, image_index]
        if float(raw.max()) == float(raw.min()):
            note = "constant"
        elif c == 0:
            note = ""
        else:
            rho = float(res.spearman_abs[c - 1, image_index])
            note = "ρ —" if np.isnan(rho) else f"ρ {_number(rho)}"
        if note:
            ax.set_title(note, fontsize=lay.fs, pad=2, color="0.3")


def _draw_titles(fig: Any, lay: _GridLayout, check: Any, image_index: int, n_shown: int, target_name: str,
                 title: str | None, percentile: float) -> None:
    """The title, the subtitle (how the layers were re-initialised) and the caption (how to read a cell)."""
    n = len(check.targets)
    fs, head_fs, fig_w, fig_h = lay.fs, lay.head_fs, lay.fig_w, lay.fig_h
    how = "cumulatively from the output down" if check.mode == "cascading" else "one at a time"
    if title is None:
        title = (f"Model-parameter randomisation (Adebayo et al. 2018): image #{image_index}, "
                 f"explaining {target_name}")
    left_out = len(check.layers) - n_shown
    subtitle = f"layers re-initialised {how}, seed {check.seed}" + (
        f"; {n_shown} of {len(check.layers)} steps drawn" if left_out else "")
    fig.text(0.5, 1.0 - 0.1 / fig_h, fit_text(title, fig_w - 0.2, head_fs + 1.5), ha="center", va="top",
             fontsize=head_fs + 1.5)
    fig.text(0.5, 1.0 - 0.33 / fig_h, fit_text(subtitle, fig_w - 0.2, fs), ha="center", va="top", fontsize=fs,
             color="0.3")
    caption = (f"Each cell: |map| scaled to [0, 1] by its own {percentile:g}th percentile (black = 0; per cell: "
               "compare shapes, not brightness). ρ: Spearman rank correlation of |map| with the original map of "
               f"this image ('constant': no rank correlation). Left: the mean ρ over the {n} checked image(s) at "
               "the last step ((k/N): only k images had a non-constant map).")
    fig.text(0.5, (lay.caption_h - 0.08) / fig_h,
             wrap_label(caption, fig_w - 0.6, fs, bold=False, lines=lay.caption_lines),
             ha="center", va="top", fontsize=fs, color="0.3", linespacing=1.3)
