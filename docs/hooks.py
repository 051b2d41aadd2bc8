"""MkDocs hook: the generated parts of the documentation, so they never go stale.

Pages hold placeholders that this hook replaces while the site is built:

``<!-- xaikit:cli -->``
    The command-line reference, from the Click commands registered on ``xaikit.cli.main``
    (every command, its help, its options with defaults) and the exit codes documented in
    ``xaikit/cli/__init__.py``.
``<!-- xaikit:api -->``
    The Python API, from the docstrings (numpydoc style) of the public names of the
    modules in :data:`API_MODULES`.
``<!-- xaikit:params METHOD -->``
    The parameters of one method in every backend that implements it, with their
    defaults and meanings, from the method catalogue (:mod:`xaikit.catalogue`) and each
    adapter's declared differences.
``<!-- xaikit:methods-index -->``
    The index of the methods (``docs/methods/index.md``): one row per method, from its schema's
    :class:`~xaikit.catalogue.DocsEntry` (what it computes, its passes, its paper) and its sign.
``<!-- xaikit:method-table -->``
    Which backend implements which method, from the catalogue and the registered backends
    (a native backend offers every method its engine's capabilities cover).
``<!-- xaikit:gallery -->``
    The gallery, from ``docs/gallery.py`` (each picture with the command that made it).

The navigation's Methods section is generated too (:func:`on_config`): ``mkdocs.yml`` lists only
``methods/index.md`` there, and the hook adds one entry per method of the catalogue, titled with its
schema's ``DocsEntry.label``, in :data:`METHODS_ORDER`. A method is thus documented by its page,
``docs/methods/<id>.md`` (:func:`method_page`), and its schema, nothing else.

A placeholder that cannot be filled (an unknown method, a parameter without a glossary
entry) raises, so ``mkdocs build --strict`` fails rather than publishing a stale page.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# ----------------------------------------------------------------------------- entry points


def on_config(config: Any, **kwargs: Any) -> Any:
    """The navigation's Methods section: ``methods/index.md``, then every method's page (:func:`methods_nav`)."""
    fill_methods_nav(config["nav"])
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any, **kwargs: Any) -> str:
    if "<!-- xaikit:" not in markdown:
        return markdown
    from xaikit.cli._quiet import import_torch_first

    import_torch_first()  # the pages import both frameworks' backends: PyTorch must come before TensorFlow
    markdown = markdown.replace("<!-- xaikit:cli -->", cli_reference())
    markdown = markdown.replace("<!-- xaikit:api -->", api_reference())
    markdown = markdown.replace("<!-- xaikit:gallery -->", gallery())
    markdown = markdown.replace("<!-- xaikit:method-table -->", method_table())
    markdown = markdown.replace("<!-- xaikit:methods-index -->", methods_index())
    markdown = re.sub(r"<!-- xaikit:params ([\w+\-]+) -->", lambda m: method_parameters(m.group(1)), markdown)
    left = re.findall(r"<!-- xaikit:[^>]*-->", markdown)
    if left:
        raise ValueError(f"{page.file.src_path}: unknown xaikit placeholder(s) {left}")
    return markdown


# ----------------------------------------------------------------------------- RST -> Markdown
_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|obj|exc):`(~?)([^`<]+?)(?:\s*<([^>]+)>)?`")
_MATH = re.compile(r":math:`([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")


def inline(text: str, resolve: Callable[[str], str | None] | None = None) -> str:
    """RST inline markup to Markdown: ``x`` -> `x`, :func:`a.b` -> a link or `b`, :math:`x` -> `x`."""

    def role(m: re.Match[str]) -> str:
        tilde, target, explicit = m.group(1), m.group(2).strip(), m.group(3)
        if explicit:
            target = explicit.strip()
        shown = target.rsplit(".", 1)[-1] if tilde else target
        shown = shown.strip("()")
        url = resolve(target.strip("()")) if resolve else None
        return f"[`{shown}`]({url})" if url else f"`{shown}`"

    text = _MATH.sub(lambda m: f"`{m.group(1)}`", text)
    text = _ROLE.sub(role, text)
    return _LITERAL.sub(lambda m: f"`{m.group(1)}`", text)


_FIELD_SECTIONS = {"Parameters", "Returns", "Yields", "Raises", "Attributes", "Other Parameters", "Warns",
                   "Receives"}


def numpydoc(doc: str, resolve: Callable[[str], str | None] | None = None) -> str:
    """A numpydoc docstring as Markdown (sections as bold labels, fields as lists, examples as code)."""
    lines = inspect.cleandoc(doc).splitlines()
    out: list[str] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and nxt.strip() and set(nxt.strip()) == {"-"} and len(nxt.strip()) >= len(line.strip()) - 1:
            section = line.strip()
            out += ["", f"**{section}**", ""]
            i += 2
            continue
        if line.lstrip().startswith(">>>"):  # an example block
            block = []
            while i < len(lines) and lines[i].strip():
                code = lines[i].strip()
                code = re.sub(r"\s*# doctest:.*$", "", code)
                block.append(code[4:] if code.startswith((">>> ", "... ")) else code.lstrip(">. "))
                i += 1
            out += ["", "```python", *block, "```", ""]
            continue
        if line.strip().startswith(".. math::"):
            i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                block.append(lines[i].strip())
                i += 1
            out += ["", "```", *[b for b in block if b], "```", ""]
            continue
        if section in _FIELD_SECTIONS and line.strip() and not line.startswith((" ", "\t")):
            name, sep, kind = line.partition(" : ")
            head = f"- `{name.strip()}`" if sep or section != "Raises" else f"- `{line.strip()}`"
            if sep:
                head += f" : *{inline(kind.strip(), resolve)}*"
            elif section in ("Returns", "Yields") and not sep:
                head = f"- *{inline(line.strip(), resolve)}*"
            out.append(head)
            i += 1
            body = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                body.append(lines[i])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            if body:
                text = inspect.cleandoc("\n".join(body))
                out += ["", *("    " + t if t.strip() else "" for t in inline(text, resolve).splitlines()), ""]
            continue
        if line.rstrip().endswith("::") and not line.strip().startswith(".."):  # an RST literal block
            out.append(inline(line.rstrip()[:-1], resolve))
            i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                block.append(lines[i])
                i += 1
            out += ["", "```", *inspect.cleandoc("\n".join(block)).splitlines(), "```", ""]
            continue
        out.append(inline(line, resolve))
        i += 1
    return "\n".join(out).strip() + "\n"


# ----------------------------------------------------------------------------- CLI reference
def _click_help(text: str) -> str:
    """A Click help text as Markdown: ``\\b`` blocks (examples) become code blocks."""
    paragraphs = inspect.cleandoc(text or "").split("\n\n")
    out = []
    for para in paragraphs:
        if para.startswith("\b"):
            body = para[1:].strip("\n").splitlines()
            label = ""
            if body and body[0].rstrip().endswith(":") and not body[0].startswith(" "):
                label, body = body[0].strip(), body[1:]
            code = inspect.cleandoc("\n".join(body)).replace("\\\\", "\\")
            out.append((f"**{label}**\n\n" if label else "") + f"```bash\n{code}\n```")
        else:
            out.append(inline(" ".join(line.strip() for line in para.splitlines())))
    return "\n\n".join(out)


def _exit_codes() -> str:
    import xaikit.cli as cli

    rows = []
    for line in (cli.__doc__ or "").splitlines():
        m = re.match(r"^(\d)\s{2,}(.+)$", line)
        if m:
            rows.append(f"| `{m.group(1)}` | {inline(m.group(2))} |")
    if not rows:
        raise ValueError("xaikit/cli/__init__.py documents no exit codes (the table of its docstring)")
    return "| code | meaning |\n|---|---|\n" + "\n".join(rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def cli_reference() -> str:
    import click

    from xaikit.cli import main

    order = ["explain", "compare", "activations", "filters", "list", "demo", "bench"]
    names = sorted(main.commands, key=lambda n: (order.index(n) if n in order else len(order), n))
    parts = ["## Exit codes\n\nEvery command ends with one of these codes; errors are one line on stderr starting "
             "with `error:`.\n\n" + _exit_codes()]
    parent = click.Context(main, info_name="xaikit")
    for name in names:
        cmd = main.commands[name]
        ctx = click.Context(cmd, info_name=name, parent=parent)
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        rows = []
        for param in cmd.get_params(ctx):
            if not isinstance(param, click.Option) or param.hidden:
                continue
            opts = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
            if param.is_flag:
                value = "flag"
            else:
                try:
                    type_metavar = param.type.get_metavar(param, ctx)  # Click >= 8.2
                except TypeError:
                    type_metavar = param.type.get_metavar(param)  # type: ignore[call-arg]  # Click 8.1
                metavar = param.metavar or type_metavar or param.type.name.upper()
                value = f"`{metavar}`" + (" × 2" if param.nargs == 2 else "") + (" (repeatable)" if param.multiple
                                                                                   else "")
            value_default = param.get_default(ctx, call=False)
            default = ""
            if (value_default not in (None, (), False) and not callable(value_default)
                    and "Sentinel" not in type(value_default).__name__ and param.show_default is not False):
                default = f"`{value_default}`"
            if param.required:
                default = "required"
            rows.append(f"| {opts} | {value} | {default} | {_cell(inline(param.help or ''))} |")
        parts.append(
            f"## `xaikit {name}`\n\n{_click_help(cmd.help or '')}\n\n"
            f"```text\nxaikit {name} {usage}\n```\n\n"
            "| option | value | default | description |\n|---|---|---|---|\n" + "\n".join(rows))
    return "\n\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- API reference
#: (module, heading, intro) of the API page, in order.
API_MODULES: list[tuple[str, str]] = [
    ("xaikit", "Explaining, comparing, the result types and errors."),
    ("xaikit.viz", "Pictures: overlays, signed maps, activation and filter grids, comparison figures, saving."),
    ("xaikit.preprocessing", "Preprocessing schemes, their inverses for display, Keras' own `preprocess_input`."),
    ("xaikit.io", "Reading images from files and folders."),
    ("xaikit.registry", "Backend plugins: discovery through entry points, what is installed."),
    ("xaikit.call_context", "What a method's `_attribute` receives: the call's images, targets, resolved parameters, "
                            "model description and engine, built once per call (writing a backend)."),
    ("xaikit.metrics", "Quality metrics of attribution maps."),
    ("xaikit.targets", "Targets beyond a class index: score functions and ready-made targets (segmentation "
                       "regions, embeddings, regression, multi-label)."),
    ("xaikit.outputs", "Which of a model's outputs holds the class scores (`output=`)."),
    ("xaikit.doctor", "Which methods work on a model: every method once, ok / refused / failed (`xaikit doctor`)."),
    ("xaikit_tensorflow.zoo", "The shipped trained models and their data (offline)."),
    ("xaikit_callable", "The black-box backend: functions and ONNX files as models."),
]


def _public(module: Any) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return [n for n in names if not n.startswith("__")]


def api_reference() -> str:
    documented: dict[str, str] = {}
    modules = []
    for name, intro in API_MODULES:
        module = importlib.import_module(name)
        members = []
        for attr in _public(module):
            obj = getattr(module, attr)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            full = f"{name}.{attr}"
            documented.setdefault(f"{obj.__module__}.{obj.__qualname__}", full)
            documented.setdefault(full, full)
            documented.setdefault(attr, full)  # short names resolve to their first home
            members.append((attr, obj))
        modules.append((name, intro, members))

    def resolve(target: str) -> str | None:
        target = target.strip()
        for candidate in (target, target.rsplit(".", 1)[-1]):
            if candidate in documented:
                return "#" + documented[candidate]
        head = target.rpartition(".")[0]  # Class.method
        if head in documented:
            return "#" + documented[head]
        return None

    out = []
    for name, intro, members in modules:
        out.append(f"## `{name}` {{ #{name} }}\n\n{intro}\n")
        for attr, obj in members:
            full = f"{name}.{attr}"
            if documented.get(attr) != full and documented.get(f"{obj.__module__}.{obj.__qualname__}") != full:
                out.append(f"### `{attr}`\n\nSee [`{attr}`](#{documented[attr]}).\n")
                continue
            out.append(_document(full, attr, obj, resolve))
    return "\n".join(out)


class _Raw:
    """An annotation shown as written (``from __future__ import annotations`` makes them strings)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _signature(obj: Any, name: str) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name

    def raw(annotation: Any) -> Any:
        return _Raw(annotation) if isinstance(annotation, str) else annotation

    sig = sig.replace(parameters=[p.replace(annotation=raw(p.annotation)) for p in sig.parameters.values()],
                      return_annotation=raw(sig.return_annotation))
    sig = str(sig)
    sig = re.sub(r"<function (\w+) at 0x[0-9a-f]+>", r"\1", sig)
    return f"{name}{sig}"


