"""``xaikit filters``: the kernels of a convolution layer (seed 001's filter pictures)."""

from __future__ import annotations

from typing import Any

import click

from ..errors import InputError
from ._common import COUNT, check_outputs, colormap_option, default_output, model_options, output_options, setup
from ._group import main


@main.command("filters")
@model_options
@click.option("-l", "--layer", help="The convolution layer (default: the first one).")
@click.option("--normalize", type=click.Choice(["global", "filter", "symmetric"]), default="global", show_default=True,
              help="global (min-max over the whole kernel, as seed 001), filter (per filter) or symmetric "
                   "(zero = mid-grey).")
@click.option("--layout", type=click.Choice(["auto", "channels", "rgb"]), default="auto", show_default=True,
              help="channels (each input channel in grey), rgb (each filter as a colour image; needs 3 input "
                   "channels) or auto (rgb for 3 input channels).")
@click.option("--max-filters", type=COUNT, default=32, show_default=True, help="Show the first N filters.")
@click.option("--max-channels", type=COUNT, default=16, show_default=True,
              help="Show the first N input channels per filter (channels layout).")
@colormap_option("--cmap", default="gray", help="Colormap of the channels layout.")
@click.option("--title", help="Picture title.")
@output_options
def filters_command(**o: Any) -> None:
    """Draw the filters (kernel weights) of a convolution layer; no images needed.

    \b
    Examples:
      xaikit filters --model model.keras --layer conv2d -o filters.png
      xaikit filters --zoo digits_bn --layer conv2d_1 --normalize symmetric --cmap RdBu_r -o f.png
    """
    from ..viz.filters import filter_grid
    from ..viz.save import save_figure

    default_output(o, f"{o['layer']}_filters" if o["layer"] else "filters", images=False)
    check_outputs({"-o": o["output"]}, o["overwrite"])
    st = setup(model_path=o["model_path"], arch=o["arch"], weights=o["weights"], input_size=o["input_size"],
               classes=o["classes"], zoo=o["zoo"], unsafe=o["unsafe"], framework=o["framework"], preprocess=None,
               labels_path=None, quiet=o["quiet"], need_images=False)
    if st.loaded.opaque:
        raise InputError("a SavedModel's layers are not visible, so its filters cannot be drawn; load the "
                         ".keras/.h5 file of the model")
    services = st.loaded.services
    candidates = services.kernel_layers(st.model)
    if not candidates:
        raise InputError("the model has no layer with a 4-D (kh, kw, c_in, c_out) kernel to draw")
    name = o["layer"] or candidates[0]
    kernel = services.conv_filters(st.model, name)
    kh, kw, c_in, c_out = kernel.shape
    click.echo(f"{name}\tconvolution\tkernel {kh}x{kw}x{c_in}x{c_out}\t"
               f"min {float(kernel.min()):.4g}\tmax {float(kernel.max()):.4g}")
    title = o["title"] or f"{name} · {st.loaded.source} · kernel {kh}×{kw}×{c_in}×{c_out}"
    fig = filter_grid(kernel, layout=o["layout"], normalize=o["normalize"], max_filters=o["max_filters"],
                      max_channels=o["max_channels"], cmap=o["cmap"], title=title)
    save_figure(fig, o["output"], dpi=o["dpi"], overwrite=o["overwrite"])
    st.log(f"wrote {o['output']}")
