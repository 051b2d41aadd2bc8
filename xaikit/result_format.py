"""The file format of results: how they record their parameters (JSON) and the rules of their ``.npz`` files.

An :class:`~xaikit.Explanation` or :class:`~xaikit.Activations` file holds arrays of
numbers and a ``__meta__`` JSON record; the rules here are checked on a file being read
and, before anything is written, on the arrays being saved, so what ``save`` writes
``load`` reads back. Pickle is never used.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._npz import ArrayChecks, ArraysInMemory
from .errors import InputError

__all__ = [
    "FORMAT_VERSION",
    "before_saving",
    "check_activations",
    "check_explanation",
    "describe_array",
    "meta_bytes",
    "saved_extra",
    "to_jsonable",
    "write_checked_npz",
]

FORMAT_VERSION = 1


def describe_array(value: np.ndarray) -> Any:
    """How a result records an array parameter: its values if it has at most 16, else
    ``{"array_shape", "dtype", "sha256_16", "mean"}``. Backends that need a key for the
    array (e.g. to reuse work done on a background) use this record, so the array is
    hashed once per call."""
    if value.size <= 16:
        return value.tolist()
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:16]
    return {"array_shape": list(value.shape), "dtype": str(value.dtype), "sha256_16": digest,
            "mean": float(np.mean(value)) if np.issubdtype(value.dtype, np.number) else None}


def to_jsonable(value: Any) -> Any:
    """Convert parameter values to JSON; arrays are summarised (shape, dtype, checksum)."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return describe_array(value)
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def meta_bytes(meta: dict[str, Any]) -> np.ndarray:
    """The metadata as stored: JSON (NaN and infinities as JavaScript writes them) in a uint8 array."""
    return np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)


def before_saving(path: str | os.PathLike[str], kind: str, arrays: dict[str, np.ndarray]) -> ArraysInMemory:
    """The arrays about to be written to ``path``, checked as loading will check them (an InputError if not)."""
    def error(problem: str) -> InputError:
        return InputError(f"this {kind} cannot be saved to {path}: {problem} (load() would refuse the file; "
                          f"a file holds arrays of numbers or booleans and JSON metadata: fix the field, e.g. with "
                          f"dataclasses.replace)")

    return ArraysInMemory(arrays, error)


def write_checked_npz(path: str | os.PathLike[str], kind: str, arrays: dict[str, np.ndarray], meta: dict[str, Any],
                      check: Callable[[ArrayChecks, Any], Any], *, overwrite: bool) -> Path:
    """Write ``arrays`` and ``meta`` to the ``.npz`` file ``path`` atomically, once ``check`` (what loading
    checks) accepts them; ``kind`` names the result in the error."""
    from .atomic_files import atomic_write_bytes

    arrays = {**arrays, "__meta__": meta_bytes(meta)}
    check(before_saving(path, kind, arrays), json.loads(arrays["__meta__"].tobytes()))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return atomic_write_bytes(path, buffer.getvalue(), overwrite=overwrite)


def saved_extra(path: str | os.PathLike[str], key: Any, value: Any) -> np.ndarray:
    """``np.asarray(value)`` of an extra about to be saved; an InputError if it is not one array or its name would
    not come back (a zip member's name ends at a NUL character; a name that is not a string comes back as one)."""
    if not isinstance(key, str) or "\x00" in key:
        raise InputError(f"this Explanation cannot be saved to {path}: its extras name {key!r} would not be read "
                         "back as it is; name extras with strings without NUL characters")
    try:
        return np.asarray(value)
    except ValueError as exc:  # ragged lists
        raise InputError(f"this Explanation cannot be saved to {path}: its extras {key!r} is not an array of "
                         f"numbers ({exc})") from None


