"""Benchmark suite configuration: a TOML file parsed into frozen dataclasses.

A suite names the models, the methods (and which backends compute them), the metrics
and the speed measurement. Every key is checked: an unknown key, a wrong type or an
unknown name raises :class:`ConfigError` naming the file, the table and the fix.

.. code-block:: toml

    [suite]
    name = "zoo"              # default output folder: xaikit-bench-<name>
    seed = 0                  # image sample, random methods, randomisation
    n_images = 16             # images per model, a seeded sample of its test images
    batch_size = 32           # every explainer and metric sends at most this many images
    background = 32           # expected-gradients background: N images, or a folder
    controls = ["random", "edge"]   # model-independent reference maps
    map_transform = "auto"    # how maps are fed to the metrics (see MAP_TRANSFORMS)
    align = true              # every library computes the catalogue's definition as far as it can (below)

    [speed]
    repeats = 3               # timed runs after a warm-up; the median is reported
    max_seconds = 30          # stop repeating once a cell has been timed this long
    warmup = "full"           # "full" (the timed call's tensor shapes, see xaikit._timing), "cheap", "none"
    floor = true              # measure the method's floor (see xaikit.bench.floor)

    [metrics]
    enabled = ["deletion", "insertion", ...]   # default: DEFAULT_METRICS; any of METRICS can be named
    score = "probability"     # what the causal metrics score

    [metrics.deletion]
    steps = 51
    substrate = "zero"

    [[models]]
    zoo = "shapes_cnn4"       # or path = "my.keras" + images = "dir/", or arch = "Xception"
    [models.params.gradcam]   # per-model method parameters (method id or label)
    layer = "conv2d_3"

    [[methods]]
    method = "smoothgrad"
    backends = "all"          # or ["tensorflow", "tf-explain"]
    params = { n_samples = 50, noise = 0.15 }
    [methods.backend_params.tf-explain]
    noise_std = { range_fraction = 0.15 }   # tf-explain's absolute noise: 15 % of the input range

    [[methods]]
    method = "occlusion"
    params = { patch_size = 8, baseline = { pixel = "grey" } }   # grey in every model's input units

    [[methods]]
    method = "*"              # every other method of the catalogue (attention methods apart), with its defaults

Values that depend on the model's input range are given in pixels and follow each
model's preprocessing (:func:`xaikit.preprocessing.pixel_input`), so one suite fits
[0, 1], [-1, 1] and caffe inputs alike:

- ``{ pixel = "grey" }`` (``"black"``, ``"white"`` or a value in [0, 255]): the model
  input of that constant pixel, e.g. an occlusion fill or an integration baseline;
- ``{ range_fraction = F }``: ``F`` times the width of the model input's range of pixels
  (:func:`xaikit.preprocessing.pixel_range_width`), e.g. tf-explain's absolute noise.

``align = true`` (the default) runs every backend of a method entry on the method's
definition, as far as its library can express it (:func:`xaikit.alignment.align_params`:
the same score, signed values, noise as a fraction of each image's range, baseline,
ReLU and layer, through each library's own parameters), so that the agreement between
backends of one entry measures the implementations, not their defaults; the entry's
``params`` are part of that definition, and ``backend_params`` still set one backend's
own values. Each row records what it ran and, in ``aligned.limits``, what its library
cannot express. ``align = false`` runs every library with its own defaults.

The tables are read by :mod:`.toml_tables` (typed keys; counts and named options checked
by the catalogue's parameter checks, :class:`xaikit.catalogue.Param`, as method
parameters are) and the metrics' ranges by :mod:`.metric_checks`; this module reads the
sections and checks them against each other (ids, labels, backends).

Relative paths are resolved against the folder of the configuration file. Python 3.11+
reads TOML with :mod:`tomllib`; Python 3.10 needs ``tomli`` (``pip install tomli``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .metric_checks import check_metric
from .suite import (
    CAUSAL_METRICS,
    CONTROLS,
    DEFAULT_METRICS,
    FAITHFULNESS_METRICS,
    MAP_TRANSFORMS,
    MASK_METRICS,
    METRIC_DEFAULTS,
    METRIC_PARAM_TYPES,
    METRIC_SCORES,
    METRICS,
    ROBUSTNESS_METRICS,
    WARMUPS,
    ConfigError,
    MethodEntry,
    MetricsConfig,
    ModelEntry,
    SpeedConfig,
    SuiteConfig,
)
from .toml_tables import (
    TableReader,
    checked,
    choice,
    count,
    params_table,
    resolve_path,
    strings,
    toml_module,
    toml_param_value,
)

__all__ = [
    "CAUSAL_METRICS",
    "CONTROLS",
    "DEFAULT_METRICS",
    "FAITHFULNESS_METRICS",
    "MAP_TRANSFORMS",
    "MASK_METRICS",
    "METRICS",
    "ROBUSTNESS_METRICS",
    "ConfigError",
    "MethodEntry",
    "MetricsConfig",
    "ModelEntry",
    "SpeedConfig",
    "SuiteConfig",
    "builtin_suite",
    "builtin_suites",
    "load_config",
    "parse_config",
    "toml_param_value",
]


def _suite(data: Mapping[str, Any], origin: str, base: Path | None) -> dict[str, Any]:
    r = TableReader(data.get("suite", {}), "[suite]", origin)
    out: dict[str, Any] = {}
    out["name"] = r.get("name", str, None)
    out["description"] = r.get("description", str, "")
    out["seed"] = checked(r, count("seed", 0), r.get("seed", int, 0))
    out["n_images"] = checked(r, count("n_images"), r.get("n_images", int, 16))
    out["batch_size"] = checked(r, count("batch_size"), r.get("batch_size", int, 32))
    bg = r.get("background", (int, str), 32)
    out["background"] = checked(r, count("background"), bg) if isinstance(bg, int) else resolve_path(bg, base)
    controls = strings(r, "controls", list(CONTROLS))
    bad = [c for c in controls or () if c not in CONTROLS]
    if bad:
        raise r.error(f"unknown control(s) {bad}; controls: {', '.join(CONTROLS)} (or [] for none).")
    out["controls"] = controls or ()
    out["map_transform"] = checked(r, choice("map_transform", MAP_TRANSFORMS), r.get("map_transform", str, "auto"))
    out["pool"] = checked(r, count("pool"), r.get("pool", int, 256))
    notes = strings(r, "notes", [])
    out["notes"] = notes or ()
    out["align"] = r.get("align", bool, True)
    r.finish(["name", "description", "seed", "n_images", "batch_size", "background", "controls", "map_transform",
              "pool", "notes", "align"])
    return out


def _speed(data: Mapping[str, Any], origin: str) -> SpeedConfig:
    r = TableReader(data.get("speed", {}), "[speed]", origin)
    d = SpeedConfig()
    repeats = checked(r, count("repeats"), r.get("repeats", int, d.repeats))
    max_seconds = r.get("max_seconds", float, d.max_seconds)
    if max_seconds <= 0:
        raise r.error(f"max_seconds must be > 0; got {max_seconds}.")
    warmup = checked(r, choice("warmup", WARMUPS), r.get("warmup", str, d.warmup))
    floor = r.get("floor", bool, d.floor)
    sizes = r.get("floor_batch_sizes", list, list(d.floor_batch_sizes))
    if not sizes or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise r.error(f"floor_batch_sizes must be a non-empty array of integers >= 1; got {sizes!r}.")
    min_s = r.get("floor_min_seconds", float, d.floor_min_seconds)
    interval = r.get("memory_interval", float, d.memory_interval)
    if min_s <= 0 or interval <= 0:
        raise r.error("floor_min_seconds and memory_interval must be > 0.")
    r.finish(["repeats", "max_seconds", "warmup", "floor", "floor_batch_sizes", "floor_min_seconds",
              "memory_interval"])
    return SpeedConfig(repeats, float(max_seconds), warmup, floor, tuple(sorted(set(sizes))), float(min_s),
                       float(interval))


def _metrics(data: Mapping[str, Any], origin: str) -> MetricsConfig:
    r = TableReader(data.get("metrics", {}), "[metrics]", origin)
    enabled = strings(r, "enabled", list(DEFAULT_METRICS))
    bad = [m for m in enabled or () if m not in METRICS]
    if bad:
        raise r.error(f"unknown metric(s) {bad}; metrics: {', '.join(METRICS)}.")
    score = checked(r, choice("score", METRIC_SCORES), r.get("score", str, "probability"))
    params = copy.deepcopy(METRIC_DEFAULTS)
    for metric in METRICS:
        if metric not in r.data:
            continue
        r.used.add(metric)
        sub = TableReader(r.data[metric], f"[metrics.{metric}]", origin)
        spec = METRIC_PARAM_TYPES[metric]
        for key, types in spec.items():
            value = sub.get(key, types, None)
            if value is not None:
                params[metric][key] = value
        sub.finish(list(spec))
        check_metric(sub, metric, params[metric])
    r.finish(["enabled", "score", *METRICS])
    order = [m for m in METRICS if m in (enabled or ())]
    return MetricsConfig(tuple(order), score, params)


_MODEL_KEYS = ["id", "zoo", "path", "arch", "weights", "input_size", "classes", "images", "masks", "preprocess",
               "labels", "quality", "params", "n_images", "background", "unsafe", "framework"]


def _model(data: Any, index: int, origin: str, base: Path | None) -> ModelEntry:
    r = TableReader(data, f"[[models]] #{index + 1}", origin)
    zoo = r.get("zoo", str)
    path = r.get("path", str)
    arch = r.get("arch", str)
    given = [k for k, v in (("zoo", zoo), ("path", path), ("arch", arch)) if v]
    if len(given) != 1:
        raise r.error("name the model with exactly one of zoo = \"NAME\", path = \"FILE\" or arch = \"NAME\" "
                      f"(keras.applications); got {', '.join(given) or 'none'}.")
    if zoo is not None:
        from ..zoo import ZOO

        if zoo not in ZOO:
            raise r.error(f"unknown zoo model {zoo!r}; zoo models: {', '.join(ZOO)}.")
    weights = r.get("weights", str)
    if arch is not None and weights is None:
        raise r.error(f"arch = {arch!r} needs weights = \"none\" (random, offline) or a weights file.")
    if arch is None and weights is not None:
        raise r.error("weights is only used with arch = \"NAME\" (keras.applications).")
    size = r.get("input_size", list)
    if size is not None:
        if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
            raise r.error(f"input_size must be [height, width]; got {size!r}.")
        size = (int(size[0]), int(size[1]))
    classes = checked(r, count("classes"), r.get("classes", int))
    images = r.get("images", str)
    if path is not None and images is None:
        raise r.error(f"path = {path!r} needs images = \"FOLDER\": the images to explain (preprocessed with "
                      "preprocess = \"SCHEME\").")
    if arch is not None and images is None:
        images = "synthetic"
    masks = r.get("masks", str)
    preprocess = r.get("preprocess", str)
    labels = r.get("labels", str)
    quality = r.get("quality", bool, True)
    n_images = checked(r, count("n_images"), r.get("n_images", int))
    bg = r.get("background", (int, str))
    params_raw = r.get("params", dict, {})
    params: dict[str, dict[str, Any]] = {}
    for key, value in params_raw.items():
        sub = TableReader(value, f"[[models]] #{index + 1} params.{key}", origin)
        params[str(key)] = {str(k): toml_param_value(v, f"{sub.where}.{k}", origin) for k, v in sub.data.items()}
    unsafe = r.get("unsafe", bool, False)
    framework = checked(r, choice("framework", ("keras", "torch")), r.get("framework", str))
    default_id = (zoo + (f"@{framework}" if framework not in (None, "keras") else "")) if zoo else (
        arch or Path(path or "model").stem)
    mid = r.get("id", str, default_id)
    r.finish(_MODEL_KEYS)
    base_images = images if images in (None, "synthetic") else resolve_path(images, base)
    return ModelEntry(
        id=mid, zoo=zoo, path=resolve_path(path, base), arch=arch,
        weights=weights if weights is None or weights.lower() in ("none", "imagenet") else resolve_path(weights, base),
        input_size=size, classes=classes, images=base_images, masks=resolve_path(masks, base),
        preprocess=preprocess, labels=resolve_path(labels, base), quality=quality, params=params,
        n_images=n_images, background=bg if not isinstance(bg, str) else resolve_path(bg, base), unsafe=unsafe,
        framework=framework)


_METHOD_KEYS = ["method", "label", "backends", "params", "backend_params", "models", "ranked_outputs"]


def _method(data: Any, index: int, origin: str) -> MethodEntry:
    from ..catalogue import METHODS

    r = TableReader(data, f"[[methods]] #{index + 1}", origin)
    method = r.get("method", str, required=True)
    if method not in METHODS:
        raise r.error(f"unknown method {method!r}; methods: {', '.join(m for m in METHODS if m != 'activations')}.")
    if METHODS[method].kind != "attribution":
        raise r.error(f"{method!r} returns feature maps, not attributions; the benchmark compares attribution "
                      "methods.")
    r.where = f"[[methods]] #{index + 1} ({method})"
    label = r.get("label", str, method)
    backends = strings(r, "backends", "all", allow_all=True)
    params = params_table(r, "params")
    bp_raw = r.get("backend_params", dict, {})
    backend_params = {}
    for name, value in bp_raw.items():
        sub = TableReader(value, f"{r.where} backend_params.{name}", origin)
        backend_params[str(name)] = {str(k): toml_param_value(v, f"{sub.where}.{k}", origin)
                                     for k, v in sub.data.items()}
        if backends is not None and name not in backends:
            raise r.error(f"backend_params has an entry for {name!r}, which is not in backends {list(backends)}.")
    models = strings(r, "models", None)
    ranked = checked(r, count("ranked_outputs"), r.get("ranked_outputs", int))
    r.finish(_METHOD_KEYS)
    if "targets" in params:
        raise r.error("targets is not a method parameter here: every method explains each image's predicted class "
                      "(use ranked_outputs = K for the top K). Score functions (xaikit.targets) are explained with "
                      "xaikit.explain and scored with xaikit.metrics (docs/targets.md).")
    return MethodEntry(method, label, backends, params, backend_params, models, ranked)


#: The ``method`` of a ``[[methods]]`` entry standing for every other method of the catalogue that applies to CNNs.
EVERY_OTHER = "*"


def _methods(raw: list[Any], origin: str) -> tuple[MethodEntry, ...]:
    """The ``[[methods]]`` entries; ``method = "*"`` stands, at its place, for every attribution method of the
    catalogue the other entries do not name, transformers' attention methods apart, in catalogue order, with their
    defaults (a suite of every method needs no edit when a method is added)."""
    from ..catalogue import ATTENTION_METHODS, ATTRIBUTION_METHODS

    every = [i for i, m in enumerate(raw) if isinstance(m, Mapping) and m.get("method") == EVERY_OTHER]
    parsed = {i: _method(m, i, origin) for i, m in enumerate(raw) if i not in every}
    named = {entry.method for entry in parsed.values()}
    entries: list[MethodEntry] = []
    for i, data in enumerate(raw):
        if i in parsed:
            entries.append(parsed[i])
            continue
        r = TableReader(data, f"[[methods]] #{i + 1} ({EVERY_OTHER})", origin)
        r.get("method", str, required=True)
        r.finish(["method"])
        if len(every) > 1:
            raise r.error(f"method = \"{EVERY_OTHER}\" (every other method) may be given once.")
        entries += [MethodEntry(m, m) for m in ATTRIBUTION_METHODS if m not in ATTENTION_METHODS and m not in named]
    return tuple(entries)


def _check_backends(config: SuiteConfig, origin: str) -> None:
    """Backend names must be registered (installed or not: a missing one is skipped with a note)."""
    from ..registry import discover_backends

    known = discover_backends()
    for i, m in enumerate(config.methods):
        for b in (m.backends or ()) + tuple(m.backend_params):
            if b not in known:
                raise ConfigError(f"{origin}: [[methods]] #{i + 1} ({m.method}): unknown backend {b!r}; registered "
                                  f"backends: {', '.join(known) or 'none'}.")
            if m.method not in known[b].offered():
                offering = [n for n, s in known.items() if m.method in s.offered()]
                raise ConfigError(f"{origin}: [[methods]] #{i + 1}: backend {b!r} does not implement {m.method!r}; "
                                  f"backends that do: {', '.join(offering)}.")


def parse_config(data: Mapping[str, Any], *, origin: str = "<config>", base: str | os.PathLike[str] | None = None,
                 default_name: str | None = None) -> SuiteConfig:
    """Build a :class:`SuiteConfig` from parsed TOML (a dict).

    Parameters
    ----------
    data
        The TOML document as a dict.
    origin
        Shown in error messages (the file name).
    base
        Folder against which relative paths are resolved.
    default_name
        Suite name when ``[suite] name`` is not given.
    """
    top = TableReader(data, "top level", origin)
    top.finish(["suite", "speed", "metrics", "models", "methods"])
    base_path = Path(base) if base is not None else None
    suite = _suite(data, origin, base_path)
    speed = _speed(data, origin)
    metrics = _metrics(data, origin)
    models_raw = data.get("models")
    if not isinstance(models_raw, list) or not models_raw:
        raise ConfigError(f"{origin}: no models: add at least one [[models]] table, e.g.\n\n"
                          "[[models]]\nzoo = \"shapes_cnn4\"")
    models = tuple(_model(m, i, origin, base_path) for i, m in enumerate(models_raw))
    ids = [m.id for m in models]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ConfigError(f"{origin}: model id(s) {dup} are used twice; give each [[models]] its own id = \"...\".")
    methods_raw = data.get("methods")
    if not isinstance(methods_raw, list) or not methods_raw:
        raise ConfigError(f"{origin}: no methods: add at least one [[methods]] table, e.g.\n\n"
                          "[[methods]]\nmethod = \"gradcam\"")
    methods = _methods(methods_raw, origin)
    labels = [m.label for m in methods]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise ConfigError(f"{origin}: method label(s) {dup} are used twice; give entries of the same method "
                          "different parameters a label = \"...\" each.")
    for i, m in enumerate(methods):
        unknown = [x for x in m.models or () if x not in ids]
        if unknown:
            raise ConfigError(f"{origin}: [[methods]] #{i + 1} ({m.label}): models {unknown} are not model ids; "
                              f"ids: {', '.join(ids)}.")
    valid_keys = set(labels) | {m.method for m in methods}
    for model in models:
        unknown = [k for k in model.params if k not in valid_keys]
        if unknown:
            raise ConfigError(f"{origin}: [[models]] {model.id!r}: params for {unknown}, which are neither method ids "
                              f"nor labels of the suite ({', '.join(sorted(valid_keys))}).")
    name = suite.pop("name") or default_name or "suite"
    config = SuiteConfig(name=name, models=models, methods=methods, metrics=metrics, speed=speed, source=origin,
                         **suite)
    _check_backends(config, origin)
    return config


def load_config(path: str | os.PathLike[str]) -> SuiteConfig:
    """Read a TOML suite file; relative paths in it are relative to its folder."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such configuration file" + (" (it is a folder)" if p.is_dir() else "")
                          + f"; built-in suites: {', '.join(builtin_suites())}.")
    tomllib = toml_module()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p} is not a UTF-8 text file") from None
    return parse_config(data, origin=str(p), base=p.resolve().parent, default_name=p.stem)


SUITES_DIR = Path(__file__).resolve().parent / "suites"


def builtin_suites() -> list[str]:
    """Names of the suites shipped with xaikit (``zoo``, ``quick``)."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def builtin_suite(name: str) -> SuiteConfig:
    """Load a shipped suite by name."""
    path = SUITES_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"no built-in suite {name!r}; built-in suites: {', '.join(builtin_suites())}, or give a "
                          "TOML file.")
    return load_config(path)
