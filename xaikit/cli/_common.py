"""Pieces shared by the commands: method parameters from the options, outputs, progress, results.

The options live in :mod:`._options`, the images in :mod:`._images`, the model / images
/ labels set-up in :mod:`._setup`; the commands import them all from here.

Everything a command needs before its own work is resolved by :func:`setup`: the model
(:mod:`._models`), the preprocessing scheme (:mod:`xaikit.preprocessing`; the default
is ``none``, or what a zoo model is known to take, and the command says which), the
images (files and folders read by :func:`xaikit.io.load_images`, resized to the model
input, streamed in chunks), the class names (:mod:`._labels`) and the outputs (checked
*before* any work: an existing file without ``--overwrite`` stops the command with exit
code 5, and every file is written atomically).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from .._display import format_params  # noqa: F401 - the commands import it from here
from ..errors import InputError
from ..labels import Labels
from ..preprocessing import pixel_input
from ._images import ImageSource, read_images
from ._options import (
    COUNT,
    DEFAULT_CHUNK,
    chunk_size,
    colormap_option,
    image_options,
    method_options,
    model_options,
    output_options,
    warn,
)
from ._params import check_param_items, parse_pair, parse_param_value, split_param_item
from ._setup import Setup, setup

__all__ = [
    "model_options", "image_options", "method_options", "output_options", "Setup", "setup", "ImageSource",
    "method_params", "check_method_options", "check_outputs", "progress", "emit", "concat_explanations",
    "ensure_seed", "figure_title", "warn", "COUNT", "colormap_option", "one_row_per_target", "chunk_size",
    "DEFAULT_CHUNK",
]


# --------------------------------------------------------------------------- parameters
def _pixel_size(st: Setup, sample: np.ndarray | None) -> tuple[int, int]:
    if sample is not None:
        return int(sample.shape[1]), int(sample.shape[2])
    h, w = st.loaded.input_size
    if h is None or w is None:
        raise InputError("cannot tell the image size for --baseline/--background; give --input-size H W")
    return int(h), int(w)


def _baseline(text: str, st: Setup, sample: np.ndarray | None) -> Any:
    from ..preprocessing import PIXEL_KEYWORDS

    if text.strip().lower() in PIXEL_KEYWORDS:  # a constant pixel, preprocessed: one value per channel
        return pixel_input(st.scheme, text, st.loaded.channels)
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if values:
        return values[0] if len(values) == 1 else np.asarray(values, np.float32)
    path = Path(text)
    if not path.is_file():
        raise InputError(f"--baseline {text!r} is neither a number, 'a,b,c', black/white/grey nor an image file")
    h, w = _pixel_size(st, sample)
    pixels = read_images([path], size=(h, w), channels=st.loaded.channels, to_grey=st.to_grey, log=st.log,
                         what="--baseline image")
    return st.to_input(pixels)[0]


def _background(values: Sequence[str], st: Setup, sample: np.ndarray | None) -> np.ndarray:
    if len(values) == 1 and values[0].strip().isdigit():
        n = int(values[0])
        if st.loaded.zoo is None:
            raise InputError(f"--background {n} takes {n} training images of a --zoo model; for other models pass "
                             "image files or a folder of typical inputs")
        from .. import zoo

        data = zoo.load_data(st.loaded.zoo, split="train", n=n)
        return st.to_input(np.asarray(data.images, np.float32) * np.float32(255.0))
    h, w = _pixel_size(st, sample)
    pixels = read_images(list(values), size=(h, w), channels=st.loaded.channels, to_grey=st.to_grey, log=st.log,
                         what="--background images")
    st.log(f"background: {len(pixels)} image(s)")
    return st.to_input(pixels)


def check_method_options(opts: dict[str, Any]) -> None:
    """The method options' syntax, before anything is loaded: ``--param`` items (KEY=VALUE, each
    key once, none also given by its own option) and the ``--patch-size``/``--stride`` sizes."""
    check_param_items([split_param_item(item)[0] for item in opts.get("extra_params") or ()], opts)
    for key in ("patch_size", "stride"):
        if opts.get(key) is not None:
            parse_pair(opts[key], "--" + key.replace("_", "-"))


def method_params(opts: dict[str, Any], st: Setup, sample: np.ndarray | None = None, *,
                  bool_names: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The method parameters the user gave, converted to what the explainers take.

    Only conversion happens here (text to numbers and bools, images to arrays); whether
    a value is valid for a method is the explainer's business (its message names the
    fix). ``bool_names`` are the method's bool parameters (see
    :func:`._params.bool_param_names`): their ``--param`` values must be true/false words.
    """
    check_method_options(opts)
    params: dict[str, Any] = {}
    for key in ("layer", "batch_size", "seed", "n_samples", "noise", "steps", "score"):
        if opts.get(key) is not None:
            params[key] = opts[key]
    if opts.get("model_output") is not None:  # an index or a key
        text = str(opts["model_output"]).strip()
        params["output"] = int(text) if text.isdigit() else text
    if opts.get("patch_size") is not None:
        params["patch_size"] = parse_pair(opts["patch_size"], "--patch-size")
    if opts.get("stride") is not None:
        params["stride"] = parse_pair(opts["stride"], "--stride")
    if opts.get("baseline") is not None:
        params["baseline"] = _baseline(opts["baseline"], st, sample)
    if opts.get("background"):
        params["background"] = _background(opts["background"], st, sample)
    for item in opts.get("extra_params") or ():
        key, value = split_param_item(item)
        params[key] = parse_param_value(key, value, bool_names)
    return params


