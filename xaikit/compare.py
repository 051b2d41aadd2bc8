"""Run several (method, backend) explainers on the same images and measure their agreement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._api import get_explainer, input_values, with_preprocessing
from ._display import format_params
from ._timing import record_warmup, warm_up, warmup_seconds
from .alignment import Alignment, align_params, alignment_table
from .binding import get_method_class
from .errors import InputError
from .explanation import Explanation
from .metrics.agreement import AgreementTable, agreement_table
from .progress import auto_progress, stage
from .validation import as_numpy

__all__ = ["Comparison", "compare", "pair_label", "pair_params", "params_table", "timing_table"]

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
    alignment : dict or None
        label -> :class:`~xaikit.alignment.Alignment` when the pairs were aligned on the
        method's definition (``compare(..., align=True)``): the parameters each pair was
        given and what its library cannot express. None: every pair ran its library's defaults.
    """

    explanations: dict[str, Explanation]
    pairs: list[Pair]
    agreement: AgreementTable
    targets: np.ndarray
    alignment: dict[str, Alignment] | None = None

    @property
    def labels(self) -> list[str]:
        return list(self.explanations)

    @property
    def timings(self) -> dict[str, float]:
        """label -> seconds per image of the timed call: the steady state when it ran after a warm-up
        (``compare(..., warmup=True)``, the default; see :attr:`first_call`)."""
        return {label: exp.elapsed / len(exp) for label, exp in self.explanations.items()}

    @property
    def first_call(self) -> dict[str, float | None]:
        """label -> seconds of the warm-up call (tracing, compiling, library set-up), None if none ran."""
        return {label: warmup_seconds(exp) for label, exp in self.explanations.items()}

    def to_markdown(self, metric: str = "spearman") -> str:
        """Timings, the effective parameters of every pair (and how they were aligned) and one agreement matrix,
        as Markdown."""
        aligned = "" if self.alignment is None else alignment_table(self.alignment) + "\n\n"
        return (timing_table({k: [e] for k, e in self.explanations.items()}, len(self.targets)) + "\n\n"
                + params_table(self.explanations) + "\n\n" + aligned + self.agreement.to_markdown(metric))

    def __repr__(self) -> str:
        aligned = "" if self.alignment is None else ", aligned"
        return (f"Comparison({len(self.targets)} image(s), pairs={self.labels}{aligned}; "
                f"targets={self.targets.tolist()[:8]})")

    def figure(self, images: Any = None, **kwargs: Any) -> Any:
        """The comparison figure of every image (rows = images, columns = pairs); see
        :func:`xaikit.viz.compare_figure`. Without ``images`` the maps are drawn on a plain background."""
        return self.plot(images, max_images=None, **kwargs)

    def plot(self, images: Any = None, *, max_images: int | None = 8, **kwargs: Any) -> Any:
        """The comparison figure of the first ``max_images`` images, as a matplotlib Figure (not in pyplot).

        ``images``: the images that were compared (drawn under the maps), or None. The
        column headers give each pair's steady-state time and first call. Other keyword
        arguments go to :func:`xaikit.viz.compare_figure` (``class_names``, ``undo``...).
        """
        from .viz.compare import first_images_figure

        if "image_range" not in kwargs:  # the preprocessing compare(..., preprocess=) recorded
            kwargs.setdefault("undo", next(iter(self.explanations.values())).info.get("preprocess"))
        return first_images_figure(images, self.explanations, max_images, **kwargs)

    def _repr_html_(self) -> str:
        from .viz.notebook import comparison_html

        return comparison_html(self)


def timing_table(parts: Mapping[str, Sequence[Explanation]], n_images: int) -> str:
    """Markdown: per pair, the steady-state seconds per image, the first-call seconds, score and layer.

    ``parts`` maps a label to the explanations of consecutive chunks of the same images
    (one for :class:`Comparison`); the warm-up, if any, is the first chunk's.
    """
    lines = ["| pair | seconds / image (steady state) | first call (warm-up) | score | layer |",
             "|---|---:|---:|---|---|"]
    cold = False
    for label, exps in parts.items():
        seconds = sum(e.elapsed for e in exps) / max(n_images, 1)
        warm = warmup_seconds(exps[0])
        cold = cold or warm is None
        first = "not measured" if warm is None else \
            f"{warm:.4g} s ({exps[0].info['timing'].get('warmup_images', 1)} image(s))"
        lines.append(f"| {label} | {seconds:.4g} | {first} | {exps[0].score} | {exps[0].layer or '-'} |")
    lines += ["", ("Steady state: the wall time of the explain call on all images, divided by their number, run "
                  "after a warm-up call with the same tensor shapes (which traced and compiled what the method "
                  "needs); the first call is that warm-up.")]
    if cold:
        lines.append("Pairs without a warm-up ('not measured') include their first call's tracing in the time.")
    return "\n".join(lines)