def _document(full: str, attr: str, obj: Any, resolve: Callable[[str], str | None]) -> str:
    kind = "class" if inspect.isclass(obj) else "function"
    doc = inspect.getdoc(obj) or ""
    parts = [f"### `{attr}` {{ #{full} }}\n", f"```python\n{'class ' if kind == 'class' else ''}"
             f"{_signature(obj, attr)}\n```\n", numpydoc(doc, resolve) if doc else "*(no docstring)*\n"]
    if inspect.isclass(obj):
        for mname, member in inspect.getmembers(obj):
            if mname.startswith("_") or mname not in vars(obj):
                continue
            raw = vars(obj)[mname]
            mdoc = inspect.getdoc(member)
            if not mdoc:
                continue
            if isinstance(raw, property):
                parts.append(f"**`{attr}.{mname}`** (property) — {numpydoc(mdoc, resolve).strip()}\n")
            elif inspect.isfunction(raw) or isinstance(raw, (classmethod, staticmethod)):
                func = raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw
                sig = _signature(func, mname).replace("(self, ", "(").replace("(self)", "()").replace("(cls, ", "(")
                parts.append(f"#### `{attr}.{mname}` {{ #{full}.{mname} }}\n\n```python\n{sig}\n```\n\n"
                             f"{numpydoc(mdoc, resolve)}")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- method parameters
