"""``xaikit compare``: several (method, backend) pairs on the same images, with their agreement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import InputError
from ..labels import parse_targets
from ._common import (
    check_method_options,
    check_outputs,
    chunk_size,
    concat_explanations,
    default_output,
    figure_title,
    image_options,
    method_options,
    method_params,
    model_options,
    n_shown,
    one_row_per_target,
    output_options,
    progress,
    row_labels,
    setup,
    warn,
)
from ._group import main
from ._params import bool_param_names, method_classes, parse_param_value, split_param_item
from .explain import figure_options


def _pairs(values: tuple[str, ...], model: Any) -> list[tuple[str, str]]:
    from ..registry import backend_for_model

    pairs = []
    for value in values:
        method, _, backend = value.partition(":")
        method, backend = method.strip(), backend.strip()
        if not method:
            raise InputError(f"--pair takes METHOD:BACKEND (e.g. gradcam:tf-explain); got {value!r}")
        pairs.append((method, backend if backend and backend != "auto" else backend_for_model(model, method)))
    return pairs


def _split_params(items: tuple[str, ...], pairs: list[tuple[str, str]]
                  ) -> tuple[tuple[str, ...], dict[Any, dict[str, Any]]]:
    """``--param`` values: plain ``KEY=VALUE`` (every pair) and ``METHOD[:BACKEND].KEY=VALUE`` (one pair).

    A scoped value is converted for the pairs it names (a bool parameter of theirs takes
    true/false words); plain values are converted by :func:`._common.method_params`.
    """
    common, scoped = [], {}
    for item in items:
        key, value = split_param_item(item, "KEY=VALUE or METHOD[:BACKEND].KEY=VALUE")
        if "." not in key:
            common.append(item)
            continue
        scope, _, name = key.rpartition(".")
        method, _, backend = scope.partition(":")
        chosen = [p for p in pairs if p[0] == method and (not backend or p[1] == backend)]
        if not chosen:
            raise InputError(f"--param {key}=...: no --pair is {scope}; pairs: "
                             + ", ".join(f"{m}:{b}" for m, b in pairs))
        target = (method, backend) if backend else method
        scoped.setdefault(target, {})[name] = parse_param_value(name, value, bool_param_names(method_classes(chosen)))
    return tuple(common), scoped


def _merge_tables(tables: list[Any]) -> Any:
    """One agreement table from the tables of consecutive chunks (per-image values concatenated)."""
    from ..metrics.agreement import AgreementTable

    first = tables[0]
    per_image = {m: np.concatenate([t.per_image[m] for t in tables], axis=2) for m in first.per_image}
    matrices = {}
    for metric, values in per_image.items():
        valid = ~np.isnan(values)
        k = valid.sum(axis=2)
        matrices[metric] = np.where(k > 0, np.where(valid, values, 0.0).sum(axis=2) / np.maximum(k, 1), np.nan)
    return AgreementTable(first.names, matrices, per_image, first.params)


def _markdown(totals: dict[str, list[Any]], table: Any, n: int, alignment: Any = None) -> str:
    from ..alignment import alignment_table
    from ..compare import params_table, timing_table

    out = (f"Compared on {n} image(s).\n\n" + timing_table(totals, n) + "\n\n"
           + params_table({label: parts[0] for label, parts in totals.items()}))
    if alignment is not None:
        out += "\n\n" + alignment_table(alignment)
    for metric in table.matrices:
        out += "\n\n" + table.to_markdown(metric)
    return out + "\n"


@main.command("compare")
@model_options
@image_options
@click.option("--pair", "pairs", multiple=True, required=True, metavar="METHOD:BACKEND",
              help="A method and the backend computing it (repeat, at least twice): gradcam:tensorflow, "
                   "gradcam:tf-explain, expected_gradients:shap, ... A missing backend means the native one.")
@click.option("-t", "--target", "targets", multiple=True, metavar="CLASS",
              help="Class to explain (index or --labels name; digits are an index, name:TEXT a name), one for all "
                   "images, one per image, or several for one image (explained once per class). Default: the "
                   "predicted class, the same for every pair.")
@method_options
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the timings and agreement tables (Spearman, |Spearman|, top-10% IoU, SSIM) as Markdown.")
@click.option("--fraction", type=click.FloatRange(0.0, 1.0, min_open=True), default=0.1, show_default=True,
              help="Top fraction of pixels for the IoU (0 < f <= 1).")
@click.option("--align/--no-align", default=False, show_default=True,
              help="Align every pair on the method's definition (the same score, signed values, noise as a fraction "
                   "of each image's range, baseline, ReLU and layer, through each library's own parameters) and say "
                   "what a library cannot express; --no-align runs each library's defaults.")
@figure_options
@output_options
def compare_command(**o: Any) -> None:
    """Explain the same images with several (method, backend) pairs; draw them side by side and
    print how much the maps agree.

    Parameters given once apply to every pair that takes them; ``--param
    METHOD[:BACKEND].KEY=VALUE`` sets one for a single method or pair.

    \b
    Examples:
      xaikit compare --zoo shapes_cnn4 --images dir/ --pair gradcam:tensorflow --pair gradcam:tf-explain -o cmp.png
      xaikit compare --zoo shapes_cnn4 --pair occlusion:tensorflow --pair occlusion:tf-explain \\
          --patch-size 8 --param occlusion:tf-explain.baseline=0.5 --markdown cmp.md
    """
    from .. import compare

    default_output(o, "compare", "markdown")
    check_outputs({"-o": o["output"], "--markdown": o["markdown"]}, o["overwrite"])
    if o["backend"] != "auto":
        raise InputError("compare takes its backends from --pair METHOD:BACKEND; drop --backend")
    check_method_options(o)
    if len(o["pairs"]) < 2:
        raise InputError("compare needs at least two --pair METHOD:BACKEND options (use `xaikit explain` for one)")
    st = setup(model_path=o["model_path"], arch=o["arch"], weights=o["weights"], input_size=o["input_size"],
               classes=o["classes"], zoo=o["zoo"], unsafe=o["unsafe"], framework=o["framework"],
               preprocess=o["preprocess"], labels_path=o["labels_path"], quiet=o["quiet"], images=o["images"],
               n_images=o["n_images"],
               to_grey=o["to_grey"])
    assert st.source is not None
    pairs = _pairs(o["pairs"], st.model)
    targets = parse_targets(o["targets"], st.labels, len(st.source), warn)
    src = one_row_per_target(st.source, targets, st.labels, st.log)
    n = len(src)
    show = n_shown(n, o["show"])
    common_items, scoped = _split_params(o["extra_params"], pairs)
    chunks = src.chunks(chunk_size(o["chunk_size"]))
    first = next(chunks)
    common = method_params({**o, "extra_params": common_items}, st, first[1],
                           bool_names=bool_param_names(method_classes(pairs)))
    _check_common(common, pairs, st)
    totals: dict[str, list[Any]] = {}
    shown: dict[str, list[Any]] = {}
    tables, display, alignment = [], [], None
    with progress(n, o["quiet"], "compare") as bar:
        for s, pixels in [first, *chunks]:
            x = st.to_input(pixels)
            t = targets[s] if isinstance(targets, list) else targets
            result = compare(st.model, x, pairs, targets=t, params=scoped or None, fraction=o["fraction"],
                             warmup=not tables, align=o["align"], **common)  # later chunks run warm
            tables.append(result.agreement)
            alignment = alignment or result.alignment
            room = show - sum(len(d) for d in display)
            if room > 0:
                display.append(st.to_display(x[:room], pixels[:room]))
            for label, exp in result.explanations.items():
                totals.setdefault(label, []).append(_Light(exp))
                if room > 0:
                    shown.setdefault(label, []).append(exp[:room])
            bar.update(len(x))
    table = _merge_tables(tables)
    report = _markdown(totals, table, n, alignment)
    click.echo(report, nl=False)
    if o["markdown"] is not None:
        from ..atomic_files import atomic_write_text

        atomic_write_text(o["markdown"], report, overwrite=o["overwrite"])
        st.log(f"wrote {o['markdown']}")
    if o["output"] is not None:
        _draw(o, st, src, np.concatenate(display), shown, totals, show)


def _check_common(common: dict[str, Any], pairs: list[tuple[str, str]], st: Any) -> None:
    """Refuse a parameter no pair takes; draw (and log) a seed when a pair takes one and none was given."""
    from ..binding import get_method_class

    accepted = {p: set(get_method_class(*p).param_names()) for p in pairs}
    unused = [k for k in common if not any(k in names for names in accepted.values())]
    if unused:
        raise InputError(f"no pair takes {', '.join(map(repr, unused))}; parameters of the pairs: "
                         + "; ".join(f"{m}:{b}: {', '.join(sorted(v))}" for (m, b), v in accepted.items()))
    if any("seed" in names for names in accepted.values()) and common.get("seed") is None:
        from ..validation import check_seed

        common["seed"] = check_seed(None)
        st.log(f"seed: {common['seed']} (drawn; pass --seed {common['seed']} to repeat this run)")


def _draw(o: dict[str, Any], st: Any, src: Any, display: np.ndarray, shown: dict[str, list[Any]],
          totals: dict[str, list[Any]], show: int) -> None:
    """The comparison figure of the images shown into ``-o``, with each pair's time over all the images."""
    from .._timing import warmup_seconds
    from ..viz.compare import compare_figure
    from ..viz.save import save_figure

    n = len(src)
    columns = {label: concat_explanations(parts) for label, parts in shown.items()}
    times = {label: sum(e.elapsed for e in parts) / n for label, parts in totals.items()}
    first_calls = {label: warmup_seconds(parts[0]) for label, parts in totals.items()}
    fig = compare_figure(display, columns, class_names=st.labels, view=o["view"],
                         normalize=o["normalize"], times=times, first_calls=first_calls,
                         colormap=o["colormap"], alpha=o["alpha"], image_range=(0.0, 255.0),
                         row_labels=row_labels(src.names[:show]),
                         title=o["title"] or figure_title(st, "comparison", show, n))
    save_figure(fig, o["output"], dpi=o["dpi"], overwrite=o["overwrite"])
    st.log(f"wrote {o['output']}")


class _Light:
    """What the report needs of an explanation of one chunk (its maps are not kept)."""

    def __init__(self, exp: Any) -> None:
        self.elapsed, self.score, self.layer, self.params, self.info = (exp.elapsed, exp.score, exp.layer,
                                                                        exp.params, exp.info)

