"""The command line end to end: every command, exit codes, --overwrite, --unsafe, label files.

Tiny models are saved to temporary files (.keras, .h5, a SavedModel folder) and tiny
PNG images are written with OpenCV, so the tests run offline in seconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
cv2 = pytest.importorskip("cv2")
from click.testing import CliRunner  # noqa: E402

import xaikit as xk  # noqa: E402
from xaikit.atomic_files import is_temp_file  # noqa: E402
from xaikit.cli import main  # noqa: E402

pytestmark = pytest.mark.tensorflow

CLASSES = ["cat", "dog", "tiger cat"]


def run(*args, ok=True):
    """Invoke ``xaikit args...``; assert success unless ``ok`` is False."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def _cnn(n_out, activation, sequential=False, lam=False, size=(24, 24, 3), seed=0):
    from keras import layers

    keras.utils.set_random_seed(seed)
    body = [
        layers.Conv2D(4, 3, activation="relu", name="conv2d"),
        layers.MaxPooling2D(2, name="max_pooling2d"),
        layers.Conv2D(6, 3, activation="relu", name="conv2d_1"),
        layers.MaxPooling2D(2, name="max_pooling2d_1"),
        layers.Flatten(name="flatten"),
        layers.Dense(n_out, activation=activation, name="dense"),
    ]
    if lam:
        body.insert(0, layers.Lambda(lambda t: t * 1.0, name="lambda"))
    if sequential:
        return keras.Sequential([keras.Input(size), *body], name="seq")
    inp = keras.Input(size, name="image")
    x = inp
    for layer in body:
        x = layer(x)
    return keras.Model(inp, x, name="func")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Model files, image files (two sizes, one JPEG) and label files."""
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    img_dir = d / "images"
    img_dir.mkdir()
    for i, (h, w) in enumerate([(24, 24), (30, 40), (24, 24)]):
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(img_dir / f"img{i}.png"), img)
    cv2.imwrite(str(d / "single.jpg"), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    bg = d / "background"
    bg.mkdir()
    for i in range(3):
        cv2.imwrite(str(bg / f"bg{i}.png"), rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    paths = {"images": img_dir, "single": d / "single.jpg", "background": bg, "dir": d}
    # a seeds-like binary model (single sigmoid) as legacy HDF5, a softmax model as .keras
    binary = _cnn(1, "sigmoid", sequential=True)
    paths["h5"] = d / "cats.h5"
    binary.save(paths["h5"])
    softmax = _cnn(3, "softmax")
    paths["keras"] = d / "model.keras"
    softmax.save(paths["keras"])
    paths["lambda"] = d / "lambda.keras"
    _cnn(3, "softmax", lam=True).save(paths["lambda"])
    paths["savedmodel"] = d / "savedmodel"
    softmax.export(str(paths["savedmodel"]), verbose=False)
    # label files in every accepted format
    (d / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    (d / "list.json").write_text(json.dumps(CLASSES))
    (d / "dict.json").write_text(json.dumps({str(i): c for i, c in enumerate(CLASSES)}))
    (d / "imagenet.json").write_text(json.dumps({str(i): [f"n0{i}", c.replace(" ", "_")]
                                                  for i, c in enumerate(CLASSES)}))
    return paths


# --------------------------------------------------------------------------- explain
def test_explain_h5_gradcam_picture_and_npz(files, tmp_path):
    out, npz = tmp_path / "cat.png", tmp_path / "cat.npz"
    res = run("explain", "--model", files["h5"], "--images", files["images"], "--method", "gradcam",
              "--layer", "conv2d_1", "--preprocess", "scale255", "-o", out, "--save-npz", npz)
    assert out.stat().st_size > 1000 and cv2.imread(str(out)) is not None
    exp = xk.Explanation.load(npz)
    assert exp.attributions.shape == (3, 24, 24) and exp.method == "gradcam" and exp.layer == "conv2d_1"
    assert exp.info["cli"]["preprocess"] == "scale255"
    assert exp.info["cli"]["images"] == ["img0.png", "img1.png", "img2.png"]
    assert len(res.stdout.strip().splitlines()) == 3  # one line per image
    assert "preprocessing: scale255" in res.stderr and "\r" not in res.stderr  # said what it did; no bar off a TTY
    # the same numbers as the Python API on the same preprocessed batch
    images, _ = xk.io.load_images(files["images"], size=(24, 24))
    model = keras.saving.load_model(files["h5"], compile=False)
    ref = xk.explain(model, images / np.float32(255), method="gradcam", layer="conv2d_1")
    np.testing.assert_allclose(exp.attributions, ref.attributions, rtol=1e-5, atol=1e-6)


def test_explain_chunks_give_the_same_result_up_to_float32_rounding(files, tmp_path):
    """docs/cli.md: equal up to float32 rounding (the model's kernels sum in a batch-size dependent
    order; measured <= 1.5e-6 of a map's largest value), never different random draws."""
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    common = ["explain", "--model", files["keras"], "-i", files["images"], "--method", "smoothgrad", "--seed", "3",
              "--n-samples", "4", "--preprocess", "scale255"]
    run(*common, "--save-npz", a)
    ea = xk.Explanation.load(a)
    for chunk, batch in (("1", "32"), ("2", "3")):
        run(*common, "--save-npz", b, "--chunk-size", chunk, "--batch-size", batch, "--overwrite")
        eb = xk.Explanation.load(b)
        assert ea.params["seed"] == eb.params["seed"] == 3 and eb.attributions.shape == (3, 24, 24)
        scale = np.abs(ea.attributions).max(axis=(1, 2))
        relative = np.abs(eb.attributions - ea.attributions).max(axis=(1, 2)) / scale
        assert relative.max() < 1e-5, (chunk, relative)


def test_explain_default_preprocess_is_none_and_said(files, tmp_path):
    res = run("explain", "--model", files["keras"], "-i", files["single"], "--method", "vanilla_gradients",
              "--save-npz", tmp_path / "x.npz")
    assert "preprocessing: none" in res.stderr and "choose with --preprocess" in res.stderr


def test_existing_output_needs_overwrite(files, tmp_path):
    out = tmp_path / "x.png"
    out.write_bytes(b"old")
    args = ["explain", "--model", files["keras"], "-i", files["single"], "-o", out]
    res = run(*args, ok=False)
    assert res.exit_code == 5 and "--overwrite" in res.stderr and res.stderr.startswith("error: ")
    assert out.read_bytes() == b"old"
    run(*args, "--overwrite")
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in tmp_path.iterdir() if is_temp_file(p)]  # atomic: no temporary left