#: What every parameter means; a parameter missing here fails the docs build.
def _param_tables(method: str) -> dict[str, dict[str, Any]]:
    """backend -> {name: Param} for every backend offering ``method`` (native first).

    Native backends compute the core's implementation, whose parameters are the
    catalogue's; an adapter's class declares only where its library differs
    (``param_changes``), so its module is imported (the docs build has every backend
    installed; a missing one is reported instead of its column).
    """
    from xaikit.methods import IMPLEMENTATIONS
    from xaikit.registry import discover_backends, load_target

    offering = [spec for spec in discover_backends().values() if method in spec.offered()]
    tables: dict[str, dict[str, Any]] = {}
    for spec in sorted(offering, key=lambda b: (not b.native, b.name)):
        if method in spec.methods:
            if spec.missing():
                raise ValueError(f"the docs need backend {spec.name!r} installed ({spec.install_hint()})")
            tables[spec.name] = load_target(spec.methods[method]).param_table()
        else:
            tables[spec.name] = IMPLEMENTATIONS[method].param_table()
    return tables


def _default(value: Any) -> str:
    return f"`{value!r}`"


def method_parameters(method: str) -> str:
    from xaikit.catalogue import METHODS

    if method not in METHODS:
        raise ValueError(f"<!-- xaikit:params {method} -->: unknown method; methods: {', '.join(METHODS)}")
    tables = _param_tables(method)
    backends = list(tables)
    names: list[str] = []
    for table in tables.values():
        names += [n for n in table if n not in names]
    head = "| parameter | " + " | ".join(f"`{b}`" for b in backends) + " | meaning |"
    rows = [head, "|---" * (len(backends) + 2) + "|"]
    for name in names:
        cells = [_default(tables[b][name].default) if name in tables[b] else "—" for b in backends]
        docs = list(dict.fromkeys(tables[b][name].doc for b in backends if name in tables[b]))
        meaning = " / ".join(inline(d) for d in docs)
        rows.append(f"| `{name}` | " + " | ".join(cells) + f" | {meaning} |")
    return ("Defaults per backend, from the method catalogue and each adapter's declared differences "
            "(— : the backend does not take the parameter):\n\n" + "\n".join(rows) + "\n")


