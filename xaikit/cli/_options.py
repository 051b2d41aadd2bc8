"""The options the commands share: model, images, method parameters, outputs, colormaps, sizes.

Every option is checked when Click parses it (ranges, choices, colormaps), so a bad value
stops a command before any model is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from ..preprocessing import SCHEMES
from ..validation import MAX_INT

__all__ = ["COUNT", "DEFAULT_CHUNK", "chunk_size", "colormap_option", "image_options", "method_options",
           "model_options", "output_options", "warn"]

#: Images loaded and explained at a time by the commands (``--chunk-size``). Native random
#: methods key an image's draws by the seed and the image's content, so the chunk size
#: changes no random draw; the numbers are equal up to float32 rounding, because the
#: model's float32 reductions (convolutions, sums over a batch) depend on how many rows
#: a call holds (measured: at most 1.5e-6 of a map's largest value, see docs/cli.md). Adapters
#: follow their library: tf-explain and shap draw one stream per call, so their numbers
#: depend on the chunks.
DEFAULT_CHUNK = 64
#: A count option: an integer >= 1 (checked by Click before anything is loaded).
COUNT = click.IntRange(min=1, max=MAX_INT)


def _check_colormap(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse an unknown Matplotlib colormap when the options are parsed, not after the work."""
    if value is None:
        return value
    from ..viz.overlay import get_colormap

    try:
        get_colormap(value)
    except InputError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


def colormap_option(*names: str, default: str, help: str) -> Callable[[Any], Any]:
    """A colormap option checked at parse time (exit code 2 with the valid names)."""
    return click.option(*names, default=default, show_default=True, callback=_check_colormap, help=help)


def warn(message: str) -> None:
    """A warning on stderr; shown even with ``--quiet`` (it says the result may not be what was meant)."""
    click.echo(f"warning: {message}", err=True)


