"""What a bulk run is: the method, backend, preprocessing and targets resolved, and the identity of its store.

The identity (``spec``) is what a store must match to be resumed: model fingerprint,
method, backend, parameters, preprocessing, chunk size, images and targets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..targets import is_score_function
from .source import ImageSource
from .store import FORMAT

__all__ = ["RunPlan", "plan_run"]


@dataclass
class RunPlan:
    """A bulk run resolved before its store is opened.

    Attributes
    ----------
    spec : dict
        The run's identity (see the module docstring), as given to ``json_ready``.
    method, backend : str
        The method, and the backend chosen for it.
    params : dict
        The parameters as given.
    takes_seed : bool
        Whether the method draws from a seed (one is drawn and recorded on the first run).
    targets : None, int or ndarray
        The class(es) explained: None (predicted), one, or one per image.
    forward : callable
        Pixels ``(n, H, W, C)`` in [0, 255] -> the model's input (preprocessed, in its layout).
    preprocess, layout : str
        The preprocessing scheme's name and the model's input layout.
    size : (int, int)
        The maps' height and width.
    n_outputs : int or None
        The model's outputs.
    fingerprint : str
        The model's weights fingerprint.
    """

    spec: dict[str, Any]
    method: str
    backend: str
    params: dict[str, Any]
    takes_seed: bool
    targets: Any
    forward: Callable[[np.ndarray], np.ndarray]
    preprocess: str
    layout: str
    size: tuple[int, int]
    n_outputs: int | None
    fingerprint: str

    def store_attrs(self, opened: Any, ref: Any, source: ImageSource, chunk_size: int) -> dict[str, Any]:
        """The store's attribute ``xaikit_bulk`` on creation (a random method's seed drawn here)."""
        from .. import __version__
        from ..execution import json_ready
        from ..registry import backend_versions

        seed = self.params.get("seed")
        if self.takes_seed and seed is None:
            from ..validation import check_seed

            seed = check_seed(None)
        return json_ready({
            "spec": self.spec, "seed": seed, "method": self.method, "backend": self.backend,
            "params_given": self.params, "preprocess": self.preprocess, "chunk_size": chunk_size,
            "n_images": len(source), "images": source.names,
            "model": {"source": opened.source, "fingerprint": self.fingerprint, "layout": self.layout,
                      "open": ref.spec if ref is not None else None},
            "versions": {"xaikit": __version__, **backend_versions(self.backend)},
        })

    def run_params(self, info: dict[str, Any]) -> dict[str, Any]:
        """The parameters as run on a store whose attribute is ``info``: its recorded seed for a random method."""
        params = dict(self.params)
        if self.takes_seed and params.get("seed") is None:
            params["seed"] = info["seed"]
        return params


def _targets(targets: Any, classifier: bool, n: int) -> Any:
    """``targets`` checked for a store of classes: None, one class, or an array of one per image."""
    if is_score_function(targets) or not classifier:
        raise InputError("bulk explanation into Zarr stores classes (targets, predictions, (N, K) outputs); it does "
                         "not take a score function or a model that is not a classifier yet. Explain such images "
                         "with xaikit.explain(..., targets=score_function) chunk by chunk (docs/targets.md).")
    if targets is not None and not np.isscalar(targets):
        targets = np.asarray(targets)
        if targets.shape != (n,):
            raise InputError(f"targets must be one class or one per image ({n}); got shape {targets.shape}")
    return targets


def plan_run(opened: Any, ref: Any, source: ImageSource, images: Any, *, method: str, backend: str,
             preprocess: str | None, targets: Any, params: dict[str, Any], chunk_size: int,
             dtype: str) -> RunPlan:
    """The :class:`RunPlan` of explaining ``source`` (read from ``images``) with the model ``opened``."""
    from ..binding import get_method_class
    from ..execution import array_digest, canonical, cell_key
    from ..kernels import to_layout
    from ..preprocessing import get_scheme
    from ..registry import backend_for_model

    model_obj, services = opened.model, opened.services
    scheme = get_scheme(preprocess or opened.default_preprocess or "none")
    first_nhwc = scheme.forward(np.asarray(source.load(slice(0, 1)), np.float32))
    spec_model = services.describe(model_obj, to_layout(first_nhwc, "NHWC", opened.layout))
    layout = spec_model.layout
    backend_name = backend if backend != "auto" else backend_for_model(model_obj, method)
    takes_seed = "seed" in get_method_class(method, backend_name).param_names()
    targets = _targets(targets, spec_model.classifier, len(source))
    fingerprint = ref.fingerprint if ref is not None else services.fingerprint(model_obj)[:16]
    spec = {"format": FORMAT, "model": fingerprint, "method": method, "backend": backend_name,
            "params": canonical(params), "preprocess": scheme.name, "chunk_size": chunk_size,
            "images": (array_digest(images) if isinstance(images, np.ndarray)
                       else cell_key({"names": source.names})),
            "targets": canonical(targets)}
    if dtype != "float32":  # stores made before dtype existed (float32) resume as they were
        spec["maps_dtype"] = dtype

    def forward(pixels: np.ndarray) -> np.ndarray:
        return to_layout(scheme.forward(np.asarray(pixels, np.float32)), "NHWC", layout)

    return RunPlan(spec, method, backend_name, params, takes_seed, targets, forward, scheme.name, layout,
                   tuple(first_nhwc.shape[1:3]), spec_model.n_outputs, fingerprint)