def method_page(method: str) -> str:
    """The docs page of a method id (``gradcam++`` -> ``gradcam-plus-plus.md``)."""
    return method.replace("++", "-plus-plus").replace("_", "-") + ".md"


#: The order of the methods' pages in the navigation and of their rows in the index, as they were listed by hand;
#: a method not named here comes after them, in catalogue order (:data:`xaikit.catalogue.METHODS`).
METHODS_ORDER: tuple[str, ...] = (
    "activations", "occlusion", "gradcam", "gradcam++", "vanilla_gradients", "gradient_x_input", "smoothgrad",
    "integrated_gradients", "expected_gradients", "xgradcam", "hirescam", "layercam", "scorecam", "ablationcam",
    "eigencam", "eigengradcam", "guided_backprop", "deconvnet", "guided_gradcam", "deeplift", "deepliftshap", "lrp",
    "layer_conductance", "vargrad", "squaregrad", "rise", "kernel_shap", "lime", "sobol", "attention_rollout",
    "generic_attention", "partition_shap",
)


def documented_methods() -> list[tuple[str, Any]]:
    """``(id, DocsEntry)`` of every method of the catalogue in :data:`METHODS_ORDER`; a method without its
    ``DocsEntry`` or its page raises."""
    import xaikit  # noqa: F401 - the methods declared with their classes join the catalogue
    from xaikit.catalogue import METHODS

    rank = {m: i for i, m in enumerate(METHODS_ORDER)}
    ordered = sorted(METHODS, key=lambda m: rank.get(m, len(rank)))  # stable: catalogue order after the list
    out = []
    for method in ordered:
        schema = METHODS[method]
        if schema.docs is None:
            raise ValueError(f"method {method!r} has no docs=DocsEntry(label, computes, passes, paper) in its "
                             "MethodSchema (its navigation title and its row of docs/methods/index.md)")
        page = method_page(method)
        if not (DOCS / "methods" / page).is_file():
            raise ValueError(f"method {method!r} has no page docs/methods/{page}")
        out.append((method, schema.docs))
    return out


