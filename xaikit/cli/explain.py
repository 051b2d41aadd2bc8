"""``xaikit explain``: one method on images, as a picture and/or an ``.npz`` file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import InputError
from ..labels import parse_targets
from ._bars import RunProgress
from ._common import (
    COUNT,
    check_method_options,
    check_outputs,
    chunk_size,
    colormap_option,
    concat_explanations,
    default_output,
    describe,
    emit,
    ensure_seed,
    figure_title,
    format_params,
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
    with_provenance,
)
from ._group import EXIT_INTERRUPTED, main
from ._params import bool_param_names, method_classes
from .bench import engine_options

#: How the maps are drawn (``--view``); the picture functions take the same names.
VIEWS = ("auto", "overlay", "signed")


def figure_options(f: Any) -> Any:
    """How the picture looks: ``--show``, ``--view``, ``--colormap``, ``--alpha``, ``--title``."""
    for decorator in reversed([
        click.option("--show", type=COUNT, default=8, show_default=True, help="Images (rows) in the picture."),
        click.option("--view", type=click.Choice(VIEWS, case_sensitive=False), default="auto", show_default=True,
                     help="overlay (heat map over the image), signed (red = for, blue = against the class) or auto "
                          "(chosen per method from what its maps contain)."),
        click.option("--normalize", default="auto", show_default=True,
                     type=click.Choice(["auto", "max", "minmax", "abs", "positive", "signed", "median"]),
                     help="How maps are scaled: auto (per map: deviations from the median for maps offset by a "
                          "constant, |a| for gradients, a / max for non-negative maps, the signed scale otherwise), "
                          "max, minmax, abs, positive (overlays), signed, or median (a - median)."),
        colormap_option("--colormap", default="jet", help="Matplotlib colormap of overlays."),
        click.option("--alpha", type=click.FloatRange(0.0, 1.0), default=0.4, show_default=True,
                     help="Heat-map weight of overlays (0..1)."),
        click.option("--title", help="Picture title (default: method, model, preprocessing)."),
    ]):
        f = decorator(f)
    return f


def _npz_paths(path: Path | None, ranked: int | None) -> list[Path]:
    if path is None:
        return []
    if not ranked:
        return [path]
    return [path.with_name(f"{path.stem}_rank{r + 1}{path.suffix}") for r in range(ranked)]


@main.command("explain")
@model_options
@image_options
@click.option("--method", default="gradcam", show_default=True,
              help="occlusion, gradcam, gradcam++, vanilla_gradients, gradient_x_input, smoothgrad, "
                   "integrated_gradients, expected_gradients (see `xaikit list`).")
@click.option("-t", "--target", "targets", multiple=True, metavar="CLASS",
              help="Class to explain: an index or a name from --labels (digits are an index; name:TEXT is always a "
                   "name); one for all images, one per image, or several for one image (explained once per class). "
                   "Repeat or comma-separate. Default: each image's predicted class.")
@click.option("--target-mask", type=click.Path(dir_okay=False, exists=True, path_type=Path), metavar="MASK.png",
              help="Explain a region of a segmentation model's output: the sum of --target-class's scores over the "
                   "mask's nonzero pixels (xaikit.targets.Region), for every image. The mask has the output's size.")
@click.option("--target-class", type=click.IntRange(0), metavar="K",
              help="The class whose scores --target-mask sums.")
@click.option("--ranked-outputs", type=COUNT, metavar="K",
              help="Explain each image's K highest-ranked classes (shap's ranked_outputs), one column each.")
@method_options
@click.option("--save-npz", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the Explanation of all images (xaikit.Explanation.load reads it); with --ranked-outputs "
                   "one file per rank, NAME_rank1.npz, ...")
@click.option("--out", "zarr_out", type=click.Path(file_okay=False, path_type=Path), metavar="MAPS.zarr",
              help="Bulk explanation: write the maps of all --images (a folder, files or glob patterns, any number) "
                   "into a Zarr store, streamed in --chunk-size chunks; running again resumes it. No picture.")
@click.option("--dtype", "maps_dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True,
              help="With --out: the maps' dtype in the store. float16 halves the bytes; each value is within 2^-11 of "
                   "it relative to its magnitude (2^-25 absolute below 6.1e-5); a map beyond +-65504 is an error.")
@click.option("--decode", type=click.Choice(["auto", "driver", "workers"]), default="auto", show_default=True,
              help="With --out on Ray: where image files are decoded. auto: by the workers when Ray runs on this "
                   "machine (only file names travel to them); driver: here (the pixels travel); workers: a cluster "
                   "whose workers read the same files (a shared disk).")
@engine_options
@figure_options
@output_options
def explain_command(**o: Any) -> None:
    """Explain images with one method and draw the maps over the original images.

    \b
    Examples:
      xaikit explain --model cats.h5 --image cat.jpg --method gradcam --layer conv2d_3 --preprocess scale255 -o cat.png
      xaikit explain --arch VGG16 --weights vgg16.h5 --image bird.jpg --preprocess caffe \\
          --method gradcam --layer block5_conv3 --labels imagenet_class_index.json -o bird.png
      xaikit explain --zoo shapes_cnn4 --method expected_gradients --layer conv2d_2 --background 64 \\
          --ranked-outputs 2 -o eg.png
      xaikit explain --zoo shapes_cnn4 --images 'val/*.png' --method smoothgrad --out maps.zarr --engine ray
    """
    from .. import METHODS, get_explainer

    ranked = o["ranked_outputs"]
    if o["zarr_out"] is not None:
        return _bulk(o)
    if o["engine"] != "local" or o["address"] or o["workers"] or o["maps_dtype"] != "float32" or o["decode"] != "auto":
        raise InputError("--engine, --address, --workers, --dtype and --decode run a bulk explanation: add --out "
                         "MAPS.zarr")
    npz_paths = _checked_outputs(o, ranked)
    method = o["method"]
    if method == "activations":
        raise InputError("feature maps are drawn by `xaikit activations`; `explain` takes an attribution method: "
                         + ", ".join(m for m in METHODS if m != "activations"))
    if ranked is not None and o["targets"]:
        raise InputError("give either --target (the classes to explain) or --ranked-outputs K (each image's K top "
                         "classes), not both")
    region = _region(o)
    check_method_options(o)
    st = setup(model_path=o["model_path"], arch=o["arch"], weights=o["weights"], input_size=o["input_size"],
               classes=o["classes"], zoo=o["zoo"], unsafe=o["unsafe"], framework=o["framework"],
               preprocess=o["preprocess"], labels_path=o["labels_path"], quiet=o["quiet"], images=o["images"],
               n_images=o["n_images"],
               to_grey=o["to_grey"])
    assert st.source is not None
    targets = region if region is not None else parse_targets(o["targets"], st.labels, len(st.source), warn)
    src = st.source if region is not None else one_row_per_target(st.source, targets, st.labels, st.log)
    n = len(src)
    show = n_shown(n, o["show"])
    step = chunk_size(o["chunk_size"])
    chunks = src.chunks(step)
    first = next(chunks)
    from ..registry import backend_for_model

    backend = o["backend"] if o["backend"] != "auto" else backend_for_model(st.model, method)
    bools = bool_param_names(method_classes([(method, backend)]))
    explainer = get_explainer(st.model, method, backend=backend, **method_params(o, st, first[1], bool_names=bools))
    ensure_seed(explainer, st.log)
    bar = progress(n, o["quiet"], method)
    with bar:
        parts, shown_parts, display = _explain_chunks(explainer, st, src, [first, *chunks], targets, ranked, show,
                                                      bool(npz_paths), bar)
    head = concat_explanations(shown_parts[0])
    st.log(f"{method} ({head.backend}): score {head.score}" + (f", layer {head.layer}" if head.layer else "")
           + f"; {format_params(head.params)}")
    if o["output"] is not None:
        _draw(o, st, src, np.concatenate(display), shown_parts, f"{method} ({head.backend})", head.layer, ranked,
              show)
    for r, path in enumerate(npz_paths):
        exp = with_provenance(concat_explanations(parts[r]), st, src.names, "explain")
        exp.save(path, overwrite=o["overwrite"])
        st.log(f"wrote {path}")


def _checked_outputs(o: dict[str, Any], ranked: int | None) -> list[Path]:
    """The ``--save-npz`` files (one per rank), after checking every output may be written."""
    default_output(o, o["method"], "save_npz")
    npz_paths = _npz_paths(o["save_npz"], ranked)
    outputs: dict[str, Path | None] = {"-o": o["output"], "--save-npz": None}
    for r, path in enumerate(npz_paths):
        outputs["--save-npz" + (f" (rank {r + 1})" if ranked else "")] = path
    check_outputs(outputs, o["overwrite"])
    return npz_paths


def _explain_chunks(explainer: Any, st: Any, src: Any, chunks: Any, targets: Any, ranked: int | None, show: int,
                    keep_all: bool, bar: Any) -> tuple[list[list[Any]], list[list[Any]], list[np.ndarray]]:
    """Explain the chunks, printing one line per image: every rank's explanations (``keep_all``), those of the
    first ``show`` images, and those images for display."""
    k = ranked or 1
    parts: list[list[Any]] = [[] for _ in range(k)]
    shown_parts: list[list[Any]] = [[] for _ in range(k)]
    display: list[np.ndarray] = []
    for s, pixels in chunks:
        x = st.to_input(pixels)
        if ranked:
            exps = explainer.explain_ranked(x, ranked)
        else:
            t = targets[s] if isinstance(targets, list) else targets
            exps = [explainer.explain(x, t)]
        room = show - sum(len(d) for d in display)
        if room > 0:
            display.append(st.to_display(x[:room], pixels[:room]))
        for r, exp in enumerate(exps):
            if keep_all:
                parts[r].append(exp)
            if room > 0:
                shown_parts[r].append(exp[:room])
        for i in range(len(x)):
            explained = ", ".join((f"rank {r + 1} " if ranked else "") + describe(st.labels, int(e.targets[i]))
                                  for r, e in enumerate(exps))
            if exps[0].target is not None:  # a score function: no class
                explained = exps[0].target
            predicted = int(exps[0].predictions[i])
            emit(bar, f"{src.names[s.start + i]}\tpredicted "
                      f"{describe(st.labels, predicted) if predicted >= 0 else '-'}\texplained {explained}")
        bar.update(len(x))
    return parts, shown_parts, display


def _draw(o: dict[str, Any], st: Any, src: Any, display: np.ndarray, shown_parts: list[list[Any]], label: str,
          layer: str | None, ranked: int | None, show: int) -> None:
    """The comparison figure of the images shown (one column per rank) into ``-o``."""
    from ..viz.compare import compare_figure
    from ..viz.save import save_figure

    columns = {(f"{label} rank {r + 1}" if ranked else label): concat_explanations(p)
               for r, p in enumerate(shown_parts)}
    fig = compare_figure(display, columns, class_names=st.labels, view=o["view"], normalize=o["normalize"],
                         colormap=o["colormap"], alpha=o["alpha"], image_range=(0.0, 255.0),
                         row_labels=row_labels(src.names[:show]),
                         title=o["title"] or figure_title(st, label + (f", layer {layer}" if layer else ""), show,
                                                          len(src)))
    save_figure(fig, o["output"], dpi=o["dpi"], overwrite=o["overwrite"])
    st.log(f"wrote {o['output']}")


def _region(o: dict[str, Any]) -> Any:
    """``--target-mask`` and ``--target-class`` as a :class:`xaikit.targets.Region` (None without them)."""
    if o["target_mask"] is None:
        if o["target_class"] is not None:
            raise InputError("--target-class names the class whose scores --target-mask sums; give the mask too "
                             "(for a classifier's class use --target)")
        return None
    if o["target_class"] is None:
        raise InputError("--target-mask needs --target-class K: the class whose scores the mask sums")
    clash = [name for name, key in (("--target", "targets"), ("--ranked-outputs", "ranked_outputs"),
                                    ("--out", "zarr_out")) if o[key]]
    if clash:
        raise InputError(f"--target-mask explains a region of a segmentation output; drop {', '.join(clash)}")
    from ..io import load_images
    from ..targets import Region

    mask = load_images([o["target_mask"]], channels=1)[0][0, :, :, 0] > 0
    if not mask.any():
        raise InputError(f"--target-mask {o['target_mask']} has no nonzero pixel: the region would be empty")
    return Region(o["target_class"], mask)


def _bulk(o: dict[str, Any]) -> None:
    """``--out MAPS.zarr``: :func:`xaikit.bulk.explain_to_zarr` over the images, with a progress line."""
    from ..bulk import explain_to_zarr
    from ..preprocessing import get_scheme
    from ._models import load_model
    from ._setup import Setup, make_logger

    clash = [name for name, key in (("-o", "output"), ("--save-npz", "save_npz"), ("--ranked-outputs",
                                                                                   "ranked_outputs")) if o[key]]
    if clash:
        raise InputError(f"--out writes the maps into a Zarr store; {', '.join(clash)} belong to a picture or an "
                         ".npz of few images: drop them, or drop --out")
    if not o["images"]:
        raise InputError("--out explains the images given with --images FOLDER|FILE|PATTERN (repeatable)")
    if len(o["targets"]) > 1:
        raise InputError("--out takes one --target for all images (or none: each image's predicted class)")
    check_method_options(o)
    log = make_logger(o["quiet"])
    spec = {"path": o["model_path"], "arch": o["arch"], "zoo": o["zoo"], "weights": o["weights"],
            "input_size": tuple(o["input_size"]) if o["input_size"] else None, "classes": o["classes"],
            "unsafe": o["unsafe"], "framework": o["framework"]}
    loaded = load_model(model_path=o["model_path"], arch=o["arch"], zoo=o["zoo"], weights=o["weights"],
                        input_size=spec["input_size"], classes=o["classes"], unsafe=o["unsafe"],
                        framework=o["framework"], log=log)
    scheme = get_scheme(o["preprocess"] or loaded.default_preprocess or "none")
    log(f"model: {loaded.source}; preprocessing: {scheme.name} = {scheme.description}")
    st = Setup(loaded, scheme, None, None, log, o["quiet"], o["to_grey"])
    backend = o["backend"] if o["backend"] != "auto" else None
    from ..registry import backend_for_model

    backend = backend or backend_for_model(loaded.model, o["method"])
    params = method_params(o, st, None, bool_names=bool_param_names(method_classes([(o["method"], backend)])))
    target = None
    if o["targets"]:
        target = parse_targets(o["targets"], None, 1, warn)
        target = target[0] if isinstance(target, list) else target
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = RunProgress(total, o["quiet"], f"{o['method']} -> {o['zarr_out'].name}", initial=done).__enter__()
        else:
            bar.update(done - bar.done)

    try:
        result = explain_to_zarr(loaded, list(o["images"]), o["zarr_out"], o["method"], targets=target,
                                 backend=backend, preprocess=scheme.name, chunk_size=o["chunk_size"],
                                 engine=o["engine"], address=o["address"], workers=o["workers"],
                                 overwrite=o["overwrite"], progress=progress, to_grey=o["to_grey"], source=spec,
                                 log=log, dtype=o["maps_dtype"], decode=o["decode"], **params)
    except KeyboardInterrupt:
        if bar is not None:
            bar.__exit__(None, None, None)
            bar = None
        click.echo(f"\ninterrupted: the finished chunks are safe in {o['zarr_out']}; run the same command again to "
                   "resume (only the missing chunks are computed).", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    log(f"wrote {result.path}: {result.n_images} images in {result.n_chunks} chunks ({result.computed} computed, "
        f"{result.reused} kept from an earlier run"
        + (f"; {len(result.changed)} image(s) had changed and were explained again" if result.changed else "")
        + f"), {result.images_per_second:.1f} images/s on "
        f"{result.engine.get('engine')}"
        + (f" ({result.steady_images_per_second:.1f} images/s after a start-up of {result.startup_seconds:.1f} s)"
           if result.steady_images_per_second else "")
        + (f"; per image {result.traffic['to_workers'] / 1024:.1f} KiB to the workers (images decoded on the "
           f"{result.traffic['decode']}), {result.traffic['from_workers'] / 1024:.1f} KiB back"
           if result.traffic else ""))
