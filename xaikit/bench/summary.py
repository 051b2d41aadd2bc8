"""What a benchmark report says: the summary table, its columns and glossary, intervals (findings: :mod:`.findings`).

Shared by the Markdown report (:mod:`.report`) and the HTML page (:mod:`.html`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .intervals import interval, resamples

__all__ = ["COLUMNS", "EXTRA_COLUMNS", "GLOSSARY", "Column", "backend_parity", "causal_scores_text",
           "agreement_matrices", "final_rho", "finite_number", "fmt_cell", "fmt_interval", "fmt_number",
           "fmt_seconds", "image_resamples", "markdown_table", "model_line", "sanity_verdict", "summary_rows"]


@dataclass(frozen=True)
class Column:
    """A column of the summary table: ``direction`` +1 higher is better, -1 lower, -2 closer to 0, 0 neither."""

    key: str
    header: str
    direction: int
    kind: str = "quality"  # "quality" or "speed"


COLUMNS = (
    Column("deletion", "deletion AUC", -1),
    Column("insertion", "insertion AUC", +1),
    Column("mu_fidelity", "MuFidelity", +1),
    Column("faithfulness_correlation", "faith. corr.", +1),
    Column("road", "ROAD", -1),
    Column("infidelity", "infidelity", -1),
    Column("max_sensitivity", "max-sens.", -1),
    Column("pointing_game", "pointing", +1),
    Column("energy_pointing_game", "energy PG", +1),
    Column("relevance_mass_accuracy", "rel. mass", +1),
    Column("rand_rho", "rand. ρ", -2),
    Column("rand_ssim", "rand. SSIM", -2),
    Column("sparseness", "Gini", +1),
    Column("complexity", "entropy", -1),
    Column("time", "time/img", -1, "speed"),
    Column("first", "1st call", 0, "speed"),
    Column("floor", "floor/img", 0, "speed"),
    Column("ratio", "×floor", -1, "speed"),
    Column("peak", "peak RSS MB (+Δ)", 0, "speed"),
)

#: Metrics a suite may name beyond the default ones: a table of their own when they were run.
EXTRA_COLUMNS = (
    Column("faithfulness_estimate", "faith. est.", +1),
    Column("monotonicity", "monotonic", +1),
    Column("monotonicity_correlation", "mono. corr.", +1),
    Column("pixel_flipping", "pixel flip AUC", -1),
    Column("region_perturbation", "AOPC", +1),
    Column("selectivity", "selectivity AUC", -1),
    Column("irof", "IROF", +1),
    Column("sensitivity_n", "sensitivity-n", +1),
    Column("non_sensitivity", "non-sens. violations", -1),
    Column("avg_sensitivity", "avg-sens.", -1),
    Column("local_lipschitz_estimate", "Lipschitz", -1),
    Column("relative_input_stability", "RIS", -1),
    Column("relative_output_stability", "ROS", -1),
    Column("relevance_rank_accuracy", "rel. rank", +1),
    Column("attribution_localisation", "attr. loc.", +1),
    Column("top_k_intersection", "top-k ∩", +1),
    Column("localisation_auc", "loc. AUC", +1),
    Column("effective_complexity", "eff. complexity", -1),
)

#: metric -> (name, direction text, what it measures). The text of "how to read this".
GLOSSARY = {
    "deletion": ("Deletion AUC", "lower is better",
                 ("Pixels are removed (set to the substrate) from most to least important; the curve is the "
                 "probability of the explained class. A faithful map makes it fall fast. Petsiuk et al., RISE, 2018.")),
    "insertion": ("Insertion AUC", "higher is better",
                  ("Pixels are put back on a blurred image from most to least important; a faithful map makes the "
                  "probability rise fast.")),
    "mu_fidelity": ("MuFidelity", "higher is better (1 = perfect, 0 = unrelated)",
                    ("Correlation, over random subsets of grid cells, between the attribution a subset holds and the "
                    "drop in probability when it is removed. Bhatt et al., IJCAI 2020.")),
    "faithfulness_correlation": ("Faithfulness correlation", "higher is better (1 = perfect, 0 = unrelated)",
                                 ("As MuFidelity, with random subsets of single pixels drawn anew for each image "
                                 "(Quantus's form). Bhatt et al., IJCAI 2020.")),
    "road": ("ROAD (MoRF)", "lower is better",
             ("Mean probability of the explained class after the top 10..90 % pixels are filled by noisy linear "
             "imputation (their neighbours' mean, plus noise) instead of a constant: a deletion test that stays "
             "closer to the images the model knows and leaks less of the ranking through the shape of the hole. "
             "Rong et al., ICML 2022. With order = lerf (least relevant first) higher is better.")),
    "infidelity": ("Infidelity", "lower is better",
                   ("Mean squared difference between the attribution-weighted sum of a small Gaussian perturbation "
                   "and the change in the score it causes. Yeh et al., NeurIPS 2019 (Captum's definition).")),
    "max_sensitivity": ("Max-sensitivity", "lower is better",
                        ("The method is run again on a few slightly perturbed copies of each image (uniform noise); "
                        "the largest relative change of the map. Yeh et al., NeurIPS 2019 (Captum's sensitivity_max). "
                        "Not computed for the controls.")),
    "pointing_game": ("Pointing game", "higher is better",
                      ("Share of images whose most important pixel lies on the ground-truth object (synthetic shapes "
                      "only). Zhang et al., ECCV 2016.")),
    "energy_pointing_game": ("Energy pointing game", "higher is better",
                             ("Share of the positive attribution that falls on the object. Wang et al., Score-CAM, "
                             "2020.")),
    "randomisation": ("Randomisation sanity check (rand. ρ, rand. SSIM)", "closer to 0 is better",
                      ("The model's layers are re-initialised from the output down; the maps of the fully randomised "
                      "model are compared with the original ones (Spearman ρ of |maps|, SSIM). A map that does not "
                      "change is not explaining the model -- an edge detector stays at 1. Adebayo et al., NeurIPS "
                      "2018. Weights are restored afterwards (checked by checksum).")),
    "relevance_mass_accuracy": ("Relevance mass accuracy", "higher is better",
                                ("Share of the attribution (as fed to the metrics) that lies on the ground-truth "
                                "object. Arras et al., Information Fusion 2022.")),
    "metric_agreement": ("Metric agreement", "1 = the metrics order the methods alike",
                         ("For two faithfulness metrics, the Spearman correlation between the orderings of the "
                         "methods they give (each oriented so that better is higher): per image (mean over "
                         "images) and of the methods' means over all images, with bootstrap intervals over the "
                         "images. Near 1: a claim 'method A beats B' survives the change of metric; near 0 or "
                         "below: it depends on the metric. Tomsett et al., AAAI 2020; Hedström et al., 2023.")),
    "sparseness": ("Sparseness (Gini)", "higher = more concentrated",
                   ("Gini index of |map|: 0 for a uniform map, close to 1 for a few pixels. Easier to read, not more "
                   "correct. Chalasani et al., ICML 2020.")),
    "complexity": ("Complexity (entropy)", "lower = simpler",
                   "Entropy of the normalised |map| in nats; ln(H·W) for a uniform map. Bhatt et al., IJCAI 2020."),
    "agreement": ("Agreement", "1 = identical maps",
                  ("Spearman ρ of maps (signed and of |maps|), IoU of the top 10 % pixels and SSIM, between two "
                  "backends computing the same method (implementation parity) or between methods.")),
    "time": ("Time per image (steady state) and first call", "lower is better",
             ("Median over the timed runs of the wall time of one explain call on the sample, divided by the "
             "number of images, after a warm-up that traces and compiles with the timed call's tensor shapes "
             "(native methods: the first image with the real parameters; one-pass methods and library adapters, "
             "which trace again for every new shape: the same call). '1st call' is that warm-up's wall time: what "
             "the first call of a session costs on top.")),
    "floor": ("Floor per image and ×floor", "×floor close to 1 is better",
              ("The time of the model passes the method cannot avoid (e.g. n_samples forward+backward passes for "
              "SmoothGrad, one forward per patch for occlusion), measured in the same run with a compiled loop at "
              "the best batch size. ×floor = time / floor: how much an implementation adds on top.")),
    "peak": ("Peak RSS (+Δ)", "lower is better",
             ("Highest resident memory of the process during the timed runs, sampled every 5 ms in a background "
             "thread (TensorFlow's allocations are invisible to tracemalloc). It includes everything loaded "
             "before; +Δ is the increase over the RSS before the warm-up, i.e. what the method added. TensorFlow "
             "keeps freed memory in its pools, so a method run after a hungrier one shows a small Δ.")),
}


# --------------------------------------------------------------------------- numbers
def finite_number(v: Any) -> float | None:
    """``v`` as a float, or None where it is missing, not a number or not finite."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def sanity_verdict(rand: dict[str, Any] | None, control: bool = False) -> str:
    """A short reading of the randomisation result (heuristic thresholds on ρ of |maps|)."""
    if not rand:
        return ""
    if control:
        return "unchanged, as a model-independent map must be"
    rho = finite_number(rand.get("final_spearman_abs"))
    const = rand.get("nan_final") or 0
    if rho is None:
        return "changes (maps become constant)" if const else "undefined"
    if rho < 0.5:
        return "changes: passes"
    if rho < 0.8:
        return "partly changes"
    return "barely changes: fails"


