"""Every backend in the repository passes xaikit's conformance suite (:mod:`xaikit.testing`): the Keras backends on
Keras models, the PyTorch backends (native, Captum, pytorch-grad-cam, shap's PyTorch path) on PyTorch modules."""

from __future__ import annotations

import pytest

from xaikit.registry import available_backends
from xaikit.testing import conformance_checks

FACTORIES = []
if {"tensorflow"} <= set(available_backends()):
    from xaikit_tensorflow.testing import KerasFactory

    FACTORIES += [(name, KerasFactory()) for name in ("tensorflow", "tf-explain", "shap")
                  if name in available_backends()]
if {"torch"} <= set(available_backends()):
    import torch
    from xaikit_torch.testing import TorchFactory

    torch.set_num_threads(1)  # two shared cores: torch's spinning OpenMP threads would oversubscribe them
    FACTORIES += [(name, TorchFactory()) for name in ("torch", "captum", "pytorch-grad-cam", "shap")
                  if name in available_backends()]

CHECKS = [check for backend, factory in FACTORIES for check in conformance_checks(backend, factory)]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: f"{c}")
def test_conformance(check):
    check()
