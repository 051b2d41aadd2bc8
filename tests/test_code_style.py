"""The house style holds: ``ruff check`` (rules in pyproject.toml) finds nothing in the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT


def test_ruff_finds_nothing():
    pytest.importorskip("ruff", reason="ruff is in the dev extra, which `python3 tasks.py test` installs")
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    assert res.returncode == 0, f"ruff check found problems (fix them; `ruff check --fix` fixes some):\n" \
                                f"{res.stdout}{res.stderr}"


def _imports(path: Path) -> set[str]:
    """The modules ``path`` imports (absolute names; relative imports resolved within the package)."""
    import ast

    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


def test_the_bench_and_the_core_do_not_import_the_command_line():
    """The CLI sits on top: the bench, bulk explanation and the API never import it (they ran unchanged without it)."""
    offenders = {}
    for path in sorted((ROOT / "xaikit").rglob("*.py")):
        if "cli" in path.relative_to(ROOT / "xaikit").parts or path.name == "__main__.py":  # `python -m xaikit`
            continue
        bad = sorted(m for m in _imports(path) if m == "xaikit.cli" or m.startswith("xaikit.cli."))
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders, f"modules outside xaikit/cli import the CLI: {offenders}"


def test_the_bench_and_bulk_meet_only_in_execution():
    """Bulk explanation and the bench share their executors, task model and store through xaikit.execution.

    Bulk imports nothing of the bench; xaikit.execution imports neither (nor the CLI); the bench
    imports bulk only in its speed suite, which measures bulk explanation's throughput.
    """
    def imported(path: Path, *prefixes: str) -> list[str]:
        return sorted(m for m in _imports(path) if any(m == p or m.startswith(p + ".") for p in prefixes))

    offenders = {}
    bulk = sorted((ROOT / "xaikit" / "bulk").rglob("*.py"))
    for path in [*bulk, *sorted((ROOT / "xaikit" / "execution").rglob("*.py"))]:
        bad = imported(path, "xaikit.bench", "xaikit.cli", *(["xaikit.bulk"] if path not in bulk else []))
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    for path in sorted((ROOT / "xaikit" / "bench").rglob("*.py")):
        bad = imported(path, "xaikit.bulk")
        if bad and path.name != "speed_distributed.py":
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders, f"bulk and the bench must share code through xaikit.execution only: {offenders}"


def test_no_import_cycles():
    tool = ROOT.parent / "shared" / "tools" / "import_cycles.py"
    if not tool.is_file():
        pytest.skip("the import-cycle tool is in ../shared/tools (beside the repository)")
    res = subprocess.run([sys.executable, str(tool), str(ROOT)], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and res.stdout.splitlines()[0].endswith(": 0"), res.stdout + res.stderr
