"""The house style holds: ``ruff check`` (rules in pyproject.toml) finds nothing in the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    pytest.importorskip("ruff", reason="ruff is in the dev extra, which `python3 tasks.py test` installs")
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    assert res.returncode == 0, f"ruff check found problems (fix them; `ruff check --fix` fixes some):\n" \
                                f"{res.stdout}{res.stderr}"
