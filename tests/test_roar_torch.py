"""ROAR on the digits with the zoo's PyTorch architecture: the quick variant of the docs' table."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")


def test_quick_roar_on_digits_trains_and_tabulates():
    from xaikit_torch.zoo.roar import run_roar

    result = run_roar("digits_bn", methods=("gradcam",), fractions=(0.5,), seeds=(0,), n_train=64, n_test=32,
                      epochs=1)
    assert result.methods == ("gradcam", "random") and result.accuracy.shape == (2, 1, 1)
    assert np.all((result.accuracy >= 0) & (result.accuracy <= 1)) and 0 <= result.baseline[0] <= 1
    assert result.params["n_train"] == 64 and result.params["model"] == "digits_bn"
    assert "| gradcam |" in result.table()