@pytest.mark.parametrize("labels", ["labels.txt", "list.json", "dict.json", "imagenet.json"])
def test_targets_by_name_with_every_labels_format(files, tmp_path, labels):
    npz = tmp_path / "t.npz"
    res = run("explain", "--model", files["keras"], "-i", files["images"], "--labels", files["dir"] / labels,
              "--target", "tiger cat", "--method", "gradcam", "--save-npz", npz, "-o", tmp_path / "t.png")
    np.testing.assert_array_equal(xk.Explanation.load(npz).targets, [2, 2, 2])
    assert "tiger" in res.stdout  # class names in the per-image lines


def test_targets_one_per_image_and_wordnet_ids(files, tmp_path):
    npz = tmp_path / "t.npz"
    run("explain", "--model", files["keras"], "-i", files["images"], "--labels", files["dir"] / "imagenet.json",
        "--target", "n00,dog", "--target", "2", "--save-npz", npz)
    np.testing.assert_array_equal(xk.Explanation.load(npz).targets, [0, 1, 2])


def test_bad_targets_and_labels_exit_3(files, tmp_path):
    base = ["explain", "--model", files["keras"], "-i", files["images"], "--save-npz", tmp_path / "x.npz"]
    res = run(*base, "--labels", files["dir"] / "labels.txt", "--target", "dgo", ok=False)
    assert res.exit_code == 3 and "Did you mean: 'dog'" in res.stderr
    res = run(*base, "--target", "dog", ok=False)
    assert res.exit_code == 3 and "--labels" in res.stderr
    res = run(*base, "--target", "0,1", ok=False)
    assert res.exit_code == 3 and "one per image" in res.stderr
    res = run(*base, "--target", "7", ok=False)  # range checked by the explainer
    assert res.exit_code == 3
    two = tmp_path / "two.txt"
    two.write_text("a\nb\n")
    res = run(*base, "--labels", two, ok=False)
    assert res.exit_code == 3 and "names 2 classes" in res.stderr


def test_parameter_errors_come_from_the_explainer(files, tmp_path):
    base = ["explain", "--model", files["keras"], "-i", files["single"], "--save-npz", tmp_path / "x.npz"]
    res = run(*base, "--method", "gradcam", "--noise", "0.2", ok=False)
    assert res.exit_code == 3 and "has no parameter" in res.stderr and "noise" in res.stderr
    res = run(*base, "--method", "gradcam", "--layer", "nope", ok=False)
    assert res.exit_code == 3 and "conv2d_1" in res.stderr  # lists the candidates
    res = run(*base, "--method", "smoothgrad", "--n-samples", "0", ok=False)
    assert res.exit_code == 3 and "n_samples" in res.stderr
    res = run(*base, "--method", "no-such-method", ok=False)
    assert res.exit_code == 3 and "gradcam" in res.stderr
    res = run(*base, "--preprocess", "no-such-scheme", ok=False)
    assert res.exit_code == 3 and "caffe" in res.stderr
    res = run(*base, "--score", "loss", ok=False)
    assert res.exit_code == 3 and "probability" in res.stderr
    assert len(res.stderr.strip().splitlines()[-1]) > 0 and res.stderr.strip().splitlines()[-1].startswith("error:")


