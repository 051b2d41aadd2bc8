"""Which checks a backend gets: one per (kind, method) it offers, with the suite's tiny settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .checks import check_batch_size, check_contract, check_seeds, check_threads, score_function_for
from .factory import Check, ModelFactory
from .references import REFERENCES

__all__ = ["conformance_checks", "iter_checks"]


def _method_params(method: str, factory: ModelFactory, layer: str | None, backend_params: set[str]) -> dict:
    x = factory.images(4, seed=9)
    table = {
        "occlusion": {"patch_size": 2, "baseline": 0.5},
        "smoothgrad": {"n_samples": 4, "seed": 3},
        "vargrad": {"n_samples": 4, "seed": 3},
        "squaregrad": {"n_samples": 4, "seed": 3},
        "integrated_gradients": {"steps": 6},
        "expected_gradients": {"background": x, "n_samples": 8, "seed": 4},
        "rise": {"n_samples": 16, "grid_size": 3, "seed": 3},
        "kernel_shap": {"n_samples": 24, "n_segments": 12, "seed": 3},
        # lasso_alpha: Captum's Lime fits a Lasso whose default penalty zeroes every coefficient of these tiny
        # models' probabilities (whatever the seed); an unpenalised fit shows what the draws change
        "lime": {"n_samples": 24, "n_segments": 12, "seed": 3, "lasso_alpha": 0.0},
        "sobol": {"grid_size": 2, "n_designs": 4},
        "partition_shap": {"max_evals": 24},  # shap's default 500 masked passes per image and target: 20 s a check
        "deepliftshap": {"background": x[:2]},
        "layer_conductance": {"steps": 4, "integration": "riemann_trapezoid"},
    }
    params = dict(table.get(method, {}))
    from ..catalogue import METHODS

    if METHODS[method].layer == "auto":  # the CAM family
        params["layer"] = layer
    if "noise_std" in backend_params and "n_samples" in params:  # tf-explain's absolute noise
        params["noise_std"] = 0.1
    return {k: v for k, v in params.items() if k in backend_params}


def _offered(backend: str) -> list[str]:
    from ..catalogue import ATTENTION_METHODS
    from ..registry import get_backend

    # the attention methods need a transformer; the suite's models are CNNs (tests/test_attention.py covers them)
    return [m for m in get_backend(backend).offered() if m != "activations" and m not in ATTENTION_METHODS]


def conformance_checks(backend: str, factory: ModelFactory, methods: list[str] | None = None) -> list[Check]:
    """The checks of ``backend`` (see the module docstring), one :class:`Check` per (kind, method)."""
    from ..binding import get_method_class
    from ..registry import get_backend

    spec = get_backend(backend)
    methods = methods or _offered(backend)
    checks: list[Check] = []
    state: dict[str, Any] = {}

    def cnn() -> tuple[Any, str]:
        if "cnn" not in state:
            state["cnn"] = factory.cnn()
        return state["cnn"]

    for method in methods:
        cls = get_method_class(method, backend)
        accepted = set(cls.param_names())
        random = "seed" in accepted

        def params(m: str = method, a: set[str] = accepted) -> dict:
            return _method_params(m, factory, cnn()[1], a)

        def fn(m: str = method) -> Any:
            return score_function_for(backend, m, cnn()[0])

        checks.append(Check(f"{backend}:{method}:contract", lambda m=method, p=params, f=fn: check_contract(
            backend, m, cnn()[0], factory, p(), f())))
        if spec.native or not random:
            checks.append(Check(f"{backend}:{method}:batch_size", lambda m=method, p=params, f=fn: check_batch_size(
                backend, m, cnn()[0], factory, p(), f())))
        if random:
            checks.append(Check(f"{backend}:{method}:seeds", lambda m=method, p=params, f=fn: check_seeds(
                backend, m, cnn()[0], factory, p(), f())))
        checks.append(Check(f"{backend}:{method}:threads", lambda m=method, p=params, f=fn: check_threads(
            backend, m, cnn()[0], factory, p(), f())))
        if spec.native and method in REFERENCES:
            checks.append(Check(f"{backend}:{method}:reference", lambda m=method: REFERENCES[m](backend, factory)))
    return checks



def iter_checks(backend: str, factory: ModelFactory) -> Iterator[Check]:  # pragma: no cover - convenience
    """The checks one by one (for running outside pytest: ``for c in iter_checks(...): c()``)."""
    yield from conformance_checks(backend, factory)
