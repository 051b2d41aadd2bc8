"""Class names (``--labels``) and targets (``--target``) of the command line.

Accepted label files:

- ``labels.txt``: one class name per line, line *k* (from 0) naming class *k*;
- ``labels.json`` holding a list ``["cat", "dog"]``;
- ``labels.json`` holding ``{"0": "cat", "1": "dog"}`` (index -> name);
- Keras' ``imagenet_class_index.json``: ``{"0": ["n01440764", "tench"], ...}`` (the
  last element is the name; the WordNet id also works as a ``--target``).

A target is a class index or a class name; names match exactly first, then ignoring
case, spaces, hyphens and underscores (``"tiger cat"`` finds ``"tiger_cat"``).

Digits are an index first: ``-t 3`` is class 3, also when the labels file names another
class ``"3"`` (a warning then says so); ``-t name:3`` picks the class *named* "3". A
number that is not a valid index but is a class name (``-t 20`` with names "10", "20",
"30") can only mean the name and is read as one.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["NAME_PREFIX", "Labels", "load_labels", "parse_targets"]

#: ``--target name:TEXT`` looks TEXT up as a class name, never as an index.
NAME_PREFIX = "name:"
_INDEX = re.compile(r"[+-]?\d+")


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " _-")


class Labels(Mapping[int, str]):
    """Class index -> name, with lookup of an index by name (or alias such as a WordNet id)."""

    def __init__(self, names: Mapping[int, str], aliases: Mapping[str, int] | None = None,
                 source: str = "") -> None:
        self._names = dict(sorted((int(k), str(v)) for k, v in names.items()))
        self.source = source
        self._exact: dict[str, list[int]] = {}
        for k, v in self._names.items():
            self._exact.setdefault(v, []).append(k)
        for alias, k in (aliases or {}).items():
            self._exact.setdefault(str(alias), []).append(int(k))
        self._loose: dict[str, list[int]] = {}
        for text, ks in self._exact.items():
            self._loose.setdefault(_key(text), []).extend(ks)

    def __getitem__(self, index: int) -> str:
        return self._names[index]

    def __iter__(self) -> Any:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def name(self, index: int) -> str:
        """The name of ``index``, or ``"class <index>"`` when the file has none for it."""
        return self._names.get(int(index), f"class {int(index)}")

    def named(self, text: str) -> list[int]:
        """The classes whose name (or alias) is exactly ``text``."""
        return sorted(set(self._exact.get(text, [])))

    def index(self, name: str) -> int:
        """The class index of ``name``; unknown or ambiguous names raise with suggestions."""
        for table, key in ((self._exact, name), (self._loose, _key(name))):
            ks = sorted(set(table.get(key, [])))
            if len(ks) == 1:
                return ks[0]
            if len(ks) > 1:
                raise InputError(f"class name {name!r} is ambiguous in {self.source or 'the labels'}: it names "
                                 f"classes {ks}; give the index instead")
        close = difflib.get_close_matches(name, list(self._names.values()), n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(map(repr, close))}?" if close else ""
        raise InputError(f"unknown class name {name!r} in {self.source or 'the labels'}.{hint} "
                         "Give a name from the labels file or a class index.")

    def check_count(self, n_classes: int, n_outputs: int) -> None:
        """Raise unless the file names exactly the model's classes (indices 0..K-1)."""
        expected = {n_outputs, n_classes}
        if len(self) not in expected or set(self._names) != set(range(len(self))):
            want = " or ".join(str(k) for k in sorted(expected))
            raise InputError(f"{self.source or 'the labels'} names {len(self)} classes (indices "
                             f"{min(self._names, default=0)}..{max(self._names, default=-1)}) but the model has "
                             f"{want} classes; pass the labels file of this model")


def _from_json(data: Any, source: str) -> Labels:
    if isinstance(data, list):
        if not all(isinstance(v, str) for v in data):
            raise InputError(f"{source}: a JSON list of labels must hold strings (one name per class)")
        return Labels(dict(enumerate(data)), source=source)
    if isinstance(data, dict):
        names: dict[int, str] = {}
        aliases: dict[str, int] = {}
        for key, value in data.items():
            try:
                index = int(key)
            except (TypeError, ValueError):
                raise InputError(f"{source}: keys must be class indices (\"0\", \"1\", ...); got {key!r}") from None
            if isinstance(value, str):
                names[index] = value
            elif isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
                names[index] = value[-1]  # imagenet_class_index.json: ["n01440764", "tench"]
                for alias in value[:-1]:
                    aliases[alias] = index
            else:
                raise InputError(f"{source}: the entry for class {key} must be a name or a list such as "
                                 f"[\"n01440764\", \"tench\"]; got {value!r}")
        return Labels(names, aliases, source=source)
    raise InputError(f"{source}: a JSON labels file holds a list of names or an object {{index: name}}")


def load_labels(path: str | os.PathLike[str]) -> Labels:
    """Read a labels file (``.txt`` one name per line, or ``.json``); see the module docstring."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"--labels {p}: no such file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the labels file {p}: {exc}") from None
    source = p.name
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source} is not valid JSON: {exc}") from None
        return _from_json(data, source)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    names = {}
    for i, line in enumerate(lines):
        name = line.strip()
        if not name:
            raise InputError(f"{source}: line {i + 1} is empty; the file needs one class name per line "
                             "(line k names class k - 1)")
        names[i] = name
    if not names:
        raise InputError(f"{source} contains no class names")
    return Labels(names, source=source)


def _target(token: str, labels: Labels | None, warn: Callable[[str], None]) -> int:
    """One ``--target`` token -> a class index, by the rule in the module docstring."""
    if token.lower().startswith(NAME_PREFIX):
        name = token[len(NAME_PREFIX):].strip()
        if labels is None:
            raise InputError(f"--target {token!r} names a class; pass --labels FILE to name classes")
        return labels.index(name)
    if _INDEX.fullmatch(token):
        k = int(token)
        named = labels.named(token) if labels is not None else []
        if not named or k in named:
            return k
        assert labels is not None
        if 0 <= k < len(labels):
            warn(f"--target {token} is read as class index {k} ({labels.name(k)}), but {labels.source or 'the labels'} "
                 f"also names class {named[0]} {token!r}; write --target {NAME_PREFIX}{token} for that class")
            return k
        if len(named) == 1:  # not an index of this model: only the name fits
            return named[0]
        return k  # out of range and an ambiguous name: the range error names the valid indices
    if labels is None:
        raise InputError(f"--target {token!r} is a class name; pass --labels FILE to name classes (or give the "
                         "class index)")
    return labels.index(token)


def parse_targets(values: Sequence[str], labels: Labels | None, n_images: int,
                  warn: Callable[[str], None] = lambda message: None) -> Any:
    """``--target`` values -> None, one int for every image, or a list with one int per image.

    Each value may hold several comma-separated targets; names need ``labels``. One
    image may get several targets (it is then explained once per class, see
    :func:`._common.one_row_per_target`). Digits are indices first (module docstring);
    ``warn`` receives the message when a digit token is also another class's name.
    Range checks are the explainer's (it knows the model's classes).
    """
    tokens = [t.strip() for v in values for t in str(v).split(",") if t.strip()]
    if not tokens:
        return None
    out = [_target(token, labels, warn) for token in tokens]
    if len(out) == 1:
        return out[0]
    if len(out) != n_images and n_images != 1:
        raise InputError(f"--target gives {len(out)} classes for {n_images} images; give one class for all images, "
                         "one per image, or several for a single image (explained once per class)")
    return out
