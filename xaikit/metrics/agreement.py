"""Agreement between two sets of attribution maps of the same images.

Used to compare methods, to compare backends implementing the same method, and as the
similarity of the randomisation sanity check. Every function returns one value per
image; :func:`agreement_table` gives the pairwise matrices for several named sets.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..validation import check_bool
from ._common import check_fraction, check_maps, check_same_shape, rankdata, rowwise_pearson

__all__ = ["AgreementTable", "AGREEMENT_METRICS", "agreement_table", "spearman", "ssim", "topk_iou"]

#: Metric names understood by :func:`agreement_table`.
AGREEMENT_METRICS = ("spearman", "spearman_abs", "topk_iou", "ssim")

# OpenCV filters accept a limited number of channels: filter the stacked maps in groups.
_CV_CHANNELS = 128


def _pair(maps_a: Any, maps_b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = check_maps(maps_a, name="maps_a")
    b = check_maps(maps_b, name="maps_b")
    check_same_shape(a, b)
    return a, b


def spearman(maps_a: Any, maps_b: Any, *, absolute: bool = False) -> np.ndarray:
    r"""Spearman rank correlation between the pixels of two maps, per image.

    .. math:: \rho = \operatorname{corr}\big(\operatorname{rank}(a), \operatorname{rank}(b)\big)

    the Pearson correlation of the ranks over the :math:`HW` pixels, tied values taking
    their average rank (as ``scipy.stats.spearmanr``).

    Parameters
    ----------
    maps_a, maps_b : array-like
        ``(N, H, W)`` maps of the same images.
    absolute : bool
        Compare ``|a|`` and ``|b|`` (Adebayo et al.'s "absolute value" variant, for
        methods whose sign is not meaningful).

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` in [-1, 1]; NaN where a map is constant (undefined).
    """
    a, b = _pair(maps_a, maps_b)
    if check_bool("absolute", absolute):
        a, b = np.abs(a), np.abs(b)
    n = a.shape[0]
    return rowwise_pearson(rankdata(a.reshape(n, -1)), rankdata(b.reshape(n, -1)))


def topk_iou(maps_a: Any, maps_b: Any, *, fraction: float = 0.1, absolute: bool = False) -> np.ndarray:
    r"""Intersection over union of the top ``fraction`` pixels of two maps, per image.

    .. math:: \mathrm{IoU} = \frac{|T_k(a) \cap T_k(b)|}{|T_k(a) \cup T_k(b)|}, \qquad
              k = \lceil \mathrm{fraction} \cdot HW \rceil

    where :math:`T_k(a)` is the set of the :math:`k` pixels of highest value. Ties at
    the threshold are broken deterministically by row-major pixel order, so both sets
    have exactly :math:`k` pixels.

    Parameters
    ----------
    maps_a, maps_b : array-like
        ``(N, H, W)`` maps of the same images.
    fraction : float
        Share of the pixels kept, in (0, 1].
    absolute : bool
        Rank ``|a|`` instead of ``a``.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` in [0, 1].
    """
    a, b = _pair(maps_a, maps_b)
    fraction = check_fraction("fraction", fraction)
    if check_bool("absolute", absolute):
        a, b = np.abs(a), np.abs(b)
    n = a.shape[0]
    pixels = a.shape[1] * a.shape[2]
    k = min(pixels, max(1, int(np.ceil(fraction * pixels - 1e-9))))
    top_a = np.argsort(-a.reshape(n, -1), axis=1, kind="stable")[:, :k]
    top_b = np.argsort(-b.reshape(n, -1), axis=1, kind="stable")[:, :k]
    in_a = np.zeros((n, pixels), dtype=bool)
    in_b = np.zeros((n, pixels), dtype=bool)
    np.put_along_axis(in_a, top_a, True, axis=1)
    np.put_along_axis(in_b, top_b, True, axis=1)
    inter = (in_a & in_b).sum(axis=1)
    return inter / (2.0 * k - inter)


def _minmax(maps: np.ndarray) -> np.ndarray:
    lo = maps.min(axis=(1, 2), keepdims=True)
    hi = maps.max(axis=(1, 2), keepdims=True)
    span = hi - lo
    return np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1.0), 0.0)


def _gaussian(stack: np.ndarray, win: int, sigma: float) -> np.ndarray:
    """Gaussian filter of each ``(H, W)`` slice of ``(N, H, W)``, reflect border."""
    import cv2

    out = np.empty_like(stack)
    for start in range(0, stack.shape[0], _CV_CHANNELS):
        group = np.ascontiguousarray(np.moveaxis(stack[start:start + _CV_CHANNELS], 0, -1))
        blurred = cv2.GaussianBlur(group, (win, win), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
        out[start:start + _CV_CHANNELS] = np.moveaxis(blurred.reshape(group.shape), -1, 0)
    return out


def ssim(maps_a: Any, maps_b: Any, *, normalize: bool = True, data_range: float | None = None,
         win_size: int = 11, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> np.ndarray:
    r"""Structural similarity of two maps, per image (Wang et al., "Image Quality
    Assessment: From Error Visibility to Structural Similarity", IEEE TIP 2004).

    .. math:: \mathrm{SSIM} = \operatorname{mean}_p
              \frac{(2\mu_a\mu_b + C_1)(2\sigma_{ab} + C_2)}
                   {(\mu_a^2 + \mu_b^2 + C_1)(\sigma_a^2 + \sigma_b^2 + C_2)},
              \quad C_1 = (k_1 L)^2,\ C_2 = (k_2 L)^2

    with local statistics under a Gaussian window (``sigma`` 1.5, ``win_size`` 11,
    population covariances) and the mean taken over the pixels whose window lies
    inside the map. This equals ``skimage.metrics.structural_similarity(a, b,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=L)``.

    Data range convention: with ``normalize=True`` (default) each map is first
    min-max scaled to [0, 1] on its own (a constant map becomes all zeros) and
    :math:`L = 1`, so SSIM compares structure, not the scale of the attributions. With
    ``normalize=False`` the maps are used as they are and :math:`L` is ``data_range``,
    or, if None, the joint range ``max(a, b) - min(a, b)`` of each pair (1 if zero).

    Parameters
    ----------
    maps_a, maps_b : array-like
        ``(N, H, W)`` maps of the same images.
    normalize : bool
        Min-max scale each map to [0, 1] first (see above).
    data_range : float or None
        :math:`L` when ``normalize=False``.
    win_size, sigma, k1, k2
        Window size (reduced to the largest odd size that fits a small map), Gaussian
        standard deviation and stabilising constants of Wang et al.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` in [-1, 1]; 1 for identical maps.
    """
    a, b = _pair(maps_a, maps_b)
    a, b = a.astype(np.float64), b.astype(np.float64)  # E[x^2] - E[x]^2 needs the precision
    n, h, w = a.shape
    if isinstance(win_size, (bool, np.bool_)) or not isinstance(win_size, numbers.Integral) or win_size < 1 \
            or win_size % 2 == 0:
        raise InputError(f"win_size must be an odd integer >= 1; got {win_size!r}.")
    if not (isinstance(sigma, numbers.Real) and sigma > 0):
        raise InputError(f"sigma must be a number > 0; got {sigma!r}.")
    if check_bool("normalize", normalize):
        if data_range is not None:
            raise InputError("data_range is only used with normalize=False (normalised maps have range 1); "
                             "drop data_range or pass normalize=False.")
        a, b = _minmax(a), _minmax(b)
        big_l = np.ones(n)
    elif data_range is None:
        big_l = np.maximum(a.max(axis=(1, 2)), b.max(axis=(1, 2))) - np.minimum(a.min(axis=(1, 2)), b.min(axis=(1, 2)))
        big_l = np.where(big_l > 0, big_l, 1.0)
    else:
        if not (isinstance(data_range, numbers.Real) and np.isfinite(data_range) and data_range > 0):
            raise InputError(f"data_range must be a finite number > 0; got {data_range!r}.")
        big_l = np.full(n, float(data_range))
    win = min(int(win_size), h, w)
    win -= 1 - win % 2
    pad = (win - 1) // 2
    c1 = ((k1 * big_l) ** 2)[:, None, None]
    c2 = ((k2 * big_l) ** 2)[:, None, None]
    mu_a, mu_b = _gaussian(a, win, sigma), _gaussian(b, win, sigma)
    var_a = _gaussian(a * a, win, sigma) - mu_a * mu_a
    var_b = _gaussian(b * b, win, sigma) - mu_b * mu_b
    cov = _gaussian(a * b, win, sigma) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s[:, pad:h - pad, pad:w - pad].mean(axis=(1, 2))


@dataclass(frozen=True, eq=False)
class AgreementTable:
    """Pairwise agreement between named sets of maps of the same images.

    Attributes
    ----------
    names : tuple of str
        The sets, in the order of the rows and columns.
    matrices : dict
        metric -> float64 ``(M, M)`` symmetric matrix of the mean over images
        (NaN-ignoring: images where the metric is undefined are left out).
    per_image : dict
        metric -> float64 ``(M, M, N)`` values per image.
    params : dict
        ``fraction`` of :func:`topk_iou` and the SSIM convention used.
    """

    names: tuple[str, ...]
    matrices: dict[str, np.ndarray]
    per_image: dict[str, np.ndarray]
    params: dict[str, Any]

    def to_markdown(self, metric: str = "spearman", *, digits: int = 3) -> str:
        """The matrix of one metric as a Markdown table."""
        if metric not in self.matrices:
            raise InputError(f"no metric {metric!r} in this table; available: {', '.join(self.matrices)}")
        m = self.matrices[metric]
        lines = ["| " + metric + " | " + " | ".join(self.names) + " |",
                 "|---" * (len(self.names) + 1) + "|"]
        for name, row in zip(self.names, m):
            lines.append("| " + name + " | " + " | ".join(f"{v:.{digits}f}" for v in row) + " |")
        return "\n".join(lines)


def agreement_table(named_maps: Mapping[str, Any], *, metrics: Sequence[str] = AGREEMENT_METRICS,
                    fraction: float = 0.1) -> AgreementTable:
    """Pairwise agreement matrices between several methods or backends.

    Parameters
    ----------
    named_maps : mapping
        name -> ``(N, H, W)`` maps of the same images (e.g. ``{"gradcam/tensorflow":
        ..., "gradcam/tf-explain": ...}``). Pass ``Explanation.attributions``.
    metrics : sequence of str
        Among ``"spearman"``, ``"spearman_abs"`` (:func:`spearman` with
        ``absolute=True``), ``"topk_iou"`` (:func:`topk_iou` on the signed maps) and
        ``"ssim"`` (:func:`ssim`, each map min-max normalised).
    fraction : float
        Share of pixels for ``"topk_iou"``.

    Returns
    -------
    AgreementTable
        All metrics are symmetric; the diagonal compares each set with itself.
    """
    if not isinstance(named_maps, Mapping) or len(named_maps) < 2:
        raise InputError("named_maps must be a dict with at least two entries, name -> (N, H, W) maps.")
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in AGREEMENT_METRICS]
    if unknown or not metrics:
        raise InputError(f"unknown agreement metric(s) {unknown}; choose among {', '.join(AGREEMENT_METRICS)}.")
    names = tuple(str(k) for k in named_maps)
    maps = [check_maps(v, name=f"named_maps[{k!r}]") for k, v in named_maps.items()]
    for name, m in zip(names[1:], maps[1:]):
        check_same_shape(maps[0], m, (f"named_maps[{names[0]!r}]", f"named_maps[{name!r}]"))
    fraction = check_fraction("fraction", fraction)
    funcs = {
        "spearman": lambda x, y: spearman(x, y),
        "spearman_abs": lambda x, y: spearman(x, y, absolute=True),
        "topk_iou": lambda x, y: topk_iou(x, y, fraction=fraction),
        "ssim": lambda x, y: ssim(x, y),
    }
    count, n = len(maps), maps[0].shape[0]
    per_image = {m: np.full((count, count, n), np.nan) for m in metrics}
    for i in range(count):
        for j in range(i, count):
            for metric in metrics:
                values = funcs[metric](maps[i], maps[j])
                per_image[metric][i, j] = per_image[metric][j, i] = values
    matrices = {}
    for metric, values in per_image.items():
        valid = ~np.isnan(values)
        total = np.where(valid, values, 0.0).sum(axis=2)
        k = valid.sum(axis=2)
        matrices[metric] = np.where(k > 0, total / np.maximum(k, 1), np.nan)
    return AgreementTable(names=names, matrices=matrices, per_image=per_image,
                          params={"metrics": list(metrics), "fraction": fraction, "ssim": "minmax-normalised, L=1"})
