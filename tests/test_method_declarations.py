"""A method is declared once, by its class (``schema=``): the catalogue, the implementations, the example settings
and the docs' navigation and index (``docs/hooks.py``) follow from that declaration; its docs page is the one other
file it needs."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

import xaikit as xk
from xaikit.catalogue import ATTRIBUTION_METHODS, IMPLEMENTATIONS, METHODS, DocsEntry, MethodSchema, declare
from xaikit.methods import CORE_METHODS

ROOT = Path(__file__).resolve().parents[1]


def _hooks():
    """``docs/hooks.py``, the MkDocs hook that generates the methods' navigation and index from the catalogue."""
    spec = importlib.util.spec_from_file_location("xaikit_docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOKS = _hooks()


def test_every_method_has_its_docs_page_and_its_generated_nav_entry_and_index_row():
    """A method's docs are its page and its schema's DocsEntry: the nav and the index are generated from them."""
    yaml = pytest.importorskip("yaml")  # mkdocs' dependency
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    HOOKS.on_config(config)  # what mkdocs runs before it reads the nav
    section = next(item["Methods"] for item in config["nav"] if isinstance(item, dict) and "Methods" in item)
    assert section[0] == "methods/index.md" and len(section) == len(METHODS) + 1
    nav = {path: label for entry in section[1:] for label, path in entry.items()}
    index_page = (ROOT / "docs" / "methods" / "index.md").read_text(encoding="utf-8")
    assert "<!-- xaikit:methods-index -->" in index_page
    index = HOOKS.methods_index()
    for method, schema in METHODS.items():
        name = HOOKS.method_page(method)
        assert (ROOT / "docs" / "methods" / name).is_file(), f"{method}: no docs/methods/{name}"
        assert nav[f"methods/{name}"] == schema.docs.label
        assert f"| [`{method}`]({name}) | {schema.docs.computes} | {schema.docs.passes} |" in index
        assert f"<!-- xaikit:params {method} -->" in (ROOT / "docs" / "methods" / name).read_text(encoding="utf-8")
    assert [line.split("`")[1] for line in index.splitlines()[2:]] == [m for m, _ in HOOKS.documented_methods()]
    assert "gradcam" in HOOKS.method_page("gradcam++") and HOOKS.method_page("gradcam++") == "gradcam-plus-plus.md"


def test_a_method_without_docs_entry_or_page_fails_the_docs_build(monkeypatch):
    undocumented = MethodSchema("new_method", "New", "x", "x", signed=True, cost="x")
    monkeypatch.setitem(METHODS, "new_method", undocumented)
    with pytest.raises(ValueError, match="no docs=DocsEntry"):
        HOOKS.methods_nav()
    monkeypatch.setitem(METHODS, "new_method", dataclasses.replace(undocumented, docs=DocsEntry("New", "x", "1", "y")))
    with pytest.raises(ValueError, match="no page docs/methods/new-method.md"):
        HOOKS.methods_index()
    nav = [{"Methods": ["methods/index.md", {"Grad-CAM": "methods/gradcam.md"}]}]
    with pytest.raises(ValueError, match="holding only methods/index.md"):
        HOOKS.fill_methods_nav(nav)


def test_every_core_method_is_implemented_by_the_class_declaring_it():
    assert set(CORE_METHODS) <= set(IMPLEMENTATIONS) and "activations" in IMPLEMENTATIONS
    for method, cls in IMPLEMENTATIONS.items():
        assert cls.method == method and cls.schema() is METHODS[method]
    assert xk.methods.cam.EigenGradCAM is IMPLEMENTATIONS["eigengradcam"]
    assert "eigengradcam" in ATTRIBUTION_METHODS and "eigengradcam" in CORE_METHODS


@pytest.mark.parametrize("method", list(METHODS))
def test_example_params_are_parameters_of_the_method(method):
    schema = METHODS[method]
    names = {p.name for p in schema.params}
    assert set(schema.example_params) <= names, set(schema.example_params) - names


def test_a_method_is_declared_once():
    gradcam = xk.methods.GradCAM
    with pytest.raises(ValueError, match="two implementations"):
        declare("gradcam", type("Other", (), {}))
    with pytest.raises(ValueError, match="declared twice"):
        declare(MethodSchema("gradcam", "x", "x", "x", signed=False, cost="x"), gradcam)
    assert IMPLEMENTATIONS["gradcam"] is gradcam and METHODS["gradcam"].name == "Grad-CAM"