def methods_nav() -> list[dict[str, str]]:
    """The navigation entries of the methods' pages, ``{label: "methods/<page>"}``, after ``methods/index.md``."""
    return [{entry.label: f"methods/{method_page(method)}"} for method, entry in documented_methods()]


def fill_methods_nav(nav: list[Any]) -> None:
    """Complete the ``Methods`` section of ``nav`` (``mkdocs.yml``'s, holding only ``methods/index.md``) with
    :func:`methods_nav`."""
    sections = [item["Methods"] for item in nav if isinstance(item, dict) and "Methods" in item]
    if len(sections) != 1 or sections[0] != ["methods/index.md"]:
        raise ValueError("mkdocs.yml: the nav needs one 'Methods' section holding only methods/index.md; the "
                         "methods' pages are added from the catalogue by docs/hooks.py")
    sections[0].extend(methods_nav())


def methods_index() -> str:
    """The table of ``docs/methods/index.md``: a row per method (links relative to ``docs/methods/``)."""
    from xaikit.catalogue import METHODS

    rows = ["| id | what it computes | model passes per image (native) | signed | paper |", "|---|---|---|---|---|"]
    for method, entry in documented_methods():
        schema = METHODS[method]
        signed = "—" if schema.kind != "attribution" else ("yes" if schema.signed else "no")
        rows.append(f"| [`{method}`]({method_page(method)}) | {entry.computes} | {entry.passes} | {signed} | "
                    f"{entry.paper} |")
    return "\n".join(rows) + "\n"


def method_table() -> str:
    from xaikit.catalogue import METHODS
    from xaikit.registry import discover_backends

    specs = sorted(discover_backends().values(), key=lambda b: (not b.native, b.name))
    head = "| method | " + " | ".join(f"`{b.name}`" for b in specs) + " |"
    rows = [head, "|---" * (len(specs) + 1) + "|"]
    for method in METHODS:
        cells = []
        for spec in specs:
            if method not in spec.offered():
                cells.append("—")
            elif method in spec.methods:
                cells.append(f"yes (`{spec.methods[method].rsplit(':', 1)[-1]}`)")
            else:
                cells.append("yes")
        page = method_page(method)
        if not (DOCS / "methods" / page).is_file():
            raise ValueError(f"method {method!r} has no page docs/methods/{page}")
        rows.append(f"| [`{method}`](../methods/{page}) | " + " | ".join(cells) + " |")
    return ("Generated from the method catalogue and the registered backends: a native backend (`yes`) "
            "computes the core's implementation on its engine; an adapter names the class that calls its "
            "library.\n\n" + "\n".join(rows) + "\n")


# ----------------------------------------------------------------------------- gallery
def gallery() -> str:
    spec = importlib.util.spec_from_file_location("xaikit_docs_gallery", DOCS / "gallery.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    out = []
    for pic in module.GALLERY:
        out.append(f"## {pic.title}\n\n![{pic.title}](gallery/{pic.name}.png)\n\n{pic.caption}\n\n"
                   f"```bash\n{pic.command}\n```\n")
    return "\n".join(out)
