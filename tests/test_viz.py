"""Tests of xaikit.viz: overlays, signed maps, grids, comparison figures, saving."""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

import xaikit as xk
import xaikit.viz as xv
from xaikit.viz.overlay import CAFFE_MEAN_BGR, TORCH_MEAN, TORCH_STD
from xaikit.viz.signed import SHAP_BLUE, SHAP_RED

H, W = 96, 160


@pytest.fixture(autouse=True)
def no_figure_left_open():
    """Every viz function must leave pyplot's figure registry empty."""
    plt.close("all")
    yield
    assert plt.get_fignums() == []


def _photo(n: int = 2, h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    """Smooth uint8 RGB test images with structure in every channel."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * xx), np.cos(5 * yy), np.sin(4 * (xx + yy))], -1)
    imgs = [(0.5 + 0.4 * base + 0.05 * rng.normal(size=base.shape)) for _ in range(n)]
    return np.clip(np.rint(np.stack(imgs) * 255), 0, 255).astype(np.uint8)


def _blob(cy: float, cx: float, s: float, h: int = H, w: int = W) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s)).astype(np.float32)


def _explanation(maps: np.ndarray, method: str = "gradcam", backend: str = "tensorflow", targets=None,
                 elapsed: float = 0.5, warmup: float | None = 0.25, params=None) -> xk.Explanation:
    """An Explanation as a timed call returns it (after a warm-up of ``warmup`` seconds, None: none)."""
    from xaikit._timing import record_warmup

    n = maps.shape[0]
    targets = np.arange(n) if targets is None else np.asarray(targets)
    exp = xk.Explanation(attributions=maps.astype(np.float32), method=method, backend=backend,
                         targets=targets.astype(np.int64), outputs=np.zeros((n, 5), np.float32),
                         predictions=np.arange(n, dtype=np.int64), params=params or {}, elapsed=elapsed)
    return exp if warmup is None else record_warmup(exp, warmup)


# --------------------------------------------------------------------------- overlay
def test_overlay_keeps_orientation_of_non_square_images():
    img = np.full((1, H, W, 3), 128, np.uint8)
    hot = _blob(8, 8, 10)[None]  # top-left
    out = xv.overlay(img, hot, colormap="jet", alpha=0.6)
    assert out.shape == (1, H, W, 3) and out.dtype == np.uint8
    tl, br = out[0, :16, :16].astype(int), out[0, -16:, -16:].astype(int)
    # jet: hot -> red, cold -> blue
    assert tl[..., 0].mean() > br[..., 0].mean() + 50
    assert br[..., 2].mean() > tl[..., 2].mean() + 50
    # and a map hot in the top-right stays top-right (no transpose / flip)
    out2 = xv.overlay(img, _blob(8, W - 8, 10)[None], colormap="jet", alpha=0.6)
    assert out2[0, :16, -16:, 0].mean() > out2[0, :16, :16, 0].mean() + 50


def test_overlay_resize_is_explicit_and_keeps_orientation():
    img = np.full((1, H, W, 3), 128, np.uint8)
    small = np.zeros((1, 6, 10), np.float32)
    small[0, 0, 0] = 1.0  # top-left cell of a layer-resolution map
    with pytest.raises(xk.InputError, match="resize=True"):
        xv.overlay(img, small)
    out = xv.overlay(img, small, resize=True, colormap="jet", alpha=0.6)
    assert out[0, :8, :8, 0].mean() > out[0, -8:, -8:, 0].mean() + 50


def test_overlay_grayscale_images():
    gray = _photo(1)[..., :1]
    out = xv.overlay(gray, _blob(40, 80, 20)[None], alpha=0.0)
    assert out.shape == (1, H, W, 3)
    assert np.array_equal(out[..., 0], gray[..., 0]) and np.array_equal(out[..., 0], out[..., 2])
    out = xv.overlay(gray, _blob(40, 80, 20)[None], alpha=0.5)
    assert not np.array_equal(out[..., 0], out[..., 2])  # the heat map is in colour


def test_overlay_uint8_and_unit_float_inputs_agree():
    imgs = _photo(2)
    maps = np.stack([_blob(30, 50, 15), _blob(60, 120, 25)])
    a = xv.overlay(imgs, maps)
    b = xv.overlay(imgs.astype(np.float32) / 255.0, maps)
    c = xv.overlay(imgs.astype(np.float32), maps)  # floats in [0, 255]
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert np.abs(a.astype(int) - c.astype(int)).max() <= 1
    d = xv.overlay(imgs.astype(np.float32) / 255.0, maps, undo="scale255")
    assert np.abs(a.astype(int) - d.astype(int)).max() <= 1


def test_caffe_undo_reproduces_rgb():
    rgb = _photo(2).astype(np.float32)
    caffe = rgb[..., ::-1] - np.asarray(CAFFE_MEAN_BGR, np.float32)  # keras vgg16 preprocess_input
    back = xv.to_display_rgb(caffe, undo="caffe") * 255.0
    assert np.abs(back - rgb).max() < 1e-3


@pytest.mark.parametrize("scheme", ["torch", "tf", "scale255", "none"])
def test_other_undo_schemes_reproduce_rgb(scheme):
    rgb = _photo(1).astype(np.float32)
    pre = {"torch": (rgb / 255.0 - np.asarray(TORCH_MEAN)) / np.asarray(TORCH_STD),
           "tf": rgb / 127.5 - 1.0, "scale255": rgb / 255.0, "none": rgb}[scheme].astype(np.float32)
    back = xv.to_display_rgb(pre, undo=scheme) * 255.0
    assert np.abs(back - rgb).max() < 1e-3


def test_ambiguous_range_raises_naming_the_fix():
    rgb = _photo(1).astype(np.float32)
    caffe = rgb[..., ::-1] - np.asarray(CAFFE_MEAN_BGR, np.float32)
    with pytest.raises(xk.InputError) as err:
        xv.overlay(caffe, _blob(40, 80, 20)[None])
    assert "image_range" in str(err.value) and "undo" in str(err.value)
    # a wrong scheme is caught rather than displayed wrongly
    with pytest.raises(xk.InputError, match="not preprocessed this way"):
        xv.to_display_rgb(rgb, undo="caffe")
    with pytest.raises(xk.InputError, match="scale255"):
        xv.to_display_rgb(rgb / 255.0, undo="none")
    with pytest.raises(xk.InputError, match="not both"):
        xv.to_display_rgb(caffe, image_range=(-128, 128), undo="caffe")
    # an explicit range is always accepted
    assert xv.to_display_rgb(caffe, image_range=(-128, 128)).shape == (1, H, W, 3)


def test_overlay_shape_errors_say_how_to_fix():
    img = _photo(1)
    with pytest.raises(xk.InputError, match=r"\[None\]"):
        xv.overlay(img[0], _blob(40, 80, 20)[None])
    # channels-first images are read as such (the maps' size tells the spatial axes) ...
    np.testing.assert_array_equal(xv.overlay(img.transpose(0, 3, 1, 2), _blob(40, 80, 20)[None]),
                                  xv.overlay(img, _blob(40, 80, 20)[None]))
    # ... and a shape that two layouts fit is not guessed
    with pytest.raises(xk.InputError, match="layout='NHWC'"):
        xv.to_display_rgb(np.zeros((1, 3, 3, 3), np.uint8))
    with pytest.raises(xk.InputError, match="colormap"):
        xv.overlay(img, _blob(40, 80, 20)[None], colormap="no-such-map")
    with pytest.raises(xk.InputError, match="signed"):
        xv.overlay(img, _blob(40, 80, 20)[None], normalize="signed")


def test_explanation_overlay_uses_viz():
    exp = _explanation(np.stack([_blob(30, 50, 15), _blob(60, 120, 25)]))
    assert np.array_equal(exp.overlay(_photo(2)), xv.overlay(_photo(2), exp.attributions))


# --------------------------------------------------------------------------- signed
def test_signed_colours_and_symmetric_scale():
    white = np.full((1, 4, 6, 3), 255, np.uint8)  # grey image underneath is white here
    a = np.zeros((1, 4, 6), np.float32)
    a[0, 0, 0], a[0, 0, 1], a[0, 0, 2] = 2.0, -2.0, 1.0
    out = xv.signed_rgb(white, a, percentile=100).astype(int)
    red, blue = np.rint(np.asarray(SHAP_RED) * 255), np.rint(np.asarray(SHAP_BLUE) * 255)
    assert np.array_equal(out[0, 0, 0], red)  # +s -> full red
    assert np.array_equal(out[0, 0, 1], blue)  # -s -> full blue
    assert np.allclose(out[0, 0, 2], (255 + red) / 2, atol=1)  # +s/2 -> half-way
    assert np.array_equal(out[0, 1, 1], [255, 255, 255])  # zero -> the image


def test_signed_positive_red_negative_blue_zero_grey_over_photo():
    img = _photo(1)
    a = np.zeros((1, H, W), np.float32)
    a[0, :20, :20] = 1.0
    a[0, -20:, -20:] = -1.0
    out = xv.signed_rgb(img, a).astype(int)
    pos, neg, zero = out[0, 5, 5], out[0, -5, -5], out[0, 50, 80]
    assert pos[0] > pos[2] + 100 and neg[2] > neg[0] + 100
    assert zero[0] == zero[1] == zero[2]  # grey image where the map is zero
    # symmetric: the scale of a map equals the scale of its negation, and -a mirrors the colours
    assert np.allclose(xv.symmetric_scale(a), xv.symmetric_scale(-a))
    mirrored = xv.signed_rgb(img, -a).astype(int)
    assert mirrored[0, 5, 5, 2] > mirrored[0, 5, 5, 0] + 100 and mirrored[0, -5, -5, 0] > mirrored[0, -5, -5, 2] + 100


def test_symmetric_scale_percentile_and_batch():
    a = np.zeros((2, 10, 10), np.float32)
    a[0] = np.linspace(-1, 1, 100).reshape(10, 10)
    a[1] = 10 * a[0]
    s = xv.symmetric_scale(a, 100)
    assert np.allclose(s, [1.0, 10.0])
    assert np.allclose(xv.symmetric_scale(a, 100, per_image=False), [10.0, 10.0])
    assert xv.symmetric_scale(np.zeros((1, 3, 3)))[0] == 1.0  # all-zero map: drawn as the image


def test_signed_figure_has_colorbar():
    imgs = _photo(2)
    maps = np.stack([_blob(30, 50, 15) - _blob(60, 120, 15)] * 2)
    fig = xv.signed_figure(imgs, _explanation(maps, method="integrated_gradients"), titles=["a", "b"])
    assert isinstance(fig, Figure)
    assert sum(1 for ax in fig.axes if ax.images) == 4  # image + signed map per row
    assert len(fig.axes) == 6  # + one colorbar per row (per-image scales)
    fig = xv.signed_figure(imgs, maps, scale="batch", show_image=False)
    assert len(fig.axes) == 3  # two maps + one shared colorbar


# --------------------------------------------------------------------------- grids
def _activations(c: int = 20, dead=(3, 7), constant=(5,)) -> xk.Activations:
    rng = np.random.default_rng(1)
    a = np.abs(rng.normal(size=(2, 12, 18, c))).astype(np.float32)
    for k in dead:
        a[:, :, :, k] = 0.0
    for k in constant:
        a[:, :, :, k] = 2.5
    return xk.Activations({"conv2d": a, "dense": np.ones((2, 4), np.float32)}, backend="test", elapsed=0.0)


def test_standardisation_is_the_seeds():
    x = np.random.default_rng(0).normal(3, 2, size=(8, 8, 1)).astype(np.float32)
    scaled, dead, constant = xv.standardize_channels(x)
    c = x[..., 0].copy()
    c -= c.mean()
    c /= c.std()
    c = np.clip(c * 64 + 128, 0, 255)
    assert np.allclose(scaled[..., 0] * 255, c, atol=1e-3)
    assert not dead.any() and not constant.any()


def test_activation_mosaic_tiles_and_dead_channels():
    acts = _activations(c=20)
    mosaic, dead, constant = xv.activation_mosaic(acts["conv2d"][0], images_per_row=16, gap=1)
    h, w = 12, 18
    assert mosaic.shape == (2 * (h + 1) - 1, 16 * (w + 1) - 1, 3)
    tiles = [mosaic[r * (h + 1): r * (h + 1) + h, q * (w + 1): q * (w + 1) + w] for r in range(2) for q in range(16)]
    non_empty = [t for t in tiles if not np.all(t == 1.0)]
    assert len(non_empty) == 20  # one tile per channel, the 12 cells after them are blank
    assert np.flatnonzero(dead).tolist() == [3, 7] and np.flatnonzero(constant).tolist() == [5]
    for k in (3, 5, 7):  # flagged channels are flat grey, not a colormap colour
        assert np.allclose(tiles[k], tiles[k][0, 0]) and np.allclose(tiles[k][0, 0], tiles[k][0, 0].mean())


def test_activation_grid_figure_titles_and_hatching():
    acts = _activations(c=20)
    fig = xv.activation_grid(acts, image_index=1)  # None: spatial layers only (dense skipped)
    assert isinstance(fig, Figure)
    (ax,) = [a for a in fig.axes if a.images]
    title = ax.get_title(loc="left")
    assert "conv2d" in title and "20 channels" in title and "2 of 20 dead" in title and "1 of 20 constant" in title
    assert "image 1" in title
    assert len(ax.patches) == 3  # one hatched rectangle per dead / constant channel
    figs = xv.activation_grids(acts, max_channels=8)
    assert list(figs) == ["conv2d"]
    assert "first 8 of 20" in next(a for a in figs["conv2d"].axes if a.images).get_title(loc="left")
    with pytest.raises(xk.InputError, match="spatial"):
        xv.activation_grid(acts, "dense")
    with pytest.raises(xk.InputError, match="out of range"):
        xv.activation_grid(acts, image_index=5)
    with pytest.raises(xk.InputError, match="available"):
        xv.activation_grid(acts, "nope")


def test_activation_grid_one_tall_figure_for_several_layers():
    rng = np.random.default_rng(0)
    acts = {"a": rng.random((1, 10, 10, 8), dtype=np.float32), "b": rng.random((1, 5, 5, 32), dtype=np.float32)}
    fig = xv.activation_grid(acts, ["a", "b"])
    assert [a.get_title(loc="left").split()[0] for a in fig.axes if a.images] == ["a", "b"]


def test_filter_grid_shapes_and_layouts():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 4, 10)).astype(np.float32)
    fig = xv.filter_grid(w, pixel=5, tiles_per_row=8)
    (ax,) = [a for a in fig.axes if a.images]
    mosaic = ax.images[0].get_array()
    # 2 filters of 4 channels per row, 5 rows; 15 px tiles, 1 px inner gaps
    block_w = 4 * 15 + 3 * 1
    assert mosaic.shape[1] == 2 * block_w + 1 * max(3, 15 // 3)
    assert len(ax.collections[0].get_paths()) == 10 * 4  # one frame per tile

    rgb = rng.normal(size=(5, 5, 3, 40)).astype(np.float32)
    fig = xv.filter_grid(rgb, max_filters=16)  # auto -> rgb
    (ax,) = [a for a in fig.axes if a.images]
    assert "first 16 of 40 filters" in ax.get_title(loc="left")
    assert "RGB" in ax.get_title(loc="left")
    assert len(ax.collections[0].get_paths()) == 16
    fig = xv.filter_grid(rgb, layout="channels", max_filters=4)
    assert len(next(a for a in fig.axes if a.images).collections[0].get_paths()) == 4 * 3

    with pytest.raises(xk.InputError, match="c_in=4"):
        xv.filter_grid(w, layout="rgb")
    with pytest.raises(xk.InputError, match=r"transpose\(2, 3, 1, 0\)"):
        xv.filter_grid(np.zeros((16, 3, 3, 3), np.float32))


def test_normalize_filters_modes():
    w = np.random.default_rng(0).normal(size=(3, 3, 2, 4)).astype(np.float32)
    g, rng_g = xv.normalize_filters(w, "global")
    assert g.min() == 0 and g.max() == 1 and rng_g == (float(w.min()), float(w.max()))
    f, rng_f = xv.normalize_filters(w, "filter")
    assert rng_f is None and np.allclose(f.reshape(-1, 4).min(0), 0) and np.allclose(f.reshape(-1, 4).max(0), 1)
    w[0, 0, 0, 0] = 0.0
    s, (lo, hi) = xv.normalize_filters(w, "symmetric")
    assert lo == -hi == -np.abs(w).max() and s[0, 0, 0, 0] == 0.5  # zero is mid-grey
    assert np.isclose(s.min(), 0) or np.isclose(s.max(), 1)
    assert np.allclose(xv.normalize_filters(np.zeros_like(w), "symmetric")[0], 0.5)


# --------------------------------------------------------------------------- compare
def test_compare_figure_grid_and_titles():
    imgs = _photo(3)
    base = np.stack([_blob(30, 50, 15), _blob(60, 120, 25), _blob(50, 80, 20)])
    exps = [
        _explanation(base, "gradcam", "tensorflow", elapsed=0.3),
        _explanation(base * 0.5, "gradcam", "tf-explain", targets=[4, 1, 2], elapsed=0.9),
        _explanation(base - _blob(10, 10, 10)[None], "integrated_gradients", "tensorflow", elapsed=3.0),
    ]
    names = ["tabby", "astronaut", "mug", "camera", "lynx"]
    fig = xv.compare_figure(imgs, exps, class_names=names)
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 3 * (3 + 1)
    titles = [ax.get_title() for ax in image_axes]
    assert "lynx (≠ pred)" in titles  # the column with another target says so
    assert sum("tabby" in t for t in titles) == 3  # "pred: tabby" + two columns explaining class 0
    texts = [t.get_text() for t in fig.texts]
    assert any("gradcam (tensorflow)" in t and "100 ms/img · 1st call 250 ms" in t for t in texts)
    assert any("integrated_gradients" in t and "signed" in t for t in texts)
    # without class names the index is shown; a dict gives the column labels
    fig = xv.compare_figure(imgs, {"A": exps[0], "B": exps[2]}, view="overlay", time_in="cell")
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert "class 0 · 100 ms" in titles
    assert not any("ms/img" in t.get_text() for t in fig.texts)  # time is in the cells, not the header
    assert [xv.format_seconds(s) for s in (0.00042, 0.042, 1.0, 420)] == ["0.42 ms", "42 ms", "1 s", "7.0 min"]


def test_compare_figure_validates():
    imgs = _photo(2)
    exp = _explanation(np.stack([_blob(30, 50, 15)] * 3))
    with pytest.raises(xk.InputError, match="same images"):
        xv.compare_figure(imgs, [exp])
    with pytest.raises(xk.InputError, match="class_names"):
        xv.compare_figure(_photo(3), [exp], class_names=["only one"])
    with pytest.raises(xk.InputError, match="view"):
        xv.compare_figure(_photo(3), [exp], view="pretty")


def test_compare_figure_scales_to_ten_columns_and_eight_rows():
    imgs = _photo(8, 24, 40)
    maps = np.stack([_blob(10, 20, 5, 24, 40)] * 8)
    exps = {f"m{k} (b{k})": _explanation(maps, targets=np.zeros(8)) for k in range(10)}
    fig = xv.compare_figure(imgs, exps)
    assert len([ax for ax in fig.axes if ax.images]) == 8 * 11
    assert fig.get_figwidth() <= 18.0 + 1e-6


# --------------------------------------------------------------------------- save
def test_save_figure_formats_and_overwrite(tmp_path):
    fig = xv.compare_figure(_photo(1), [_explanation(_blob(30, 50, 15)[None])])
    for ext, magic in ((".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")):
        path = xv.save_figure(fig, tmp_path / f"out{ext}", dpi=50)
        assert path.read_bytes().startswith(magic)
    with pytest.raises(FileExistsError, match="overwrite=True"):  # the guard, when asked for
        xv.save_figure(fig, tmp_path / "out.png", overwrite=False)
    before = (tmp_path / "out.png").read_bytes()
    xv.save_figure(fig, tmp_path / "out.png", dpi=40)  # a figure is replaced by default (a notebook cell re-run)
    assert (tmp_path / "out.png").read_bytes() != before
    with pytest.raises(xk.InputError, match=".png"):
        xv.save_figure(fig, tmp_path / "out.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.pdf", "out.png", "out.svg"]


def test_save_figure_is_atomic_when_drawing_fails(tmp_path):
    from matplotlib.artist import Artist

    class Broken(Artist):
        def draw(self, renderer):
            raise RuntimeError("boom")

    fig = Figure(figsize=(2, 2))
    fig.add_artist(Broken())
    with pytest.raises(RuntimeError, match="boom"):
        xv.save_figure(fig, tmp_path / "fig.png")
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary left behind
    (tmp_path / "fig.png").write_bytes(b"old")
    with pytest.raises(RuntimeError):
        xv.save_figure(fig, tmp_path / "fig.png", overwrite=True)
    assert (tmp_path / "fig.png").read_bytes() == b"old"  # previous content untouched
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_save_image_roundtrip_rgb(tmp_path):
    import cv2

    img = xv.overlay(_photo(1), _blob(30, 50, 15)[None])[0]
    path = xv.save_image(img, tmp_path / "overlay.png")
    back = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]
    assert np.array_equal(back, img)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        xv.save_image(img, path, overwrite=False)
    xv.save_image(img[::-1], path)  # replaced by default, like a figure
    assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1], img[::-1])
    with pytest.raises(xk.InputError, match="uint8"):
        xv.save_image(img.astype(np.float32) / 255, tmp_path / "f.png")
    with pytest.raises(xk.InputError, match=r"images\[i\]"):
        xv.save_image(img[None], tmp_path / "b.png")


def test_import_viz_stays_light():
    code = ("import sys, xaikit, xaikit.viz; "
            "print(sorted(m for m in ('matplotlib', 'cv2', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- views chosen from the maps
def _cell_images(fig, column: int, n_cols: int) -> list[np.ndarray]:
    """The RGB arrays drawn in one column (0 = first map column after the image column)."""
    axes = [ax for ax in fig.axes if ax.images and ax.get_position().height < 0.9]
    return [np.asarray(ax.images[0].get_array()) for ax in axes[column + 1::n_cols]]


def test_map_with_a_constant_offset_is_drawn_as_its_deviations():
    """tf-explain's occlusion is 1 - p(occluded): 1 - p(image) everywhere but where the object is. Scaled as it
    is (any view), it drew as one flat red square; its deviations from the median show the object."""
    imgs = _photo(2)
    offset = (0.6 + 0.05 * np.stack([_blob(30, 50, 10), _blob(60, 120, 10)])).astype(np.float32)
    exp = _explanation(offset, "occlusion", "tf-explain")
    assert xk.explanation.map_offset(offset[0]) == pytest.approx(np.median(offset[0]))
    assert xv.choose_view(exp) == xv.View("signed", "signed", centered=True)
    fig = xv.compare_figure(imgs, [exp])
    for rgb in _cell_images(fig, 0, 2):
        red = (rgb[..., 0].astype(int) - rgb[..., 2]) > 80
        assert 0.005 < red.mean() < 0.2  # the blob, not the whole map
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert any("median 0.6" in t for t in titles)  # the cells say what they are drawn against
    assert any("signed, a − median" in t.get_text() for t in fig.texts)
    over = xv.overlay(imgs, offset)  # normalize="auto" of the overlay: the rise above the median, not a flat red
    assert (over[..., 0].astype(int) - over[..., 2] > 80).mean() < 0.2


def test_signed_map_of_a_non_signed_method_is_drawn_signed():
    """tf-explain's Grad-CAM has no ReLU: drawn by |a| (the old "auto"), negative evidence looked hot."""
    imgs = _photo(1)
    maps = (_blob(30, 50, 12) - _blob(60, 120, 12))[None]
    exp = _explanation(maps, "gradcam", "tf-explain")
    assert xv.default_view(exp) == "signed"
    rgb = _cell_images(xv.compare_figure(imgs, [exp]), 0, 2)[0]
    assert rgb[60, 120, 2] > rgb[60, 120, 0] + 60 and rgb[30, 50, 0] > rgb[30, 50, 2] + 60  # blue against, red for
    # an overlay cannot show a sign: its "auto" draws the evidence for the target, not |a|
    norm = xk.normalize_maps(maps)
    assert norm[0, 60, 120] == 0 and norm[0, 30, 50] == pytest.approx(1, abs=0.05)


def test_choose_view_per_method_and_content_and_explicit_choices():
    pos = np.stack([_blob(30, 50, 12)])
    signed = pos - np.stack([_blob(60, 120, 12)])
    assert xv.choose_view(_explanation(pos, "gradcam")) == xv.View("overlay", "max")
    assert xv.choose_view(_explanation(signed, "smoothgrad")) == xv.View("overlay", "abs")  # the sign is noise
    assert xv.choose_view(_explanation(pos, "integrated_gradients")).kind == "signed"  # its sign is the point
    assert xv.choose_view(_explanation(signed, "gradcam"), view="overlay") == xv.View("overlay", "positive")
    assert xv.choose_view(_explanation(signed, "gradcam"), normalize="abs") == xv.View("overlay", "abs")
    assert xv.choose_view(_explanation(pos, "gradcam"), normalize="median").centered
    with pytest.raises(xk.InputError, match="signed view takes"):
        xv.choose_view(_explanation(pos, "gradcam"), view="signed", normalize="max")
    with pytest.raises(xk.InputError, match="normalize must be one of"):
        xv.compare_figure(_photo(1), [_explanation(pos)], normalize="pretty")
    constant = xv.compare_figure(_photo(1), [_explanation(np.zeros((1, H, W), np.float32))])
    assert any("constant 0" in ax.get_title() for ax in constant.axes if ax.images)  # an empty map says so


def test_times_are_steady_state_and_ranked_columns_share_one():
    imgs = _photo(2)
    maps = np.stack([_blob(30, 50, 15), _blob(60, 120, 25)])
    cold = _explanation(maps, elapsed=0.86, warmup=None)  # one call: its elapsed includes tracing
    fig = xv.compare_figure(imgs, [cold])
    assert not any("/img" in t.get_text() for t in fig.texts)
    ranked = {f"eg rank {r + 1}": _explanation(maps, "expected_gradients", elapsed=3.0, warmup=2.0,
                                                  params={"rank": r, "ranked_outputs": 3}) for r in range(3)}
    fig = xv.compare_figure(imgs, ranked)
    headers = [t.get_text() for t in fig.texts if t.get_text().startswith("eg rank")]
    assert "1.5 s/img (3 ranks)" in headers[0] and "1st call 2 s" in headers[0]
    assert not any("/img" in h for h in headers[1:])  # the shared total is not repeated on every rank
    fig = xv.compare_figure(imgs, {"a": cold}, times={"a": 0.004}, first_calls={"a": 0.43})
    assert any("4 ms/img · 1st call 430 ms" in t.get_text() for t in fig.texts)


def test_column_headers_do_not_overlap():
    """Long labels (ranked outputs: 'expected_gradients (tensorflow) rank 1') in narrow columns."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    imgs = _photo(2, 24, 40)
    maps = np.stack([_blob(10, 20, 5, 24, 40)] * 2)
    cols = {f"expected_gradients (tensorflow) rank {r + 1}": _explanation(
        maps, "expected_gradients", params={"rank": r, "ranked_outputs": 6}) for r in range(6)}
    cols["gradcam++ (tf-explain) with a long label"] = _explanation(maps)
    for cell in (1.0, 1.3, 2.2):
        fig = xv.compare_figure(imgs, cols, cell_inches=cell, title="t")
        renderer = FigureCanvasAgg(fig).get_renderer()
        boxes = [t.get_window_extent(renderer) for t in fig.texts if t.get_text() not in ("t",) and "\n" in
                 t.get_text()]
        boxes.sort(key=lambda b: b.x0)
        for a, b in itertools.pairwise(boxes):
            assert a.x1 <= b.x0 + 0.5, f"headers overlap at cell_inches={cell}"
        top = fig.bbox.height
        assert all(b.y1 <= top for b in boxes)


def test_maps_without_images():
    maps = np.stack([_blob(30, 50, 15), _blob(60, 120, 25)])
    fig = xv.compare_figure(None, [_explanation(maps), _explanation(maps - 0.3, "occlusion")])
    assert len([ax for ax in fig.axes if ax.images]) == 2 * 2  # no image column


# --------------------------------------------------------------------------- grid gaps, pages
def test_gaps_stay_visible_when_the_colormap_reaches_white():
    """With cmap="gray" the white gaps equalled the maximum value, so tile edges vanished."""
    fmap = np.ones((8, 8, 4), np.float32)
    fmap[0, 0] = 0.0  # non-constant channels whose maximum fills the tiles' borders
    mosaic, _, _ = xv.activation_mosaic(fmap, cmap="gray", images_per_row=4, gap=1)
    tile_max = mosaic[1, 1]  # a pixel at the maximum value
    gap = mosaic[0, 8]
    assert np.linalg.norm(gap - tile_max) > 0.3
    assert xv.gap_color("viridis") == (1.0, 1.0, 1.0)  # white where it stands out


def test_activation_pages_bound_every_page_and_say_what_is_shown():
    rng = np.random.default_rng(0)
    acts = {f"l{k}": rng.random((1, 6, 6, 40), dtype=np.float32) for k in range(5)}
    acts["wide"] = rng.random((1, 4, 4, 700), dtype=np.float32)
    pages = xv.activation_pages(acts, max_channels=16, layers_per_page=2, title="acts")
    assert [k for k, _ in pages] == ["p1", "p2", "p3"]
    assert all(sum(1 for a in f.axes if a.images) <= 2 for _, f in pages)
    titles = [a.get_title(loc="left") for _, f in pages for a in f.axes if a.images]
    assert sum("first 16 of 40 shown" in t for t in titles) == 5 and "first 16 of 700 shown" in titles[-1]
    dpi, budget = 100, 2_000_000
    everything = xv.activation_pages(acts, ["wide"], max_channels=None, max_pixels=budget, dpi=dpi)
    assert len(everything) > 1  # 700 channels do not fit one page: continued on the next ones
    for _, fig in everything:
        w, h = fig.get_size_inches()
        assert w * h * dpi * dpi <= budget
    heads = [a.get_title(loc="left") for _, f in everything for a in f.axes if a.images]
    runs = [tuple(int(v) for v in h.split("channels ")[-1].split(" of ")[0].split("–")) for h in heads]
    assert runs[0][0] == 0 and runs[-1][1] == 699  # every channel, once, in order
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(runs))
    per_layer = xv.activation_pages(acts, ["l0", "wide"], per_layer=True)
    assert [k for k, _ in per_layer] == ["l0", "wide"]
    with pytest.raises(xk.InputError, match="activation_pages"):
        xv.activation_grid({"huge": np.zeros((1, 4, 4, 40000), np.float32)})


# --------------------------------------------------------------------------- notebooks
def test_explanation_displays_itself_in_a_notebook():
    maps = np.stack([_blob(30, 50, 15) - 0.2 * _blob(60, 120, 10)] * 200)  # a large batch: only a few drawn
    exp = _explanation(maps, "integrated_gradients", targets=np.zeros(200), elapsed=2.0, warmup=0.5,
                       params={"steps": 64, "baseline": 0.0})
    page = exp._repr_html_()
    assert "<img src='data:image/png;base64," in page and "</table>" in page
    assert "first 4 of 200 images" in page and "steps=64" in page and "first call 500 ms" in page
    fig = exp.plot(_photo(200), max_images=3)
    assert isinstance(fig, Figure) and len([ax for ax in fig.axes if ax.images]) == 3 * 2
    assert any("10 ms/img" in t.get_text() for t in fig.texts)  # the whole call's steady time, not the slice's
    assert isinstance(_explanation(maps[:2]).plot(), Figure)  # without images: the maps alone
    with pytest.raises(xk.InputError, match="images given"):
        exp.plot(_photo(3))


def test_activations_display_themselves_in_a_notebook():
    acts = _activations(c=40)
    page = acts._repr_html_()
    assert "<img src='data:image/png;base64," in page and "conv2d" in page and "2×12×18×40" in page
    fig = acts.plot(max_channels=8)
    assert isinstance(fig, Figure)
    assert "first 8 of 40" in next(a for a in fig.axes if a.images).get_title(loc="left")


def test_signed_figure_draws_offset_maps_as_deviations():
    imgs = _photo(2)
    offset = (0.6 + 0.05 * np.stack([_blob(30, 50, 10), _blob(60, 120, 10)])).astype(np.float32)
    fig = xv.signed_figure(imgs, _explanation(offset, "occlusion", "tf-explain"))
    maps = [np.asarray(ax.images[0].get_array()) for ax in fig.axes if ax.images][1::2]
    for rgb in maps:
        assert ((rgb[..., 0].astype(int) - rgb[..., 2]) > 80).mean() < 0.2  # the blob, not a red square
    assert any("median 0.6 subtracted" in ax.get_title() for ax in fig.axes)
    raw = xv.signed_figure(imgs, offset, center="none")
    rgb = [np.asarray(ax.images[0].get_array()) for ax in raw.axes if ax.images][1]
    assert ((rgb[..., 0].astype(int) - rgb[..., 2]) > 80).mean() > 0.9  # as asked: the maps as they are


def test_activation_grids_read_channels_first_maps():
    """PyTorch activations are (N, C, h, w): the grids read the layout the Activations record (or layout=)."""
    from xaikit.viz.activation_inputs import channels_last

    rng = np.random.default_rng(0)
    nhwc = rng.normal(size=(2, 5, 7, 4)).astype(np.float32)
    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
    torch_like = xk.Activations({"c": nchw}, backend="torch", elapsed=0.0, layout="NCHW")
    np.testing.assert_array_equal(channels_last(torch_like)["c"], nhwc)
    np.testing.assert_array_equal(channels_last({"c": nchw}, "NCHW")["c"], nhwc)
    assert channels_last({"c": nhwc})["c"] is nhwc  # a plain mapping is read channels last
    a = xv.activation_grid(torch_like, "c")
    b = xv.activation_grid({"c": nhwc}, "c")
    assert a.axes[0].get_title() == b.axes[0].get_title()