PER_IMAGE_METRICS = tuple(c.key for c in COLUMNS + EXTRA_COLUMNS if c.kind == "quality"
                          and c.key not in ("rand_rho", "rand_ssim"))


def image_resamples(results: Any, n: int) -> Any:
    """The seeded bootstrap resamples of ``n`` images of a run (the suite's seed)."""
    return resamples(n, int(getattr(results.config, "seed", 0)))


def final_rho(rd: dict[str, Any] | None) -> list[Any] | None:
    """Per-image Spearman ρ of |maps| after every layer was randomised."""
    values = (rd or {}).get("spearman_abs")
    return list(values[-1]) if values else None


def summary_rows(results: Any) -> list[dict[str, Any]]:
    """One dict per row of every model: identification and every :data:`COLUMNS` value.

    Quality values are means over images; ``"<column>_ci"`` holds their bootstrap
    interval ``(low, high)`` over the images (:mod:`.intervals`; None when there is
    nothing to resample).
    """
    out = []
    for mr in results.models:
        rows = [r for r in mr.rows if not r.control] + [r for r in mr.rows if r.control]
        for r in rows:
            d: dict[str, Any] = {"model": mr.id, "label": r.label, "method": r.method, "backend": r.backend,
                                 "control": r.control, "quality": bool(mr.entry.quality)}
            for m in PER_IMAGE_METRICS:
                d[m] = finite_number(r.metrics.get(m, {}).get("mean")) if m in r.metrics else None
                values = r.metrics.get(m, {}).get("values")
                ci = interval(values, image_resamples(results, len(values))) if values else None
                d[f"{m}_ci"] = ci[1:] if ci is not None and np.isfinite(ci[1]) else None
            rd = r.randomisation
            d["rand_rho"] = finite_number(rd.get("final_spearman_abs")) if rd else None
            rho = final_rho(rd)
            ci = interval(rho, image_resamples(results, len(rho))) if rho else None
            d["rand_rho_ci"] = ci[1:] if ci is not None and np.isfinite(ci[1]) else None
            d["rand_ssim"] = finite_number(rd.get("final_ssim")) if rd else None
            d["rand_const"] = (rd.get("nan_final"), rd.get("n_images")) if rd else None
            d["sanity"] = sanity_verdict(rd, r.control)
            ex = r.explain["result"] if r.explain else None
            d["time"] = finite_number(ex["seconds_per_image"]) if ex else None
            d["first"] = finite_number(ex.get("warmup_seconds")) if ex else None
            d["runs"] = ex["repeats_done"] if ex else None
            d["peak"] = finite_number(ex["peak_rss_mb"]) if ex else None
            d["peak_delta"] = finite_number(ex.get("rss_cell_delta_mb", ex.get("rss_delta_mb"))) if ex else None
            d["score"] = ex.get("score") if ex else None
            d["layer"] = ex.get("layer") if ex else None
            d["floor"] = finite_number(r.floor["floor_per_image"]) if r.floor else None
            d["ratio"] = finite_number(r.floor["ratio"]) if r.floor else None
            d["floor_desc"] = r.floor["description"] if r.floor else None
            d["floor_batch"] = r.floor["batch_size"] if r.floor else None
            d["transform"] = r.transform
            out.append(d)
    return out


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    if s < 120:
        return f"{s:.3g} s"
    return f"{s / 60:.1f} min"


