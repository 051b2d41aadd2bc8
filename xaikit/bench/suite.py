"""What a benchmark suite is: its models, methods, metrics and speed settings (plain, frozen data).

Suites are read from TOML by :mod:`.config`; the runner reads these objects.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..metrics.model_scores import PROBABILITY_FROM_LOGITS, causal_score

__all__ = ["CAUSAL_METRICS", "CONTROLS", "DEFAULT_METRICS", "FAITHFULNESS_METRICS", "MAP_TRANSFORMS", "MASK_METRICS",
           "METRICS", "ROBUSTNESS_METRICS", "WARMUPS", "ConfigError", "MethodEntry", "MetricsConfig", "ModelEntry",
           "SpeedConfig", "SuiteConfig", "CAUSAL_SCORE_TEXT", "PROBABILITY_FROM_LOGITS", "causal_score",
           "METRIC_DEFAULTS", "METRIC_PARAM_TYPES", "METRIC_SCORES"]

#: Metrics a suite can enable, in report order (the functions of :mod:`xaikit.metrics` of the same name;
#: ``randomisation`` is the cascading check, ``agreement`` compares maps between rows).
METRICS = ("deletion", "insertion", "mu_fidelity", "faithfulness_correlation", "road", "infidelity",
           "faithfulness_estimate", "monotonicity", "monotonicity_correlation", "pixel_flipping", "region_perturbation",
           "selectivity", "irof", "sensitivity_n", "non_sensitivity", "max_sensitivity", "avg_sensitivity",
           "local_lipschitz_estimate", "relative_input_stability", "relative_output_stability", "pointing_game",
           "energy_pointing_game", "relevance_mass_accuracy", "relevance_rank_accuracy", "attribution_localisation",
           "top_k_intersection", "localisation_auc", "randomisation", "sparseness", "complexity",
           "effective_complexity", "agreement")
#: What a suite runs when it does not list ``[metrics] enabled``; the others are run when named.
DEFAULT_METRICS = ("deletion", "insertion", "mu_fidelity", "faithfulness_correlation", "road", "infidelity",
                   "max_sensitivity", "pointing_game", "energy_pointing_game", "relevance_mass_accuracy",
                   "randomisation", "sparseness", "complexity", "agreement")
#: Metrics that score perturbed images through the model (``predict``).
CAUSAL_METRICS = ("deletion", "insertion", "mu_fidelity", "faithfulness_correlation", "road", "infidelity",
                  "faithfulness_estimate", "monotonicity", "monotonicity_correlation", "pixel_flipping",
                  "region_perturbation", "selectivity", "irof", "sensitivity_n", "non_sensitivity")
#: Metrics that re-run the method on perturbed images (not computed for the controls).
ROBUSTNESS_METRICS = ("max_sensitivity", "avg_sensitivity", "local_lipschitz_estimate", "relative_input_stability",
                      "relative_output_stability")
#: Metrics that need ground-truth masks (skipped for models without them).
MASK_METRICS = ("pointing_game", "energy_pointing_game", "relevance_mass_accuracy", "relevance_rank_accuracy",
                "attribution_localisation", "top_k_intersection", "localisation_auc")
#: Faithfulness metrics with one value per image, and their direction (+1: higher is better): the metric
#: agreement of the report compares the method orderings they give.
FAITHFULNESS_METRICS = {"deletion": -1, "insertion": +1, "mu_fidelity": +1, "faithfulness_correlation": +1,
                        "road": -1, "infidelity": -1, "faithfulness_estimate": +1, "monotonicity_correlation": +1,
                        "pixel_flipping": -1, "region_perturbation": +1, "selectivity": -1, "irof": +1,
                        "sensitivity_n": +1}
#: Model-independent reference maps: ``random`` (seeded uniform noise) and ``edge``
#: (Sobel gradient magnitude of the image, Adebayo et al.'s edge-detector control).
CONTROLS = ("random", "edge")
#: How attribution maps are given to the metrics. ``"auto"``: the absolute value for
#: methods whose sign is mostly noise (vanilla gradients, SmoothGrad), the signed map
#: otherwise; ``"signed"``: always as computed; ``"abs"``: always the magnitude.
MAP_TRANSFORMS = ("auto", "signed", "abs")
WARMUPS = ("full", "cheap", "none")

#: The types each metric's parameters take in a suite's ``[metrics.<name>]`` table (checked by the config).
METRIC_PARAM_TYPES: dict[str, dict[str, type | tuple[type, ...]]] = {
    "deletion": {"steps": int, "substrate": (str, numbers.Real), "blur_sigma": numbers.Real,
                 "blur_size": int},
    "insertion": {"steps": int, "substrate": (str, numbers.Real), "blur_sigma": numbers.Real,
                  "blur_size": int},
    "mu_fidelity": {"grid_size": (int, list), "subset_percent": numbers.Real, "n_samples": int,
                    "baseline": (str, numbers.Real)},
    "pointing_game": {"tolerance": numbers.Real},
    "energy_pointing_game": {},
    "randomisation": {"n_images": int, "mode": str, "layers": list},
    "sparseness": {},
    "complexity": {},
    "agreement": {"fraction": numbers.Real},
    "faithfulness_correlation": {"subset_size": int, "n_samples": int, "baseline": (str, numbers.Real)},
    "road": {"fractions": list, "order": str, "noise": numbers.Real},
    "infidelity": {"noise_std": numbers.Real, "n_samples": int, "normalize": bool},
    "faithfulness_estimate": {"features_in_step": int, "baseline": (str, numbers.Real)},
    "monotonicity": {"features_in_step": int, "baseline": (str, numbers.Real)},
    "monotonicity_correlation": {"features_in_step": int, "n_samples": int, "baseline": (str, numbers.Real)},
    "pixel_flipping": {"features_in_step": int, "baseline": (str, numbers.Real)},
    "region_perturbation": {"patch_size": int, "regions": int, "order": str, "baseline": (str, numbers.Real)},
    "selectivity": {"patch_size": int, "baseline": (str, numbers.Real)},
    "irof": {"baseline": (str, numbers.Real)},
    "sensitivity_n": {"sizes": list, "n_samples": int, "baseline": (str, numbers.Real)},
    "non_sensitivity": {"eps": numbers.Real, "baseline": (str, numbers.Real)},
    "relative_input_stability": {"radius": numbers.Real, "n_samples": int},
    "relative_output_stability": {"radius": numbers.Real, "n_samples": int},
    "max_sensitivity": {"radius": numbers.Real, "n_samples": int},
    "avg_sensitivity": {"radius": numbers.Real, "n_samples": int},
    "local_lipschitz_estimate": {"noise_std": numbers.Real, "n_samples": int},
    "relevance_mass_accuracy": {},
    "relevance_rank_accuracy": {},
    "attribution_localisation": {"weighted": bool},
    "top_k_intersection": {"k": int},
    "localisation_auc": {},
    "effective_complexity": {"eps": numbers.Real},
}
#: Each metric's parameters where a suite does not set them.
METRIC_DEFAULTS: dict[str, dict[str, Any]] = {
    "deletion": {"steps": 51, "substrate": "zero"},
    "insertion": {"steps": 51, "substrate": "blur"},
    "mu_fidelity": {"grid_size": 8, "subset_percent": 0.2, "n_samples": 128, "baseline": 0.0},
    "pointing_game": {"tolerance": 0},
    "energy_pointing_game": {},
    "randomisation": {"n_images": 8, "mode": "cascading"},
    "sparseness": {},
    "complexity": {},
    "agreement": {"fraction": 0.1},
    "faithfulness_correlation": {"subset_size": 64, "n_samples": 32, "baseline": 0.0},
    "road": {"fractions": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], "order": "morf", "noise": 0.01},
    "infidelity": {"noise_std": 0.1, "n_samples": 16, "normalize": True},
    "faithfulness_estimate": {"features_in_step": 16, "baseline": 0.0},
    "monotonicity": {"features_in_step": 16, "baseline": 0.0},
    "monotonicity_correlation": {"features_in_step": 64, "n_samples": 4, "baseline": "uniform"},
    "pixel_flipping": {"features_in_step": 16, "baseline": 0.0},
    "region_perturbation": {"patch_size": 4, "regions": 32, "order": "morf", "baseline": 0.0},
    "selectivity": {"patch_size": 4, "baseline": 0.0},
    "irof": {"baseline": "mean"},
    "sensitivity_n": {"sizes": [4, 16, 64, 256], "n_samples": 16, "baseline": 0.0},
    "non_sensitivity": {"eps": 1e-5, "baseline": 0.0},
    "relative_input_stability": {"radius": 0.02, "n_samples": 4},
    "relative_output_stability": {"radius": 0.02, "n_samples": 4},
    "max_sensitivity": {"radius": 0.02, "n_samples": 4},
    "avg_sensitivity": {"radius": 0.02, "n_samples": 4},
    "local_lipschitz_estimate": {"noise_std": 0.1, "n_samples": 4},
    "relevance_mass_accuracy": {},
    "relevance_rank_accuracy": {},
    "attribution_localisation": {"weighted": False},
    "top_k_intersection": {"k": 64},
    "localisation_auc": {},
    "effective_complexity": {"eps": 1e-5},
}
#: The scores a suite's metrics may read (``[metrics] score``).
METRIC_SCORES = ("probability", "logit", "output")


class ConfigError(InputError):
    """A benchmark configuration that cannot be used; the message names the key and the fix."""


# --------------------------------------------------------------------------- dataclasses
@dataclass(frozen=True)
class SpeedConfig:
    """How time and memory are measured.

    Attributes
    ----------
    repeats : int
        Timed runs of each explainer on the sample after the warm-up; the median time
        per image is reported.
    max_seconds : float
        Stop repeating once a cell's timed runs have lasted this long (at least one run
        is always made): slow methods on big models are timed once.
    warmup : {"full", "cheap", "none"}
        ``"full"``: one untimed run with the tensor shapes of the timed runs, so that they
        include neither tracing nor the runtime's per-shape set-up
        (:func:`xaikit._timing.warm_up` ``mode="auto"``: native streamed methods on the
        first image with the real parameters, one-pass methods and library adapters on the
        whole sample); ``"cheap"``: one image with the cost parameters reduced (2 samples,
        2 steps, one occlusion window) for methods too slow to run twice (it compiles the
        native functions, but the first timed run may still set up new shapes: use
        ``repeats >= 2``); ``"none"``. The warm-up's wall time is reported as the first
        call.
    floor : bool
        Measure each method's floor (see :mod:`xaikit.bench.floor`).
    floor_batch_sizes : tuple of int
        Batch sizes tried for the floor; the fastest per pass is kept.
    floor_min_seconds : float
        Each floor measurement loops until it lasts at least this long.
    memory_interval : float
        Seconds between two RSS samples.
    """

    repeats: int = 3
    max_seconds: float = 30.0
    warmup: str = "full"
    floor: bool = True
    floor_batch_sizes: tuple[int, ...] = (1, 4, 16, 64)
    floor_min_seconds: float = 0.2
    memory_interval: float = 0.005


@dataclass(frozen=True)
class MetricsConfig:
    """Enabled metrics and their parameters.

    Attributes
    ----------
    enabled : tuple of str
        Among :data:`METRICS`, in report order.
    score : str
        What the causal metrics (deletion, insertion, MuFidelity) score:
        ``"probability"`` (RISE's convention), ``"logit"`` or ``"output"``.
    params : dict
        metric -> its parameters (defaults filled in).
    """

    enabled: tuple[str, ...] = DEFAULT_METRICS
    score: str = "probability"
    params: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(METRIC_DEFAULTS))

    def get(self, metric: str) -> dict[str, Any]:
        return dict(self.params.get(metric, {}))


@dataclass(frozen=True)
class ModelEntry:
    """One model of the suite and where its images come from.

    Exactly one of ``zoo``, ``path`` and ``arch`` names the model.

    Attributes
    ----------
    id : str
        Name in the report (default: the zoo name, the file stem or the architecture).
    zoo, path, arch : str or None
        A zoo model; a model file any installed backend reads (``.keras``/``.h5``/SavedModel
        folder, ``.pt``, ``.onnx``); a named architecture (``keras.applications``,
        torchvision; with ``weights``, ``input_size``, ``classes``).
    framework : str or None
        ``"keras"`` or ``"torch"``: the framework of a zoo model (the PyTorch twins carry the
        Keras weights) or of an architecture whose name both frameworks know.
    unsafe : bool
        The suite *asks* to load code this model carries (Lambda layers, a SavedModel
        folder, TorchScript, a pickled module). A suite cannot grant it: the run stops unless
        its caller passes ``--unsafe`` (``run_suite(..., unsafe=True)``), see
        :meth:`SuiteConfig.trusted`.
    images : str or None
        A folder (or file) of images; ``"synthetic"`` for generated shapes at the model's
        input size; None for a zoo model's test split.
    masks : str or None
        Folder of ground-truth masks, matched to the images by file stem (white = object).
    preprocess : str or None
        Preprocessing scheme from pixels to the model input (see
        :mod:`xaikit.preprocessing`); None: ``scale255`` for zoo models, the family's
        ``preprocess_input`` for ``arch``, ``none`` otherwise.
    quality : bool
        False: only speed is measured (random weights make quality numbers meaningless).
    params : dict
        method id or label -> parameters for this model only.
    n_images, background : optional overrides of the suite's values.
    """

    id: str
    zoo: str | None = None
    path: str | None = None
    arch: str | None = None
    weights: str | None = None
    input_size: tuple[int, int] | None = None
    classes: int | None = None
    images: str | None = None
    masks: str | None = None
    preprocess: str | None = None
    labels: str | None = None
    quality: bool = True
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_images: int | None = None
    background: int | str | None = None
    unsafe: bool = False
    framework: str | None = None

    @property
    def source(self) -> str:
        if self.zoo:
            return f"zoo:{self.zoo}" + (f"@{self.framework}" if self.framework not in (None, "keras") else "")
        if self.arch:
            size = "x".join(map(str, self.input_size)) if self.input_size else "default size"
            return f"arch:{self.arch}(weights={self.weights}, {size}, classes={self.classes or 'default'})"
        return f"file:{Path(self.path or '').name}"


@dataclass(frozen=True)
class MethodEntry:
    """A method, with its parameters, computed by one or more backends.

    Attributes
    ----------
    method : str
        Method id (:data:`xaikit.METHODS`).
    label : str
        Row name in the report (default: the method id). Give labels to run the same
        method with different parameters (``gradcam@block1``, ``gradcam@block14``).
    backends : tuple of str or None
        Backends to run; None (``"all"``) = every installed backend implementing it.
    params : dict
        Parameters given to every backend that accepts them.
    backend_params : dict
        backend -> parameters for that backend only (override ``params``).
    models : tuple of str or None
        Model ids this entry runs on; None = all.
    ranked_outputs : int or None
        Explain each image's top-k classes in one call (shap's ``ranked_outputs``);
        the time covers all k, the quality metrics use the top class.
    """

    method: str
    label: str
    backends: tuple[str, ...] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    backend_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: tuple[str, ...] | None = None
    ranked_outputs: int | None = None


@dataclass(frozen=True)
class SuiteConfig:
    """A whole benchmark suite; see the module docstring for the file format."""

    name: str
    models: tuple[ModelEntry, ...]
    methods: tuple[MethodEntry, ...]
    description: str = ""
    seed: int = 0
    n_images: int = 16
    batch_size: int = 32
    background: int | str = 32
    controls: tuple[str, ...] = CONTROLS
    map_transform: str = "auto"
    pool: int = 256
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    source: str = "<built>"
    notes: tuple[str, ...] = ()
    align: bool = True

    def trusted(self, unsafe: bool) -> SuiteConfig:
        """The suite with the caller's trust: every model loads with ``unsafe``.

        Trust comes from whoever runs the suite, not from whoever wrote the file: a model the
        suite marks ``unsafe = true`` stops the run (an :class:`~xaikit.errors.InputError`
        naming it and the code it carries) unless ``unsafe`` is True.
        """
        asking = [m for m in self.models if m.unsafe]
        if asking and not unsafe:
            lines = "; ".join(f"model {m.id!r} ({m.source}) asks for unsafe = true: {_code_carried(m)}"
                              for m in asking)
            raise InputError(f"suite {self.name!r}: {lines}. A suite cannot trust code for you: if you trust "
                             "these files, run it with --unsafe (Python: run_suite(..., unsafe=True)); otherwise "
                             "remove the model from the suite.")
        return replace(self, models=tuple(replace(m, unsafe=unsafe) for m in self.models))

    def with_models(self, models: Sequence[ModelEntry]) -> SuiteConfig:
        """The same suite on other models (per-model method filters are dropped).

        The description (the reports' subtitle) says so: the suite's own one describes
        its models, not these.
        """
        methods = tuple(replace(m, models=None) for m in self.methods)
        names = ", ".join(f"{m.id} ({m.source})" for m in models)
        description = (f"{names} explained by the methods and libraries of the '{self.name}' suite "
                       f"({len(methods)} method entries), on a seeded sample of its images.")
        return replace(self, models=tuple(models), methods=methods, description=description)


def _code_carried(entry: ModelEntry) -> str:
    """What code loading ``entry``'s model would run, by the kind of its file."""
    path = Path(entry.path or "")
    suffix = path.suffix.lower()
    if suffix in (".keras", ".h5", ".hdf5"):
        return "loading it runs the Python bytecode of its Lambda layers"
    if suffix in (".pt", ".pth"):
        return "a TorchScript archive or a pickled module runs code from the file when loaded"
    if path.is_dir():
        return "a SavedModel folder runs its graph as saved (it could, say, write files)"
    return "loading it runs code from the file"


# --------------------------------------------------------------------------- parsing helpers


#: How a report names each score the causal metrics can use.
CAUSAL_SCORE_TEXT = {
    "probability": "the probability (the model's own softmax/sigmoid output)",
    PROBABILITY_FROM_LOGITS: "the probability (the softmax of the model's logits, computed by the bench)",
    "logit": "the logit",
    "output": "the raw output (the model's last activation is not known, so no probability can be computed)",
}
