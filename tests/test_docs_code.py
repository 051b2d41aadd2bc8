"""Every Python code block of the documentation runs (the docs said ``noise=0.2`` where the adapter takes
``noise_std``; nothing ran them).

A block is preceded by a marker saying what it runs on, or why it cannot run::

    <!-- docs-test: fixtures=NAME -->       the names of a fixture set (FIXTURES), and xk and np, are defined first
    <!-- docs-test: skip REASON -->         not run (it needs the reader's files, ImageNet weights...)

The blocks of one page run in order in one namespace, as a reader would run them in a notebook:
a block without a marker runs in what the blocks before it left (the first one in an empty
namespace). The fixtures are small (32 x 32 images,
small networks whose layers carry the names the pages use), so the test stays fast.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

DOCS = ROOT / "docs"
MARKER = re.compile(r"<!--\s*docs-test:\s*(fixtures=(?P<fixtures>[\w-]+)|skip\s+(?P<reason>.+?))\s*-->")
BLOCK = re.compile(r"^```python\n(?P<code>.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[tuple[int, str, str | None, str | None]]:
    """``(line, code, fixtures, skip reason)`` of every Python block of ``page``."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in BLOCK.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        out.append((text[:m.start()].count("\n") + 1, m.group("code"), marker and marker.group("fixtures"),
                    marker and marker.group("reason")))
    return out


PAGES = sorted(p for p in DOCS.rglob("*.md") if blocks(p))


# ----------------------------------------------------------------------------- fixture sets
def _image(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (1, size, size, 3)).astype(np.float32)


def _numpy() -> dict:
    from xaikit_callable import BlackBox

    w = np.random.default_rng(0).normal(0, 1, (32 * 32 * 3, 4)).astype(np.float32)

    def probabilities(images: np.ndarray) -> np.ndarray:
        z = images.reshape(len(images), -1) @ w / 32
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return {"model": BlackBox(probabilities, layout="NHWC", output="probability", name="probabilities"),
            "x": _image(32)}


#: The layer names the pages use (VGG16's and Xception's): the small Keras CNN carries them.
KERAS_LAYERS = ("block1_conv2", "block2_sepconv2_act", "block3_conv3", "block6_sepconv1", "block5_conv3",
                "block14_sepconv1", "block5_pool")


def _keras() -> dict:
    """A small Keras CNN on 32 x 32 images whose layers are named as in the pages' VGG16 and Xception examples."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3))
    h = layers.Conv2D(8, 3, padding="same", name="block1_conv2")(inp)
    h = layers.Activation("relu", name="block2_sepconv2_act")(h)
    h = layers.Conv2D(8, 3, padding="same", activation="relu", name="block3_conv3")(h)
    h = layers.SeparableConv2D(8, 3, padding="same", activation="relu", name="block6_sepconv1")(h)
    h = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="block5_conv3")(h)
    h = layers.SeparableConv2D(8, 3, padding="same", activation="relu", name="block14_sepconv1")(h)
    h = layers.MaxPooling2D(2, name="block5_pool")(h)
    out = layers.Dense(1000, activation="softmax", name="predictions")(layers.Flatten()(h))
    model = keras.Model(inp, out, name="small_cnn")
    img_inp = np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype(np.float32)
    img = img_inp / 127.5 - 1
    return {"model": model, "img": img, "img_inp": img_inp, "x": img[None], "images": _image(32, 1).repeat(2, 0),
            "background": _image(32, 2).repeat(4, 0) * np.float32(0.5)}


def _zoo() -> dict:
    import xaikit as xk
    from xaikit import zoo

    model = zoo.load_model("shapes_cnn4")
    data = zoo.load_data("shapes_cnn4", split="test", n=6).images.astype(np.float32)
    images, background = data[:2], data[2:]
    return {"model": model, "images": images, "x": images, "background": background, "pixels": images * 255,
            "exp": xk.explain(model, images, method="gradcam")}


def _torch() -> dict:
    """A small PyTorch CNN on 32 x 32 images with ResNet's module names (``layer4.1`` is its last block)."""
    import torch
    from torch import nn

    def block(c_in: int, c_out: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU())

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential()
        model.add_module("conv1", nn.Conv2d(3, 8, 3, padding=1))
        model.add_module("relu", nn.ReLU())
        model.add_module("layer3", nn.Sequential(block(8, 8), block(8, 8)))
        model.add_module("layer4", nn.Sequential(block(8, 8), block(8, 8)))
        model.add_module("avgpool", nn.AdaptiveAvgPool2d(1))
        model.add_module("flatten", nn.Flatten())
        model.add_module("fc", nn.Linear(8, 10))
    x = np.ascontiguousarray(_image(32).transpose(0, 3, 1, 2))
    return {"model": model.eval(), "x": x, "images_nchw": x}


