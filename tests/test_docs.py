"""The documentation builds with ``mkdocs build --strict``: no broken link, anchor, nav entry or picture.

The generated pages (command-line reference, Python API, method parameters, gallery) are
filled by ``docs/hooks.py`` during the build, so they are checked here too.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
    reason='mkdocs and mkdocs-material are not installed (pip install "xaikit[dev]")')


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, cwd=config.parent,
                          env={**_env(), "NO_MKDOCS_2_WARNING": "1"}, timeout=300)


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_docs_build_strict(tmp_path):
    site = tmp_path / "site"
    result = build(ROOT / "mkdocs.yml", site)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    from xaikit.cli import main

    for command in main.commands:  # the reference is generated from the Click commands
        assert f"xaikit {command}" in cli
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert 'id="xaikit.explain"' in api and 'id="xaikit.preprocessing.get_scheme"' in api
    gradcam = (site / "methods" / "gradcam" / "index.html").read_text(encoding="utf-8")
    assert "guided" in gradcam  # the parameter table lists tf-explain's parameters next to the native ones
    for png in (ROOT / "docs" / "gallery").glob("*.png"):
        assert png.stat().st_size < 300_000, f"{png.name} is too large for the repository"


def test_docs_build_fails_on_a_broken_reference(tmp_path):
    """The strict build is a real check: a link to a missing page or anchor makes it fail.

    The project's own settings (strictness, validation, theme, Markdown extensions) on two of its pages, without
    the generated pages and the rest of the nav: the whole site takes 15 s to build and checks nothing more here.
    """
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    config.pop("hooks", None)
    config.pop("exclude_docs", None)
    config["nav"] = ["index.md", "preprocessing.md"]
    copy = tmp_path / "repo"
    (copy / "docs").mkdir(parents=True)
    (copy / "docs" / "index.md").write_text("# xaikit\n\nSee [preprocessing](preprocessing.md).\n", encoding="utf-8")
    (copy / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    page = copy / "docs" / "preprocessing.md"
    page.write_text("# Preprocessing\n\nText.\n", encoding="utf-8")
    assert build(copy / "mkdocs.yml", tmp_path / "site-good").returncode == 0  # the two pages alone build
    page.write_text(page.read_text(encoding="utf-8") + "\nSee [the missing page](no-such-page.md).\n",
                    encoding="utf-8")
    result = build(copy / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0 and "no-such-page.md" in result.stdout + result.stderr
    assert config["strict"] is True and config["validation"]["links"]["not_found"] == "warn"
