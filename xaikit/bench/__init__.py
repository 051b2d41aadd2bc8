"""The benchmark suite: which method, and which library's implementation, to trust -- and at what cost.

A suite (a TOML file, see :mod:`xaikit.bench.config`) names models, methods with the
backends that compute them, and metrics. :func:`run_suite` runs it cell by cell into a
results store that survives interruptions (:mod:`xaikit.execution.store`);
:func:`write_reports` turns the results into a Markdown table, figures and one
self-contained HTML page.

>>> from xaikit.bench import builtin_suite, run_suite, write_reports       # doctest: +SKIP
>>> results = run_suite(builtin_suite("quick"), "bench-out")                 # doctest: +SKIP
>>> write_reports(results)                                                  # doctest: +SKIP

From the command line: ``xaikit bench`` (the zoo suite), ``xaikit bench --quick``,
``xaikit bench my_suite.toml``, ``xaikit bench --model my.keras --images dir/``.

Importing this package imports neither TensorFlow nor matplotlib.
"""

from __future__ import annotations

from ..execution import ResultStore, cell_key
from .config import (
    CONTROLS,
    METRICS,
    ConfigError,
    MethodEntry,
    MetricsConfig,
    ModelEntry,
    SpeedConfig,
    SuiteConfig,
    builtin_suite,
    builtin_suites,
    load_config,
    parse_config,
)

__all__ = [
    "CONTROLS",
    "METRICS",
    "ConfigError",
    "MethodEntry",
    "MetricsConfig",
    "ModelEntry",
    "ResultStore",
    "SpeedConfig",
    "SuiteConfig",
    "builtin_suite",
    "builtin_suites",
    "cell_key",
    "load_config",
    "parse_config",
    "run_suite",
    "write_reports",
]


def run_suite(*args, **kwargs):
    """Run or resume a suite; see :func:`xaikit.bench.runner.run_suite`."""
    from .runner import run_suite as _run

    return _run(*args, **kwargs)


def write_reports(*args, **kwargs):
    """Write the Markdown, HTML, JSON and figures; see :func:`xaikit.bench.report.write_reports`."""
    from .report import write_reports as _write

    return _write(*args, **kwargs)
