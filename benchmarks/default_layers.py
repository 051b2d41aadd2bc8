"""Every torchvision classification architecture and every keras.applications architecture: its default CAM layer.

Each model is built with random weights (torchvision ``weights=None``, Keras ``weights=None``; torchvision's
zero-initialised ViT heads re-initialised), explained once with Grad-CAM on one random image at the smallest of
64, 96, 128, 224 pixels where the default layer has a map of more than 1x1 locations, and the row records the
default layer, its layout (:mod:`xaikit.layer_layout`), its grid, whether the map varies, and the seconds. The
table is written to ``docs/default-layers.md`` (the docs page) unless ``--out`` says otherwise.

Run (about an hour on one CPU core; ``--only`` takes a comma-separated list of names)::

    python benchmarks/default_layers.py [--framework torch|keras|both] [--only resnet18,VGG16] [--out PATH]

The test suite runs a fast subset (tests/test_architectures.py).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SIZES = (64, 96, 128, 224)
#: Keras architectures whose activations vanish with Keras' random initialisation (at every input size: the last
#: map holds ~1e-10, all 1000 probabilities are exactly 0.001, the predicted class is class 0 by tie-breaking and its
#: Grad-CAM happens to be negative everywhere): their convolutions are re-initialised He normal here
#: (benchmarks/random_weights.py measures it).
VANISHING = ("MobileNetV2", "MobileNetV3Large")
#: Too large to build on a laptop's memory with random weights (hundreds of millions of parameters): not run.
HUGE = {"regnet_y_128gf": "644 M parameters", "vit_h_14": "632 M parameters"}


def torch_models() -> list[tuple[str, object]]:
    import torchvision

    return [(name, lambda size, name=name: _torchvision(name, size))
            for name in torchvision.models.list_models(module=torchvision.models)]


def _torchvision(name: str, size: int):
    import torch
    import torchvision

    kwargs = {}
    if name.startswith("vit_"):
        patch = int(name.rsplit("_", 1)[1])
        size = max(patch * 2, size - size % patch)
        kwargs["image_size"] = size
    if name == "maxvit_t":
        size = 224  # its block and grid partitions are sized for 224
    if name in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = True
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
        heads = getattr(model, "heads", None)
        if heads is not None:  # torchvision's ViT head starts at zero: every class would score its bias
            torch.nn.init.normal_(heads.head.weight, std=0.02)
    x = np.random.default_rng(0).normal(size=(1, 3, size, size)).astype(np.float32)
    return model, x


def keras_models() -> list[tuple[str, object]]:
    import keras

    names = sorted(n for n in dir(keras.applications) if n[0].isupper() and callable(getattr(keras.applications, n)))
    return [(name, lambda size, name=name: _keras(name, size)) for name in names]


def _keras(name: str, size: int):
    import keras

    if name == "NASNetLarge":
        size = max(size, 96)
    if name in ("InceptionV3", "InceptionResNetV2", "Xception"):
        size = max(size, 96)  # at least 75 (71 for Xception)
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    if name in VANISHING:
        from random_weights import he_normal_keras  # benchmarks/random_weights.py, beside this script

        he_normal_keras(model)
    x = np.random.default_rng(0).uniform(0, 255, size=(1, size, size, 3)).astype(np.float32)
    return model, x


def one(name: str, build) -> dict:
    import xaikit as xk

    row = {"name": name}
    if name in HUGE:
        return {**row, "status": f"not run ({HUGE[name]})"}
    for size in SIZES:
        start = time.perf_counter()
        try:
            model, x = build(size)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exp = xk.explain(model, x, "gradcam")
            spec = xk.get_explainer(model, "gradcam")._describe(x)
        except Exception as exc:  # noqa: BLE001 - the row records what failed
            row.update(status=f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}", size=size)
            if "1x1" in str(exc) or "cannot take images" in str(exc):
                continue
            return row
        info = spec.layer(exp.layer)
        layout = info.layout
        row.update(size=int(x.shape[2]), layer=exp.layer, layout=layout.name, grid=f"{layout.grid[0]}x{layout.grid[1]}",
                   varies=bool(np.ptp(exp.attributions[0]) > 0), seconds=round(time.perf_counter() - start, 1),
                   status="ok" if np.ptp(exp.attributions[0]) > 0 else "constant map")
        del model
        gc.collect()
        return row
    return row


def table(rows: list[dict], framework: str) -> str:
    lines = [f"| {framework} architecture | input | default CAM layer | layout | grid | map varies |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if "layer" in r:
            lines.append(f"| {r['name']} | {r['size']}x{r['size']} | `{r['layer']}` | {r['layout']} | {r['grid']} | "
                         f"{'yes' if r['varies'] else 'no'} |")
        else:
            lines.append(f"| {r['name']} | | {r['status']} | | | |")
    return "\n".join(lines)


PAGE = """# Default CAM layers of common architectures

Generated by `benchmarks/default_layers.py` (random weights, one random image, Grad-CAM with `layer=None`; the
input is the smallest of 64, 96, 128 and 224 pixels at which the default layer has more than 1x1 locations).
The rule is `xaikit.spec.default_cam_layer`: the last layer whose output holds a map (channels-first,
channels-last or tokens, see [Layer layouts](backends/torch.md#layer-layouts-and-tokens)) of more than 1x1
locations, before the head and stepping back over pooling, dropout and permutation layers; a transformer's
last token layers, whose patch tokens the class-token head never reads, are skipped. Keras MobileNetV2 and
MobileNetV3Large have their convolutions re-initialised He normal: with Keras' own random initialisation their
activations vanish with depth (the last map holds values near 1e-10 at 64, 96 and 128 px alike), all 1000
probabilities are exactly 0.001 in float32, so the predicted class is class 0 by tie-breaking, and its Grad-CAM is
negative at every location (an all-zero map, with a `DegenerateMapWarning`); other classes' maps vary
(`python benchmarks/random_weights.py`). Inception-v3 at 96 px has 1x1 maps from `Mixed_7b` on, so
its default there is inside `Mixed_7a`; at 299 px it is `Mixed_7c`.

{tables}
"""


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # atomic


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=("torch", "keras", "both"), default="both")
    parser.add_argument("--only", default="")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "default-layers.md"))
    args = parser.parse_args(argv)
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    out = Path(args.out)
    done: list[tuple[str, list[dict]]] = []
    for framework, lister in (("torchvision", torch_models), ("keras.applications", keras_models)):
        if args.framework not in ("both", "torch" if framework == "torchvision" else "keras"):
            continue
        rows: list[dict] = []
        done.append((framework, rows))
        for name, build in lister():
            if only and name not in only:
                continue
            row = one(name, build)
            print(row, flush=True)
            rows.append(row)
            _write(out, PAGE.format(tables="\n\n".join(table(r, f) for f, r in done)))  # after each row
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
