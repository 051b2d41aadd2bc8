"""The model-parameter randomisation sanity check of several methods at once (Adebayo et al., 2018).

:func:`sanity_check` is Figure 2 of "Sanity Checks for Saliency Maps" (Adebayo et al.,
NeurIPS 2018) as one call: the same images are explained by every method on the
original model, then again after each of its layers is re-initialised, from the output
down (``mode="cascading"``), or one layer at a time (``"independent"``). A map that
depends on what the model learned turns to noise; one that stays (guided
backpropagation, in the paper) explains the image more than the model.

It runs :func:`xaikit.metrics.cascading_randomisation` once per method, through the
model's services (:meth:`xaikit.services.ModelServices.randomizer`), so it works on any
framework whose backend can randomise weights. It randomises a copy of the model
(:meth:`~xaikit.services.ModelServices.copy_model`): the model itself never changes, so
other threads explaining or running it meanwhile get their usual results. The copy's
original weights are put back after every method, also when one raises, and checked
(the weights' fingerprint).

>>> import xaikit as xk
>>> check = xk.sanity_check(model, images, methods=["gradcam", "guided_backprop"])  # doctest: +SKIP
>>> print(check.table())                                                           # doctest: +SKIP
>>> check.figure(image_index=0)                                                    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._api import get_explainer
from .binding import get_method_class
from .catalogue import METHODS
from .compare import pair_params
from .errors import InputError, LayerError, ModelError
from .explanation import to_jsonable
from .kernels import to_layout
from .metrics.controls import edge_maps
from .metrics.randomisation import RandomisationResult, cascading_randomisation, layer_seed
from .targets import is_score_function
from .validation import check_bool, check_choice, check_images, check_seed, check_targets

__all__ = ["DEFAULT_METHODS", "EDGE_CONTROL", "SANITY_METRICS", "SanityCheck", "sanity_check",
           "select_randomised_layers"]

#: The paper's contrast: two methods that fail the check (guided backpropagation, guided
#: Grad-CAM) next to two that pass it (gradients, Grad-CAM).
DEFAULT_METHODS = ("vanilla_gradients", "gradcam", "guided_backprop", "guided_gradcam")
#: The row label of the model-independent edge detector (:func:`xaikit.metrics.controls.edge_maps`).
EDGE_CONTROL = "edge (control)"
#: The similarities measured at each step: Spearman of |maps|, Spearman of the signed maps, SSIM.
SANITY_METRICS = ("spearman_abs", "spearman", "ssim")
_METRIC_TEXT = {"spearman_abs": "Spearman rank correlation of |maps|", "spearman": "Spearman rank correlation",
                "ssim": "SSIM of min-max normalised maps"}

Method = str | tuple[str, str]


@dataclass(frozen=True, eq=False)
class SanityCheck:
    """The randomisation check of several methods on the same images, targets and layers.

    Attributes
    ----------
    results : dict
        Row label -> :class:`~xaikit.metrics.RandomisationResult` with the maps of every
        step (``maps``, ``(L, N, H, W)``) and the original maps. Labels are the method ids
        (``"method (backend)"`` for a backend other than the model's native one) and
        :data:`EDGE_CONTROL` for the edge detector.
    rows : dict
        Row label -> ``{"method", "backend", "params", "layer", "score"}`` as the
        explainer ran (effective parameters, defaults filled in); the control has
        ``method=None``.
    layers : tuple of str
        The layer randomised at each step, in order (top first by default).
    targets : numpy.ndarray
        int64 ``(N,)``: the classes explained at every step (by default the original
        model's predictions, taken before any layer was touched).
    images : numpy.ndarray
        float32 ``(N, H, W, C)``: the images as the model took them, channels last.
    mode : str
        ``"cascading"`` or ``"independent"``.
    seed : int
        The base seed of the layers' weights (and of the random methods).
    layer_seeds : list of int
        The seed each layer's weights were drawn with (:func:`xaikit.metrics.randomisation.layer_seed`).
    """

    results: dict[str, RandomisationResult]
    rows: dict[str, dict[str, Any]]
    layers: tuple[str, ...]
    targets: np.ndarray
    images: np.ndarray
    mode: str
    seed: int
    layer_seeds: list[int] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """The row labels, in the order the methods were given (the control last)."""
        return list(self.results)

    @property
    def steps(self) -> list[str]:
        """Column names: ``"original"``, then ``"+layer"`` per cascading step (``"layer only"`` when independent)."""
        fmt = "+{}" if self.mode == "cascading" else "{} only"
        return ["original", *(fmt.format(name) for name in self.layers)]

    def maps(self, label: str) -> np.ndarray:
        """float32 ``(L + 1, N, H, W)``: the original maps of row ``label``, then those of every step."""
        res = self._result(label)
        assert res.maps is not None
        return np.concatenate([res.original[None], res.maps])

    def mean(self, metric: str = "spearman_abs") -> dict[str, np.ndarray]:
        """Row label -> ``(L,)`` mean over images (NaN-ignoring) of ``metric`` at each step (after the original)."""
        check_choice("metric", metric, SANITY_METRICS)
        return {label: res.mean()[metric] for label, res in self.results.items()}

    def table(self, metric: str = "spearman_abs", digits: int = 2) -> str:
        """Markdown: one row per method, one column per step, the mean ``metric`` over images.

        The original model's column is left out (every similarity is 1 there). Falling
        towards 0 means the maps depend on the learned weights (the check is passed);
        staying near 1 means they do not.
        """
        means = self.mean(metric)
        n = len(self.targets)
        head = "| method | " + " | ".join(self.steps[1:]) + " |"
        lines = [head, "|---|" + "---:|" * len(self.layers)]
        partial = False
        for label, values in means.items():
            counts = self.valid_counts(label, metric)
            cells = []
            for v, k in zip(values, counts):
                text = "—" if np.isnan(v) else f"{v:.{digits}f}".replace("-", "\u2212")
                if k < n:
                    text += f" ({k}/{n})"
                    partial = True
                cells.append(text)
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if partial:
            lines += ["", (f"(k/{n}): only k of the {n} images count at that step: the others' maps are constant "
                           "(e.g. all zero after Grad-CAM's ReLU), for which the similarity is undefined.")]
        return "\n".join(lines)

    def valid_counts(self, label: str, metric: str = "spearman_abs") -> np.ndarray:
        """int ``(L,)``: per step, the images with a defined ``metric`` (not NaN: neither map constant)."""
        check_choice("metric", metric, SANITY_METRICS)
        return (~np.isnan(getattr(self._result(label), metric))).sum(axis=1)

    def describe(self, metric: str = "spearman_abs") -> str:
        """One line saying what :meth:`table` holds."""
        how = "cumulatively from the output down" if self.mode == "cascading" else "one at a time"
        return (f"{_METRIC_TEXT[check_choice('metric', metric, SANITY_METRICS)]} between each step's maps and the "
                f"original maps, mean of {len(self.targets)} image(s); layers re-initialised {how} "
                f"(seed {self.seed}).")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers: per row the mean and per-image similarities of every step (NaN as None) and how
        many images each mean counts (:meth:`valid_counts`)."""
        rows = {}
        for label, res in self.results.items():
            means = res.mean()
            rows[label] = {**to_jsonable(self.rows[label]),
                           "mean": {m: _json_floats(means[m]) for m in SANITY_METRICS},
                           "n_valid": {m: self.valid_counts(label, m).tolist() for m in SANITY_METRICS},
                           "per_image": {m: _json_floats(getattr(res, m)) for m in SANITY_METRICS}}
        return {"check": "model-parameter randomisation (Adebayo et al. 2018)", "mode": self.mode,
                "seed": self.seed, "layers": list(self.layers), "layer_seeds": list(self.layer_seeds),
                "steps": self.steps, "n_images": len(self.targets), "targets": self.targets.tolist(),
                "metrics": {m: _METRIC_TEXT[m] for m in SANITY_METRICS}, "rows": rows}

    def plot(self, image_index: int = 0, **kwargs: Any) -> Any:
        """The grid of maps of one image (rows = methods, columns = steps), as a matplotlib Figure (not in pyplot).

        See :func:`xaikit.viz.randomisation_grid`.
        """
        from .viz.sanity import randomisation_grid

        return randomisation_grid(self, image_index, **kwargs)

    def figure(self, image_index: int = 0, **kwargs: Any) -> Any:
        """The same as :meth:`plot` (the name every other result uses)."""
        return self.plot(image_index, **kwargs)

    def __repr__(self) -> str:
        means = {label: np.nanmean(v[-1:]) if np.isfinite(v[-1:]).any() else float("nan")
                 for label, v in self.mean().items()}
        final = ", ".join(f"{label}: {v:.2f}" for label, v in means.items())
        return (f"SanityCheck({self.mode}, {len(self.targets)} image(s), {len(self.layers)} layer(s) from "
                f"{self.layers[0] if self.layers else '-'!r}; Spearman rho of |maps| after the last step: {final})")

    def _repr_html_(self) -> str:
        from .viz.notebook import sanity_html

        return sanity_html(self)

    def _result(self, label: str) -> RandomisationResult:
        if label not in self.results:
            raise InputError(f"no row {label!r}; rows: {', '.join(self.results)}")
        return self.results[label]


def _json_floats(values: np.ndarray) -> Any:
    return [_json_floats(v) for v in values] if np.ndim(values) else (None if np.isnan(values) else float(values))


def select_randomised_layers(selection: str | Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """The layers a selection stands for, in the order given.

    Parameters
    ----------
    selection : None, str or sequence of str
        ``None`` or ``"all"``: every layer with weights (``available``), top first;
        ``"top:N"``: the top ``N`` of them; otherwise layer names (a string may hold
        several, comma-separated).
    available : sequence of str
        The layers with weights, top first (``randomizer.layers()``).

    Raises
    ------
    LayerError
        A name that is not a layer with weights (the message lists them, top first).
    InputError
        An empty selection, a bad ``top:N``, or a layer given twice.
    """
    available = list(available)
    if selection is None:
        return available
    values = [selection] if isinstance(selection, str) else list(selection)
    if not all(isinstance(v, str) for v in values):
        raise InputError(f"layers must be layer names, 'top:N' or 'all' (strings); got {selection!r}")
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    if not items:
        raise InputError("layers is empty; give layer names, 'top:N' or 'all' (or None: every layer with weights)")
    chosen: list[str] = []
    for item in items:
        if item == "all":
            chosen += available
        elif item.startswith("top:"):
            text = item[4:].strip()
            if not text.isdigit() or int(text) < 1:
                raise InputError(f"layers {item!r}: write top:N with N >= 1 (the N layers nearest the output)")
            chosen += available[:int(text)]
        elif item not in available:
            raise LayerError(f"cannot randomise layer {item!r}: it is not a layer with weights of this model. The "
                             f"layers with weights are, top first: {', '.join(available)} (or use 'top:N', 'all')")
        else:
            chosen.append(item)
    twice = sorted({name for name in chosen if chosen.count(name) > 1})
    if twice:
        raise InputError(f"layers names {', '.join(twice)} more than once; give each layer once")
    return chosen


def _method_rows(methods: Sequence[Method] | str, backend: str, model: Any) -> list[tuple[str, str, str]]:
    """``(label, method, backend)`` per method, every name checked before any work."""
    from .registry import backend_for_model

    if isinstance(methods, str):
        methods = [methods]
    rows = []
    for item in methods:
        if isinstance(item, str):
            method, chosen = item, backend
        elif isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(p, str) for p in item):
            method, chosen = item
        else:
            raise InputError(f"each method is a method id or a (method, backend) pair; got {item!r}")
        if method == "activations":
            raise InputError("'activations' returns feature maps, not attributions; choose attribution methods: "
                             + ", ".join(m for m in METHODS if m != "activations"))
        native = backend_for_model(model, method)
        name = native if chosen == "auto" else chosen
        get_method_class(method, name)  # an unknown method or backend raises with the valid names
        rows.append((method if name == native else f"{method} ({name})", method, name))
    if not rows:
        raise InputError(f"methods is empty; give at least one method id, e.g. {list(DEFAULT_METHODS)}")
    labels = [r[0] for r in rows]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise InputError(f"methods lists {', '.join(twice)} more than once; give each method once")
    return rows


def sanity_check(model: Any, images: Any, methods: Sequence[Method] | str = DEFAULT_METHODS, *, targets: Any = None,
                 layers: str | Sequence[str] | None = None, mode: str = "cascading", seed: int | None = 0,
                 backend: str = "auto", params: Mapping[Any, Mapping[str, Any]] | None = None,
                 edge_control: bool = False, progress: Callable[[str], None] | None = None,
                 **common: Any) -> SanityCheck:
    """The cascading model-parameter randomisation check of Adebayo et al. (2018) for several methods.

    Every method explains the same images for the same targets on the original model,
    then once more after each layer in ``layers`` is re-initialised
    (:func:`xaikit.metrics.cascading_randomisation`, keeping every step's maps). The
    layers of a copy of the model are re-initialised (it costs the model's memory once
    more): the model itself is never changed, so other threads may explain or run it
    meanwhile and get their usual results. The copy is restored after every method (also
    when a method raises) and its weights' fingerprint compared with the original's.

    Parameters
    ----------
    model
        The model (any framework whose backend's services offer a randomizer and a copy:
        Keras, PyTorch). Left unchanged.
    images : array-like
        A batch in the model's layout (Keras ``(N, H, W, C)``, PyTorch ``(N, C, H, W)``),
        preprocessed as the model takes it.
    methods : sequence
        Method ids (``"gradcam"``) or ``(method, backend)`` pairs (``("gradcam",
        "tf-explain")``). Default: :data:`DEFAULT_METHODS`, the paper's contrast.
    targets : None, int or sequence of int
        The classes explained at every step. ``None``: the original model's predicted
        classes, computed before any layer is randomised (the randomised model's
        predictions mean nothing).
    layers : None, str or sequence of str
        The layers to randomise, in order: ``None`` / ``"all"`` (every layer with
        weights, top first), ``"top:N"``, or names; see :func:`select_randomised_layers`.
    mode : {"cascading", "independent"}
        ``"cascading"``: randomisations accumulate (the paper's Figure 2).
        ``"independent"``: one layer at a time, the others original.
    seed : int or None
        Seed of the layers' new weights (layer ``i`` of the model gets
        :func:`~xaikit.metrics.randomisation.layer_seed` ``(seed, i)``, whatever subset
        runs), and of the random methods (SmoothGrad draws the same noise at every step,
        so only the weights change). ``None`` draws one (recorded in the result).
    backend : str
        The backend of methods given without one (``"auto"``: the model's native one).
    params : mapping, optional
        Parameters per method (``{"gradcam": {"layer": "conv2d_1"}}``) or per
        ``(method, backend)`` pair. Layer methods without ``layer`` use their default layer.
    edge_control : bool
        Add the row :data:`EDGE_CONTROL`: the Sobel edge magnitude of each image, which
        does not look at the model and so stays at similarity 1. It shows what "barely
        changes" looks like.
    progress : callable, optional
        Called with each row's label before the row runs.
    **common
        Parameters given to every method that takes them (``batch_size=16``,
        ``n_samples=20``); one no method takes is an error.

    Returns
    -------
    SanityCheck

    Raises
    ------
    UnknownNameError
        An unknown method or backend (the message lists the valid ones).
    LayerError
        A layer in ``layers`` that is not a layer with weights of the model (the message
        lists them, top first).
    InputError
        A bad ``mode``, empty or repeated methods, parameters no method takes.
    ModelError
        The model's backend cannot copy it or randomise weights, or the copy's weights were
        not restored.
    """
    from .registry import services_for

    mode = check_choice("mode", mode, ("cascading", "independent"))
    edge_control = check_bool("edge_control", edge_control)
    seed = check_seed(seed)
    rows = _method_rows(methods, backend, model)
    accepted = {name for _, method, b in rows for name in get_method_class(method, b).param_names()}
    unused = sorted(set(common) - accepted)
    if unused:
        raise InputError(f"no method takes the parameter(s) {', '.join(map(repr, unused))}; parameters of these "
                         f"methods: {', '.join(sorted(accepted))}")
    services = services_for(model)
    work = services.copy_model(model)  # randomised instead of the model, which other callers keep using meanwhile
    randomizer = services.randomizer(work)
    available = list(randomizer.layers())
    chosen = select_randomised_layers(layers, available)
    if not chosen:
        raise LayerError("the model has no layer with weights to randomise.")
    layout = services.describe(model, None).layout
    x = check_images(images, layout=layout)
    x_last = to_layout(x, layout, "NHWC")
    if is_score_function(targets):
        raise InputError("the randomisation sanity check explains classes (an int or one per image); it does not "
                         "take a score function yet. Compare xaikit.explain's maps for the function on the model "
                         "and on a copy with re-initialised weights yourself, or check a class of the model.")
    if targets is None:  # the model's own rule (predicted_classes): probabilities exist only after softmax/sigmoid
        scores = services.class_scores(work, x, "output", batch_size=int(common.get("batch_size") or 32))
        t = np.argmax(scores, axis=1).astype(np.int64)
    else:
        t = check_targets(targets, len(x), None)
    explainers = {}
    for label, method, b in rows:
        kwargs = pair_params(method, b, params, common)
        if "seed" in get_method_class(method, b).param_names():
            kwargs.setdefault("seed", seed)  # the same noise at every step: only the weights change
        explainers[label] = get_explainer(work, method, backend=b, **kwargs)
    before = services.fingerprint(work)
    results: dict[str, RandomisationResult] = {}
    info: dict[str, dict[str, Any]] = {}
    for label, explainer in explainers.items():
        if progress is not None:
            progress(label)
        results[label], info[label] = _run_row(explainer, randomizer, x_last, t, layout, chosen, mode, seed)
        _check_restored(services, work, before, label)
    if edge_control:
        if progress is not None:
            progress(EDGE_CONTROL)
        results[EDGE_CONTROL] = cascading_randomisation(lambda xs, ts: edge_maps(xs), randomizer, x_last, t,
                                                        layers=chosen, mode=mode, seed=seed, keep_maps=True)
        info[EDGE_CONTROL] = {"method": None, "backend": None, "params": {}, "layer": None, "score": None,
                              "description": "Sobel edge magnitude of the image (does not look at the model)"}
        _check_restored(services, work, before, EDGE_CONTROL)
    return SanityCheck(results, info, tuple(chosen), t, x_last, mode, seed,
                       [layer_seed(seed, available.index(name)) for name in chosen])


def _run_row(explainer: Any, randomizer: Any, x_last: np.ndarray, t: np.ndarray, layout: str, layers: list[str],
             mode: str, seed: int) -> tuple[RandomisationResult, dict[str, Any]]:
    """One method's check; the effective parameters are those of its explanation on the original model."""
    first: dict[str, Any] = {}

    def explain_fn(xs: np.ndarray, ts: np.ndarray) -> np.ndarray:
        exp = explainer.explain(to_layout(xs, "NHWC", layout), ts)
        if not first:
            first.update(method=exp.method, backend=exp.backend, params=dict(exp.params), layer=exp.layer,
                         score=exp.score)
        return exp.attributions

    res = cascading_randomisation(explain_fn, randomizer, x_last, t, layers=layers, mode=mode, seed=seed,
                                  keep_maps=True)
    return res, first


def _check_restored(services: Any, model: Any, before: str, label: str) -> None:
    if services.fingerprint(model) != before:
        raise ModelError(f"the weights of the model's copy differ from the original after the randomisation check of "
                         f"{label}: its backend's randomizer did not restore them, and the next rows would start from "
                         "randomised weights (the model itself was not changed)")
