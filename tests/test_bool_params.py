"""Every bool parameter of every installed (method, backend) takes bools only.

Regression: ``relu="False"``, ``relu="no"`` and ``completeness="no"`` were recorded as
True (the explainers did ``bool(self.relu)``). The parameters are found from each class's
parameter table (the catalogue's kinds), so a new bool parameter is covered without
editing this file.
"""

from __future__ import annotations

import numpy as np
import pytest

import xaikit as xk
from xaikit.binding import get_method_class
from xaikit.errors import InputError
from xaikit.registry import available_backends, get_backend, list_methods

pytestmark = pytest.mark.tensorflow
pytest.importorskip("tensorflow")


def bool_params() -> list[tuple[str, str, str, bool]]:
    """``(method, backend, parameter, default)`` for every parameter declared as a bool."""
    found = []
    installed = set(available_backends())
    for row in list_methods():
        if row.id == "activations":
            continue
        for backend in row.backends:
            if backend not in installed:
                continue
            for name, p in get_method_class(row.id, backend).param_table().items():
                if p.kind == "bool":
                    found.append((row.id, backend, name, p.default))
    return found


BOOLS = bool_params()


def test_the_known_bool_parameters_are_found():
    names = {(m, b, p) for m, b, p, _ in BOOLS}
    assert ("gradcam", "tensorflow", "relu") in names and ("expected_gradients", "tensorflow", "completeness") in names


def _explain(model, images, background, method, backend, **params):
    extra = {"background": background, "n_samples": 4, "seed": 0} if method == "expected_gradients" else {}
    if method == "smoothgrad":
        extra = {"n_samples": 2, "seed": 0}
    if method in ("integrated_gradients",):
        extra = {"steps": 4}
    return xk.explain(model, images[:1], method=method, backend=backend, **extra, **params)


@pytest.mark.parametrize("method,backend,name,default", BOOLS, ids=[f"{m}:{b}.{p}" for m, b, p, _ in BOOLS])
def test_text_and_numbers_are_refused_and_bools_recorded(method, backend, name, default, request):
    """On the small CNN of the backend's framework (Keras, or its PyTorch version for torch backends)."""
    torch_backend = "torch" in get_backend(backend).frameworks
    model, images, background = (request.getfixturevalue(f) for f in (
        ("torch_cnn", "torch_images", "torch_background") if torch_backend else ("functional_cnn", "images",
                                                                                  "background")))
    for odd in ("False", "no", "true", 0):
        with pytest.raises(InputError, match=f"{name} must be True or False"):
            _explain(model, images, background, method, backend, **{name: odd})
    exp = _explain(model, images, background, method, backend, **{name: np.bool_(not default)})
    assert exp.params[name] is (not default)
