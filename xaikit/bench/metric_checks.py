"""The ranges of a suite's metric parameters (``[metrics.<name>]`` tables), beyond their TOML types.

Integer counts and named options are the catalogue's parameter checks
(:func:`.toml_tables.count`, :func:`.toml_tables.choice`); numbers keep their own
checks here, as a suite has always taken them (``inf`` included where it means
"no bound", open intervals such as ``(0, 1)``), which :class:`xaikit.catalogue.Param`
does not express.
"""

from __future__ import annotations

import numbers
from typing import Any

from .toml_tables import TableReader, checked, choice, count

__all__ = ["check_metric"]


def check_metric(r: TableReader, metric: str, p: dict[str, Any]) -> None:
    """The values of ``metric``'s parameters ``p`` (its table read by ``r``) in their ranges; tuples made."""
    if metric in ("deletion", "insertion"):
        checked(r, count("steps", 2, "(The curve includes 0 % and 100 %.)"), p["steps"])
        if isinstance(p["substrate"], str) and p["substrate"] not in ("zero", "blur", "mean"):
            raise r.error(f"substrate must be \"zero\", \"blur\", \"mean\" or a number; got {p['substrate']!r}.")
    if metric == "mu_fidelity":
        if not 0 < p["subset_percent"] < 1:
            raise r.error(f"subset_percent must be in (0, 1); got {p['subset_percent']}.")
        checked(r, count("n_samples", 2), p["n_samples"])
        g = p["grid_size"]
        if isinstance(g, list):
            if len(g) != 2 or not all(isinstance(v, int) and v >= 1 for v in g):
                raise r.error(f"grid_size must be an integer or [rows, columns]; got {g!r}.")
            p["grid_size"] = tuple(g)
        if isinstance(p["baseline"], str) and p["baseline"] not in ("zero", "blur", "mean"):
            raise r.error(f"baseline must be \"zero\", \"blur\", \"mean\" or a number; got {p['baseline']!r}.")
    if metric == "randomisation":
        checked(r, count("n_images"), p["n_images"])
        checked(r, choice("mode", ("cascading", "independent")), p["mode"])
        if "layers" in p:
            if not all(isinstance(v, str) for v in p["layers"]):
                raise r.error("layers must be an array of layer names (top first).")
            p["layers"] = tuple(p["layers"])
    _check_family_metric(r, metric, p)
    if metric == "agreement" and not 0 < p["fraction"] <= 1:
        raise r.error(f"fraction must be in (0, 1]; got {p['fraction']}.")
    if metric == "pointing_game" and p["tolerance"] < 0:
        raise r.error(f"tolerance must be >= 0 pixels; got {p['tolerance']}.")


def _check_family_metric(r: TableReader, metric: str, p: dict[str, Any]) -> None:
    """The ranges of the parameters of the metric families (xaikit.metrics.faithfulness, road, robustness...)."""
    for key in ("subset_size", "n_samples", "features_in_step", "patch_size", "regions", "k"):
        if key in p:
            checked(r, count(key), p[key])
    for key in ("noise_std", "radius"):
        if key in p and not p[key] > 0:
            raise r.error(f"{key} must be > 0 (in the model's input units); got {p[key]}.")
    if "noise" in p and p["noise"] < 0:
        raise r.error(f"noise must be >= 0; got {p['noise']}.")
    if "eps" in p and not 0 <= p["eps"] < 1:
        raise r.error(f"eps must be in [0, 1) (a fraction of the largest magnitude); got {p['eps']}.")
    if metric == "road":
        fr = p["fractions"]
        if not fr or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 < v < 1 for v in fr):
            raise r.error(f"fractions must be a non-empty array of numbers in (0, 1) (0.1 = 10 %); got {fr!r}.")
        checked(r, choice("order", ("morf", "lerf")), p["order"])
    if metric == "sensitivity_n" and (not p["sizes"] or not all(isinstance(v, int) and v >= 1 for v in p["sizes"])):
        raise r.error(f"sizes must be a non-empty array of subset sizes (integers >= 1); got {p['sizes']!r}.")
    if metric == "region_perturbation":
        checked(r, choice("order", ("morf", "lerf", "random")), p["order"])
    baseline = p.get("baseline")
    allowed = ("zero", "blur", "mean", "uniform") if metric == "monotonicity_correlation" else ("zero", "blur", "mean")
    if isinstance(baseline, str) and baseline not in allowed:
        raise r.error(f"baseline must be one of {', '.join(allowed)} or a number; got {baseline!r}.")
