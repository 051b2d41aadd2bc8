"""ROAR on the digits with the zoo's PyTorch architecture: the quick variant of the docs' table, and its
retrainings as resumable cells of the bench's results store (on Ray: tests/test_distributed.py)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")


def tiny_roar_inputs(n_train: int = 32, n_test: int = 16):
    """digits_bn's first images, their brightness as a method's maps, and make_fit's arguments (1 epoch)."""
    from xaikit.zoo import load_data, model_info

    entry = model_info("digits_bn")
    train, test = load_data("digits_bn", "train", n_train), load_data("digits_bn", "test", n_test)
    maps = {"brightness": (train.images.mean(axis=-1), test.images.mean(axis=-1))}
    fit_kwargs = {"architecture": entry.architecture, "input_shape": tuple(entry.input_shape),
                  "n_classes": entry.n_outputs, "epochs": 1}
    return fit_kwargs, (train.images, train.labels, test.images, test.labels), maps


def test_quick_roar_on_digits_trains_and_tabulates(tmp_path, monkeypatch):
    from xaikit_torch.zoo import roar

    result = roar.run_roar("digits_bn", methods=("gradcam",), fractions=(0.5,), seeds=(0,), n_train=64, n_test=32,
                           epochs=1, store=tmp_path / "cells")
    assert result.methods == ("gradcam", "random") and result.accuracy.shape == (2, 1, 1)
    assert np.all((result.accuracy >= 0) & (result.accuracy <= 1)) and 0 <= result.baseline[0] <= 1
    assert result.params["n_train"] == 64 and result.params["model"] == "digits_bn"
    assert result.params["computed"] == 3 and result.params["engine"]["engine"] == "local"
    assert result.params["init"] == "torch"
    assert "| gradcam |" in result.table()
    assert len(list((tmp_path / "cells" / "maps").glob("gradcam-*.npy"))) == 2   # train and test maps kept

    def no_maps(*args, **kwargs):
        raise AssertionError("a restarted run recomputed maps it had kept")

    monkeypatch.setattr(roar, "method_maps", no_maps)
    again = roar.run_roar("digits_bn", methods=("gradcam",), fractions=(0.5,), seeds=(0,), n_train=64, n_test=32,
                          epochs=1, store=tmp_path / "cells")
    assert again.params["computed"] == 0
    np.testing.assert_array_equal(again.accuracy, result.accuracy)
    with pytest.raises(AssertionError, match="recomputed"):   # other images: other maps, not the kept ones
        roar.run_roar("digits_bn", methods=("gradcam",), fractions=(0.5,), seeds=(0,), n_train=48, n_test=32,
                      epochs=1, store=tmp_path / "cells")


def test_retrainings_start_from_keras_initial_weights():
    import torch
    from xaikit_torch.zoo.architectures import cnn4, keras_initialise

    torch.manual_seed(0)
    model = keras_initialise(cnn4((3, 64, 64), 4))
    conv = model.conv2d_1.layer                                  # 32 -> 64 channels, 3 x 3
    limit = np.sqrt(6 / (32 * 9 + 64 * 9))                       # Glorot-uniform's bound, Keras' fans
    weights = conv.weight.detach().numpy()
    assert np.abs(weights).max() <= limit and np.abs(weights).max() > 0.99 * limit
    np.testing.assert_allclose(weights.var(), limit ** 2 / 3, rtol=0.05)   # 18,432 draws: 1 % spread
    dense = model.dense.layer
    limit = np.sqrt(6 / (dense.in_features + dense.out_features))
    assert np.abs(dense.weight.detach().numpy()).max() <= limit
    assert all(not m.bias.detach().any() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))


