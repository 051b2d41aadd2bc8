#!/usr/bin/env python3
"""The two commands of the README, runnable on a fresh machine that has only Python 3.10+.

    python3 tasks.py demo    # explain the shipped demo models with every method -> out/demo.png
    python3 tasks.py test    # the whole test suite (and the docs build)
    python3 tasks.py lock    # record the versions of .venv as the known-good ones (constraints.txt)

Each command creates a virtual environment in ``.venv`` at the repository root on first
use, installs xaikit into it in editable mode with the extras it needs, and reinstalls
only when pyproject.toml or constraints.txt changes. Both are safe to run again.

pyproject.toml holds lower bounds only (what users' environments must satisfy);
``constraints.txt`` holds the exact versions the test suite last passed with, so the
same commit installs the same environment on every machine (``pip install -c
constraints.txt -e .[dev]``). They were recorded on one Python version and platform
(the file's header says which): elsewhere the newest versions pyproject allows are
installed, and the command says so. After updating packages and a green ``tasks.py
test``, ``python3 tasks.py lock`` writes the file again from ``.venv``
(``python3 tasks.py lock PYTHON`` from another environment's interpreter).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / "xaikit-install.json"
CONSTRAINTS = ROOT / "constraints.txt"
EXTRAS = {"demo": "all", "test": "dev"}  # "dev" includes "all"
#: Reference libraries of the parity tests, installed into the test environment without their own requirements:
#: Quantus 0.6 requires opencv-python, the GUI build of the cv2 module that xaikit's opencv-python-headless provides
#: (two builds of one module in one environment overwrite each other's files); what else it imports comes with
#: xaikit[dev], but for cachetools. tests/test_metrics_parity.py is skipped where they are missing.
TEST_REFERENCES = {"dev": ("quantus==0.6.0", "cachetools==8.0.2")}
PLATFORM_LINE = "# made with: "


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(*args: str | Path, **kwargs) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kwargs)


def platform_tag(python: str | Path) -> str:
    """``python 3.11 linux x86_64`` for the interpreter ``python``: where a set of pinned versions was made."""
    code = ("import platform, sys; print('python %d.%d %s %s' % (*sys.version_info[:2], sys.platform, "
            "platform.machine().lower()))")
    return subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def this_platform() -> str:
    return f"python {sys.version_info[0]}.{sys.version_info[1]} {sys.platform} {platform.machine().lower()}"


def constraints_for(tag: str) -> Path | None:
    """constraints.txt if it was made on the platform ``tag`` (else None, with a note why)."""
    if not CONSTRAINTS.exists():
        print(f"note: no {CONSTRAINTS.name}: installing the newest versions pyproject.toml allows", flush=True)
        return None
    made = next((line[len(PLATFORM_LINE):].strip() for line in CONSTRAINTS.read_text().splitlines()
                 if line.startswith(PLATFORM_LINE)), None)
    if made != tag:
        print(f"note: {CONSTRAINTS.name} pins the versions tested on {made}; this is {tag}: installing the newest "
              "versions pyproject.toml allows (record them with `python3 tasks.py lock` once the tests pass)",
              flush=True)
        return None
    return CONSTRAINTS


def ensure_environment(extra: str) -> Path:
    """Create .venv if needed and install xaikit[extra] (pinned by constraints.txt) when either file changed."""
    if sys.version_info < (3, 10):
        sys.exit(f"xaikit needs Python >= 3.10; this is {sys.version.split()[0]}")
    python = venv_python()
    if not python.exists():
        print(f"Creating the virtual environment {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    constraints = constraints_for(this_platform())
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    pins = hashlib.sha256(constraints.read_bytes()).hexdigest() if constraints else None
    references = sorted(TEST_REFERENCES.get(extra, ()))
    stamp = json.loads(STAMP.read_text()) if STAMP.exists() else {}
    same = stamp.get("pyproject") == digest and stamp.get("constraints") == pins
    installed = set(stamp.get("extras", [])) if same else set()
    if extra not in installed and not ("dev" in installed and extra == "all"):
        pin = ["-c", constraints.name] if constraints else []
        run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        run(python, "-m", "pip", "install", "--quiet", *pin, "-e", f".[{extra}]")
        stamp = {"pyproject": digest, "constraints": pins, "extras": sorted(installed | {extra})}
        STAMP.write_text(json.dumps(stamp))
    if references and stamp.get("references") != references:
        run(python, "-m", "pip", "install", "--quiet", "--no-deps", *references)
        STAMP.write_text(json.dumps({**stamp, "references": references}))
    return python


def demo() -> None:
    python = ensure_environment(EXTRAS["demo"])
    run(python, "-m", "xaikit", "demo", "--out", ROOT / "out", "--overwrite")


def test() -> None:
    python = ensure_environment(EXTRAS["test"])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    run(python, "-m", "pytest", *sys.argv[2:], env=env)


# Run by the environment's Python: ``name==version`` of every package xaikit[dev] needs there, dependencies of
# dependencies included (read from pyproject.toml and the installed packages' metadata; nothing else of the
# environment is pinned).
_CLOSURE = r"""
import re, sys
from importlib import metadata
try:
    import tomllib
except ImportError:
    import tomli as tomllib
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement

project = tomllib.load(open(sys.argv[1], "rb"))["project"]
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
own = norm(project["name"])
todo = [(r, "") for r in project["dependencies"]] + [(f"{own}[{sys.argv[2]}]", "")]
seen_extras, pins = set(), {}
while todo:
    text, extra = todo.pop()
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": extra}):
        continue
    name = norm(req.name)
    if name == own:
        for e in req.extras:
            if e not in seen_extras:
                seen_extras.add(e)
                todo += [(r, e) for r in project["optional-dependencies"][e]]
        continue
    dist = metadata.distribution(req.name)
    key = (name, tuple(sorted(req.extras)))
    if key in pins:
        continue
    pins[key] = f"{dist.metadata['Name']}=={dist.version}"
    for r in dist.requires or []:
        for e in [""] + sorted(req.extras):
            todo.append((r, e))
print("\n".join(sorted(set(pins.values()), key=str.lower)))
"""


def lock() -> None:
    """Write constraints.txt: the exact versions of what xaikit[dev] installs, from .venv (or the interpreter given)."""
    python = Path(sys.argv[2]) if len(sys.argv) > 2 else venv_python()
    if not python.exists():
        sys.exit(f"no {python}: run `python3 tasks.py test` first (lock records the environment it made)")
    pins = subprocess.run([str(python), "-c", _CLOSURE, str(ROOT / "pyproject.toml"), EXTRAS["test"]], check=True,
                          capture_output=True, text=True).stdout.split()
    header = [
        "# Known-good versions: the test and demo environments of tasks.py install these",
        "# (pip install -c constraints.txt -e .[dev]); pyproject.toml keeps lower bounds only, for users.",
        "# Regenerate after updating packages and a green `python3 tasks.py test`: python3 tasks.py lock",
        f"{PLATFORM_LINE}{platform_tag(python)}",
    ]
    CONSTRAINTS.write_text("\n".join(header + pins) + "\n")
    print(f"wrote {CONSTRAINTS} ({len(pins)} packages, from {python})")


COMMANDS = {"demo": demo, "test": test, "lock": lock}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python3 tasks.py {{{'|'.join(COMMANDS)}}} [pytest arguments for 'test' | PYTHON for 'lock']")
    try:
        COMMANDS[sys.argv[1]]()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
