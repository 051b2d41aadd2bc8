"""Every backend in the repository passes xaikit's conformance suite (:mod:`xaikit.testing`)."""

from __future__ import annotations

import pytest

from xaikit.registry import available_backends
from xaikit.testing import conformance_checks

FACTORIES = {}
if {"tensorflow"} <= set(available_backends()):
    from xaikit_tensorflow.testing import KerasFactory

    for name in ("tensorflow", "tf-explain", "shap"):
        if name in available_backends():
            FACTORIES[name] = KerasFactory()

CHECKS = [check for backend, factory in FACTORIES.items() for check in conformance_checks(backend, factory)]


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_conformance(check):
    check()
