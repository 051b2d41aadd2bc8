"""Make the pictures of the documentation's gallery with xaikit's own command line.

    python docs/gallery.py            # writes docs/gallery/*.png (about a minute on 2 cores)
    python docs/gallery.py --only activations

Every picture is one ``xaikit`` command on a model of the shipped zoo (offline, no
download), so the gallery doubles as a set of examples: the page
(``docs/gallery.md``) is rendered from :data:`GALLERY` by the docs hook, with the
command under each picture, and the strict docs build fails if a picture is missing.
PNGs are kept commit-sized (below :data:`MAX_BYTES`): large ones are re-encoded with
an adaptive 256-colour palette.

Importing this module is cheap (no TensorFlow): the hook reads :data:`GALLERY`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "gallery"
MAX_BYTES = 300_000


@dataclass(frozen=True)
class Picture:
    """One gallery entry: the file, its title and caption, and the command that draws it."""

    name: str
    title: str
    caption: str
    args: tuple[str, ...]

    @property
    def command(self) -> str:
        return "xaikit " + " ".join(self.args) + f" -o {self.name}.png"


GALLERY: tuple[Picture, ...] = (
    Picture(
        "overlay_gradcam", "Grad-CAM overlays",
        "The seeds' Grad-CAM picture in one command: the heat map of `conv2d_2` over each original image "
        "(the preprocessing, here `scale255`, is undone for display). Each cell is titled with the class it "
        "explains; the column header gives the time per image.",
        ("explain", "--zoo", "shapes_cnn4", "--n-images", "4", "--method", "gradcam", "--layer", "conv2d_2")),
    Picture(
        "methods_binary", "Every method on a single-sigmoid model",
        "The cats-vs-dogs layout (one sigmoid output; class 0 = circle, class 1 = square) explained by every "
        "native method. Methods whose sign is the point (occlusion, gradient × input, integrated and expected "
        "gradients) are drawn in the signed view: red is evidence for the explained class, blue against.",
        ("compare", "--zoo", "shapes_binary", "--n-images", "3", "--pair", "gradcam", "--pair", "gradcam++",
         "--pair", "occlusion", "--pair", "vanilla_gradients", "--pair", "gradient_x_input", "--pair", "smoothgrad",
         "--pair", "integrated_gradients", "--pair", "expected_gradients", "--layer", "conv2d_2",
         "--background", "64", "--seed", "0")),
    Picture(
        "compare_tf_explain", "Native backend vs tf-explain, each with its defaults",
        "The same methods computed by xaikit's native backend and by tf-explain 0.3.1, each with its own "
        "defaults: tf-explain's Grad-CAM uses guided gradients of the probability and no ReLU, its occlusion "
        "scores 1 − p with grey patches, its SmoothGrad differentiates the cross-entropy loss with absolute "
        "noise. See [the backend comparison](backends/index.md).",
        ("compare", "--zoo", "shapes_cnn4", "--n-images", "3", "--pair", "gradcam:tensorflow",
         "--pair", "gradcam:tf-explain", "--pair", "occlusion:tensorflow", "--pair", "occlusion:tf-explain",
         "--pair", "smoothgrad:tensorflow", "--pair", "smoothgrad:tf-explain", "--layer", "conv2d_2",
         "--patch-size", "8", "--seed", "0")),
    Picture(
        "compare_shap", "Expected gradients: native vs SHAP, ranked outputs",
        "SHAP's `GradientExplainer` and the native estimator of the same expectation, on the same background "
        "(64 training images), both explaining the probability. They agree statistically, not bit for bit "
        "(different random draws).",
        ("compare", "--zoo", "shapes_cnn4", "--n-images", "3", "--pair", "expected_gradients:tensorflow",
         "--pair", "expected_gradients:shap", "--background", "64", "--n-samples", "200", "--score",
         "probability", "--seed", "0")),
    Picture(
        "signed_ranked", "Signed maps of each image's two top classes",
        "Expected gradients at layer `conv2d_1` for the two highest-ranked classes of each image "
        "(`--ranked-outputs 2`, SHAP's `ranked_outputs`). The logit of the runner-up class also draws on the "
        "shape, so its map is often red there too: compare where the two maps differ (blue marks evidence "
        "against the class).",
        ("explain", "--zoo", "shapes_cnn4", "--n-images", "3", "--method", "expected_gradients", "--layer",
         "conv2d_1", "--background", "64", "--ranked-outputs", "2", "--seed", "0")),
    Picture(
        "sanity_check", "Sanity check: maps of a model randomised layer by layer",
        "Figure 2 of Adebayo et al., \"Sanity Checks for Saliency Maps\" (2018), on the zoo's shapes CNN: each "
        "row is a method, each column the model with one more layer re-initialised, from the output down. "
        "Grad-CAM's map moves to wherever the random weights point; guided backpropagation keeps drawing the "
        "circle until the first convolutions are random too. The edge detector (last row) ignores the model. "
        "Every cell is scaled on its own; the numbers are explained on [the sanity-check page](sanity-checks.md).",
        ("sanity", "--zoo", "shapes_cnn4", "--n-images", "16", "--method", "vanilla_gradients", "--method", "gradcam",
         "--method", "guided_backprop", "--method", "guided_gradcam", "--method", "deconvnet", "--method", "layercam",
         "--method", "smoothgrad", "--method", "integrated_gradients", "--edge-control", "--seed", "0")),
    Picture(
        "activations", "Activation grid of the first layers",
        "Every channel of `model.layers[:4]` for one image, standardised per channel as the seeds do "
        "(`(x − mean) / std · 64 + 128`); dead (all-zero) channels are hatched grey and counted.",
        ("activations", "--zoo", "shapes_cnn4", "--n-images", "1", "--layers", "first:4", "--max-channels", "32")),
    Picture(
        "activations_digits", "Activations after BatchNorm and LeakyReLU",
        "The Fashion-MNIST tutorial architecture (Conv, BatchNorm, LeakyReLU) on an 8 × 8 digit upscaled to "
        "32 × 32, one grayscale channel; one min-max scale per layer (`--mode layer`) so weak channels look weak.",
        ("activations", "--zoo", "digits_bn", "--n-images", "1", "--layers", "conv2d,leaky_re_lu,conv2d_1",
         "--mode", "layer")),
    Picture(
        "filters_rgb", "First-layer filters as colour images",
        "The 3 × 3 × 3 kernels of the first convolution, each filter drawn as an RGB image (min-max over the "
        "whole kernel, as seed 001).",
        ("filters", "--zoo", "shapes_cnn4", "--layer", "conv2d")),
    Picture(
        "filters_channels", "Filters channel by channel, symmetric scale",
        "A deeper kernel input channel by input channel, zero at mid-colour (`--normalize symmetric`).",
        ("filters", "--zoo", "digits_bn", "--layer", "conv2d_1", "--normalize", "symmetric", "--cmap", "RdBu_r",
         "--max-filters", "12", "--max-channels", "8")),
)


def shrink(path: Path, max_bytes: int = MAX_BYTES) -> int:
    """Re-encode a PNG with an adaptive palette (256, then fewer colours) while it is above ``max_bytes``."""
    size = path.stat().st_size
    if size <= max_bytes:
        return size
    from PIL import Image

    from xaikit.atomic_files import atomic_path

    with Image.open(path) as im:
        rgb = im.convert("RGB")
    with atomic_path(path) as tmp:
        for colors in (256, 192, 128):
            rgb.quantize(colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
                tmp, format="PNG", optimize=True)
            if tmp.stat().st_size <= max_bytes:
                break
    return path.stat().st_size


def make(pictures: tuple[Picture, ...] = GALLERY, out: Path = OUT, dpi: int = 100) -> list[Path]:
    """Run the commands of ``pictures`` and write ``out/<name>.png``."""
    from xaikit.cli import main

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for pic in pictures:
        start = time.perf_counter()
        path = out / f"{pic.name}.png"
        with contextlib.redirect_stdout(io.StringIO()):  # the commands' tables are not needed here
            main.main(args=[*pic.args, "-o", str(path), "--overwrite", "--quiet", "--dpi", str(dpi)],
                      prog_name="xaikit", standalone_mode=False)
        size = shrink(path)
        print(f"{path.relative_to(HERE.parent)}: {size / 1000:.0f} kB, {time.perf_counter() - start:.1f} s",
              file=sys.stderr)
        if size > MAX_BYTES:
            raise SystemExit(f"{path} is {size} bytes, above {MAX_BYTES}; make the picture smaller")
        written.append(path)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="names of the pictures to remake (default: all)")
    parser.add_argument("--dpi", type=int, default=100)
    ns = parser.parse_args()
    chosen = tuple(p for p in GALLERY if not ns.only or p.name in ns.only)
    if ns.only and len(chosen) != len(ns.only):
        raise SystemExit(f"unknown picture(s); choose among: {', '.join(p.name for p in GALLERY)}")
    make(chosen, dpi=ns.dpi)