def _vit() -> dict:
    """A narrow torchvision ViT (2 layers, 32 x 32 images, 1000 classes) for the attention pages' ``vit``."""
    import torch
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vit = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                   hidden_dim=32, mlp_dim=64, num_classes=1000).eval()
        torch.nn.init.normal_(vit.heads.head.weight)  # torchvision starts the head at zero
    return {"vit": vit, "x": np.ascontiguousarray(_image(32).transpose(0, 3, 1, 2))}


FIXTURES = {"numpy": _numpy, "keras": _keras, "zoo": _zoo, "torch": _torch, "vit": _vit}
_MADE: dict[str, dict] = {}


def fixture_set(name: str) -> dict:
    if name not in FIXTURES:
        raise AssertionError(f"unknown docs-test fixtures {name!r}; known: {', '.join(FIXTURES)}")
    if name not in _MADE:
        if name in ("torch", "vit"):
            pytest.importorskip("torchvision")
        if name in ("keras", "zoo"):
            pytest.importorskip("tensorflow")
        import xaikit as xk

        _MADE[name] = {"xk": xk, "np": np, **FIXTURES[name]()}  # the pages' own convention: import xaikit as xk
    return dict(_MADE[name])


# ----------------------------------------------------------------------------- the test
def test_every_block_is_marked_or_self_contained_and_every_skip_says_why():
    for page in PAGES:
        for line, _, fixtures, reason in blocks(page):
            assert fixtures is None or fixtures in FIXTURES, f"{page.relative_to(ROOT)}:{line}: {fixtures}"
            assert reason is None or len(reason) > 10, f"{page.relative_to(ROOT)}:{line}: say why it cannot run"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_the_python_blocks_of_the_page_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files a block writes land here
    monkeypatch.setenv("XAIKIT_PROGRESS", "0")
    namespace: dict = {}
    ran = 0
    for line, code, fixtures, reason in blocks(page):
        if reason is not None:
            continue
        if fixtures is not None:
            namespace = {**fixture_set(fixtures), **{k: v for k, v in namespace.items() if k not in FIXTURES}}
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{page.relative_to(ROOT)}, the block at line {line} fails: "
                                 f"{type(exc).__name__}: {exc}") from exc
        ran += 1
    if not ran:
        pytest.skip("every block of this page is marked as one that cannot run here")


def test_the_callable_page_lists_the_methods_the_backend_offers():
    from xaikit.registry import get_backend

    text = (DOCS / "backends" / "callable.md").read_text(encoding="utf-8")
    listed = re.search(r"<!-- callable-methods -->(.*?)<!-- /callable-methods -->", text, re.S).group(1)
    assert set(re.findall(r"\[`(\w+)`\]", listed)) == set(get_backend("callable").offered())


def test_the_api_page_names_every_public_name():
    import xaikit

    text = (DOCS / "api.md").read_text(encoding="utf-8").split("<!-- xaikit:api -->")[0]
    missing = [name for name in xaikit.__all__ if not name.startswith("_") and name[0].islower()
               and f"xk.{name}(" not in text]
    missing += [name for name in ("Explanation", "RankedExplanations", "Comparison", "Activations", "SanityCheck")
                if f"`{name}`" not in text]
    assert not missing, missing
