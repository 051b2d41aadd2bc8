"""Coalitions of segments and the weighted regressions of KernelSHAP and LIME.

A coalition ``z`` in {0, 1}^M keeps the segments where ``z = 1``. Both methods fit a
linear model of the target score on coalitions; the fit needs only weighted moments
(:class:`WeightedMoments`), accumulated chunk by chunk, so memory does not grow with
the number of samples.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["shapley_kernel", "shapley_size_probabilities", "enumerated_coalitions", "paired_coalitions",
           "lime_kernel", "WeightedMoments"]


def shapley_kernel(m: int, sizes: np.ndarray) -> np.ndarray:
    """The Shapley kernel of coalitions of ``sizes`` among ``m`` players: ``(m - 1) / (C(m, k) k (m - k))``.

    Lundberg & Lee 2017, Theorem 2: with these weights (and the efficiency constraint),
    weighted least squares over every coalition gives the Shapley values.
    """
    sizes = np.asarray(sizes, np.int64)
    binom = np.array([math.comb(m, int(k)) for k in sizes], np.float64)
    return (m - 1) / (binom * sizes * (m - sizes))


def shapley_size_probabilities(m: int) -> np.ndarray:
    """Probabilities of coalition sizes ``1 .. m - 1`` when sampling from the Shapley kernel: ``∝ 1 / (k (m - k))``."""
    k = np.arange(1, m, dtype=np.float64)
    p = 1.0 / (k * (m - k))
    return p / p.sum()


def enumerated_coalitions(m: int, index: np.ndarray) -> np.ndarray:
    """Coalitions number ``index`` of the ``2^m - 2`` proper non-empty ones: the bits of ``index + 1``; ``(R, m)``."""
    codes = np.asarray(index, np.int64) + 1
    return ((codes[:, None] >> np.arange(m)) & 1).astype(np.float32)


def paired_coalitions(draws: np.ndarray, m: int) -> np.ndarray:
    """Coalitions drawn from the Shapley kernel, each followed by its complement; ``(2 P, m)``.

    ``draws`` is ``(P, m + 1)`` uniforms: the first picks the size ``k`` by inverse CDF of
    :func:`shapley_size_probabilities`, the others the ``k`` players with the smallest
    draws (every subset of size ``k`` equally likely). The complement has size ``m - k``,
    equally likely under the kernel, so pairs keep the distribution and halve the
    variance of the regression (as shap's KernelExplainer pairs its samples).
    """
    cdf = np.cumsum(shapley_size_probabilities(m))
    sizes = np.minimum(np.searchsorted(cdf, draws[:, 0], side="right") + 1, m - 1)
    ranks = np.argsort(np.argsort(draws[:, 1:], axis=1), axis=1)
    z = (ranks < sizes[:, None]).astype(np.float32)
    out = np.empty((2 * len(z), m), np.float32)
    out[0::2] = z
    out[1::2] = 1.0 - z
    return out


def lime_kernel(z: np.ndarray, kernel_width: float) -> np.ndarray:
    """LIME's weights of coalitions ``z`` ``(R, m)``: ``sqrt(exp(-d^2 / width^2))``, ``d`` the cosine distance to
    the whole image (all ones).

    As ``lime_image`` computes them: ``d = 1 - sqrt(k / m)`` for a coalition of ``k``
    segments (``d = 1`` for the empty one).
    """
    distance = 1.0 - np.sqrt(np.asarray(z, np.float64).sum(axis=1) / z.shape[1])
    return np.sqrt(np.exp(-(distance ** 2) / kernel_width ** 2))


class WeightedMoments:
    """Running weighted moments of ``(z, y)`` pairs for a least-squares fit of ``y`` on ``z``.

    Holds ``sum w``, ``sum w z``, ``sum w y``, ``sum w z z^T`` and ``sum w z y`` in float64;
    adding samples in any grouping gives the same moments up to rounding.
    """

    def __init__(self, m: int) -> None:
        self.m = m
        self.w = 0.0
        self.wz = np.zeros(m)
        self.wy = 0.0
        self.wzz = np.zeros((m, m))
        self.wzy = np.zeros(m)

    def add(self, z: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        """Add samples ``z`` ``(R, m)`` with targets ``y`` ``(R,)`` and weights ``w`` ``(R,)``."""
        z = np.asarray(z, np.float64)
        y = np.asarray(y, np.float64)
        w = np.asarray(w, np.float64)
        wz = z * w[:, None]
        self.w += float(w.sum())
        self.wz += wz.sum(axis=0)
        self.wy += float((w * y).sum())
        self.wzz += wz.T @ z
        self.wzy += wz.T @ y

    def shapley(self, total: float) -> np.ndarray:
        """KernelSHAP's solution: weighted least squares of ``y`` on ``z`` with ``sum(phi) = total``, no intercept.

        ``y`` must be the score minus the score of the empty coalition and ``total`` the
        full coalition's; the constraint is eliminated by substituting the last player
        (``phi_m = total - sum_{j<m} phi_j``), as shap does. Rank-deficient systems (fewer
        distinct samples than players) get the minimum-norm solution.
        """
        m = self.m
        if m == 1:
            return np.array([total])
        # z' = z_{<m} - z_m, y' = y - z_m total: sum w z' z'^T = E^T S E with E = [I; -1]
        e = np.vstack([np.eye(m - 1), -np.ones((1, m - 1))])
        lhs = e.T @ self.wzz @ e
        rhs = e.T @ (self.wzy - total * self.wzz[:, -1])
        phi = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
        return np.append(phi, total - phi.sum())

    def ridge(self, alpha: float) -> tuple[np.ndarray, float]:
        """LIME's surrogate: weighted ridge regression with an (unpenalised) intercept; ``(coefficients, intercept)``.

        The solution of scikit-learn's ``Ridge(alpha, fit_intercept=True).fit(z, y,
        sample_weight=w)`` (tested), computed from the moments.
        """
        mean_z = self.wz / self.w
        mean_y = self.wy / self.w
        gram = self.wzz - self.w * np.outer(mean_z, mean_z)
        cross = self.wzy - self.w * mean_z * mean_y
        coef = np.linalg.lstsq(gram + alpha * np.eye(self.m), cross, rcond=None)[0]
        return coef, float(mean_y - mean_z @ coef)
