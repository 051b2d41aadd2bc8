#!/usr/bin/env python3
"""The two commands of the README, runnable on a fresh machine that has only Python 3.10+.

    python3 tasks.py demo    # explain the shipped demo models with every method -> out/demo.png
    python3 tasks.py test    # the whole test suite (and the docs build)

Each command creates a virtual environment in ``.venv`` at the repository root on first
use, installs xaikit into it in editable mode with the extras it needs, and reinstalls
only when pyproject.toml changes. Both are safe to run again.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / "xaikit-install.json"
EXTRAS = {"demo": "all", "test": "dev"}  # "dev" includes "all"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(*args: str | Path, **kwargs) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kwargs)


def ensure_environment(extra: str) -> Path:
    """Create .venv if needed and install xaikit[extra] when pyproject changed."""
    if sys.version_info < (3, 10):
        sys.exit(f"xaikit needs Python >= 3.10; this is {sys.version.split()[0]}")
    python = venv_python()
    if not python.exists():
        print(f"Creating the virtual environment {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = json.loads(STAMP.read_text()) if STAMP.exists() else {}
    installed = set(stamp.get("extras", [])) if stamp.get("pyproject") == digest else set()
    if extra not in installed and not ("dev" in installed and extra == "all"):
        run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        run(python, "-m", "pip", "install", "--quiet", "-e", f".[{extra}]")
        STAMP.write_text(json.dumps({"pyproject": digest, "extras": sorted(installed | {extra})}))
    return python


def demo() -> None:
    python = ensure_environment(EXTRAS["demo"])
    run(python, "-m", "xaikit", "demo", "--out", ROOT / "out", "--overwrite")


def test() -> None:
    python = ensure_environment(EXTRAS["test"])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    run(python, "-m", "pytest", *sys.argv[2:], env=env)


COMMANDS = {"demo": demo, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python3 tasks.py {{{'|'.join(COMMANDS)}}} [pytest arguments for 'test']")
    try:
        COMMANDS[sys.argv[1]]()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
