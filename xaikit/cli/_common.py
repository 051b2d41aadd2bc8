"""Pieces shared by the commands: options, the model/images/labels setup, outputs, progress.

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from .._display import format_params  # noqa: F401 - the commands import it from here
from ..errors import InputError
from ..preprocessing import SCHEMES, Scheme, get_scheme, pixel_input
from ..validation import MAX_INT
from ..labels import Labels, load_labels
from ._models import LoadedModel, load_model
from ._params import check_param_items, parse_pair, parse_param_value, split_param_item

__all__ = [
    "model_options", "image_options", "method_options", "output_options", "Setup", "setup", "ImageSource",
    "method_params", "check_method_options", "check_outputs", "progress", "emit", "concat_explanations",
    "ensure_seed", "figure_title", "warn", "COUNT", "colormap_option", "one_row_per_target",
]

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
                     help="Backend id (tensorflow, tf-explain, shap) or auto (the native one)."),
        click.option("--layer", help="Layer of layer methods (gradcam, gradcam++, expected_gradients)."),
        click.option("--batch-size", type=int, help="Largest batch sent to the model (bounds memory)."),
        click.option("--seed", type=int, help="Seed of random methods (drawn and printed if not given)."),
        click.option("--n-samples", type=int, help="Samples of smoothgrad / expected_gradients."),
        click.option("--noise", type=float,
                     help="SmoothGrad noise. tensorflow (native): the standard deviation as a fraction of each "
                          "image's value range (max - min), e.g. 0.15; tf-explain: the absolute standard deviation "
                          "in model-input units (0.15 is slight on [0, 1] inputs, nothing on [0, 255])."),
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


# --------------------------------------------------------------------------- images
def read_images(sources: Sequence[str | Path], *, size: tuple[int, int] | None, channels: int, to_grey: bool,
                log: Callable[[str], None], what: str = "images") -> np.ndarray:
    """Pixels ``(n, H, W, channels)`` (uint8) of image files, never turned grey silently.

    For a 1-channel model, files are read in colour first: grey files (every pixel
    R = G = B) give their grey values as they are; a colour file is an error unless
    ``to_grey`` (``--to-grey``), which converts with OpenCV's luminance and logs it.
    """
    from ..io import load_images

    if channels != 1:
        return load_images(list(sources), size=size, channels=channels)[0]
    rgb, paths = load_images(list(sources), size=size, channels=3)
    colour = np.flatnonzero((rgb != rgb[..., :1]).any(axis=(1, 2, 3)))
    if not len(colour):
        return np.ascontiguousarray(rgb[..., :1])
    names = ", ".join(paths[i].name for i in colour[:3]) + (", ..." if len(colour) > 3 else "")
    if not to_grey:
        raise InputError(f"the model takes 1 channel (grey) but {len(colour)} of the {what} are in colour ({names}); "
                         "pass --to-grey to convert them (OpenCV: 0.299 R + 0.587 G + 0.114 B), or convert them the "
                         "way the model's training images were made")
    log(f"--to-grey: {len(colour)} colour {what} converted to grey ({names})")
    return load_images(list(sources), size=size, channels=1)[0]


@dataclass
class ImageSource:
    """The images of a run: files read lazily in chunks, or in-memory zoo pixels."""

    names: list[str]
    size: tuple[int, int] | None
    channels: int
    paths: list[Path] | None = None
    pixels: np.ndarray | None = None  # float32 pixels in [0, 255] (zoo)
    to_grey: bool = False
    log: Callable[[str], None] = lambda message: None

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: slice | Sequence[int]) -> np.ndarray:
        """Pixels ``(n, H, W, C)`` (uint8 from files, float32 for zoo images) of ``index``."""
        if self.pixels is not None:
            return self.pixels[index]
        assert self.paths is not None
        chosen = self.paths[index] if isinstance(index, slice) else [self.paths[i] for i in index]
        return read_images(chosen, size=self.size, channels=self.channels, to_grey=self.to_grey, log=self.log)

    def chunks(self, size: int) -> Iterator[tuple[slice, np.ndarray]]:
        """``(slice, pixels)`` for consecutive chunks of ``size`` images."""
        for start in range(0, len(self), size):
            s = slice(start, min(start + size, len(self)))
            yield s, self.load(s)


def _image_source(paths: list[Path], loaded: LoadedModel, n_images: int,
                  input_size: tuple[int, int] | None, to_grey: bool, log: Callable[[str], None]) -> ImageSource:
    size = loaded.input_size
    if None in size:
        size = tuple(input_size) if input_size else None  # type: ignore[assignment]
    elif input_size and tuple(input_size) != tuple(size):  # (--arch builds the model at --input-size)
        raise InputError(f"--input-size {input_size[0]} {input_size[1]} does not match the model input "
                         f"{size[0]}x{size[1]}; images are resized to the model input, drop --input-size")
    if paths:
        return ImageSource([p.name for p in paths], size, loaded.channels, paths=paths,  # type: ignore[arg-type]
                           to_grey=to_grey, log=log)
    if loaded.zoo is None:
        raise InputError("give images with --images FILE|FOLDER (repeatable)")
    from .. import zoo

    data = zoo.load_data(loaded.zoo, split="test", n=n_images)
    pixels = np.asarray(data.images, np.float32) * np.float32(255.0)
    names = [f"{loaded.zoo}:test[{i}]" for i in range(len(pixels))]
    return ImageSource(names, size, loaded.channels, pixels=pixels)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- setup
@dataclass
class Setup:
    """What every command works with."""

    loaded: LoadedModel
    scheme: Scheme
    source: ImageSource | None
    labels: Labels | None
    log: Callable[[str], None]
    quiet: bool
    to_grey: bool = False

    @property
    def model(self) -> Any:
        return self.loaded.model

    def to_input(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels (channels last) -> model input with the run's scheme, in the model's layout."""
        from ..kernels import to_layout

        return to_layout(self.scheme.forward(pixels), "NHWC", self.loaded.layout)

    def to_display(self, x: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """Model input -> pixels for pictures (channels last): the scheme's inverse (the original pixels if it has
        none)."""
        from ..kernels import to_layout

        try:
            return self.scheme.inverse(to_layout(x, self.loaded.layout, "NHWC"))
        except InputError:
            return np.asarray(pixels, np.float32)


def make_logger(quiet: bool) -> Callable[[str], None]:
    def log(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)
    return log


def setup(*, model_path: str | None, arch: str | None, weights: str | None, input_size: Any, classes: int | None,
          zoo: str | None, unsafe: bool, preprocess: str | None, labels_path: str | None, quiet: bool,
          images: Sequence[str] | None = None, n_images: int = 4, need_images: bool = True,
          to_grey: bool = False, framework: str | None = None) -> Setup:
    """Load the model, choose the preprocessing, find the images, read the labels; log what was chosen."""
    log = make_logger(quiet)
    size = tuple(input_size) if input_size else None
    paths: list[Path] = []
    if need_images and images:  # before the (slow) model: a wrong path fails at once
        from ..io import find_images

        paths = find_images(list(images))
    loaded = load_model(model_path=model_path, arch=arch, zoo=zoo, weights=weights,
                        input_size=size, classes=classes, unsafe=unsafe, framework=framework)  # type: ignore[arg-type]
    h, w = loaded.input_size
    log(f"model: {loaded.source} — input {h or '?'}x{w or '?'}x{loaded.channels}, {loaded.n_outputs} output(s)")
    for note in loaded.notes:
        log(f"note: {note}")
    scheme = SCHEMES["none"]
    if need_images:
        if preprocess is None:
            name = loaded.default_preprocess or "none"
            why = "what zoo models take" if loaded.default_preprocess else "the default; choose with --preprocess"
        else:
            name, why = preprocess, "--preprocess"
        scheme = get_scheme(name)
        log(f"preprocessing: {scheme.name} = {scheme.description} ({why})")
        if loaded.family is not None and scheme.name != loaded.family:
            fam = get_scheme(loaded.family)
            if fam.base != scheme.base:
                how = ("torchvision's original weights take x / 255 normalised by ImageNet's mean and std"
                       if loaded.family == "torch" else
                       f"is trained with keras.applications.{loaded.family}.preprocess_input (= {fam.base})")
                log(f"note: {arch}: {how}; pass --preprocess {loaded.family} if these weights are the original ones")
    labels = None
    if labels_path is not None:
        labels = load_labels(labels_path)
    elif loaded.class_names is not None:
        labels = Labels(dict(enumerate(loaded.class_names)), source=loaded.source)
    if labels is not None and loaded.n_outputs:
        labels.check_count(loaded.n_classes, loaded.n_outputs)
    if to_grey and loaded.channels != 1:
        raise InputError(f"--to-grey converts colour images for a model taking 1 channel; this model takes "
                         f"{loaded.channels}: drop --to-grey")
    source = None
    if need_images:
        source = _image_source(paths, loaded, n_images, size, to_grey, log)  # type: ignore[arg-type]
    if source is not None:
        log(f"images: {len(source)} ({source.names[0]}{', ...' if len(source) > 1 else ''})")
    return Setup(loaded, scheme, source, labels, log, quiet, to_grey)


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


def chunk_size(value: int) -> int:
    if value < 1:
        raise InputError(f"--chunk-size must be >= 1; got {value}")
    return value