def params_table(explanations: Mapping[str, Explanation]) -> str:
    """Markdown: the effective parameters each pair ran with (defaults filled in, as recorded in its result)."""
    lines = ["| pair | effective parameters |", "|---|---|"]
    for label, exp in explanations.items():
        text = format_params(exp.params).replace("|", "\\|")
        lines.append(f"| {label} | {text} |")
    return "\n".join(lines)


def pair_params(method: str, backend: str, params: Mapping[Any, Mapping[str, Any]] | None,
                common: Mapping[str, Any]) -> dict[str, Any]:
    """Common parameters the explainer accepts, overridden by per-method then per-pair ones."""
    accepted = get_method_class(method, backend).param_names()
    merged = {k: v for k, v in common.items() if k in accepted}
    for key in (method, (method, backend)):
        if params and key in params:
            merged.update(params[key])
    return merged


def compare(model: Any, images: Any, pairs: Sequence[Pair], *, targets: Any = None,
            params: Mapping[Any, Mapping[str, Any]] | None = None, fraction: float = 0.1, warmup: bool = True,
            align: bool = False, preprocess: str | None = None, progress: bool | None = None,
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
    targets : None, int, sequence or score function
        Classes to explain. ``None``: the predicted classes, resolved once by the first
        pair and then passed explicitly to all others, so every map explains the same class.
        A score function (:mod:`xaikit.targets`) is given to every pair.
    params : mapping, optional
        Parameters per method (``{"gradcam": {"layer": "conv2d_3"}}``) or per pair
        (``{("occlusion", "tf-explain"): {"patch_size": 7}}``); a pair's entry overrides
        its method's.
    fraction : float
        Top fraction of pixels for the top-k IoU.
    warmup : bool
        Before each pair's timed call, warm it up with the same tensor shapes
        (:func:`xaikit._timing.warm_up`: the native backend's streamed methods on the
        first image, everything else with the same call), so that
        :attr:`Comparison.timings` are steady-state times and
        :attr:`Comparison.first_call` holds the one-off cost. It costs one more image
        (streamed native methods) or one more call. False: time the first call as it
        comes (it then includes tracing whenever the pair has not run before).
    align : bool
        False: every library runs with its own defaults (what its users get). True: every
        pair computes the method as the catalogue defines it, as far as its library can
        (:func:`xaikit.alignment.align_params`): the same score, signed values, noise as a
        fraction of each image's range, the same baseline, final ReLU and layer, through
        each library's own parameters (Captum's ``abs=False``, tf-explain's
        ``guided=False``...). What each pair was given and what its library cannot express
        is in :attr:`Comparison.alignment` and :meth:`Comparison.to_markdown`; parameters
        given in ``params`` still win.
    preprocess : str, optional
        How the images were preprocessed (``"scale255"``, ``"caffe"``...): turns values
        given in pixels (``baseline={"pixel": "grey"}``, ``noise_std={"range_fraction":
        0.15}``) into input units, and is recorded in every result (its pictures undo it).
    progress : bool or None
        One bar for the whole comparison, naming the pair that runs (tqdm; None: when
        the session is interactive, see :func:`xaikit.progress.auto_progress`).
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
    common = input_values(model, common, preprocess)
    params = {key: input_values(model, value, preprocess) for key, value in (params or {}).items()}
    alignments: dict[str, Alignment] = {}
    explanations: dict[str, Explanation] = {}
    resolved = targets
    with auto_progress("compare", progress):
        for i, ((method, backend), label) in enumerate(zip(pairs, labels)):
            stage(f"{label} [{i + 1}/{len(pairs)}]")
            chosen = pair_params(method, backend, params, common)
            if align:
                alignments[label] = align_params(model, x, method, backend, common)
                chosen = {**alignments[label].params, **chosen}
            explainer = get_explainer(model, method, backend=backend, **chosen)
            warm = warm_up(explainer, x, resolved) if warmup else None
            exp = with_preprocessing(explainer.explain(x, resolved), preprocess)
            if resolved is None:
                resolved = exp.targets
            explanations[label] = exp if warm is None else record_warmup(exp, *warm)
    table = agreement_table({label: exp.attributions for label, exp in explanations.items()}, fraction=fraction)
    first = next(iter(explanations.values()))  # every pair explained its targets (-1: a score function)
    return Comparison(explanations, list(pairs), table, np.asarray(first.targets, dtype=np.int64),
                      alignments if align else None)
