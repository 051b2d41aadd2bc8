"""Method parameters from the command line: ``--param KEY=VALUE``, sizes, bools, conflicts.

Rules (the same in ``explain``, ``compare`` and ``bench``):

- ``--param KEY=VALUE``: the value is read as JSON (``8``, ``0.5``, ``[4, 4]``, ``"text"``),
  else kept as text; a *bool* parameter of the method (``relu``, ``guided``, ...) takes
  ``true``/``false``, ``yes``/``no`` or ``1``/``0`` in any case, and anything else is an
  error naming the parameter (``"False"`` must never become a true string).
- A parameter set twice -- two ``--param`` with one key, or ``--param layer=...`` next to
  ``--layer`` -- is an error: nothing is overridden silently.
- Sizes (``--patch-size``, ``--stride``) are ``N`` or ``HxW`` (``H,W``), integers only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import InputError
from ..validation import parse_bool_text

__all__ = ["DEDICATED_OPTIONS", "bool_param_names", "check_param_items", "parse_pair", "parse_param_value",
           "split_param_item"]

#: Method parameters that have their own option; ``--param`` must not set them a second time.
DEDICATED_OPTIONS = {"layer": "--layer", "batch_size": "--batch-size", "seed": "--seed", "n_samples": "--n-samples",
                     "noise": "--noise", "steps": "--steps", "baseline": "--baseline", "patch_size": "--patch-size",
                     "stride": "--stride", "background": "--background", "score": "--score",
                     "output": "--model-output"}

#: Where a dedicated option's value is in the command's options, when not under the parameter's name
#: (``-o/--output`` is the output file; the model's output is ``--model-output``).
_OPTION_KEYS = {"output": "model_output"}

_PAIR = re.compile(r"^\s*(\d+)\s*(?:[x,]\s*(\d+)\s*)?$", re.IGNORECASE)


def split_param_item(item: str, syntax: str = "KEY=VALUE") -> tuple[str, str]:
    """``"key=value"`` -> ``("key", "value")`` (both stripped); a missing ``=`` or key raises."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--param takes {syntax}; got {item!r}")
    return key.strip(), value.strip()


def check_param_items(keys: Iterable[str], opts: Mapping[str, Any] | None = None) -> None:
    """Refuse a key given twice, or given both as ``--param`` and as its own option in ``opts``."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise InputError(f"--param {key}=... is given twice; give each parameter once")
        seen.add(key)
        name = key.rpartition(".")[2]
        option = DEDICATED_OPTIONS.get(name)
        if option is not None and opts is not None and key == name and _given(opts.get(_OPTION_KEYS.get(name, name))):
            raise InputError(f"{option} and --param {name}=... both set {name}; give one of them")


def _given(value: Any) -> bool:
    return value is not None and value != () and value != []


def bool_param_names(classes: Iterable[type]) -> frozenset[str]:
    """Parameters declared as bools (catalogue kind ``bool``) in any of ``classes`` (explainer classes)."""
    return frozenset(name for cls in classes for name, p in cls.param_table().items() if p.kind == "bool")


def parse_param_value(key: str, text: str, bool_names: frozenset[str] | set[str] = frozenset()) -> Any:
    """The value of ``--param key=text``: a bool for a bool parameter, else JSON, else the text."""
    if key in bool_names:
        return parse_bool_text(f"--param {key}", text)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_pair(text: str, option: str) -> int | tuple[int, int]:
    """``"8"`` -> 8, ``"6x4"`` / ``"6,4"`` -> (6, 4); anything else (``"8x"``, ``"x8"``, ``"8.5"``) raises."""
    match = _PAIR.match(str(text))
    if match is None:
        raise InputError(f"{option} takes N or HxW (positive integers, e.g. 8 or 6x4); got {text!r}")
    h, w = match.groups()
    return int(h) if w is None else (int(h), int(w))


def method_classes(pairs: Sequence[tuple[str, str]]) -> list[type]:
    """The explainer classes of ``(method, backend)`` pairs (unknown names raise with the valid ones)."""
    from ..binding import get_method_class

    return [get_method_class(method, backend) for method, backend in pairs]