def test_the_shapes_learner_normalises_every_convolution_and_trains_where_cnn4_stalls():
    import torch
    from xaikit_torch.zoo.roar import cnn4_bn_gap, make_fit

    from xaikit.errors import InputError
    from xaikit.zoo import load_data

    model = cnn4_bn_gap((3, 64, 64), 4)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert [c.out_channels for c in convs] == [n.num_features for n in norms] == [32, 64, 128, 128]
    assert all(c.bias is None for c in convs)
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 4)
    with pytest.raises(InputError, match="learner"):
        make_fit("cnn4", (64, 64, 3), 4, learner="resnet")
    with pytest.raises(InputError, match="schedule"):
        make_fit("cnn4", (64, 64, 3), 4, schedule="cosine")
    # 256 shapes, 8 epochs (about 7 s each): the plain cnn4 stays at chance (0.31 measured), this learner fits
    train = load_data("shapes_cnn4", "train", 256)  # them (0.88)
    accuracy = {}
    for learner, schedule, lr in (("same", "constant", 1e-3), ("cnn4_bn_gap", "one_cycle", 3e-3)):
        fit = make_fit("cnn4", (64, 64, 3), 4, epochs=8, batch_size=32, learning_rate=lr, learner=learner,
                       schedule=schedule)
        predict = fit(train.images, train.labels, 0)
        accuracy[learner] = float((predict(train.images).argmax(1) == train.labels).mean())
    assert accuracy["same"] < 0.5 and accuracy["cnn4_bn_gap"] > 0.7, accuracy


def test_a_stopped_roar_resumes_without_redoing_its_finished_cells(tmp_path):
    from xaikit_torch.zoo.roar import make_fit

    from xaikit.bench.roar import run_remove_and_retrain

    fit_kwargs, data, maps = tiny_roar_inputs()
    lines: list[str] = []

    def stop_after_one(line: str) -> None:
        lines.append(line)
        raise KeyboardInterrupt              # Ctrl-C right after the first cell is stored

    with pytest.raises(KeyboardInterrupt):
        run_remove_and_retrain(make_fit, fit_kwargs, *data, maps, store=tmp_path, fractions=(0.5,), seeds=(0,),
                               log=stop_after_one)
    resumed: list[str] = []
    result = run_remove_and_retrain(make_fit, fit_kwargs, *data, maps, store=tmp_path, fractions=(0.5,), seeds=(0,),
                                    log=resumed.append)
    assert result.params["reused"] == 1 and result.params["computed"] == 2
    assert resumed[0] == lines[0].replace("\n", "") + " (reused)"   # the cell finished before the stop
    assert not any("(reused)" in line for line in resumed[1:])
    again = run_remove_and_retrain(make_fit, fit_kwargs, *data, maps, store=tmp_path, fractions=(0.5,), seeds=(0,))
    assert again.params["computed"] == 0
    np.testing.assert_array_equal(again.accuracy, result.accuracy)
    np.testing.assert_array_equal(again.baseline, result.baseline)


def test_imputed_roar_cells_share_the_stores_baselines_and_equal_the_direct_run(tmp_path):
    from xaikit_torch.zoo.roar import make_fit

    from xaikit.bench.roar import run_remove_and_retrain
    from xaikit.metrics.roar import remove_and_retrain

    fit_kwargs, data, maps = tiny_roar_inputs(n_train=16, n_test=8)
    kwargs = {"fractions": (0.5,), "seeds": (0,), "random_seed": 3}   # not the default: the noise's seed travels
    mean = run_remove_and_retrain(make_fit, fit_kwargs, *data, maps, store=tmp_path, **kwargs)
    imputed = run_remove_and_retrain(make_fit, fit_kwargs, *data, maps, store=tmp_path, removal="noisy_linear",
                                     **kwargs)
    assert (imputed.params["reused"], imputed.params["computed"]) == (1, 2)   # the baseline removes nothing
    assert imputed.params["removal"] == "noisy_linear"
    assert set(imputed.params["cell_keys"][1:]).isdisjoint(mean.params["cell_keys"])
    direct = remove_and_retrain(make_fit(**fit_kwargs), *data, maps, removal="noisy_linear", **kwargs)
    np.testing.assert_array_equal(imputed.accuracy, direct.accuracy)
    np.testing.assert_array_equal(imputed.baseline, direct.baseline)
    noisier = run_remove_and_retrain(make_fit, fit_kwargs, *data, maps, store=tmp_path, removal="noisy_linear",
                                     noise=0.02, **kwargs)
    assert noisier.params["computed"] == 2                              # the noise is in the imputed cells' keys
    again = run_remove_and_retrain(make_fit, fit_kwargs, *data, maps, store=tmp_path, noise=0.02, **kwargs)
    assert again.params["computed"] == 0                                # and not in the mean-filled ones'
