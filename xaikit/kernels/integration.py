"""Quadrature rules along a straight path (integrated gradients)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["INTEGRATION_RULES", "integration_points"]

INTEGRATION_RULES = ("trapezoid", "left", "right", "midpoint")


def integration_points(steps: int, rule: str, k: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Path positions ``alpha`` in [0, 1] and quadrature weights (over all steps they sum to 1).

    Parameters
    ----------
    steps : int
        Number of points (``>= 2`` for ``"trapezoid"``).
    rule : {"trapezoid", "left", "right", "midpoint"}
        ``trapezoid``: ``k/(steps-1)``, end points weighted 1/2; the Riemann rules: ``k/steps``,
        ``(k+1)/steps``, ``(k+1/2)/steps`` with weights ``1/steps``.
    k : array of int, optional
        The step indices wanted (default: all ``0 .. steps - 1``), so that a long path can
        be streamed in chunks without allocating ``steps`` values at once.

    Returns
    -------
    alphas, weights : numpy.ndarray
        float64, one per index.
    """
    if rule not in INTEGRATION_RULES:
        raise InputError(f"integration must be one of {', '.join(map(repr, INTEGRATION_RULES))}; got {rule!r}.")
    if rule == "trapezoid" and steps < 2:
        raise InputError("integration='trapezoid' needs steps >= 2 (both ends of the path); use steps >= 2 or "
                         "integration='midpoint'.")
    k = np.arange(steps, dtype=np.float64) if k is None else np.asarray(k, dtype=np.float64)
    if rule == "trapezoid":
        alphas = k / (steps - 1)
        weights = np.full(len(k), 1.0 / (steps - 1))
        weights[(k == 0) | (k == steps - 1)] /= 2
        return alphas, weights
    weights = np.full(len(k), 1.0 / steps)
    alphas = {"left": k / steps, "right": (k + 1) / steps, "midpoint": (k + 0.5) / steps}[rule]
    return alphas, weights
