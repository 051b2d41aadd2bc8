"""Faithfulness under random perturbations: do the attributions of a random set of pixels, or of
random noise, predict the change of the model's score?

:func:`faithfulness_correlation` and :func:`sensitivity_n` replace random subsets of pixels by a
baseline and correlate the subsets' attribution sums with the score drops; :func:`infidelity`
adds Gaussian noise and measures the squared error between the noise-weighted attributions and
the score drops. Random draws come from streams keyed by ``(seed, image, sample)``
(:func:`~._common.stream`), so a value does not depend on ``batch_size``; the seed is recorded
in ``params``. Conventions (a feature is a pixel, Quantus's): :mod:`.faithfulness`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import check_bool, check_positive_int, check_seed
from ._common import MetricResult, Predict, perturbation_setup, rowwise_pearson, score_jobs, stream
from ._removal import CurveResult, removal_params, replace_pixels

__all__ = ["faithfulness_correlation", "infidelity", "random_subset", "sensitivity_n"]


def random_subset(seed: int, image: int, sample: int, n_features: int, size: int) -> np.ndarray:
    """The pixel indices (row-major) of subset ``sample`` of image ``image``, as
    :func:`faithfulness_correlation` draws them: ``stream(seed, image, sample).choice(n_features, size,
    replace=False)``."""
    return stream(seed, image, sample).choice(n_features, size, replace=False)


def faithfulness_correlation(predict: Predict, images: Any, attributions: Any, targets: Any = None, *,
                             subset_size: int = 224, n_samples: int = 100, baseline: Any = 0.0,
                             batch_size: int = 32, seed: int | None = None, score: str = "output") -> MetricResult:
    r"""Faithfulness correlation (Bhatt et al., "Evaluating and Aggregating Feature-based
    Model Explanations", IJCAI 2020).

    For ``n_samples`` random subsets :math:`S` of ``subset_size`` pixels, drawn anew for each image,

    .. math:: \mathrm{FC} = \operatorname{corr}_S\Big(\sum_{p \in S} a_p,\;
              f_t(x) - f_t\big(x_{[x_S = \bar x_S]}\big)\Big)

    (Pearson correlation over the subsets; :math:`\bar x` the baseline). Higher is better,
    in [-1, 1]. :func:`~.fidelity.mu_fidelity` is the same quantity on a grid of
    super-pixels with subsets shared by all images (Xplique's form).

    Quantus: ``quantus.FaithfulnessCorrelation(nr_runs=n_samples, subset_size=subset_size,
    perturb_baseline=baseline, similarity_func=correlation_pearson, abs=False)``; its
    ``normalise=True`` (division by max|a|) does not change a correlation. Quantus draws
    the subsets from NumPy's global generator; here image ``i``'s subset ``s`` is
    :func:`random_subset` ``(seed, i, s, H*W, subset_size)``.

    Parameters
    ----------
    predict : callable
        ``predict(images (n, H, W, C) float32) -> (n, K)``; never receives more than
        ``batch_size`` images at once.
    images : array-like
        ``(N, H, W, C)`` channels-last batch.
    attributions : array-like
        ``(N, H, W)`` maps at input resolution.
    targets : None, int or sequence of int
        Output column per image; ``None``: the highest-scoring column.
    subset_size : int
        Pixels per subset, in ``[1, H*W - 1]``.
    n_samples : int
        Subsets per image (>= 2).
    baseline : float, {"zero", "mean", "blur"} or array
        What removed pixels become (see :func:`~.deletion.deletion` for the named fills).
    batch_size : int
        Largest number of images sent to ``predict`` at once.
    seed : int or None
        Base seed; ``None`` draws one (recorded in ``params["seed"]``).
    score : {"output", "probability", "logit"}
        What ``predict`` returns; only recorded.

    Returns
    -------
    MetricResult
        float64 ``(N,)`` in [-1, 1]; NaN where no subset changes the score (undefined).
    """
    s = perturbation_setup(predict, images, attributions, targets, baseline=baseline, batch_size=batch_size,
                           score=score)
    n, h, w, _ = s.x.shape
    n_pixels = h * w
    if n_pixels < 2:
        raise InputError("faithfulness_correlation needs images of at least 2 pixels.")
    subset_size = check_positive_int("subset_size", subset_size, maximum=n_pixels - 1)
    n_samples = check_positive_int("n_samples", n_samples, minimum=2)
    seed = check_seed(seed)
    sums = np.empty(n * n_samples)

    def build(jobs: np.ndarray) -> np.ndarray:
        rows = jobs // n_samples
        removed = np.zeros((len(jobs), n_pixels), dtype=bool)
        for k, (i, j) in enumerate(zip(rows, jobs % n_samples)):
            idx = random_subset(seed, int(i), int(j), n_pixels, subset_size)
            removed[k, idx] = True
            sums[jobs[k]] = s.flat[i, idx].sum()
        return replace_pixels(s, rows, removed)

    scores = score_jobs(predict, n * n_samples, build, np.repeat(s.targets, n_samples), batch_size=s.batch_size)
    drops = s.base[:, None] - scores.reshape(n, n_samples)
    values = rowwise_pearson(sums.reshape(n, n_samples), drops)
    params = {"subset_size": subset_size, "n_samples": n_samples, "seed": seed, **removal_params(s, baseline)}
    return MetricResult(values=values, targets=s.targets, params=params)



# --------------------------------------------------------------------------- sensitivity-n
def sensitivity_n(predict: Predict, images: Any, attributions: Any, targets: Any = None, *,
                  sizes: Any = (1, 4, 16, 64, 256), n_samples: int = 32, baseline: Any = 0.0, batch_size: int = 32,
                  seed: int | None = None, score: str = "output") -> CurveResult:
    r"""Sensitivity-n (Ancona et al., "Towards Better Understanding of Gradient-based
    Attribution Methods for Deep Neural Networks", ICLR 2018).

    For each subset size :math:`n`, the Pearson correlation over ``n_samples`` random
    subsets :math:`S` of :math:`n` pixels between :math:`\sum_{p \in S} a_p` and
    :math:`f_t(x) - f_t(x_{[x_S = \bar x_S]})`: :func:`faithfulness_correlation` at
    ``subset_size = n`` (with the same seed, the subsets of every size are drawn from
    the same streams). A method satisfies sensitivity-n when the correlation is 1.

    Quantus's ``SensitivityN`` removes pixels cumulatively in the order of the map and
    correlates over images, another quantity; it is not reproduced.

    Parameters
    ----------
    sizes : sequence of int
        The subset sizes :math:`n`, each in ``[1, H*W - 1]``.
    Other parameters as in :func:`faithfulness_correlation`.

    Returns
    -------
    CurveResult
        ``curves`` the correlation per size ``(N, len(sizes))``; ``values`` their mean
        over the sizes (NaN-ignoring).
    """
    seed = check_seed(seed)
    sizes = [check_positive_int("sizes", n) for n in np.atleast_1d(np.asarray(sizes)).tolist()]
    if not sizes:
        raise InputError("sizes must list at least one subset size.")
    curves, last = [], None
    for n in sizes:
        last = faithfulness_correlation(predict, images, attributions, targets, subset_size=n, n_samples=n_samples,
                                        baseline=baseline, batch_size=batch_size, seed=seed, score=score)
        curves.append(last.values)
    stacked = np.stack(curves, axis=1)
    with np.errstate(invalid="ignore"):
        valid = ~np.isnan(stacked)
        values = np.where(valid.any(axis=1), np.where(valid, stacked, 0).sum(axis=1) / np.maximum(valid.sum(1), 1),
                          np.nan)
    assert last is not None
    params = {**last.params, "sizes": sizes}
    params.pop("subset_size")
    return CurveResult(values=values, targets=last.targets, params=params, curves=stacked)



# --------------------------------------------------------------------------- infidelity
def infidelity(predict: Predict, images: Any, attributions: Any, targets: Any = None, *, noise_std: float = 0.1,
               n_samples: int = 10, normalize: bool = False, batch_size: int = 32, seed: int | None = None,
               score: str = "output") -> MetricResult:
    r"""Infidelity (Yeh et al., "On the (In)fidelity and Sensitivity of Explanations",
    NeurIPS 2019).

    With Gaussian perturbations :math:`I \sim \mathcal N(0, \sigma^2)` of every input
    value and the map broadcast over the channels,

    .. math:: \mathrm{INFD} = \mathbb E_I\Big[\Big(\sum_{p,c} I_{p,c}\, a_p
              - \big(f_t(x) - f_t(x - I)\big)\Big)^2\Big]

    estimated with ``n_samples`` draws. Lower is better. ``normalize=True`` first scales
    the attribution term by :math:`\beta = \mathbb E[I^\top a\,\Delta f] / \mathbb E[(I^\top a)^2]`
    (the paper's scale-invariant form), as Captum does.

    Captum: ``captum.metrics.infidelity(forward_func, perturb_func, inputs, attributions,
    target=targets, n_perturb_samples=n_samples, normalize=normalize)`` with a
    ``perturb_func`` returning ``(I, x - I)``; draw ``s`` of image ``i`` is
    ``noise_std * stream(seed, i, s).standard_normal((H, W, C))``. Quantus's
    ``Infidelity`` is another definition (deterministic square patches set to a
    baseline), not computed here.

    Parameters
    ----------
    noise_std : float
        :math:`\sigma`, in the units of the model input.
    n_samples : int
        Perturbations per image.
    normalize : bool
        Use the optimally scaled attribution term.
    Other parameters as in :func:`faithfulness_correlation`.

    Returns
    -------
    MetricResult
        float64 ``(N,)``, >= 0.
    """
    s = perturbation_setup(predict, images, attributions, targets, baseline=0.0, batch_size=batch_size, score=score)
    n, h, w, c = s.x.shape
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float, np.floating, np.integer)) \
            or not np.isfinite(noise_std) or noise_std <= 0:
        raise InputError(f"noise_std must be a number > 0 (input units); got {noise_std!r}.")
    n_samples = check_positive_int("n_samples", n_samples)
    normalize = check_bool("normalize", normalize)
    seed = check_seed(seed)
    dots = np.empty(n * n_samples)

    def build(jobs: np.ndarray) -> np.ndarray:
        out = np.empty((len(jobs), h, w, c), dtype=np.float32)
        for b, job in enumerate(jobs):
            i, k = divmod(int(job), n_samples)
            noise = (noise_std * stream(seed, i, k).standard_normal((h, w, c))).astype(np.float32)
            dots[job] = float(np.einsum("hwc,hw->", noise.astype(np.float64), s.maps[i].astype(np.float64)))
            out[b] = s.x[i] - noise
        return out

    scores = score_jobs(predict, n * n_samples, build, np.repeat(s.targets, n_samples), batch_size=s.batch_size)
    drops = s.base[:, None] - scores.reshape(n, n_samples)
    dots2 = dots.reshape(n, n_samples)
    if normalize:
        den = (dots2 ** 2).mean(axis=1)
        beta = np.where(den > 0, (dots2 * drops).mean(axis=1) / np.where(den > 0, den, 1.0), 0.0)
        dots2 = dots2 * beta[:, None]
    values = ((dots2 - drops) ** 2).mean(axis=1)
    params = {"noise_std": float(noise_std), "n_samples": n_samples, "normalize": normalize, "seed": seed,
              "batch_size": s.batch_size, "score": s.score}
    return MetricResult(values=values, targets=s.targets, params=params)
