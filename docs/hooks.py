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
    defaults, read from the source of the classes (``ast``; nothing is imported, so the
    build needs neither TensorFlow nor shap).
``<!-- xaikit:gallery -->``
    The gallery, from ``docs/gallery.py`` (each picture with the command that made it).

A placeholder that cannot be filled (an unknown method, a parameter without a glossary
entry) raises, so ``mkdocs build --strict`` fails rather than publishing a stale page.
"""

from __future__ import annotations

import ast
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

# ----------------------------------------------------------------------------- entry point


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any, **kwargs: Any) -> str:
    if "<!-- xaikit:" not in markdown:
        return markdown
    markdown = markdown.replace("<!-- xaikit:cli -->", cli_reference())
    markdown = markdown.replace("<!-- xaikit:api -->", api_reference())
    markdown = markdown.replace("<!-- xaikit:gallery -->", gallery())
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
    ("xaikit.metrics", "Quality metrics of attribution maps."),
    ("xaikit_tensorflow.zoo", "The shipped trained models and their data (offline)."),
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
        head, _, tail = target.rpartition(".")  # Class.method
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
GLOSSARY = {
    "layer": "Layer to work at (`None`: the method's default layer, see above).",
    "batch_size": "Largest batch sent to the model at once; bounds peak memory.",
    "score": "What is explained: `logit`, `probability`, `output` (and backend-specific scores); `None` = the "
             "backend's default, recorded in the result.",
    "seed": "Seed of the random draws (`None`: drawn, recorded in `params`).",
    "n_samples": "Number of noisy copies / background draws per image.",
    "noise": "Noise standard deviation.",
    "steps": "Points on the path from the baseline to the image.",
    "baseline": "Reference value or image, in the model's input space.",
    "patch_size": "Side of the occluding patch, in pixels.",
    "stride": "Step between patches (`None`: the patch size).",
    "background": "Reference images `(B, H, W, C)` in the model's input space.",
    "relu": "Apply the final ReLU of Grad-CAM.",
    "guided": "Keep only positive gradients at positive activations (tf-explain's guided Grad-CAM).",
    "channel_reduce": "How per-channel values become one map: `sum` (signed, complete), `abs_sum`, `max_abs`.",
    "integration": "Quadrature rule of the path integral.",
    "multiply_by_input": "Multiply the mean gradient by `x - baseline` (the integrated-gradients definition).",
    "local_smoothing": "Noise added to the explained input (SHAP's `local_smoothing`).",
    "completeness": "Report `extras[\"completeness_gap\"]`; at the input it costs one forward pass over the background.",
    "upsample": "How the patch grid becomes a pixel map: `bilinear` or `patch`.",
    "layers": "Layers to extract (`None`: every convolution and pooling layer).",
}


def _module_source(module: str) -> tuple[ast.Module, Path]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ImportError(f"cannot find module {module}")
    path = Path(spec.origin)
    return ast.parse(path.read_text(encoding="utf-8")), path


def _init_args(module: str, cls: str, seen: int = 0) -> list[tuple[str, str]]:
    """``[(name, default source)]`` of the keyword parameters of ``cls.__init__``, read from the source."""
    if seen > 8:
        raise RecursionError(f"cannot resolve the constructor of {module}:{cls}")
    tree, _ = _module_source(module)
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls), None)
    if node is None:
        raise LookupError(f"class {cls} not found in {module}")
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    if init is not None:
        args = init.args
        positional = args.args[1:]  # drop self
        pos_defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        out = [(a.arg, ast.unparse(d) if d is not None else "required") for a, d in zip(positional, pos_defaults)]
        out += [(a.arg, ast.unparse(d) if d is not None else "required")
                for a, d in zip(args.kwonlyargs, args.kw_defaults)]
        return [(n, d) for n, d in out if n != "model"]
    for base in node.bases:  # inherited constructor (MRO order): same module, or imported with `from X import Y`
        base_name = ast.unparse(base)
        try:
            if any(isinstance(n, ast.ClassDef) and n.name == base_name for n in tree.body):
                return _init_args(module, base_name, seen + 1)
            for n in tree.body:
                if isinstance(n, ast.ImportFrom) and any(a.name == base_name for a in n.names):
                    target = n.module or ""
                    if n.level:
                        package = module.rsplit(".", n.level)[0]
                        target = f"{package}.{target}" if target else package
                    return _init_args(target, base_name, seen + 1)
        except LookupError:
            continue  # a mixin without a constructor: the next base has it
    raise LookupError(f"cannot find the constructor of {module}:{cls}")


def method_parameters(method: str) -> str:
    from xaikit.methods import METHODS
    from xaikit.registry import _discover

    if method not in METHODS:
        raise ValueError(f"<!-- xaikit:params {method} -->: unknown method; methods: {', '.join(METHODS)}")
    offering = [spec for spec in _discover().values() if method in spec.methods]
    backends = {spec.name: spec for spec in sorted(offering, key=lambda b: (not b.native, b.name))}  # native first
    table: dict[str, dict[str, str]] = {}
    for name, spec in backends.items():
        module, _, cls = spec.methods[method].partition(":")
        for param, default in _init_args(module, cls):
            table.setdefault(param, {})[name] = default
    missing = [p for p in table if p not in GLOSSARY]
    if missing:
        raise ValueError(f"docs/hooks.py GLOSSARY has no entry for parameter(s) {missing} of {method!r}")
    order = list(GLOSSARY)
    head = "| parameter | " + " | ".join(f"`{b}`" for b in backends) + " | meaning |"
    rows = [head, "|---" * (len(backends) + 2) + "|"]
    for param in sorted(table, key=order.index):
        cells = [f"`{table[param][b]}`" if b in table[param] else "—" for b in backends]
        rows.append(f"| `{param}` | " + " | ".join(cells) + f" | {GLOSSARY[param]} |")
    return ("Defaults per backend, read from the source of each implementation (— : the backend does not "
            "take the parameter):\n\n" + "\n".join(rows) + "\n")


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
