"""The tasks of a bulk run: explain one chunk of images (on whichever executor runs it).

:func:`explain_chunk` takes the chunk's model inputs, read and preprocessed by the driver;
:func:`explain_files_chunk` takes the chunk's file names and reads them where it runs (a
Ray worker decodes its own images, and only names travel to it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputError
from .source import ImageFiles, image_hashes
from .store import maps_as

__all__ = ["explain_chunk", "explain_files_chunk"]


def explain_chunk(model: Any, *, images: np.ndarray, method: str, backend: str, params: dict[str, Any],
                  targets: Any, dtype: str = "float32") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Explain one chunk (runs on an engine: ``model`` is the opened model, whose explainer is kept for the next).

    The maps come back in the store's ``dtype`` (converted here, on the worker, so that
    float16 maps cross the object store at half the bytes).
    """
    from .._api import get_explainer
    from ..execution import cell_key

    key = "explainer:" + cell_key({"method": method, "backend": backend, "params": params})
    explainer = model.cache.get(key)
    if explainer is None:  # one per worker and run: its compiled functions are traced once
        explainer = model.cache[key] = get_explainer(model.model, method, backend=backend, **params)
    exp = explainer.explain(images, targets)
    result = {"elapsed": exp.elapsed, "params": exp.params, "score": exp.score, "layer": exp.layer}
    return result, {"maps": maps_as(exp.attributions, dtype), "targets": exp.targets, "predictions": exp.predictions,
                    "outputs": exp.outputs}


def explain_files_chunk(model: Any, *, files: ImageFiles, forward: Callable[[np.ndarray], np.ndarray], method: str,
                        backend: str, params: dict[str, Any], targets: Any,
                        dtype: str = "float32") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read the chunk's ``files`` here, then :func:`explain_chunk`; the arrays add the images' hashes.

    ``forward`` turns the pixels into the model's input (the run's preprocessing and
    layout), as the driver would have.
    """
    try:
        pixels = files.read()
    except (InputError, OSError) as exc:
        raise InputError(f"{exc} -- read where this task ran: with images on a disk the workers cannot "
                         "read, decode them on the driver (decode='driver', --decode driver)") from exc
    result, arrays = explain_chunk(model, images=forward(pixels), method=method, backend=backend, params=params,
                                   targets=targets, dtype=dtype)
    return result, {**arrays, "image_hashes": image_hashes(pixels)}