def test_usage_errors_exit_2(files, tmp_path):
    assert run("explain", "--no-such-option", ok=False).exit_code == 2
    assert run("compare", "--model", files["keras"], ok=False).exit_code == 2  # --pair is required
    res = run("explain", "--model", files["keras"], "-i", files["single"], "-o", tmp_path / "x.gif", ok=False)
    assert res.exit_code == 3 and ".png" in res.stderr


def test_default_picture_names(files, tmp_path, monkeypatch):
    """The seeds' one-liners need no -o: the picture is NAME_<what>.png in the current folder."""
    monkeypatch.chdir(tmp_path)
    res = run("explain", "--model", files["keras"], "--image", files["single"], "--method", "gradcam++")
    assert (tmp_path / "single_gradcampp.png").is_file() and "wrote single_gradcampp.png" in res.stderr
    assert run("explain", "--model", files["keras"], "--image", files["single"], "--method", "gradcam++",
               ok=False).exit_code == 5  # not overwritten
    run("activations", "--model", files["h5"], "--image", files["single"], "--layers", "first:2")
    run("filters", "--model", files["keras"], "--layer", "conv2d")
    run("explain", "--model", files["keras"], "-i", files["images"], "--save-npz", "only.npz")  # no picture asked
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model_conv2d_filters.png", "only.npz", "single_activations.png", "single_gradcampp.png"]


def test_missing_dependency_exit_4(files, tmp_path, monkeypatch):
    from xaikit import registry

    monkeypatch.setattr(registry.BackendSpec, "missing", lambda self: ["tensorflow"])  # as if not installed
    registry.get_services.cache_clear()
    try:
        res = run("explain", "--model", files["keras"], "-i", files["single"], "-o", tmp_path / "x.png", ok=False)
    finally:
        registry.get_services.cache_clear()
    assert res.exit_code == 4 and 'pip install "xaikit[tensorflow]"' in res.stderr


def test_unsafe_is_needed_for_lambda_layers(files, tmp_path):
    args = ["explain", "--model", files["lambda"], "-i", files["single"], "--method", "vanilla_gradients",
            "-o", tmp_path / "l.png"]
    res = run(*args, ok=False)
    assert res.exit_code == 3 and "--unsafe" in res.stderr and "Lambda" in res.stderr
    run(*args, "--unsafe")


def test_ranked_outputs_with_background_folder(files, tmp_path):
    out, npz = tmp_path / "eg.png", tmp_path / "eg.npz"
    run("explain", "--model", files["keras"], "-i", files["images"], "--method", "expected_gradients",
        "--layer", "conv2d_1", "--background", files["background"], "--n-samples", "8", "--seed", "0",
        "--ranked-outputs", "2", "-o", out, "--save-npz", npz)
    r1, r2 = (xk.Explanation.load(tmp_path / f"eg_rank{r}.npz") for r in (1, 2))
    assert r1.layer == "conv2d_1" and np.all(r1.targets != r2.targets)
    np.testing.assert_array_equal(r1.targets, r1.predictions)
    assert out.is_file()


def test_occlusion_and_baselines(files, tmp_path):
    out = tmp_path / "o.npz"
    run("explain", "--model", files["keras"], "-i", files["single"], "--method", "occlusion", "--patch-size", "6x4",
        "--stride", "3", "--baseline", "grey", "--preprocess", "tf", "--save-npz", out)
    exp = xk.Explanation.load(out)
    assert tuple(exp.params["patch_size"]) == (6, 4) and exp.params["baseline"] == 0.0  # grey pixels -> 0 in [-1, 1]
    run("explain", "--model", files["keras"], "-i", files["single"], "--method", "occlusion", "--patch-size", "8",
        "--baseline", "black", "--preprocess", "caffe", "--save-npz", out, "--overwrite")
    np.testing.assert_allclose(xk.Explanation.load(out).params["baseline"], [-103.939, -116.779, -123.68], rtol=1e-5)
    out = tmp_path / "ig.npz"
    run("explain", "--model", files["keras"], "-i", files["single"], "--method", "integrated_gradients",
        "--steps", "8", "--baseline", "0.1,0.2,0.3", "--param", 'integration="midpoint"', "--save-npz", out)
    exp = xk.Explanation.load(out)
    assert exp.params["integration"] == "midpoint" and exp.params["steps"] == 8
    np.testing.assert_allclose(exp.params["baseline"], [0.1, 0.2, 0.3], rtol=1e-6)
    run("explain", "--model", files["keras"], "-i", files["single"], "--method", "integrated_gradients",
        "--steps", "4", "--baseline", files["single"], "--save-npz", tmp_path / "ig2.npz")  # an image baseline
    res = run("explain", "--model", files["keras"], "-i", files["single"], "--baseline", "nothing",
              "--method", "occlusion", "--save-npz", tmp_path / "x.npz", ok=False)
    assert res.exit_code == 3 and "black/white/grey" in res.stderr