def one_row_per_target(source: ImageSource, targets: Any, labels: Labels | None,
                       log: Callable[[str], None]) -> ImageSource:
    """One image with several ``--target`` classes: the image once per class (rows of the results).

    Seed 004 explains one cat for "tabby" (281) and "Egyptian cat" (285); the Python API
    does the same with ``np.repeat(image, 2, axis=0)`` and ``targets=[281, 285]``.
    """
    if len(source) != 1 or not isinstance(targets, list) or len(targets) < 2:
        return source
    k = len(targets)
    log(f"one image, {k} classes: explained once per class ({', '.join(describe(labels, t) for t in targets)})")
    return dataclasses.replace(source, names=source.names * k,
                               paths=None if source.paths is None else source.paths * k,
                               pixels=None if source.pixels is None else np.repeat(source.pixels, k, axis=0))


def ensure_seed(explainer: Any, log: Callable[[str], None]) -> int | None:
    """Draw the seed once for the whole run, so every chunk uses it and the results record it."""
    if "seed" not in explainer.param_names():
        return None
    if explainer.seed is None:
        from ..validation import check_seed

        explainer.set_params(seed=check_seed(None))
        log(f"seed: {explainer.seed} (drawn; pass --seed {explainer.seed} to repeat this run)")
    return explainer.seed


# --------------------------------------------------------------------------- outputs
def check_outputs(outputs: dict[str, Path | None], overwrite: bool, *, required: bool = True) -> None:
    """Check output names and refuse existing files before any work.

    ``outputs`` maps the option (``"-o"``, ``"--save-npz"``) to its path. Raises
    :class:`click.UsageError` when none is given and ``required``; :class:`InputError`
    for a wrong extension or a name used twice; :class:`FileExistsError` (exit code 5)
    for an existing file without ``overwrite``.
    """
    from ..viz.save import FIGURE_FORMATS

    given = {k: Path(v) for k, v in outputs.items() if v is not None}
    if required and not given:
        raise click.UsageError(f"nothing to write: give {' or '.join(dict.fromkeys(o.split(' ')[0] for o in outputs))}")
    for option, path in given.items():
        if option.split(" ")[0] in ("-o", "--output") and path.suffix.lower() not in FIGURE_FORMATS:
            raise InputError(f"{option} {path}: the picture format comes from the extension; use "
                             f"{', '.join(FIGURE_FORMATS)}")
        if option.startswith("--save-npz") and path.suffix.lower() != ".npz":
            raise InputError(f"--save-npz {path}: the file name must end in .npz")
        if path.is_dir():
            raise InputError(f"{option} {path} is a folder; give a file name")
    resolved = [p.resolve() for p in given.values()]
    if len(set(resolved)) != len(resolved):
        raise InputError("two outputs have the same file name; give each option its own file")
    if not overwrite:
        for option, path in given.items():
            if path.exists():
                raise FileExistsError(f"{path} exists ({option}); pass --overwrite to replace it")