def fmt_interval(col: str, d: dict[str, Any]) -> str:
    """``"[0.08, 0.17]"``: the bootstrap interval of a quality column, or ``""``."""
    ci = d.get(f"{col}_ci")
    if not ci:
        return ""
    digits = 2 if col == "complexity" else 3
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def fmt_cell(col: str, d: dict[str, Any], intervals: bool = False) -> str:
    """The text of one summary cell; with ``intervals``, quality means are followed by their bootstrap interval."""
    text = _fmt_value(col, d)
    ci = fmt_interval(col, d) if intervals else ""
    return f"{text} {ci}" if ci else text


def _fmt_value(col: str, d: dict[str, Any]) -> str:
    v = d.get(col)
    if col in ("time", "floor", "first"):
        return fmt_seconds(v)
    if v is None:
        if col == "rand_rho" and d.get("rand_const") and d["rand_const"][0]:
            return "const"
        return "–"
    if col == "ratio":
        return f"{v:.1f}"
    if col == "peak":
        delta = d.get("peak_delta")
        return f"{v:.0f}" + (f" (+{max(delta, 0):.0f})" if delta is not None else "")
    if col == "complexity":
        return f"{v:.2f}"
    text = f"{v:.3f}"
    if col == "rand_rho" and d.get("rand_const") and d["rand_const"][0]:
        text += "†"
    return text


