"""Public names across modules, private ones within: no module of xaikit/ or backends/ uses another's ``_names``.

What counts as a use of another module's private name (an AST walk, no import):

- ``from M import _name`` or ``M._name`` (``M`` a module of the project bound by an import),
  where ``M`` is not the module itself: a module's own privates are its business;
- a private *module* (``a._b``) imported, or reached as an attribute, from outside the
  package that holds it (``a`` and its subpackages): ``xaikit._timing`` is for ``xaikit.*``,
  ``xaikit_tensorflow._keras`` for ``xaikit_tensorflow.*``, never for another backend;
- a private module of another library (``captum._utils``), except the imports listed in
  ``THIRD_PARTY_EXEMPT``, each isolated in one function that says why.

Dunder names (``__version__``) are public. Private attributes of other libraries'
*objects* (``array._x``) cannot be resolved statically and are not checked here.
Tests are exempt: they may reach into a module to test it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from helpers import ROOT

#: (file, module) pairs allowed to import another library's private module, and why.
THIRD_PARTY_EXEMPT = {
    # Captum exports its Lime surrogate models and similarity kernel from no public module.
    ("backends/xaikit_captum/perturbation.py", "captum._utils.models.linear_model"),
    ("backends/xaikit_captum/perturbation.py", "captum.attr._core.lime"),
    # ... nor its LRP rules (its tutorials import them from captum.attr._utils.lrp_rules).
    ("backends/xaikit_captum/propagation.py", "captum.attr._utils.lrp_rules"),
}


def _modules() -> dict[str, Path]:
    """Module name -> file, for xaikit/ and every backend package under backends/."""
    out = {}
    for base, top in ((ROOT, ROOT / "xaikit"), (ROOT / "backends", ROOT / "backends")):
        for path in top.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _outside_owner(module: str, importer: str) -> str | None:
    """The first private component of ``module`` whose package does not hold ``importer``, if any."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        owner = ".".join(parts[:i])
        if _private(part) and not (importer == owner or importer.startswith(owner + ".")):
            return ".".join(parts[: i + 1])
    return None


def _violations(name: str, path: Path, source: str, modules: dict[str, Path],
                roots: set[str]) -> Iterator[tuple[int, str]]:
    """(line, what is wrong and the fix) for each use of another module's private name in module ``name``."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    tree = ast.parse(source)
    rel = path.relative_to(ROOT).as_posix()
    bound: dict[str, str] = {}  # local name -> project module it is bound to

    def module_use(module: str, line: int) -> Iterator[tuple[int, str]]:
        if module.split(".")[0] not in roots:
            if _outside_owner(module, name) and (rel, module) not in THIRD_PARTY_EXEMPT:
                yield line, (f"imports {module}, a private module of another library: use its public API, or isolate "
                             "the import in one function saying why and add it to THIRD_PARTY_EXEMPT")
            return
        private = _outside_owner(module, name)
        if private:
            yield line, (f"imports {module}: {private} is private to {private.rpartition('.')[0]}; import what it "
                         "needs from a public module of that package (make one, or rename the module)")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from module_use(alias.name, node.lineno)
                if alias.name.split(".")[0] in roots:
                    bound[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                        alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            yield from module_use(module, node.lineno)
            if module.split(".")[0] not in roots:
                continue
            for alias in node.names:
                full = f"{module}.{alias.name}"
                if full in modules:
                    bound[alias.asname or alias.name] = full
                    yield from module_use(full, node.lineno)
                elif _private(alias.name) and module != name:
                    yield node.lineno, (f"imports {alias.name} from {module}: it is private there; rename it without "
                                        "the underscore (and list it in that module's __all__) or move it here")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _private(node.attr)):
            continue
        chain, value = [], node.value
        while isinstance(value, ast.Attribute):
            chain.append(value.attr)
            value = value.value
        if not (isinstance(value, ast.Name) and value.id in bound):
            continue
        target = ".".join([bound[value.id], *reversed(chain)])
        if target not in modules or target == name:
            continue
        if f"{target}.{node.attr}" in modules:
            yield from module_use(f"{target}.{node.attr}", node.lineno)
        else:
            yield node.lineno, (f"uses {target}.{node.attr}: it is private there; rename it without the underscore "
                                "(and list it in that module's __all__) or move it here")


def test_no_module_uses_another_modules_private_names():
    modules = _modules()
    roots = {m.split(".")[0] for m in modules}
    found = [f"{path.relative_to(ROOT).as_posix()}:{line}: {what}" for name, path in sorted(modules.items())
             for line, what in _violations(name, path, path.read_text(encoding="utf-8"), modules, roots)]
    assert not found, "private names used across modules (tests/ are exempt):\n" + "\n".join(found)


def test_the_check_finds_each_kind_of_use():
    """The walk flags each form it forbids and passes a module's own privates (else it could never fail)."""
    source = ("import xaikit.registry as reg\n"            # 1 fine: a public module
              "import xaikit_tensorflow._keras\n"          # 2 another package's private module
              "from xaikit.compare import _x\n"            # 3 another module's private name
              "from xaikit_tensorflow import _keras\n"     # 4 the same, as a module
              "import captum._utils\n"                     # 5 another library's private module
              "from . import _own\n"                       # 6 fine: this package's private module
              "reg._hidden()\n"                            # 7 another module's private name, as an attribute
              "xaikit_tensorflow._keras.model_view\n"      # 8 another package's private module, as an attribute
              "_mine = 1\n"                                # 9 fine: its own
              "from xaikit.errors import InputError\n")    # 10 fine
    path = ROOT / "backends" / "xaikit_shap" / "probe.py"  # a module of the project, not written
    modules = {**_modules(), "xaikit_shap.probe": path, "xaikit_shap._own": path}
    roots = {m.split(".")[0] for m in modules}
    found = list(_violations("xaikit_shap.probe", path, source, modules, roots))
    assert sorted(line for line, _ in found) == [2, 3, 4, 5, 7, 8], found
    assert all("private" in what for _, what in found)
