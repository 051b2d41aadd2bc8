"""Text in figures: class names, and labels fitted to a width with matplotlib's font metrics.

The comparison figure, the randomisation grid and the notebook display title their
columns and cells with these, so a long label is truncated or wrapped the same way
everywhere instead of overflowing its cell.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError

__all__ = ["class_name", "fit_text", "text_width", "wrap_label"]


def class_name(class_names: Any, k: int) -> str:
    """The name of class ``k`` in ``class_names`` (a sequence or a dict), or ``"class k"`` where none are given."""
    if class_names is None:
        return f"class {k}"
    try:
        return str(class_names[k])
    except (KeyError, IndexError):
        size = len(class_names) if hasattr(class_names, "__len__") else "?"
        raise InputError(f"class index {k} has no entry in class_names ({size} names); pass one name per "
                         "class of the model (or a dict {index: name}).") from None


def text_width(text: str, fontsize: float, bold: bool = False) -> float:
    """Width of ``text`` in inches, measured with matplotlib's font metrics (default font)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(size=fontsize, weight="bold" if bold else "normal")
    width, _, _ = TextToPath().get_text_width_height_descent(text, prop, ismath=False)
    return width / 72.0


def fit_text(text: str, width_in: float, fontsize: float, bold: bool = False) -> str:
    """Truncate ``text`` with an ellipsis so that it fits ``width_in`` inches."""
    if text_width(text, fontsize, bold) <= width_in:
        return text
    while len(text) > 1 and text_width(text + "…", fontsize, bold) > width_in:
        text = text[:-1]
    return text.rstrip() + "…"


def wrap_label(label: str, width_in: float, fontsize: float, bold: bool = True, lines: int = 2) -> str:
    """``label`` broken at spaces into at most ``lines`` lines that fit ``width_in`` (the last one truncated)."""
    words, out, current = label.split(" "), [], ""
    for word in words:
        trial = f"{current} {word}" if current else word
        if current and text_width(trial, fontsize, bold) > width_in:
            out.append(current)
            current = word
        else:
            current = trial
    out.append(current)
    if len(out) > lines:
        out = [*out[:lines - 1], " ".join(out[lines - 1:])]
    return "\n".join(fit_text(line, width_in, fontsize, bold) for line in out)