def _row_name(d: dict[str, Any]) -> tuple[str, str]:
    if d["control"]:
        return f"{d['label']} (control)", "–"
    return d["label"], d["backend"]


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column] = COLUMNS, *,
                   intervals: bool = True) -> str:
    """The summary table; quality means are followed by their bootstrap interval over images (``intervals``)."""
    arrows = {1: " ↑", -1: " ↓", -2: " →0", 0: ""}
    head = ["model", "method", "backend"] + [c.header + arrows[c.direction] for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * len(columns)]
    for d in rows:
        method, backend = _row_name(d)
        lines.append("| " + " | ".join([d["model"], method, backend]
                                       + [fmt_cell(c.key, d, intervals) for c in columns]) + " |")
    return "\n".join(lines)


#: The columns of the cross-framework table: quality and speed, the figures that compare libraries.
CROSS_FRAMEWORK_COLUMNS = tuple(c for c in COLUMNS if c.key in ("deletion", "insertion", "mu_fidelity", "pointing_game",
                                                                 "time", "ratio"))


def cross_framework_rows(results: Any) -> list[dict[str, Any]]:
    """The summary rows of the zoo networks run in more than one framework (a Keras model and its PyTorch twin),
    grouped by network and method entry, so that every library computing a method on the same network -- the
    Keras ones (tensorflow, tf-explain, shap) and the PyTorch ones (torch, captum, pytorch-grad-cam, shap) -- sits
    in one block. ``model`` becomes ``"<zoo name> (<framework>)"``."""
    frameworks: dict[str, set[str]] = {}
    for mr in results.models:
        if mr.entry.zoo:
            frameworks.setdefault(mr.entry.zoo, set()).add(mr.entry.framework or "keras")
    shared = {name for name, fw in frameworks.items() if len(fw) > 1}
    by_id = {mr.id: mr for mr in results.models}
    out = []
    for d in summary_rows(results):
        entry = by_id[d["model"]].entry
        if entry.zoo in shared and not d["control"]:
            framework = entry.framework or "keras"
            out.append({**d, "model": f"{entry.zoo} ({framework})", "network": entry.zoo, "framework": framework})
    order = {name: i for i, name in enumerate(dict.fromkeys(d["network"] for d in out))}
    labels = {label: i for i, label in enumerate(dict.fromkeys(d["label"] for d in out))}
    return sorted(out, key=lambda d: (order[d["network"]], labels[d["label"]], d["framework"] != "keras",
                                      d["backend"]))


