"""Total-order Sobol indices of grid cells: quasi-Monte Carlo designs and Jansen's estimator (Fel et al. 2021).

The masks of one image are the rows of two ``(N, d)`` Sobol matrices ``A`` and ``B`` (one
value in [0, 1] per cell) and, for every cell ``i``, ``C_i`` = ``A`` with column ``i`` taken
from ``B``. Jansen's estimator needs the scores of ``A`` and of the ``C_i`` only, so
``N (d + 1)`` rows are evaluated (Xplique also evaluates ``B``, unused by this estimator).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, MissingDependencyError

__all__ = ["sobol_designs", "sobol_rows", "jansen_total_indices"]


def sobol_designs(dims: int, n_designs: int) -> tuple[np.ndarray, np.ndarray]:
    """``(A, B)``, each ``(n_designs, dims)`` float32: the first and last ``dims`` coordinates of an unscrambled
    ``2 dims``-dimensional Sobol sequence (scipy.stats.qmc), as Xplique's ``ScipySobolSequenceRS``."""
    if n_designs < 1 or n_designs & (n_designs - 1):
        raise InputError(f"n_designs must be a power of two (the balance of Sobol sequences needs it); got "
                         f"{n_designs}. Use 16, 32 or 64.")
    try:
        from scipy.stats import qmc
    except ImportError:  # pragma: no cover - scipy comes with the "methods" extra
        raise MissingDependencyError('method "sobol" needs scipy: pip install "xaikit[methods]" (or scipy)') from None
    points = qmc.Sobol(2 * dims, scramble=False).random(n_designs).astype(np.float32)
    return points[:, :dims], points[:, dims:]


def sobol_rows(a: np.ndarray, b: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` of the stacked design ``[A; C_0; ...; C_{d-1}]``; ``(R, d)`` float32."""
    n = len(a)
    rows = np.asarray(rows, np.int64)
    design = a[rows % n]  # a copy: rows of A
    replaced = rows >= n
    cell = (rows[replaced] - n) // n
    design[np.flatnonzero(replaced), cell] = b[rows[replaced] % n, cell]
    return design


def jansen_total_indices(scores: np.ndarray, n_designs: int) -> np.ndarray:
    """Jansen's total-order indices from the scores of ``[A; C_0; ...; C_{d-1}]`` (``N (d + 1)`` values); ``(d,)``.

    :math:`S_{T_i} = \\frac{\\sum_n (f(A_n) - f(C_{i,n}))^2}{2 N \\mathrm{Var}(f(A))}`, the variance
    with ``N - 1`` degrees of freedom and floored at ``1e-12``, as Xplique's
    ``JansenEstimator`` (a model constant on the masks gets zeros).
    """
    scores = np.asarray(scores, np.float64)
    n = n_designs
    fa = scores[:n]
    fc = scores[n:].reshape(-1, n)
    var = max(float(fa.var(ddof=1)) if n > 1 else 0.0, 1e-12)
    return ((fa[None, :] - fc) ** 2).sum(axis=1) / (2.0 * n * var)
