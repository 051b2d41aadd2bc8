"""``xaikit activations``: feature-map grids of chosen layers (the seeds' activation pictures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import InputError
from ..validation import MAX_INT
from ._common import (
    COUNT,
    check_outputs,
    chunk_size,
    colormap_option,
    default_output,
    image_options,
    model_options,
    output_options,
    progress,
    setup,
)
from ._group import main


def _concat(parts: list[Any]) -> Any:
    from ..explanation import Activations

    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    maps = {name: np.concatenate([p[name] for p in parts]) for name in first.layers}
    outputs = None if any(p.outputs is None for p in parts) else np.concatenate([p.outputs for p in parts])
    return Activations(maps, backend=first.backend, elapsed=sum(p.elapsed for p in parts), params=first.params,
                       outputs=outputs, info=first.info)


@main.command("activations")
@model_options
@image_options
@click.option("-l", "--layers", "layers", multiple=True, metavar="NAMES|first:N|all",
              help="Layers to show: names (repeat or comma-separate), first:N (model.layers[:N], as the seeds' "
                   "model.layers[:8]) or all. Default: every convolution and pooling layer.")
@click.option("--image-index", type=int, default=0, show_default=True, help="Which image the picture shows.")
@click.option("--per-layer", is_flag=True,
              help="One picture per layer, NAME_<layer>.EXT next to -o (the seeds draw one figure per layer).")
@click.option("--mode", type=click.Choice(["channel", "layer"]), default="channel", show_default=True,
              help="channel: each channel standardised as the seeds ((x - mean) / std * 64 + 128); layer: one "
                   "min-max scale per layer.")
@click.option("--images-per-row", type=COUNT, default=16, show_default=True, help="Channels per row (16 as the seeds).")
@click.option("--max-channels", type=click.IntRange(min=0, max=MAX_INT), default=64, show_default=True,
              help="Channels drawn per layer at most (0: all of them, over as many pages as it takes).")
@click.option("--layers-per-page", type=COUNT, default=8, show_default=True,
              help="Layers drawn in one picture; more layers go to NAME_p2.EXT, NAME_p3.EXT, ... next to -o.")
@colormap_option("--cmap", default="viridis", help="Matplotlib colormap.")
@click.option("--backend", default="auto", show_default=True, help="Backend id or auto.")
@click.option("--batch-size", type=COUNT, help="Largest batch sent to the model.")
@click.option("--save-npz", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the activations of all images (xaikit.Activations.load reads it).")
@click.option("--title", help="Picture title.")
@output_options
def activations_command(**o: Any) -> None:
    """Draw every channel of chosen layers for one image (and save all images' feature maps).

    \b
    Examples:
      xaikit activations --model cats_and_dogs_small_2.h5 --image cat.1700.jpg --preprocess scale255 \\
          --layers first:8 -o acts.png
      xaikit activations --zoo shapes_cnn4 --layers conv2d,conv2d_1 --per-layer -o acts.png
    """
    from .. import get_extractor

    default_output(o, "activations", *(() if o["per_layer"] else ("save_npz",)))
    # with --per-layer, -o only names the pictures (checked once the layers are known, before any work)
    check_outputs({"-o": None if o["per_layer"] else o["output"], "--save-npz": o["save_npz"]}, o["overwrite"],
                  required=False)
    for option in ("max_channels", "layers_per_page"):
        if o[option] < (0 if option == "max_channels" else 1):
            raise InputError(f"--{option.replace('_', '-')} must be >= {0 if option == 'max_channels' else 1}; "
                             f"got {o[option]}")
    st = setup(model_path=o["model_path"], arch=o["arch"], weights=o["weights"], input_size=o["input_size"],
               classes=o["classes"], zoo=o["zoo"], unsafe=o["unsafe"], framework=o["framework"],
               preprocess=o["preprocess"], labels_path=o["labels_path"], quiet=o["quiet"], images=o["images"],
               n_images=o["n_images"],
               to_grey=o["to_grey"])
    src = st.source
    assert src is not None
    n = len(src)
    index = o["image_index"]
    if not -n <= index < n:
        raise InputError(f"--image-index {index} is out of range for {n} image(s) (valid: 0..{n - 1})")
    index %= n
    params: dict[str, Any] = {"layers": list(o["layers"]) or None}  # names, first:N, all (xaikit.layer_selection)
    if o["batch_size"] is not None:
        params["batch_size"] = o["batch_size"]
    extractor = get_extractor(st.model, backend=o["backend"], **params)
    if o["output"] is not None:  # every picture this run may write, before any work
        planned = extractor.layers_for(st.to_input(src.load([index])))  # validates --layers too
        _check_pictures(Path(o["output"]), planned, o["per_layer"], o["overwrite"])
    if o["save_npz"] is not None:  # every image, streamed in chunks
        parts = []
        with progress(n, o["quiet"], "activations") as bar:
            for _, pixels in src.chunks(chunk_size(o["chunk_size"])):
                parts.append(extractor.extract(st.to_input(pixels)))
                bar.update(len(pixels))
        acts = _concat(parts)
        one = {name: acts[name][index:index + 1] for name in acts.layers}
    else:  # only the image the picture shows
        acts = extractor.extract(st.to_input(src.load([index])))
        one = {name: acts[name] for name in acts.layers}
    for name in acts.layers:
        fmap = one[name][0]
        dead = ""
        if fmap.ndim == 3:
            count = int((np.abs(fmap.reshape(-1, fmap.shape[-1])).max(axis=0) == 0).sum())
            dead = f"\tdead channels {count}/{fmap.shape[-1]}"
        click.echo(f"{name}\t{tuple(fmap.shape)}{dead}")
    spatial = [name for name in acts.layers if acts[name].ndim == 4]
    skipped = [name for name in acts.layers if name not in spatial]
    if skipped:
        st.log(f"not drawn (no spatial feature map): {', '.join(skipped)}")
    if o["output"] is not None:
        _draw(o, st, one, spatial, acts.layers, src.names[index])
    if o["save_npz"] is not None:
        acts.save(o["save_npz"], overwrite=o["overwrite"])
        st.log(f"wrote {o['save_npz']}")


def _draw(o: dict[str, Any], st: Any, one: dict[str, np.ndarray], spatial: list[str], layers: list[str],
          image_name: str) -> None:
    """The pages of the feature maps of one image (``one``: layer -> ``(1, h, w, C)``) into ``-o``."""
    from ..viz.activation_figures import activation_pages
    from ..viz.save import save_figure

    if not spatial:
        raise InputError(f"none of the layers {layers} has a spatial (h, w, C) output to draw; choose "
                         "convolution or pooling layers")
    out = Path(o["output"])
    cap = o["max_channels"] or None
    title = o["title"] or f"activations · {st.loaded.source} · {image_name} · preprocess {st.scheme.name}"
    pages = activation_pages(one, spatial, image_index=0, images_per_row=o["images_per_row"], cmap=o["cmap"],
                             mode=o["mode"], max_channels=cap, layers_per_page=o["layers_per_page"],
                             per_layer=o["per_layer"], dpi=o["dpi"], title=title,
                             more_hint="--max-channels 0 draws all")
    capped = [name for name in spatial if cap is not None and one[name].shape[-1] > cap]
    if capped:
        st.log(f"note: {len(capped)} layer(s) have more than {cap} channels ({', '.join(capped[:4])}"
               f"{', ...' if len(capped) > 4 else ''}); the first {cap} of each are drawn. --max-channels N draws "
               "more (0: all, over more pages).")
    for key, fig in pages:
        path = _picture_path(out, key if (o["per_layer"] or len(pages) > 1) else None)
        save_figure(fig, path, dpi=o["dpi"], overwrite=o["overwrite"])
        st.log(f"wrote {path}")
    if len(pages) > 1 and not o["per_layer"]:
        st.log(f"{len(spatial)} layers drawn on {len(pages)} pages (--layers-per-page {o['layers_per_page']}; "
               "--layers NAMES draws chosen layers)")


def _picture_path(out: Path, key: str | None) -> Path:
    """``-o`` itself (one picture), or ``NAME_<key>.EXT`` next to it (pages, layers)."""
    if key is None:
        return out
    return out.with_name(f"{out.stem}_{key.replace('/', '_')}{out.suffix}")


def _check_pictures(out: Path, layers: list[str], per_layer: bool, overwrite: bool) -> None:
    """Refuse, before any work, pictures that exist: ``-o``, its pages ``NAME_p<k>``, or ``NAME_<layer>[_p<k>]``."""
    import glob

    if per_layer:
        check_outputs({f"-o ({name})": _picture_path(out, name) for name in layers}, overwrite)
        stems = [_picture_path(out, name).stem + "_p" for name in layers]
    else:
        stems = [out.stem + "_p"]
    if overwrite:
        return
    for stem in stems:
        found = sorted(out.parent.glob(glob.escape(stem) + "[0-9]*" + glob.escape(out.suffix)))
        if found:
            raise FileExistsError(f"{found[0]} exists (a page this command writes next to -o {out}); pass "
                                  "--overwrite to replace it, or another -o")
