"""The sanity check of Adebayo et al. (2018) as one call, a figure and a command (xaikit.sanity, xaikit sanity).

On the zoo model shapes_cnn4 (4 test images, two cheap methods), and on its PyTorch twin.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import xaikit as xk  # noqa: E402
import xaikit.sanity as sanity_module  # noqa: E402
from xaikit.errors import InputError, LayerError, UnknownNameError  # noqa: E402
from xaikit.metrics import cascading_randomisation  # noqa: E402
from xaikit.registry import services_for  # noqa: E402
from xaikit.sanity import EDGE_CONTROL, select_randomised_layers  # noqa: E402

pytestmark = pytest.mark.tensorflow

LAYERS = ["dense_1", "dense", "conv2d_3", "conv2d_2", "conv2d_1", "conv2d"]  # shapes_cnn4, top first


@pytest.fixture(scope="module")
def zoo():
    from xaikit_tensorflow import zoo as keras_zoo

    from xaikit import zoo as xzoo

    if not keras_zoo.model_info("shapes_cnn4").path.is_file():
        pytest.skip("zoo model shapes_cnn4 is not trained yet")
    model = xzoo.load_model("shapes_cnn4")
    images = xzoo.load_data("shapes_cnn4", split="test", n=4).images.astype(np.float32)
    return model, images


@pytest.fixture(scope="module")
def check(zoo):
    model, images = zoo
    return xk.sanity_check(model, images, ["vanilla_gradients", "gradcam"], seed=3, edge_control=True)


def test_numbers_and_maps_equal_cascading_randomisation_run_directly(zoo, check):
    model, images = zoo
    targets = check.targets
    direct = cascading_randomisation(
        lambda x, t: xk.explain(model, x, method="gradcam", targets=t).attributions,
        services_for(model).randomizer(model), images, targets, seed=3, keep_maps=True)
    res = check.results["gradcam"]
    assert res.layers == check.layers == tuple(LAYERS)
    for name in ("spearman", "spearman_abs", "ssim", "original", "maps"):
        np.testing.assert_array_equal(getattr(res, name), getattr(direct, name), err_msg=name)
    assert check.layer_seeds == direct.params["layer_seeds"]
    assert check.maps("gradcam").shape == (1 + len(LAYERS), 4, 64, 64)
    np.testing.assert_array_equal(check.mean()["gradcam"], direct.mean()["spearman_abs"])
    # the edge detector does not look at the model: similarity 1 at every step
    np.testing.assert_allclose(check.results[EDGE_CONTROL].spearman_abs, 1.0)
    assert check.rows["gradcam"]["layer"] == "conv2d_3" and check.rows[EDGE_CONTROL]["method"] is None


def test_targets_are_the_original_predictions_at_every_step(zoo, monkeypatch):
    model, images = zoo
    predicted = np.argmax(np.asarray(model(images)), axis=1)
    seen = []
    real = sanity_module.get_explainer

    def recording(*args, **kwargs):
        explainer = real(*args, **kwargs)
        explain = explainer.explain

        def wrapped(x, t):
            seen.append(np.asarray(t).copy())
            return explain(x, t)

        explainer.explain = wrapped
        return explainer

    monkeypatch.setattr(sanity_module, "get_explainer", recording)
    result = xk.sanity_check(model, images, ["vanilla_gradients"], layers="top:2", seed=0)
    assert len(seen) == 3  # the original model, then two randomised layers
    for t in seen:
        np.testing.assert_array_equal(t, predicted)
    np.testing.assert_array_equal(result.targets, predicted)
    assert result.steps == ["original", "+dense_1", "+dense"]


@pytest.mark.parametrize("fail_at", [1, 3])
def test_weights_restored_also_when_an_explainer_raises(zoo, monkeypatch, fail_at):
    model, images = zoo
    services = services_for(model)
    before = services.fingerprint(model)
    real = sanity_module.get_explainer
    calls = []

    def failing(*args, **kwargs):
        explainer = real(*args, **kwargs)
        explain = explainer.explain

        def wrapped(x, t):
            calls.append(1)
            if len(calls) == fail_at:
                raise RuntimeError("boom")
            return explain(x, t)

        explainer.explain = wrapped
        return explainer

    monkeypatch.setattr(sanity_module, "get_explainer", failing)
    with pytest.raises(RuntimeError, match="boom"):
        xk.sanity_check(model, images, ["vanilla_gradients"], layers="top:3", seed=0)
    assert services.fingerprint(model) == before
    monkeypatch.undo()
    xk.sanity_check(model, images, ["gradcam"], layers=["dense", "conv2d_1"], mode="independent", seed=1)
    assert services.fingerprint(model) == before


def test_table_and_json_ready_numbers(check):
    table = check.table()
    lines = table.splitlines()
    assert lines[0] == "| method | " + " | ".join(f"+{name}" for name in LAYERS) + " |"
    means = check.mean()
    row = next(line for line in lines if line.startswith("| vanilla_gradients |"))
    assert row.split("|")[2].strip() == f"{means['vanilla_gradients'][0]:.2f}".replace("-", "\u2212")
    assert "| edge (control) | 1.00 |" in table
    data = json.loads(json.dumps(check.to_dict()))  # plain JSON, NaN as null
    assert data["layers"] == LAYERS and data["steps"][0] == "original" and data["n_images"] == 4
    assert data["rows"]["gradcam"]["mean"]["ssim"] == pytest.approx(
        [None if np.isnan(v) else v for v in check.results["gradcam"].mean()["ssim"]], nan_ok=True)
    assert len(data["rows"]["vanilla_gradients"]["per_image"]["spearman"]) == len(LAYERS)
    assert data["rows"]["gradcam"]["n_valid"]["spearman_abs"] == check.valid_counts("gradcam").tolist()


def test_constant_maps_are_counted_in_the_table():
    from xaikit.metrics.randomisation import RandomisationResult

    values = np.array([[0.5, np.nan, 0.7]])
    res = RandomisationResult(("top",), values, values, values, np.zeros((3, 2, 2), np.float32),
                              np.zeros((1, 3, 2, 2), np.float32), np.zeros(3, np.int64), {})
    check = sanity_module.SanityCheck({"gradcam": res}, {"gradcam": {"method": "gradcam"}}, ("top",),
                                      np.zeros(3, np.int64), np.zeros((3, 2, 2, 1), np.float32), "cascading", 0)
    assert "| gradcam | 0.60 (2/3) |" in check.table()
    assert "only k of the 3 images count" in check.table()


def test_figure_rows_columns_and_titles(check):
    fig = check.figure(image_index=1)
    rows, cols = 3, 2 + len(LAYERS)  # two methods and the control; the image, the original, each step
    axes = [ax for ax in fig.axes if ax.images]
    assert len(axes) == rows * cols
    texts = [t.get_text() for t in fig.texts]
    for head in ["image", "original", *(f"+{name}" for name in LAYERS)]:
        assert head in texts
    for label in ("vanilla_gradients", "gradcam", EDGE_CONTROL):
        assert label in texts
    final = check.mean()["vanilla_gradients"][-1]
    assert f"last step: mean ρ {final:.2f}".replace("-", "\u2212") in texts
    assert any("per cell" in t for t in texts)  # the caption says how the cells are scaled
    cell_titles = [ax.get_title() for ax in axes]
    rho = check.results["vanilla_gradients"].spearman_abs[0, 1]
    assert f"ρ {rho:.2f}".replace("-", "\u2212") in cell_titles
    fewer = check.figure(max_steps=2)
    assert len([ax for ax in fewer.axes if ax.images]) == rows * 4
    assert any("2 of 6 steps drawn" in t.get_text() for t in fewer.texts)
    with pytest.raises(InputError, match=r"image_index must be an integer in \[0, 4\)"):
        check.figure(image_index=4)


def test_bad_input_names_the_fix(zoo):
    model, images = zoo
    with pytest.raises(UnknownNameError, match="unknown method 'gradcamm'; methods: .*gradcam"):
        xk.sanity_check(model, images, ["gradcamm"])
    with pytest.raises(LayerError, match="layers with weights are, top first: dense_1, dense, conv2d_3"):
        xk.sanity_check(model, images, ["gradcam"], layers=["conv9"])
    with pytest.raises(LayerError, match="not a layer with weights"):
        xk.sanity_check(model, images, ["gradcam"], layers="max_pooling2d")  # a layer, but without weights
    with pytest.raises(InputError, match="mode must be one of 'cascading', 'independent'; got 'cascade'"):
        xk.sanity_check(model, images, ["gradcam"], mode="cascade")
    with pytest.raises(InputError, match="no method takes the parameter.*'steps'"):
        xk.sanity_check(model, images, ["gradcam"], steps=10)
    with pytest.raises(InputError, match="more than once"):
        xk.sanity_check(model, images, ["gradcam", "gradcam"])
    with pytest.raises(InputError, match="activations"):
        xk.sanity_check(model, images, ["activations"])
    with pytest.raises(InputError, match="methods is empty"):
        xk.sanity_check(model, images, [])


def test_layer_selection():
    available = ["fc2", "fc1", "conv"]
    assert select_randomised_layers(None, available) == available
    assert select_randomised_layers("all", available) == available
    assert select_randomised_layers("top:2", available) == ["fc2", "fc1"]
    assert select_randomised_layers(["conv", "fc2"], available) == ["conv", "fc2"]  # the order given
    assert select_randomised_layers("fc1, conv", available) == ["fc1", "conv"]
    with pytest.raises(InputError, match="top:N with N >= 1"):
        select_randomised_layers("top:0", available)
    with pytest.raises(InputError, match="fc1 more than once"):
        select_randomised_layers(["top:2", "fc1"], available)
    with pytest.raises(InputError, match="layers is empty"):
        select_randomised_layers([" , "], available)


# --------------------------------------------------------------------------- command line
def test_cli_writes_the_picture_and_the_numbers(zoo, check, tmp_path):
    from click.testing import CliRunner

    from xaikit.cli import main

    png, out = tmp_path / "s.png", tmp_path / "s.json"
    result = CliRunner().invoke(main, ["sanity", "--zoo", "shapes_cnn4", "--n-images", "4", "--method",
                                       "vanilla_gradients", "--method", "gradcam", "--seed", "3", "--edge-control",
                                       "-o", str(png), "--json", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert png.stat().st_size > 0 and png.read_bytes()[:4] == b"\x89PNG"
    data = json.loads(out.read_text())
    assert data["seed"] == 3 and data["layers"] == LAYERS and data["cli"]["model"] == "zoo:shapes_cnn4"
    # the command's images are the zoo pixels * 255 / 255 (scale255), the fixture's up to float32 rounding
    expected = check.to_dict()["rows"]["gradcam"]["mean"]["spearman_abs"]
    assert data["rows"]["gradcam"]["mean"]["spearman_abs"] == pytest.approx(expected, abs=1e-4, nan_ok=True)
    assert check.table().splitlines()[0] in result.stdout and "| edge (control) | 1.00 |" in result.stdout
    again = CliRunner().invoke(main, ["sanity", "--zoo", "shapes_cnn4", "--n-images", "2", "--method", "gradcam",
                                      "--seed", "0", "-o", str(png)])
    assert again.exit_code == 5 and "--overwrite" in again.stderr


@pytest.mark.parametrize("args, code, message", [
    (["--method", "gradcamm"], 3, "unknown method 'gradcamm'"),
    (["--layers", "conv9"], 3, "top first: dense_1, dense"),
    (["--mode", "cascade"], 2, "'cascading', 'independent'"),
    (["--chunk-size", "2"], 3, "drop --chunk-size"),
    (["--image-index", "5"], 3, "give 0..1"),
    (["--json", "x.txt"], 3, "must end in .json"),
])
def test_cli_bad_input(zoo, tmp_path, args, code, message):
    from click.testing import CliRunner

    from xaikit.cli import main

    result = CliRunner().invoke(main, ["sanity", "--zoo", "shapes_cnn4", "--n-images", "2", "--seed", "0",
                                       "-o", str(tmp_path / "s.png"), *args])
    assert result.exit_code == code, result.output
    assert message in result.stderr


# --------------------------------------------------------------------------- PyTorch twin
def test_runs_on_the_pytorch_twin(zoo):
    pytest.importorskip("torch")
    from xaikit_torch.zoo import load_twin

    _, images = zoo
    model = load_twin("shapes_cnn4")
    services = services_for(model)
    before = services.fingerprint(model)
    x = np.ascontiguousarray(images.transpose(0, 3, 1, 2))  # the model's layout: NCHW
    result = xk.sanity_check(model, x, ["gradcam"], layers="top:2", seed=0)
    assert services.fingerprint(model) == before
    assert result.images.shape == images.shape  # kept channels last, as pictures are
    predicted = np.argmax(services.class_scores(model, x), axis=1)
    np.testing.assert_array_equal(result.targets, predicted)
    direct = cascading_randomisation(
        lambda xs, t: xk.explain(model, xs.transpose(0, 3, 1, 2), method="gradcam", targets=t),
        services.randomizer(model), images, predicted, layers=result.layers, seed=0, keep_maps=True)
    np.testing.assert_array_equal(result.results["gradcam"].maps, direct.maps)
    assert result.figure() is not None


def test_a_randomizer_that_does_not_restore_is_caught(zoo, monkeypatch):
    model, images = zoo
    services = services_for(model)
    before = services.fingerprint(model)
    make = type(services).randomizer

    class Forgetful:  # randomises like the real one but forgets to put the weights back
        def __init__(self, m):
            self.real = make(services, m)

        def layers(self):
            return self.real.layers()

        def randomize(self, layer, seed):
            self.real.randomize(layer, seed)

        def restore(self):
            pass

    monkeypatch.setattr(type(services), "randomizer", lambda self, m: Forgetful(m))
    with pytest.raises(xk.ModelError, match="copy differ from the original.*model itself was not changed"):
        xk.sanity_check(model, images, ["vanilla_gradients"], layers="top:1", seed=0)
    assert services.fingerprint(model) == before


def test_notebook_display_plot_and_a_short_repr(check):
    """``.plot()`` as every result has it, an HTML display with the picture and the table, a repr of one line (it
    printed every array: 34,000 characters)."""
    assert len([ax for ax in check.plot(1).axes if ax.images]) == 3 * (2 + len(LAYERS))
    text = repr(check)
    assert len(text) < 300 and "\n" not in text and "gradcam" in text and "6 layer(s)" in text
    html = check._repr_html_()
    assert "data:image/png;base64," in html and "+conv2d_3" in html and "xaikit.SanityCheck" in html


def test_long_layer_names_are_broken_not_cut():
    from xaikit.viz.sanity import break_name

    name = "+features.denseblock4.denselayer16.conv2"
    text = break_name(name, 0.9, 8.0, bold=True)
    assert text.replace("\n", "") == name and 1 < text.count("\n") + 1 <= 4
    assert text.split("\n")[0].endswith(".")  # broken after a separator


def test_input_invariance_on_a_keras_model():
    # the twin's first convolution absorbs the shift: the same outputs, the same gradients (gradient x input: torch)
    def model(padding):
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, padding=padding),
                                 keras.layers.Activation("tanh"), keras.layers.Flatten(), keras.layers.Dense(2)])

    valid, x = model("valid"), np.random.default_rng(0).random((2, 6, 6, 1)).astype(np.float32)
    weights = [w.copy() for w in valid.get_weights()]
    grads = xk.input_invariance_check(valid, x, "vanilla_gradients", shift=-1.0, targets=[0, 1])
    assert grads.values.max() < 1e-5 and grads.params["output_gap"] < 1e-5
    assert all(np.array_equal(a, b) for a, b in zip(weights, valid.get_weights()))
    with pytest.raises(xk.ModelError, match="pads with zeros"):
        xk.input_invariance_check(model("same"), x, "vanilla_gradients")