def test_savedmodel_folder(files, tmp_path):
    out = tmp_path / "sm.npz"
    res = run("explain", "--model", files["savedmodel"], "--unsafe", "-i", files["images"], "--method",
              "vanilla_gradients", "--save-npz", out, "-o", tmp_path / "sm.png")
    assert "SavedModel" in res.stderr
    exp = xk.Explanation.load(out)
    assert exp.score == "output" and exp.attributions.shape == (3, 24, 24)
    res = run("explain", "--model", files["savedmodel"], "--unsafe", "-i", files["single"], "--method", "gradcam",
              "-o", tmp_path / "g.png", ok=False)
    assert res.exit_code == 3 and "spatial" in res.stderr
    res = run("filters", "--model", files["savedmodel"], "--unsafe", "-o", tmp_path / "f.png", ok=False)
    assert res.exit_code == 3 and "SavedModel" in res.stderr and "--unsafe" not in res.stderr


def test_keras_application_by_name(files, tmp_path):
    out = tmp_path / "vgg.png"
    res = run("explain", "--arch", "VGG16", "--weights", "none", "--input-size", "32", "32", "--classes", "3",
              "-i", files["single"], "--preprocess", "caffe", "--method", "gradcam", "--layer", "block5_conv3",
              "-o", out)
    assert out.is_file() and "pass --preprocess vgg16" not in res.stderr  # caffe is vgg16's scheme: no hint
    res = run("explain", "--arch", "NoSuchNet", "--weights", "none", "-i", files["single"], "-o", out, "--overwrite",
              ok=False)
    assert res.exit_code == 3 and "VGG16" in res.stderr
    res = run("explain", "--arch", "VGG16", "-i", files["single"], "-o", out, "--overwrite", ok=False)
    assert res.exit_code == 3 and "--weights" in res.stderr


# --------------------------------------------------------------------------- compare
def test_compare_pairs(files, tmp_path):
    md, out = tmp_path / "cmp.md", tmp_path / "cmp.svg"
    res = run("compare", "--model", files["keras"], "-i", files["images"], "--pair", "gradcam:tensorflow",
              "--pair", "occlusion:tensorflow", "--pair", "vanilla_gradients", "--patch-size", "6",
              "--param", "gradcam.layer=\"conv2d\"", "--chunk-size", "2", "--markdown", md, "-o", out)
    text = md.read_text()
    assert "| spearman |" in text and "gradcam (tensorflow)" in text and "conv2d |" in text
    assert "Compared on 3 image(s)" in res.stdout
    assert out.read_text().lstrip().startswith("<?xml")
    res = run("compare", "--model", files["keras"], "-i", files["single"], "--pair", "gradcam:tensorflow",
              "--pair", "gradcam++:tensorflow", "--noise", "0.1", ok=False)
    assert res.exit_code == 3 and "no pair takes 'noise'" in res.stderr
    res = run("compare", "--model", files["keras"], "-i", files["single"], "--pair", "gradcam:tensorflow", ok=False)
    assert res.exit_code == 3 and "at least two" in res.stderr


def test_compare_with_tf_explain(files, tmp_path):
    if "tf-explain" not in xk.registry.available_backends():
        pytest.skip("the tf-explain backend is not installed")
    res = run("compare", "--model", files["keras"], "-i", files["images"], "--pair", "gradcam:tensorflow",
              "--pair", "gradcam:tf-explain", "--layer", "conv2d_1", "-o", tmp_path / "c.png")
    assert "gradcam (tf-explain)" in res.stdout


# --------------------------------------------------------------------------- activations, filters
def test_activations_first_n_layers_as_the_seeds(files, tmp_path):
    out, npz = tmp_path / "acts.png", tmp_path / "acts.npz"
    res = run("activations", "--model", files["h5"], "-i", files["images"], "--layers", "first:4",
              "--preprocess", "scale255", "-o", out, "--save-npz", npz, "--image-index", "1")
    assert [line.split("\t")[0] for line in res.stdout.strip().splitlines()] == \
        ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1"]
    acts = xk.Activations.load(npz)
    assert acts["conv2d"].shape == (3, 22, 22, 4) and out.is_file()
    run("activations", "--model", files["keras"], "-i", files["single"], "--layers", "conv2d,conv2d_1",
        "--per-layer", "-o", tmp_path / "per.png")
    assert (tmp_path / "per_conv2d.png").is_file() and (tmp_path / "per_conv2d_1.png").is_file()
    res = run("activations", "--model", files["keras"], "-i", files["single"], "--layers", "nope",
              "-o", tmp_path / "x.png", ok=False)
    assert res.exit_code == 3 and "conv2d_1" in res.stderr