def check_explanation(src: ArrayChecks, meta: Any) -> dict[str, Any]:
    """The rules of an Explanation file, on a file being read or arrays being written; its metadata fields.

    ``src`` names the arrays and their headers; ``meta`` is the metadata as read back
    from its JSON. Raises ``src.error(problem)`` at the first rule broken.
    """
    _check_meta_record(src, meta, "xaikit.Explanation")
    fields = _meta_fields(src, meta, method=str, backend=str, params=dict, elapsed=(int, float),
                          score=str, layer=(str, type(None)), info=(dict, type(None)), target=(str, type(None)))
    target = fields["target"]  # a score function's description; None: class indices
    n = src.require("attributions", ndim=3, dtype=np.float32).shape[0]
    out_shape = _require_rows(src, "outputs", n, kinds="f", ndim=None if target is not None else 2)
    if len(out_shape) < 2:
        raise src.error(f"the array 'outputs' has shape {out_shape}; it must be (N, K) or (N, ...)")
    n_out = out_shape[1]
    for name in ("targets", "predictions"):
        _require_rows(src, name, n, kinds="iu", ndim=1)
    if "layer_attributions" in src:
        _require_rows(src, "layer_attributions", n, kinds="f", ndim=3, dtype=np.float32)
    if "channel_attributions" in src:
        _require_rows(src, "channel_attributions", n, kinds="f", ndim=4, dtype=np.float32)
    for name in src.headers:
        if name.startswith("extras/"):
            src.require(name)
    n_classes = 2 if n_out == 1 else n_out
    # A score function's targets are not class indices (-1); a non-classifier's predictions neither.
    checked = ("targets", "predictions") if target is None else ("predictions",) if len(out_shape) == 2 else ()
    for name in checked:
        values = src.read(name)
        if values.size and (values.min() < 0 or values.max() >= n_classes):
            raise src.error(f"the {name} must be class indices in [0, {n_classes}) for outputs of width "
                            f"{n_out}; got values from {values.min()} to {values.max()}")
    fields["elapsed"] = float(fields["elapsed"])
    fields["info"] = fields["info"] or {}
    fields["layout"] = _layout(src, meta)
    return fields


def _layout(npz: ArrayChecks, meta: dict[str, Any]) -> str:
    """The layout a file records (files written before layouts existed are channels last)."""
    layout = meta.get("layout", "NHWC")
    if layout not in ("NHWC", "NCHW"):
        raise npz.error(f"its metadata 'layout' must be 'NHWC' or 'NCHW'; got {layout!r}")
    return layout


def _check_meta_record(npz: ArrayChecks, meta: Any, kind: str) -> dict[str, Any]:
    """``meta`` (the ``__meta__`` JSON of a file), checked to describe a ``kind`` this version reads."""
    if not isinstance(meta, dict) or "format" not in meta:
        raise npz.error("its metadata is not an xaikit metadata record")
    if meta["format"] != kind:
        raise npz.error(f"it holds {meta['format']!r}, not {kind!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise npz.error(f"its format_version is {version!r}; expected a positive integer")
    if version > FORMAT_VERSION:
        raise npz.error(f"it was written in format version {version} by a newer xaikit; this one reads up to "
                        f"{FORMAT_VERSION}: upgrade xaikit")
    return meta


def _meta_fields(npz: ArrayChecks, meta: dict[str, Any], **types: Any) -> dict[str, Any]:
    """``meta[name]`` for each name, checked against its type(s); a type tuple with NoneType makes it optional."""
    out = {}
    for name, kinds in types.items():
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        value = meta.get(name)
        if name not in meta and type(None) not in kinds:
            raise npz.error(f"its metadata has no {name!r}")
        if not isinstance(value, kinds) or isinstance(value, bool):
            wanted = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise npz.error(f"its metadata {name!r} is {type(value).__name__} {str(value)[:60]!r}; expected {wanted}")
        if isinstance(value, float) and not math.isfinite(value):
            raise npz.error(f"its metadata {name!r} is {value}; expected a finite number")
        out[name] = value
    return out


def _require_rows(npz: ArrayChecks, name: str, n: int | None, **kwargs: Any) -> tuple[int, ...]:
    """The shape of ``name`` (checked as by :meth:`ArrayChecks.require`), which must have ``n`` rows (if given)."""
    shape = npz.require(name, **kwargs).shape
    if n is not None and shape[0] != n:
        raise npz.error(f"the array {name!r} has {shape[0]} rows for {n} images (shape {shape})")
    return shape


def check_activations(src: ArrayChecks, meta: Any) -> dict[str, Any]:
    """The rules of an Activations file (as :func:`check_explanation`); its metadata fields."""
    _check_meta_record(src, meta, "xaikit.Activations")
    fields = _meta_fields(src, meta, layers=list, backend=str, elapsed=(int, float), params=dict,
                          info=(dict, type(None)))
    layers = fields["layers"]
    if not all(isinstance(name, str) for name in layers) or len(set(layers)) != len(layers):
        raise src.error("its metadata 'layers' must be a list of distinct layer names")
    shapes = [src.require(f"layer/{i}", dtype=np.float32).shape for i in range(len(layers))]
    if any(not shape for shape in shapes) or len({shape[0] for shape in shapes}) > 1:
        raise src.error(f"the layer arrays must be (N, ...) with the same N; got shapes {shapes[:8]}")
    if "outputs" in src:
        _require_rows(src, "outputs", shapes[0][0] if shapes else None, kinds="f", ndim=2)
    fields["layout"] = _layout(src, meta)
    return fields
