"""``xaikit sanity``: the model-parameter randomisation check of Adebayo et al. (2018), as a table and a picture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from ..labels import parse_targets
from ..sanity import DEFAULT_METHODS, SANITY_METRICS
from ._common import (
    check_method_options,
    check_outputs,
    colormap_option,
    default_output,
    describe,
    image_options,
    method_options,
    method_params,
    model_options,
    one_row_per_target,
    output_options,
    setup,
    warn,
)
from ._group import main
from ._params import bool_param_names, method_classes


def _methods(values: tuple[str, ...], backend: str, model: Any) -> list[tuple[str, str]]:
    """``--method METHOD[:BACKEND]`` values -> (method, backend) pairs (``auto``: the model's native backend)."""
    from ..registry import backend_for_model

    pairs = []
    for value in values or DEFAULT_METHODS:
        method, _, chosen = value.partition(":")
        method, chosen = method.strip(), (chosen.strip() or backend)
        if not method:
            raise InputError(f"--method takes METHOD or METHOD:BACKEND (e.g. gradcam:tf-explain); got {value!r}")
        pairs.append((method, backend_for_model(model, method) if chosen == "auto" else chosen))
    return pairs


@main.command("sanity")
@model_options
@image_options
@click.option("--method", "methods", multiple=True, metavar="METHOD[:BACKEND]",
              help=f"A method to check (repeat). Default: {', '.join(DEFAULT_METHODS)} (the paper's contrast: "
                   "guided backpropagation and guided Grad-CAM barely change, gradients and Grad-CAM do).")
@click.option("--mode", type=click.Choice(["cascading", "independent"]), default="cascading", show_default=True,
              help="cascading: layers re-initialised one after the other from the output down, cumulatively (the "
                   "paper's Figure 2); independent: one layer at a time, the others original.")
@click.option("--layers", "layers", multiple=True, metavar="NAMES|top:N|all",
              help="Layers to re-initialise, in order: names (repeat or comma-separate), top:N (the N layers with "
                   "weights nearest the output) or all. Default: every layer with weights, top first.")
@click.option("--edge-control", is_flag=True,
              help="Add the edge detector (Sobel magnitude of the image) as a row: it ignores the model, so it never "
                   "changes; a method that looks like it fails the check.")
@click.option("-t", "--target", "targets", multiple=True, metavar="CLASS",
              help="Class to explain at every step (index or --labels name), one for all images or one per image. "
                   "Default: the original model's predictions, taken before any layer is touched.")
@click.option("--metric", type=click.Choice(SANITY_METRICS), default="spearman_abs", show_default=True,
              help="The similarity printed: Spearman rank correlation of |maps|, of the signed maps, or SSIM (the "
                   "JSON holds all three).")
@click.option("--image-index", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which image the picture shows.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), metavar="OUT.json",
              help="Write the numbers: per method the mean and per-image similarities of every step, the layers, "
                   "seeds, targets and effective parameters.")
@method_options
@colormap_option("--colormap", default="gray", help="Colormap of the maps' magnitudes (gray: black = 0, as the paper).")
@click.option("--title", help="Picture title (default: the check, the image and its class).")
@output_options
def sanity_command(**o: Any) -> None:
    """Re-initialise the model's layers from the output down and see which methods' maps change.

    The model-parameter randomisation check of Adebayo et al., "Sanity Checks for Saliency
    Maps" (NeurIPS 2018): every method explains the same images for the same classes on
    the original model and after each layer is randomised. Prints the similarity of each
    step's maps to the original ones (mean over images; near 0: the method depends on the
    learned weights and passes; near 1: it does not) and draws the maps of one image.
    The model's weights are restored afterwards. ``--seed`` seeds the new weights and the
    random methods (the same noise at every step).

    \b
    Examples:
      xaikit sanity --zoo shapes_cnn4 --n-images 16 --edge-control -o sanity.png --json sanity.json
      xaikit sanity --zoo shapes_cnn4 --framework torch --method gradcam --method guided_backprop --seed 0
      xaikit sanity --model cats.h5 --images cats/ --preprocess scale255 --layers top:3 --mode independent
    """
    from .. import sanity_check
    from ..viz.sanity import randomisation_grid
    from ..viz.save import save_figure

    ctx = click.get_current_context()
    if ctx.get_parameter_source("chunk_size") is not click.core.ParameterSource.DEFAULT:
        raise InputError("sanity keeps the maps of every step of every image in memory and explains them in one go; "
                         "drop --chunk-size (choose fewer images with --n-images or --images)")
    default_output(o, "sanity", "json_path")
    if o["json_path"] is not None and o["json_path"].suffix.lower() != ".json":
        raise InputError(f"--json {o['json_path']}: the file name must end in .json")
    check_outputs({"-o": o["output"], "--json": o["json_path"]}, o["overwrite"])
    check_method_options(o)
    st = setup(model_path=o["model_path"], arch=o["arch"], weights=o["weights"], input_size=o["input_size"],
               classes=o["classes"], zoo=o["zoo"], unsafe=o["unsafe"], framework=o["framework"],
               preprocess=o["preprocess"], labels_path=o["labels_path"], quiet=o["quiet"], images=o["images"],
               n_images=o["n_images"], to_grey=o["to_grey"])
    assert st.source is not None
    pairs = _methods(o["methods"], o["backend"], st.model)
    targets = parse_targets(o["targets"], st.labels, len(st.source), warn)
    src = one_row_per_target(st.source, targets, st.labels, st.log)
    if o["image_index"] >= len(src):
        raise InputError(f"--image-index {o['image_index']}: there are {len(src)} image(s); give 0..{len(src) - 1}")
    pixels = src.load(slice(0, len(src)))
    x = st.to_input(pixels)
    common = method_params(o, st, pixels, bool_names=bool_param_names(method_classes(pairs)))
    seed = common.pop("seed", None)
    if seed is None:
        from ..validation import check_seed

        seed = check_seed(None)
        st.log(f"seed: {seed} (drawn; pass --seed {seed} to repeat this run)")
    check = sanity_check(st.model, x, pairs, targets=targets, layers=o["layers"] or None, mode=o["mode"], seed=seed,
                         edge_control=o["edge_control"], progress=lambda label: st.log(f"checking {label} ..."),
                         **common)
    click.echo(check.describe(o["metric"]))
    click.echo(check.table(o["metric"]))
    if o["json_path"] is not None:
        from ..atomic_files import atomic_write_text

        data = {**check.to_dict(), "cli": {"model": st.loaded.source, "preprocess": st.scheme.name,
                                           "images": list(src.names)}}
        atomic_write_text(o["json_path"], json.dumps(data, indent=1) + "\n", overwrite=o["overwrite"])
        st.log(f"wrote {o['json_path']}")
    if o["output"] is not None:
        title = o["title"]
        if title is None:
            i = o["image_index"]
            title = (f"Randomisation sanity check (Adebayo et al. 2018) · {st.loaded.source} · {src.names[i]}, "
                     f"explaining {describe(st.labels, int(check.targets[i]))}")
        fig = randomisation_grid(check, o["image_index"], images=st.to_display(x, pixels), image_range=(0.0, 255.0),
                                 class_names=st.labels, colormap=o["colormap"], title=title)
        save_figure(fig, o["output"], dpi=o["dpi"], overwrite=o["overwrite"])
        st.log(f"wrote {o['output']}")