def test_filters(files, tmp_path):
    out = tmp_path / "f.pdf"
    res = run("filters", "--model", files["keras"], "--layer", "conv2d_1", "-o", out)
    assert out.read_bytes()[:4] == b"%PDF" and "3x3x4x6" in res.stdout
    run("filters", "--model", files["h5"], "-o", tmp_path / "first.png")  # default: the first convolution
    res = run("filters", "--model", files["keras"], "--layer", "dense", "-o", tmp_path / "d.png", ok=False)
    assert res.exit_code == 3 and "conv2d" in res.stderr


# --------------------------------------------------------------------------- zoo, help
def test_zoo_model_without_images(tmp_path):
    from xaikit_tensorflow import zoo

    if not zoo.model_info("shapes_cnn4").path.is_file():
        pytest.skip("zoo model shapes_cnn4 is not trained yet")
    res = run("explain", "--zoo", "shapes_cnn4", "--n-images", "2", "--method", "gradcam", "-o", tmp_path / "z.png")
    assert "preprocessing: scale255" in res.stderr and len(res.stdout.strip().splitlines()) == 2


def test_quiet_and_stdout_results(files, tmp_path):
    res = run("explain", "--model", files["keras"], "-i", files["images"], "--labels", files["dir"] / "labels.txt",
              "--save-npz", tmp_path / "q.npz", "--quiet")
    assert res.stderr == ""
    lines = res.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["img0.png", "img1.png", "img2.png"]
    assert all("predicted " in line and "explained " in line for line in lines)


