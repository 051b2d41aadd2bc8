"""Shared fixtures: tiny hand-built Keras and PyTorch models whose explanations are known (their builders, and
helpers that are not fixtures, are in helpers.py)."""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from helpers import linear_model, small_torch_cnn

# PyTorch before TensorFlow: the Triton of CUDA builds of torch crashes if TensorFlow's LLVM is loaded first.
for _first in ("torch", "torchvision"):
    try:
        importlib.import_module(_first)
    except ImportError:  # pragma: no cover - the torch extra is not installed
        break


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", choices=("cpu", "cuda"), default="cpu",
                     help="cuda: also run the GPU tests (marker 'gpu'): `python3 tasks.py test -m gpu --device cuda`")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tensorflow: needs TensorFlow")
    config.addinivalue_line("markers", "gpu: runs on a CUDA GPU; needs --device cuda (skipped otherwise)")
    if config.getoption("--device") == "cuda":
        torch = importlib.import_module("torch")
        if not torch.cuda.is_available():
            raise pytest.UsageError("--device cuda: PyTorch sees no CUDA device (torch.cuda.is_available() is False); "
                                    "run the GPU tests on a machine with an NVIDIA GPU and a CUDA build of torch")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--device") == "cuda":
        return
    skip = pytest.mark.skip(reason="GPU test: run `python3 tasks.py test -m gpu --device cuda` on a CUDA machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def keras():
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    return keras


@pytest.fixture(scope="session")
def small_cnn_layers(keras):
    """Layer factory for a small CNN with BatchNorm, Dropout, pooling and a softmax head."""
    from keras import layers

    def make():
        return [
            layers.Conv2D(4, 3, activation="relu", name="conv_a"),
            layers.BatchNormalization(name="bn"),
            layers.Activation("relu", name="bn_relu"),
            layers.MaxPooling2D(2, name="pool_a"),
            layers.Conv2D(6, 3, activation="relu", name="conv_b"),
            layers.Dropout(0.5, name="drop"),
            layers.Flatten(name="flat"),
            layers.Dense(5, activation="softmax", name="pred"),
        ]

    return make


@pytest.fixture(scope="session")
def functional_cnn(keras, small_cnn_layers):
    """Functional version of the small CNN on non-square 20x28x3 inputs, non-trivial BN statistics."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((20, 28, 3), name="image")
    x = inp
    for layer in small_cnn_layers():
        x = layer(x)
    model = keras.Model(inp, x, name="functional_cnn")
    bn = model.get_layer("bn")
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 1.5, 4), rng.normal(0, 0.1, 4), rng.normal(0, 0.1, 4), rng.uniform(0.5, 2, 4)])
    return model


@pytest.fixture(scope="session")
def sequential_cnn(keras, small_cnn_layers, functional_cnn):
    """The same weights as ``functional_cnn`` in a Sequential model never called symbolically."""
    model = keras.Sequential(small_cnn_layers(), name="sequential_cnn")
    model(np.zeros((1, 20, 28, 3), np.float32))  # built by a call on data, as users' models are
    model.set_weights(functional_cnn.get_weights())
    return model


@pytest.fixture(scope="session")
def images():
    return np.random.default_rng(42).uniform(0, 1, (3, 20, 28, 3)).astype(np.float32)


@pytest.fixture(scope="session")
def background():
    return np.random.default_rng(7).uniform(0, 1, (8, 20, 28, 3)).astype(np.float32)


@pytest.fixture(scope="session")
def make_linear(keras):
    def make(weights, bias, shape, activation=None, sequential=False):
        return linear_model(keras, weights, bias, shape, activation, sequential)

    return make


@pytest.fixture(scope="module")
def nested_model(keras):
    """Transfer-learning shape: Sequential([base Functional, GAP, Dense softmax])."""
    from keras import layers

    keras.utils.set_random_seed(2)
    base_in = keras.Input((20, 28, 3))
    h = layers.Conv2D(4, 3, activation="relu", name="base_conv1")(base_in)
    h = layers.Conv2D(4, 3, activation="relu", name="base_conv2")(h)
    base = keras.Model(base_in, h, name="base")
    return keras.Sequential([base, layers.GlobalAveragePooling2D(name="gap"),
                             layers.Dense(3, activation="softmax", name="head")])


# ----------------------------------------------------------------------------- PyTorch
@pytest.fixture(scope="session")
def torch():
    torch = pytest.importorskip("torch")
    # One intra-op thread: the test machine's two cores are shared, and torch's OpenMP threads
    # spin-wait when oversubscribed (a 20 ms ResNet pass then takes a second).
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="session")
def torch_cnn(torch):
    """The small CNN with seeded weights and non-trivial BatchNorm statistics, in train mode (as users leave it)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = small_torch_cnn(torch)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        model.bn.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, 4).astype(np.float32)))
        model.bn.bias.copy_(torch.from_numpy(rng.normal(0, 0.1, 4).astype(np.float32)))
        model.bn.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.1, 4).astype(np.float32)))
        model.bn.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2, 4).astype(np.float32)))
    return model.train()


@pytest.fixture(scope="session")
def torch_cnn_custom(torch, torch_cnn):
    """The same weights as ``torch_cnn`` in a module with its own ``forward``."""
    model = small_torch_cnn(torch, custom_forward=True)
    model.load_state_dict(torch_cnn.state_dict())
    return model.eval()


@pytest.fixture(scope="session")
def torch_images(images):
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))


@pytest.fixture(scope="session")
def torch_background(background):
    return np.ascontiguousarray(background.transpose(0, 3, 1, 2))