def default_output(o: dict[str, Any], what: str, *others: str, images: bool = True) -> None:
    """``-o`` defaults to ``<name>_<what>.png`` in the current folder when no output option is given.

    ``<name>`` is the first ``--images`` entry's name (file stem or folder name), else the
    model's (zoo name, file stem or architecture). The command prints what it wrote, and an
    existing file is kept (exit code 5) unless ``--overwrite``.
    """
    if o.get("output") is not None or any(o.get(k) for k in others):
        return
    name = None
    if images and o.get("images"):
        first = Path(o["images"][0])
        name = first.name if first.is_dir() else first.stem
    name = name or o.get("zoo") or (Path(o["model_path"]).stem if o.get("model_path") else None) or o.get("arch")
    text = f"{name or 'xaikit'}_{what}".replace("++", "pp")
    o["output"] = Path(re.sub(r"[^\w.-]+", "_", text) + ".png")


def progress(total: int, quiet: bool, desc: str) -> Any:
    """Progress on stderr (a bar on a terminal, a line every few seconds otherwise; see :mod:`._bars`)."""
    from ._bars import RunProgress

    return RunProgress(total, quiet, desc)


def emit(bar: Any, line: str) -> None:
    """One result line on stdout, without breaking a progress bar drawn on the terminal."""
    if getattr(bar, "disable", True):
        click.echo(line)
    else:
        bar.write(line, file=sys.stdout)


def concat_explanations(parts: Sequence[Any]) -> Any:
    """One :class:`~xaikit.Explanation` from the explanations of consecutive chunks.

    Per-image arrays are concatenated; ``channel_attributions`` are dropped (they are
    ``C`` times the size of the maps and the command line keeps memory bounded);
    ``elapsed`` is the sum.
    """
    first = parts[0]
    if len(parts) == 1:
        return dataclasses.replace(first, channel_attributions=None)

    def cat(name: str) -> Any:
        values = [getattr(p, name) for p in parts]
        return None if any(v is None for v in values) else np.concatenate(values)

    extras = {}
    for key, value in first.extras.items():
        values = [p.extras.get(key) for p in parts]
        if all(v is not None and np.ndim(v) and len(v) == len(p) for v, p in zip(values, parts)):
            extras[key] = np.concatenate(values)
        else:
            extras[key] = value
    return dataclasses.replace(
        first, attributions=cat("attributions"), targets=cat("targets"), outputs=cat("outputs"),
        predictions=cat("predictions"), layer_attributions=cat("layer_attributions"), channel_attributions=None,
        extras=extras, elapsed=float(sum(p.elapsed for p in parts)))


def with_provenance(exp: Any, st: Setup, names: Sequence[str], command: str) -> Any:
    """Record the command, model, preprocessing and image names in ``info``."""
    info = dict(exp.info)
    info["cli"] = {"command": command, "model": st.loaded.source, "preprocess": st.scheme.name,
                   "images": list(names)}
    return dataclasses.replace(exp, info=info)


def figure_title(st: Setup, what: str, n_shown: int, n_total: int) -> str:
    more = f" · first {n_shown} of {n_total} images" if n_total > n_shown else ""
    return f"{what} · {st.loaded.source} · preprocess {st.scheme.name}{more}"


def row_labels(names: Sequence[str], width: int = 24) -> list[str]:
    return [n if len(n) <= width else n[: width - 1] + "…" for n in names]


def describe(labels: Labels | None, k: int) -> str:
    return f"{labels.name(k)} ({k})" if labels is not None else str(k)


def n_shown(n: int, show: int) -> int:
    if show < 1:
        raise InputError(f"--show must be >= 1; got {show}")
    return min(n, show)