def test_command_line_imports_no_framework():
    import subprocess
    import sys

    code = ("import sys, xaikit.cli, xaikit.preprocessing; "
            "bad = [m for m in ('tensorflow', 'keras', 'shap', 'tf_explain') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tensorflow_start_up_lines_stay_off_the_terminal(tmp_path):
    """TensorFlow 2.21 logs oneDNN/CUDA lines before reading TF_CPP_MIN_LOG_LEVEL; the CLI hides them."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    res = subprocess.run([sys.executable, "-m", "xaikit", "filters", "--zoo", "shapes_cnn4",
                          "-o", str(tmp_path / "f.png")], capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "f.png").is_file()
    assert "absl" not in res.stderr and "oneDNN" not in res.stderr and "cuda" not in res.stderr.lower(), res.stderr


def test_help_of_every_command():
    for command in ("explain", "compare", "activations", "filters", "list", "demo"):
        res = run(command, "--help")
        assert "Usage:" in res.stdout
    assert "tensorflow" in run("list").stdout


# --------------------------------------------------------------------------- odd inputs (issue 10)
@pytest.mark.parametrize("command,args,option", [
    ("explain", ["--dpi", "100000"], "--dpi"), ("explain", ["--dpi", "0"], "--dpi"),
    ("explain", ["--alpha", "2"], "--alpha"), ("explain", ["--colormap", "no-such-map"], "--colormap"),
    ("explain", ["--view", "sideways"], "--view"), ("explain", ["--show", "0"], "--show"),
    ("explain", ["--chunk-size", "0"], "--chunk-size"), ("explain", ["--ranked-outputs", "0"], "--ranked-outputs"),
    ("compare", ["--fraction", "0", "--pair", "gradcam", "--pair", "vanilla_gradients"], "--fraction"),
    ("activations", ["--max-channels", "-1"], "--max-channels"), ("activations", ["--images-per-row", "0"],
                                                                   "--images-per-row"),
    ("activations", ["--cmap", "no-such-map"], "--cmap"), ("activations", ["--mode", "bogus"], "--mode"),
])
def test_options_are_checked_before_any_work(files, tmp_path, command, args, option):
    """--max-channels 0 was a ZeroDivisionError, --dpi 100000 a MemoryError after all the work,
    --dpi 0 / --alpha 2 / --colormap were checked only when the picture was drawn."""
    res = run(command, "--model", files["keras"], "-i", files["single"], *args, "-o", tmp_path / "x.png", ok=False)
    assert res.exit_code == 2 and option in res.stderr, res.stderr
    assert "model:" not in res.stderr and not (tmp_path / "x.png").exists()  # nothing was loaded


@pytest.mark.parametrize("args,option", [(["--max-channels", "0"], "--max-channels"),
                                         (["--max-filters", "0"], "--max-filters"),
                                         (["--normalize", "bogus"], "--normalize"), (["--cmap", "nope"], "--cmap")])
def test_filters_options_are_checked_first(files, tmp_path, args, option):
    res = run("filters", "--model", files["keras"], *args, "-o", tmp_path / "f.png", ok=False)
    assert res.exit_code == 2 and option in res.stderr and "model:" not in res.stderr


def test_bool_params_from_the_command_line(files, tmp_path):
    """--param relu="False" reached the explainer as the text 'False' and was recorded as True."""
    npz = tmp_path / "r.npz"
    base = ["explain", "--model", files["keras"], "-i", files["single"], "--method", "gradcam", "--layer", "conv2d_1"]
    for text, expected in (("False", False), ("no", False), ('"false"', False), ("YES", True), ("0", False)):
        run(*base, "--param", f"relu={text}", "--save-npz", npz, "--overwrite")
        assert xk.Explanation.load(npz).params["relu"] is expected, text
    res = run(*base, "--param", "relu=maybe", "--save-npz", npz, "--overwrite", ok=False)
    assert res.exit_code == 3 and "--param relu takes true or false" in res.stderr
    # scoped to one pair of compare, and for a pair whose backend has other bools
    md = tmp_path / "c.md"
    run("compare", "--model", files["keras"], "-i", files["single"], "--pair", "gradcam", "--pair", "gradcam++",
        "--layer", "conv2d_1", "--param", "gradcam.relu=no", "--markdown", md)
    res = run("compare", "--model", files["keras"], "-i", files["single"], "--pair", "gradcam", "--pair", "gradcam++",
              "--param", "gradcam.relu=nah", "--markdown", md, "--overwrite", ok=False)
    assert res.exit_code == 3 and "--param relu takes true or false" in res.stderr


def test_a_parameter_set_twice_is_an_error(files, tmp_path):
    """--param layer=... silently replaced --layer."""
    base = ["explain", "--model", files["keras"], "-i", files["single"], "--save-npz", tmp_path / "x.npz"]
    res = run(*base, "--layer", "conv2d_1", "--param", "layer=conv2d", ok=False)
    assert res.exit_code == 3 and "--layer and --param layer" in res.stderr and "model:" not in res.stderr
    res = run(*base, "--param", "relu=true", "--param", "relu=false", ok=False)
    assert res.exit_code == 3 and "twice" in res.stderr
    run(*base, "--param", "layer=conv2d")  # alone, --param may set it


@pytest.mark.parametrize("text", ["8x", "x8", "8.5", "8x8x8", "", "-2"])
def test_sizes_are_n_or_hxw(files, tmp_path, text):
    """--patch-size 8x was read as 8."""
    res = run("explain", "--model", files["keras"], "-i", files["single"], "--method", "occlusion",
              "--patch-size", text, "--save-npz", tmp_path / "x.npz", ok=False)
    assert res.exit_code == 3 and "--patch-size takes N or HxW" in res.stderr and "model:" not in res.stderr


def test_digit_class_names_index_first_with_a_warning(files, tmp_path):
    npz = tmp_path / "t.npz"
    shuffled = tmp_path / "digits.txt"
    shuffled.write_text("2\n0\n1\n")  # class 0 is named "2", class 1 "0", class 2 "1"
    base = ["explain", "--model", files["keras"], "-i", files["single"], "--labels", shuffled, "--save-npz", npz]
    res = run(*base, "--target", "1")
    assert xk.Explanation.load(npz).targets.tolist() == [1]
    assert "warning: --target 1 is read as class index 1" in res.stderr and "name:1" in res.stderr
    res = run(*base, "--target", "name:1", "--overwrite", "--quiet")
    assert xk.Explanation.load(npz).targets.tolist() == [2] and res.stderr == ""
    same = tmp_path / "same.txt"
    same.write_text("0\n1\n2\n")  # names equal to the indices: nothing to warn about
    res = run(*base[:-4], "--labels", same, "--target", "2", "--save-npz", npz, "--overwrite")
    assert "warning" not in res.stderr and xk.Explanation.load(npz).targets.tolist() == [2]
    tens = tmp_path / "tens.txt"
    tens.write_text("10\n20\n30\n")
    run(*base[:-4], "--labels", tens, "--target", "20", "--save-npz", npz, "--overwrite")  # only a name fits
    assert xk.Explanation.load(npz).targets.tolist() == [1]


def test_several_targets_for_one_image(files, tmp_path):
    """Seed 004 explains one cat for 281 and 285; --target 281 --target 285 was refused."""
    npz, out = tmp_path / "two.npz", tmp_path / "two.png"
    res = run("explain", "--model", files["keras"], "-i", files["single"], "--labels", files["dir"] / "labels.txt",
              "--target", "0", "--target", "tiger cat", "--method", "gradcam", "--layer", "conv2d_1",
              "--save-npz", npz, "-o", out)
    exp = xk.Explanation.load(npz)
    assert exp.targets.tolist() == [0, 2] and exp.attributions.shape == (2, 24, 24)
    assert exp.info["cli"]["images"] == ["single.jpg", "single.jpg"] and out.is_file()
    assert [line.split("\t")[-1] for line in res.stdout.strip().splitlines()] == ["explained cat (0)",
                                                                                 "explained tiger cat (2)"]
    # the same maps as the API with the image repeated, one row per class
    image, _ = xk.io.load_images([files["single"]], size=(24, 24))
    model = keras.saving.load_model(files["keras"], compile=False)
    ref = xk.explain(model, np.repeat(image, 2, axis=0), method="gradcam", layer="conv2d_1", targets=[0, 2])
    np.testing.assert_allclose(exp.attributions, ref.attributions, rtol=1e-5, atol=1e-6)
    md = tmp_path / "c.md"
    res = run("compare", "--model", files["keras"], "-i", files["single"], "--pair", "gradcam", "--pair",
              "vanilla_gradients", "--target", "0,1", "--markdown", md)
    assert "Compared on 2 image(s)" in res.stdout
    res = run("explain", "--model", files["keras"], "-i", files["images"], "--target", "0,1",
              "--save-npz", tmp_path / "x.npz", ok=False)  # 3 images: one class each, or one for all
    assert res.exit_code == 3 and "several for a single image" in res.stderr


def test_colour_images_for_a_grey_model_need_to_grey(files, tmp_path):
    """A 1-channel model turned RGB input grey without a word."""
    grey_model = tmp_path / "grey.keras"
    _cnn(3, "softmax", size=(24, 24, 1)).save(grey_model)
    grey_png = tmp_path / "grey.png"
    cv2.imwrite(str(grey_png), np.random.default_rng(1).integers(0, 256, (24, 24), dtype=np.uint8))
    npz = tmp_path / "g.npz"
    base = ["explain", "--model", grey_model, "--method", "vanilla_gradients", "--save-npz", npz, "--overwrite"]
    res = run(*base, "-i", files["single"], ok=False)
    assert res.exit_code == 3 and "in colour (single.jpg)" in res.stderr and "--to-grey" in res.stderr
    res = run(*base, "-i", files["single"], "--to-grey")
    assert "--to-grey: 1 colour images converted to grey (single.jpg)" in res.stderr
    run(*base, "-i", grey_png)  # a grey file needs no option
    ref = xk.io.load_images([grey_png], channels=1)[0]
    model = keras.saving.load_model(grey_model, compile=False)
    np.testing.assert_allclose(xk.Explanation.load(npz).attributions,
                               xk.explain(model, ref, method="vanilla_gradients").attributions, rtol=1e-6)
    res = run("explain", "--model", files["keras"], "-i", files["single"], "--to-grey", "--save-npz", npz,
              "--overwrite", ok=False)
    assert res.exit_code == 3 and "drop --to-grey" in res.stderr


def test_activations_layer_grammar_is_the_api_s(files, tmp_path):
    """`xk.activations(model, x, layers="first:8")` was refused though the CLI took it."""
    model = keras.saving.load_model(files["h5"], compile=False)
    images, _ = xk.io.load_images([files["single"]], size=(24, 24))
    api = xk.activations(model, images, layers="first:3, dense")
    assert api.layers == ["conv2d", "max_pooling2d", "conv2d_1", "dense"]
    assert xk.activations(model, images, layers=["all"]).layers == [layer.name for layer in model.layers]
    npz = tmp_path / "a.npz"
    run("activations", "--model", files["h5"], "-i", files["single"], "--layers", "first:3", "--layers", "dense",
        "--save-npz", npz)
    assert xk.Activations.load(npz).layers == api.layers
    for bad in ("first:0", "first:x", ""):
        with pytest.raises(xk.errors.InputError, match="first:N|empty"):
            xk.activations(model, images, layers=bad)


# --------------------------------------------------------------------------- progress, pages, compare output
def test_progress_lines_when_stderr_is_not_a_terminal():
    """Not a terminal: one line every few seconds with the rows of the running call, their rate and the time left."""
    import io

    from xaikit.cli._bars import RunProgress
    from xaikit.progress import report

    now = [100.0]
    out = io.StringIO()
    bar = RunProgress(4, False, "occlusion", stream=out, terminal=False, interval=3600, clock=lambda: now[0])
    with bar:
        bar.tick()  # no rows reported yet (a library running its own loop): still a sign of life
        report(16, 169)  # the backends' streaming loops call this
        now[0] += 4.0
        report(48, 169)
        bar.tick()
        bar.update(1)
        bar.tick()
    lines = out.getvalue().splitlines()
    assert lines[0] == "occlusion: 0/4 images · 0 s elapsed"
    assert lines[1] == "occlusion: 0/4 images · 48/169 rows (28%), 12 rows/s, ~10 s left · 4 s elapsed"
    assert lines[2] == "occlusion: 1/4 images (0.2 images/s, ~12 s left) · 4 s elapsed"
    report(1, 2)  # outside the context: nobody listens, nothing breaks
    # a resumed run (bulk explanation): the images done before count as done, not in the rate
    out = io.StringIO()
    now = [100.0]
    with RunProgress(10, False, "gradcam", stream=out, terminal=False, interval=3600, clock=lambda: now[0],
                     initial=6) as resumed:
        now[0] += 2.0
        resumed.update(2)
        resumed.tick()
    assert out.getvalue().splitlines()[-1] == "gradcam: 8/10 images (1.0 images/s, ~2 s left) · 2 s elapsed"
    assert RunProgress(4, True, "x", stream=out, terminal=False).disable


def test_progress_lines_name_the_pair_and_do_not_count_down_past_the_streamed_rows():
    """``compare`` printed "16/16 rows (100 %), ~0 s left" for 30 s more without naming the pair."""
    import io

    from xaikit.cli._bars import RunProgress
    from xaikit.progress import report, stage

    now = [100.0]
    out = io.StringIO()
    with RunProgress(4, False, "compare", stream=out, terminal=False, interval=3600, clock=lambda: now[0]) as bar:
        stage("gradcam (tf-explain) [2/3]")
        report(8, 16)
        now[0] += 2.0
        report(16, 16)
        bar.tick()
    assert out.getvalue().splitlines()[-1] == ("compare: 0/4 images · gradcam (tf-explain) [2/3] · 16/16 rows "
                                               "(100%), finishing the call · 2 s elapsed")


def test_progress_bar_on_a_terminal_without_a_window_size():
    """A pseudo-terminal opened without a size (script, CI, docker -t) reports 0 x 0 and tqdm alone draws
    nothing there; the bars must still appear."""
    import os

    pty = pytest.importorskip("pty")  # noqa: F841 - POSIX only
    from xaikit.cli._bars import RunProgress
    from xaikit.progress import report

    master, slave = os.openpty()
    with os.fdopen(slave, "w", encoding="utf-8") as stream:
        assert os.get_terminal_size(stream.fileno()).columns == 0
        with RunProgress(2, False, "occlusion", stream=stream) as bar:
            assert bar.terminal and not bar.disable
            report(30, 100)
            bar.tick()  # what the refresh thread does every second
            bar.update(1)
            bar.tick()
        stream.flush()
        import select

        chunks = []
        while select.select([master], [], [], 1.0)[0]:  # everything the terminal received (nothing: no wait)
            chunks.append(os.read(master, 65536))
        drawn = b"".join(chunks).decode("utf-8", "replace")
    os.close(master)
    assert "occlusion" in drawn and "30/100" in drawn and "1/2" in drawn


def test_explain_prints_progress_lines_while_it_runs(files, tmp_path, monkeypatch):
    monkeypatch.setattr("xaikit.cli._bars.LINE_INTERVAL", 0.001)
    res = run("explain", "--model", files["keras"], "-i", files["images"], "--method", "occlusion",
              "--patch-size", "2", "--batch-size", "4", "-o", tmp_path / "o.png")
    assert "occlusion: 0/3 images" in res.stderr and " rows (" in res.stderr


def test_compare_prints_effective_parameters_and_steady_times(files, tmp_path):
    res = run("compare", "--model", files["keras"], "-i", files["images"], "--pair", "gradcam:tensorflow",
              "--pair", "smoothgrad:tensorflow", "--n-samples", "3", "--seed", "0", "-o", tmp_path / "c.png")
    assert "| pair | seconds / image (steady state) | first call (warm-up) | score | layer |" in res.stdout
    assert "| smoothgrad (tensorflow) | batch_size=32, score='logit', n_samples=3, noise=0.15, seed=0, " \
           "channel_reduce='sum' |" in res.stdout


def test_activations_in_pages_checked_before_any_work(files, tmp_path, monkeypatch):
    out = tmp_path / "acts.png"
    res = run("activations", "--model", files["keras"], "-i", files["single"], "--layers-per-page", "1",
              "--max-channels", "2", "-o", out)
    pages = sorted(p.name for p in tmp_path.glob("acts_p*.png"))
    assert pages == ["acts_p1.png", "acts_p2.png", "acts_p3.png", "acts_p4.png"] and not out.exists()
    assert "the first 2 of each are drawn" in res.stderr and "on 4 pages" in res.stderr
    # existing pictures are refused before the model runs (a slow model would have run for nothing)
    import xaikit.explainer

    def no_work(*args, **kwargs):
        raise AssertionError("extracted activations although an output exists")

    monkeypatch.setattr(xaikit.explainer.ActivationExtractor, "extract", no_work)
    res = run("activations", "--model", files["keras"], "-i", files["single"], "--layers-per-page", "1",
              "-o", out, ok=False)
    assert res.exit_code == 5 and "acts_p1.png exists" in res.stderr
    (tmp_path / "per_conv2d_1.png").write_bytes(b"")
    res = run("activations", "--model", files["keras"], "-i", files["single"], "--per-layer",
              "-o", tmp_path / "per.png", ok=False)
    assert res.exit_code == 5 and "per_conv2d_1.png exists" in res.stderr
