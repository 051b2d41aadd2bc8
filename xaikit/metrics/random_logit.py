"""Random logit test (Sixt et al., ICML 2020): is the map of another class different?"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validation import check_images, check_positive_int, check_seed, check_targets
from ._common import ExplainFn, MetricResult, check_maps, explained_maps, stream
from .agreement import ssim

__all__ = ["random_logit"]


def random_logit(explain_fn: ExplainFn, images: Any, targets: Any, n_classes: int, *, attributions: Any = None,
                 seed: int | None = None, batch_size: int = 32) -> MetricResult:
    r"""Random logit test (Sixt et al., "When Explanations Lie: Why Many Modified BP
    Attributions Fail", ICML 2020).

    Each image is explained again for a class :math:`t'` drawn uniformly among the other
    ``n_classes - 1`` (``stream(seed, i).integers``), and the two maps compared:

    .. math:: \mathrm{RL} = \mathrm{SSIM}\big(\hat\Phi_t(x), \hat\Phi_{t'}(x)\big)

    with :func:`~.agreement.ssim` (each map min-max normalised, data range 1). A
    class-sensitive method gives dissimilar maps: lower is better.

    Quantus: ``quantus.RandomLogit(num_classes=n_classes)`` compares with
    ``skimage.metrics.structural_similarity`` of the raw maps flattened to one row each
    (a 1-D SSIM, data range from their values) and draws :math:`t'` from NumPy's global
    generator; given this function's SSIM and the same :math:`t'` it returns this value.

    Parameters
    ----------
    explain_fn : callable
        ``explain_fn(images (n, H, W, C), targets (n,)) -> (n, H, W)`` maps (or ``.attributions``).
    images : array-like
        ``(N, H, W, C)`` channels-last batch.
    targets : int or sequence of int
        The explained classes.
    n_classes : int
        Number of model outputs (>= 2).
    attributions : array-like or None
        Maps for ``targets``; ``None`` computes them.
    seed : int or None
        Base seed (recorded).
    batch_size : int
        Largest number of images given to ``explain_fn`` at once.

    Returns
    -------
    MetricResult
        float64 ``(N,)`` SSIM values; ``params["other_targets"]`` the classes drawn.
    """
    x = check_images(images)
    n, h, w = x.shape[:3]
    n_classes = check_positive_int("n_classes", n_classes, minimum=2)
    t = check_targets(targets, n, n_classes)
    batch_size = check_positive_int("batch_size", batch_size)
    seed = check_seed(seed)
    other = np.array([(int(t[i]) + 1 + int(stream(seed, i).integers(n_classes - 1))) % n_classes
                      for i in range(n)], dtype=np.int64)

    original = (explained_maps(explain_fn, x, t, batch_size, (h, w)) if attributions is None
                else check_maps(attributions, n=n, size=(h, w)))
    values = ssim(original, explained_maps(explain_fn, x, other, batch_size, (h, w)))
    return MetricResult(values=values, targets=t, params={"seed": seed, "n_classes": n_classes,
                                                          "other_targets": other.tolist(), "batch_size": batch_size})
