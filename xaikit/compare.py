"""Run several (method, backend) explainers on the same images and measure their agreement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._api import get_explainer
from .errors import InputError
from .explanation import Explanation
from .metrics.agreement import AgreementTable, agreement_table
from .registry import get_method_class
from .validation import as_numpy

__all__ = ["Comparison", "compare", "pair_label"]

Pair = tuple[str, str]


def pair_label(method: str, backend: str) -> str:
    """The label of a pair in tables and figures: ``"gradcam (tf-explain)"``."""
    return f"{method} ({backend})"


@dataclass(frozen=True, eq=False)
class Comparison:
    """Explanations of the same images by several (method, backend) pairs.

    Attributes
    ----------
    explanations : dict
        label -> :class:`~xaikit.Explanation`, in the order the pairs were given.
    pairs : list of (method, backend)
    agreement : AgreementTable
        Pairwise Spearman rank correlation (signed and of absolute values), top-k% IoU
        and SSIM of the maps, averaged over images (see :mod:`xaikit.metrics.agreement`).
    targets : numpy.ndarray
        ``(N,)`` the classes every pair explained (the same for all, so that the maps
        are comparable).
    """

    explanations: dict[str, Explanation]
    pairs: list[Pair]
    agreement: AgreementTable
    targets: np.ndarray

    @property
    def labels(self) -> list[str]:
        return list(self.explanations)

    @property
    def timings(self) -> dict[str, float]:
        """label -> seconds per image."""
        return {label: exp.elapsed / len(exp) for label, exp in self.explanations.items()}

    def to_markdown(self, metric: str = "spearman") -> str:
        """Timings and one agreement matrix as Markdown."""
        lines = ["| pair | seconds / image | score | layer |", "|---|---|---|---|"]
        for label, exp in self.explanations.items():
            lines.append(f"| {label} | {exp.elapsed / len(exp):.4f} | {exp.score} | {exp.layer or '-'} |")
        return "\n".join(lines) + "\n\n" + self.agreement.to_markdown(metric)

    def figure(self, images: Any, **kwargs: Any) -> Any:
        """The comparison figure (rows = images, columns = pairs); see :func:`xaikit.viz.compare_figure`."""
        from .viz.compare import compare_figure

        return compare_figure(images, self.explanations, **kwargs)


def _params_for(method: str, backend: str, params: Mapping[Any, Mapping[str, Any]] | None,
                common: Mapping[str, Any]) -> dict[str, Any]:
    """Common parameters the explainer accepts, overridden by per-method then per-pair ones."""
    accepted = get_method_class(method, backend).param_names()
    merged = {k: v for k, v in common.items() if k in accepted}
    for key in (method, (method, backend)):
        if params and key in params:
            merged.update(params[key])
    return merged


def compare(model: Any, images: Any, pairs: Sequence[Pair], *, targets: Any = None,
            params: Mapping[Any, Mapping[str, Any]] | None = None, fraction: float = 0.1,
            **common: Any) -> Comparison:
    """Explain the same images with several (method, backend) pairs and compare the maps.

    Parameters
    ----------
    model
        The model.
    images : array-like
        ``(N, H, W, C)`` batch, preprocessed as the model takes it.
    pairs : sequence of (method, backend)
        E.g. ``[("gradcam", "tensorflow"), ("gradcam", "tf-explain")]``.
    targets : None, int or sequence
        Classes to explain. ``None``: the predicted classes, resolved once by the first
        pair and then passed explicitly to all others, so every map explains the same class.
    params : mapping, optional
        Parameters per method (``{"gradcam": {"layer": "conv2d_3"}}``) or per pair
        (``{("occlusion", "tf-explain"): {"patch_size": 7}}``); a pair's entry overrides
        its method's.
    fraction : float
        Top fraction of pixels for the top-k IoU.
    **common
        Parameters given to every explainer that accepts them (``batch_size=16``,
        ``seed=0``, ``background=...``); explainers that do not take one ignore it.

    Returns
    -------
    Comparison
    """
    pairs = [tuple(p) for p in pairs]  # type: ignore[misc]
    if not pairs:
        raise InputError("pairs is empty; give at least one (method, backend) pair")
    for pair in pairs:
        if len(pair) != 2 or not all(isinstance(p, str) for p in pair):
            raise InputError(f"each pair must be (method, backend) strings; got {pair!r}")
    labels = [pair_label(*p) for p in pairs]
    if len(set(labels)) != len(labels):
        raise InputError(f"a (method, backend) pair is given twice: {labels}")
    accepted = {name for method, backend in pairs for name in get_method_class(method, backend).param_names()}
    unused = sorted(set(common) - accepted)
    if unused:
        raise InputError(f"no pair takes the parameter(s) {', '.join(map(repr, unused))}; parameters of these pairs: "
                         f"{', '.join(sorted(accepted))}")
    x = as_numpy(images)
    explanations: dict[str, Explanation] = {}
    resolved = targets
    for (method, backend), label in zip(pairs, labels):
        explainer = get_explainer(model, method, backend=backend, **_params_for(method, backend, params, common))
        exp = explainer.explain(x, resolved)
        if resolved is None:
            resolved = exp.targets
        explanations[label] = exp
    table = agreement_table({label: exp.attributions for label, exp in explanations.items()}, fraction=fraction)
    return Comparison(explanations, list(pairs), table, np.asarray(resolved, dtype=np.int64))  # type: ignore[arg-type]
