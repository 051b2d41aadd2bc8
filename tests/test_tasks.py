"""tasks.py: the test and demo environments install the pinned versions of constraints.txt, again when it changes."""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest
from helpers import ROOT


@pytest.fixture
def tasks(tmp_path, monkeypatch):
    """tasks.py working on a scratch copy of the repository root (pip calls recorded, not run)."""
    spec = importlib.util.spec_from_file_location("xaikit_tasks_under_test", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    for name, value in {"ROOT": tmp_path, "VENV": tmp_path / ".venv", "STAMP": tmp_path / ".venv" / "stamp.json",
                        "CONSTRAINTS": tmp_path / "constraints.txt"}.items():
        monkeypatch.setattr(module, name, value)
    monkeypatch.setattr(module, "venv_python", lambda: python)
    module.calls = []
    monkeypatch.setattr(module, "run", lambda *args, **kw: module.calls.append([str(a) for a in args]))
    return module


def installs(tasks):
    """The ``pip install ... -e`` calls made since the last look."""
    found = [c for c in tasks.calls if "-e" in c]
    tasks.calls.clear()
    return found


def test_the_environment_is_pinned_and_reinstalled_when_the_pins_change(tasks, tmp_path, capsys):
    pins = tmp_path / "constraints.txt"
    pins.write_text(f"{tasks.PLATFORM_LINE}{tasks.this_platform()}\nnumpy==2.0.0\n")
    tasks.ensure_environment("dev")
    (call,) = installs(tasks)
    assert call[call.index("-c") + 1] == "constraints.txt" and call[-1] == ".[dev]"
    tasks.ensure_environment("dev")
    tasks.ensure_environment("all")  # part of dev
    assert installs(tasks) == []
    pins.write_text(pins.read_text().replace("2.0.0", "2.0.1"))
    tasks.ensure_environment("dev")
    assert len(installs(tasks)) == 1
    pins.write_text(pins.read_text().replace(tasks.this_platform(), "python 3.99 plan9 mips"))
    tasks.ensure_environment("dev")  # pins of another platform: the newest allowed versions, said so
    (call,) = installs(tasks)
    assert "-c" not in call and "python 3.99 plan9 mips" in capsys.readouterr().out
    tasks.ensure_environment("dev")
    assert installs(tasks) == []


def test_constraints_pin_every_dependency_within_pyprojects_bounds():
    """The repository's constraints.txt pins an exact version of every package pyproject names, each allowed."""
    from packaging.requirements import Requirement

    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "constraints.txt").read_text()
    pins = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")  # every line an exact pin
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version.strip()
    requirements = [Requirement(r) for r in project["dependencies"]]
    requirements += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    assert any(line.startswith("# made with: python 3.") for line in text.splitlines())
    for req in requirements:
        name = re.sub(r"[-_.]+", "-", req.name.lower())
        if name == "xaikit" or (req.marker is not None and not req.marker.evaluate()):
            continue
        assert name in pins, f"{req.name} is not pinned in constraints.txt: run `python3 tasks.py lock`"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req} does not allow the pinned {pins[name]}"


def test_reference_libraries_install_without_their_requirements_once(tasks, monkeypatch):
    """Quantus requires opencv-python, a second build of the core's cv2: the test environment takes it with
    --no-deps (and only the test environment), once, and again when the list changes."""
    monkeypatch.setattr(tasks, "TEST_REFERENCES", {"dev": ("quantus==0.6.0", "cachetools==8.0.2")})
    tasks.ensure_environment("all")
    assert not [c for c in tasks.calls if "--no-deps" in c]
    tasks.ensure_environment("dev")
    (call,) = [c for c in tasks.calls if "--no-deps" in c]
    assert call[-2:] == ["cachetools==8.0.2", "quantus==0.6.0"]
    tasks.calls.clear()
    tasks.ensure_environment("dev")
    assert tasks.calls == []
    monkeypatch.setattr(tasks, "TEST_REFERENCES", {"dev": ("quantus==0.6.1", "cachetools==8.0.2")})
    tasks.ensure_environment("dev")
    assert [c[-1] for c in tasks.calls if "--no-deps" in c] == ["quantus==0.6.1"]
