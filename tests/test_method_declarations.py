"""A method is declared once, by its class (``schema=``): the catalogue, the implementations, the example settings
and the docs follow from that declaration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import xaikit as xk
from xaikit.catalogue import ATTRIBUTION_METHODS, IMPLEMENTATIONS, METHODS, MethodSchema, declare
from xaikit.methods import CORE_METHODS

ROOT = Path(__file__).resolve().parents[1]


def page(method: str) -> str:
    """The docs page of a method id (as ``docs/hooks.py`` names it: ``gradcam++`` -> ``gradcam-plus-plus.md``)."""
    return method.replace("++", "-plus-plus").replace("_", "-") + ".md"


def test_every_method_has_its_docs_page_nav_entry_and_index_row():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    index = (ROOT / "docs" / "methods" / "index.md").read_text(encoding="utf-8")
    for method in METHODS:
        name = page(method)
        assert (ROOT / "docs" / "methods" / name).is_file(), f"{method}: no docs/methods/{name}"
        assert re.search(rf"^\s+- [^\n]+: methods/{re.escape(name)}$", nav, re.M), f"{method}: not in mkdocs.yml nav"
        assert f"| [`{method}`]({name}) |" in index, f"{method}: no row in docs/methods/index.md"
        assert f"<!-- xaikit:params {method} -->" in (ROOT / "docs" / "methods" / name).read_text(encoding="utf-8")


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
