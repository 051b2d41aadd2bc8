"""Reading a suite's TOML tables: keys typed and checked, errors naming the file, the table and the fix.

:class:`TableReader` reads one table (an unknown key gets a "did you mean"); the
ranges and choices of values are the catalogue's parameter checks
(:class:`xaikit.catalogue.Param`, through :func:`checked`), as for method parameters;
:func:`toml_param_value` reads a method parameter (layer references, values in the
model's input units).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..catalogue import Param
from ..catalogue.constraints import Range
from ..errors import InputError, MissingDependencyError
from .suite import ConfigError

__all__ = ["INPUT_REFS", "TableReader", "checked", "choice", "count", "params_table", "resolve_path", "strings",
           "toml_module", "toml_param_value"]

#: TOML's integers are 64-bit: a count in a suite has a minimum and no maximum of its own.
_TOML_INT_LIMIT = float(2**63)


def count(name: str, minimum: int = 1, why: str = "") -> Param:
    """The check of an integer setting ``name`` >= ``minimum`` (``why``: a sentence added to a refusal).

    Its :attr:`~xaikit.catalogue.Param.constraint` is a :class:`~xaikit.catalogue.constraints.Range`, as a
    method's integer parameters (:func:`choice`'s an :class:`~xaikit.catalogue.constraints.Options`).
    """
    return Param(name, "int", None, why, low=minimum, high=_TOML_INT_LIMIT, hint=why)


def choice(name: str, choices: Sequence[str]) -> Param:
    """The check of a setting ``name`` taking one of ``choices``."""
    return Param(name, "choice", None, "", choices=tuple(choices))


def checked(reader: TableReader, param: Param, value: Any) -> Any:
    """``value`` checked by ``param`` (None passes: the key was not given), refused as a :class:`ConfigError`."""
    if value is None:
        return None
    try:
        return param.check(value)
    except InputError as exc:
        raise reader.error(str(exc)) from None


class TableReader:
    """Reads one TOML table, remembering where it is for error messages."""

    def __init__(self, data: Any, where: str, origin: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{origin}: {where} must be a table (key = value pairs); got {_kind(data)}.")
        self.data = dict(data)
        self.where = where
        self.origin = origin
        self.used: set[str] = set()

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.origin}: {self.where}: {message}")

    def get(self, key: str, types: type | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise self.error(f"missing required key {key!r}.")
            return default
        value = self.data[key]
        if not _is(value, types):
            raise self.error(f"{key} must be {_describe(types)}; got {_kind(value)} {value!r}.")
        return value

    def finish(self, valid: Sequence[str]) -> None:
        unknown = [k for k in self.data if k not in valid]
        if unknown:
            hint = ""
            close = [v for v in valid for u in unknown if _close(u, v)]
            if close:
                hint = f" Did you mean {', '.join(repr(c) for c in dict.fromkeys(close))}?"
            raise self.error(f"unknown key(s) {', '.join(repr(u) for u in unknown)}; valid keys: "
                             f"{', '.join(valid)}.{hint}")


def _close(a: str, b: str) -> bool:
    """Typos: same letters give or take one, or one is a prefix of the other."""
    a, b = a.lower(), b.lower()
    if a == b:
        return False
    if a.startswith(b) or b.startswith(a):
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    # one edit apart
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[i + 1:] == b[i + 1:] or a[i + 1:] == b[i:] or a[i:] == b[i + 1:]


def _is(value: Any, types: type | tuple[type, ...]) -> bool:
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in types:
        return False
    if float in types and isinstance(value, numbers.Real):
        return True
    return isinstance(value, types)


def _describe(types: type | tuple[type, ...]) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", numbers.Real: "a number", str: "a string",
             list: "an array", dict: "a table"}
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(names.get(t, t.__name__) for t in types)


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def strings(reader: TableReader, key: str, default: Any, *, allow_all: bool = False) -> tuple[str, ...] | None:
    value = reader.get(key, (list, str), default)
    if value is None:
        return None
    if isinstance(value, str):
        if allow_all and value == "all":
            return None
        if allow_all:
            raise reader.error(f"{key} must be \"all\" or an array of names; got {value!r}.")
        value = [value]
    if not all(isinstance(v, str) and v for v in value):
        raise reader.error(f"{key} must be an array of non-empty strings; got {value!r}.")
    return tuple(value)


def resolve_path(value: str | None, base: Path | None) -> str | None:
    if value is None or base is None:
        return value
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (base / p))


def params_table(reader: TableReader, key: str) -> dict[str, Any]:
    value = reader.get(key, dict, {})
    out = {}
    for name, v in value.items():
        out[str(name)] = toml_param_value(v, f"{reader.where}.{key}.{name}", reader.origin)
    return out


#: Tables that stand for a value in the model's input units, resolved per model (module docstring).
INPUT_REFS = ("pixel", "range_fraction")


def toml_param_value(value: Any, where: str, origin: str) -> Any:
    """A method parameter from TOML: arrays become tuples (patch sizes), tables are layer references
    (``index``, ``input_of``) or values in the model's input units (``pixel``, ``range_fraction``)."""
    if isinstance(value, dict):
        keys = set(value)
        if keys == {"input_of"} or keys == {"index"}:
            (k, v), = value.items()
            try:  # a layer index: the catalogue's integer range
                return {k: Range(k, 0, integer=True).check(v)}
            except InputError as exc:
                raise ConfigError(f"{origin}: {where}: {exc} (a layer index: model.layers[I])") from None
        if keys == {"pixel"}:
            from ..preprocessing import PIXEL_KEYWORDS

            v = value["pixel"]
            number = isinstance(v, numbers.Real) and not isinstance(v, bool)
            if not ((isinstance(v, str) and v.lower() in PIXEL_KEYWORDS) or (number and 0 <= v <= 255)):
                raise ConfigError(f"{origin}: {where}: pixel must be {', '.join(map(repr, PIXEL_KEYWORDS))} or a "
                                  f"value in [0, 255]; got {v!r}.")
            return {"pixel": v.lower() if isinstance(v, str) else float(v)}
        if keys == {"range_fraction"}:
            v = value["range_fraction"]
            if not isinstance(v, numbers.Real) or isinstance(v, bool) or not 0 <= v < float("inf"):
                raise ConfigError(f"{origin}: {where}: range_fraction must be a number >= 0; got {v!r}.")
            return {"range_fraction": float(v)}
        raise ConfigError(f"{origin}: {where}: a table value is a layer reference, {{ index = I }} (model.layers[I]) "
                          f"or {{ input_of = I }} (the layer feeding model.layers[I], as SHAP's "
                          f"model.layers[I].input), or a value in the model's input units, {{ pixel = \"grey\" }} or "
                          f"{{ range_fraction = F }}; got keys {sorted(keys)}.")
    if isinstance(value, list):
        return tuple(value)
    return value



def toml_module() -> Any:
    """``tomllib`` (Python 3.11+), else ``tomli`` (else a MissingDependencyError saying what to install)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise MissingDependencyError("reading benchmark configurations on Python 3.10 needs tomli: "
                                         "pip install tomli (Python 3.11+ has tomllib built in)") from None
    return tomllib