# --------------------------------------------------------------------------- options
def _compose(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(f: Any) -> Any:
        for d in reversed(decorators):
            f = d(f)
        return f
    return apply


def model_options(f: Any) -> Any:
    """``--model``, ``--arch``/``--weights``/``--input-size``/``--classes``, ``--zoo``, ``--unsafe``."""
    return _compose(
        click.option("-m", "--model", "model_path", metavar="FILE|FOLDER",
                     help="A model file any installed backend reads (.keras, .h5, SavedModel folder, .pt, .onnx) "
                          "or package.module:function (a callable returning class scores; needs --unsafe)."),
        click.option("--framework", type=click.Choice(["keras", "torch"]),
                     help="Framework of --zoo (torch: the PyTorch twins) or of an --arch both frameworks know."),
        click.option("--arch", metavar="NAME",
                     help="A keras.applications architecture (VGG16, ResNet50, Xception, ...); needs --weights."),
        click.option("--weights", metavar="FILE|none|imagenet",
                     help="Weights of --arch: a file, 'none' (random) or 'imagenet' (Keras downloads it once)."),
        click.option("--input-size", type=COUNT, nargs=2, metavar="H W",
                     help="Input size for --arch, or the resize target of a model that accepts any size."),
        click.option("--classes", type=COUNT, metavar="K",
                     help="Output classes of --arch (include_top, --weights none)."),
        click.option("--zoo", metavar="NAME", help="A model of xaikit's zoo (offline): shapes_cnn4, shapes_binary, "
                                                    "digits_bn."),
        click.option("--unsafe", is_flag=True,
                     help="Load what runs code, from a model you trust: Lambda layers (arbitrary Python code) "
                          "and TensorFlow SavedModel folders (their graph runs as saved)."),
    )(f)


def image_options(f: Any) -> Any:
    """``--images``, ``--n-images``, ``--preprocess``, ``--to-grey``, ``--labels``, ``--chunk-size``."""
    return _compose(
        click.option("-i", "--images", "--image", "images", multiple=True, metavar="PATH",
                     help="Image file or folder (repeatable). Any format OpenCV reads. With --zoo and no --images: "
                          "the zoo's test images."),
        click.option("--n-images", type=COUNT, default=4, show_default=True,
                     help="How many zoo test images to use when --zoo is given without --images."),
        click.option("-p", "--preprocess", metavar="SCHEME",
                     help=f"What the model takes: {', '.join(SCHEMES)} or a keras.applications family (vgg16, "
                          "xception, ...). Default: none (zoo models: scale255). Printed when run."),
        click.option("--to-grey", "--to-gray", "to_grey", is_flag=True,
                     help="The model takes 1 channel: convert colour images to grey (OpenCV: 0.299 R + 0.587 G + "
                          "0.114 B; logged). Without it a colour image is an error; grey files need no option."),
        click.option("--labels", "labels_path", metavar="FILE",
                     help="Class names: .txt (one per line) or .json (list, {index: name}, or Keras' "
                          "imagenet_class_index.json)."),
        click.option("--chunk-size", type=COUNT, default=DEFAULT_CHUNK, show_default=True,
                     help="Images read and explained at a time (a folder of any size streams). Results equal "
                          "those of other chunk sizes up to float32 rounding."),
    )(f)


def method_options(f: Any) -> Any:
    """The common method parameters; only the ones given are passed on (the explainer validates them)."""
    return _compose(
        click.option("--backend", default="auto", show_default=True,
                     help="Backend id (tensorflow, torch, callable, tf-explain, shap, captum, pytorch-grad-cam) or "
                          "auto (the native one for the model)."),
        click.option("--layer", help="Layer of layer methods (the CAMs, expected_gradients at a layer); default: "
                                            "the output of the last convolution block."),
        click.option("--batch-size", type=int, help="Largest batch sent to the model (bounds memory)."),
        click.option("--seed", type=int, help="Seed of random methods (drawn and printed if not given)."),
        click.option("--n-samples", type=int,
                     help="Samples of the sampling methods (smoothgrad, vargrad, squaregrad, expected_gradients, rise, "
                          "kernel_shap, lime, ...)."),
        click.option("--noise", type=float,
                     help="Noise of smoothgrad, vargrad, squaregrad on the native backends: the standard deviation "
                          "as a fraction of each image's value range (max - min), e.g. 0.15. tf-explain and Captum "
                          "take an absolute standard deviation in model-input units instead: --param noise_std=X."),
        click.option("--steps", type=int, help="Integration steps of integrated_gradients."),
        click.option("--baseline", metavar="VALUE",
                     help="Baseline of occlusion / integrated_gradients: a number or per-channel 'a,b,c' in model "
                          "input units, black|white|grey (pixels, preprocessed), or an image file."),
        click.option("--patch-size", metavar="N|HxW", help="Occlusion patch size."),
        click.option("--stride", metavar="N|HxW", help="Occlusion stride (default: the patch size)."),
        click.option("--background", multiple=True, metavar="PATH|N",
                     help="Expected-gradients background: image files/folders (preprocessed like the images), or N "
                          "training images of a --zoo model."),
        click.option("--score", help="What gradient methods explain: logit, probability or output."),
        click.option("--model-output", "model_output", metavar="INDEX|KEY",
                     help="Which of the model's outputs holds the class scores, for models returning several: an "
                          "index (tuple, list, a Keras model's outputs) or a key / attribute name such as logits "
                          "(default: the one output; Hugging Face models: logits)."),
        click.option("--param", "extra_params", multiple=True, metavar="KEY=VALUE",
                     help="Any other method parameter (value parsed as JSON, else text), e.g. relu=false; a bool "
                          "parameter takes true/false, yes/no or 1/0. A parameter with its own option (--layer, ...) "
                          "is set there, not here."),
    )(f)


def output_options(f: Any) -> Any:
    """``-o``, ``--overwrite``, ``--dpi``, ``--quiet``."""
    return _compose(
        click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                     help="The picture: .png, .pdf or .svg (by extension). Default, when no other output is "
                          "asked for: NAME_<what>.png in the current folder (NAME: the first image or the model)."),
        click.option("--overwrite", is_flag=True, help="Replace existing output files (otherwise: exit code 5)."),
        click.option("--dpi", type=click.FloatRange(min=10, max=1200), default=150, show_default=True,
                     help="Resolution of PNG output (10..1200)."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bars or notes on stderr."),
    )(f)


def chunk_size(value: int) -> int:
    if value < 1:
        raise InputError(f"--chunk-size must be >= 1; got {value}")
    return value