def agreement_matrices(mr: Any) -> tuple[list[str], dict[str, np.ndarray]]:
    """The rows a model's agreement matrices compare, and each matrix (missing values as NaN)."""
    ag = mr.agreement or {}
    names = ag.get("names", [])
    mats = {k: np.asarray([[np.nan if v is None else v for v in row] for row in m], float)
            for k, m in ag.get("matrices", {}).items()}
    return names, mats


def backend_parity(mr: Any) -> list[dict[str, Any]]:
    """Agreement between backends computing the same method entry."""
    names, mats = agreement_matrices(mr)
    if not names:
        return []
    index = {n: i for i, n in enumerate(names)}
    out = []
    by_label: dict[str, list[Any]] = {}
    for r in mr.rows:
        if not r.control and r.row in index:
            by_label.setdefault(r.label, []).append(r)
    for label, rows in by_label.items():
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                a, b = index[rows[i].row], index[rows[j].row]
                out.append({"label": label, "a": rows[i].backend, "b": rows[j].backend,
                            "definitions": _definitions(rows[i], rows[j]),
                            **{k: finite_number(m[a, b]) for k, m in mats.items()}})
    return out


def _definitions(*rows: Any) -> str:
    """How two rows' definitions relate: both aligned on the catalogue's (and what a library cannot express),
    or each library's defaults."""
    records = [(r.explain or {}).get("aligned") for r in rows]
    if any(rec is None for rec in records):
        return "each library's defaults (align = false)"
    limits = [f"{r.backend}: {limit}" for r, rec in zip(rows, records) for limit in rec.get("limits", [])]
    return "aligned" + (f"; cannot express: {'; '.join(limits)}" if limits else " (the same definition)")


def fmt_number(v: Any, digits: int = 3) -> str:
    """``v`` with ``digits`` decimals, or a dash where it is not a finite number."""
    v = finite_number(v)
    return "–" if v is None else f"{v:.{digits}f}"


def model_line(mr: Any) -> str:
    """One line saying what a bench model is (source, parameters, input, images, preprocessing)."""
    info = mr.info
    parts = [f"{info.get('source')}", f"{info.get('n_params', 0):,} parameters",
             f"input {'x'.join(map(str, info.get('input_shape', [])))}", f"{info.get('n_images')} images",
             f"preprocess {info.get('preprocess')}"]
    if info.get("test_accuracy") is not None:
        parts.append(f"test accuracy {info['test_accuracy']:.3f}")
    if info.get("sample_accuracy") is not None:
        parts.append(f"accuracy on the sample {info['sample_accuracy']:.3f}")
    if not info.get("quality", True):
        parts.append("speed only (random weights: quality numbers would be meaningless)")
    return "; ".join(parts) + "."


# --------------------------------------------------------------------------- figures


def causal_scores_text(results: Any) -> str:
    """What the causal metrics (deletion, insertion, MuFidelity) scored, per model: the suite's score where the
    model gives it, the softmax of a logit model's outputs for ``"probability"``, its raw output when its last
    activation is unknown (:func:`xaikit.bench.cells.causal_score`)."""
    from .suite import CAUSAL_SCORE_TEXT, causal_score

    requested = results.config.metrics.score
    scored = {mr.id: causal_score(requested, mr.info.get("output_activation")) for mr in results.models}
    if len(set(scored.values())) <= 1:
        score = next(iter(scored.values()), requested)
        return f"the causal metrics score {CAUSAL_SCORE_TEXT.get(score, score)}"
    return "the causal metrics score " + "; ".join(f"on {mid}, {CAUSAL_SCORE_TEXT.get(s, s)}"
                                                   for mid, s in scored.items())
