"""The task of a bulk run: explain one chunk of images (on whichever executor runs it)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["explain_chunk"]


def explain_chunk(model: Any, *, images: np.ndarray, method: str, backend: str, params: dict[str, Any],
                  targets: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Explain one chunk (runs on an engine: ``model`` is the opened model, whose explainer is kept for the next)."""
    from .._api import get_explainer
    from ..execution import cell_key

    key = "explainer:" + cell_key({"method": method, "backend": backend, "params": params})
    explainer = model.cache.get(key)
    if explainer is None:  # one per worker and run: its compiled functions are traced once
        explainer = model.cache[key] = get_explainer(model.model, method, backend=backend, **params)
    exp = explainer.explain(images, targets)
    result = {"elapsed": exp.elapsed, "params": exp.params, "score": exp.score, "layer": exp.layer}
    return result, {"maps": exp.attributions, "targets": exp.targets, "predictions": exp.predictions,
                    "outputs": exp.outputs}
