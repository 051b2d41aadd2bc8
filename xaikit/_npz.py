"""Reading ``.npz`` files xaikit wrote, as if a stranger had written them.

:class:`NpzReader` opens the archive and reads the header of every member (shape and
dtype, a few hundred bytes each) before any array is allocated. It refuses Python
objects (pickle), structured and text dtypes, a member whose header does not match its
size in the zip directory (a damaged or crafted file), and archives whose arrays would
need more than ``max_bytes`` of memory. Every problem is a
:class:`~xaikit.errors.FileFormatError` that names the file and says what is wrong.

:class:`ArraysInMemory` offers the same checks over arrays about to be written, so a
writer can refuse, before writing, what the reader would refuse (one set of rules).
"""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FileFormatError

__all__ = ["DEFAULT_MAX_BYTES", "ArrayChecks", "ArrayHeader", "ArraysInMemory", "NpzReader"]

#: Default memory bound of a load: the arrays of one file may need at most this many bytes.
DEFAULT_MAX_BYTES = 2**31
_NUMERIC_KINDS = "biuf"
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, struct.error, EOFError, ValueError, OSError, NotImplementedError,
                RuntimeError)


@dataclass(frozen=True)
class ArrayHeader:
    """Shape and dtype of an npz member, read from its ``.npy`` header."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self) -> str:
        return f"{self.dtype} {self.shape}"


def _zip_problem(path: Path) -> str:
    """Why ``path`` does not open as a zip archive."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        return "the file is empty"
    if head == b"PK\x03\x04":
        return "the file is truncated (it starts like an npz/zip archive but the directory at its end is missing)"
    return "it is not an npz (zip) archive"


class ArrayChecks:
    """Named arrays known by their headers (shape, dtype), checked by one set of rules.

    Subclasses set :attr:`headers` (with :meth:`checked_header`) and define
    :meth:`error` and :meth:`read`.
    """

    headers: dict[str, ArrayHeader]

    def error(self, problem: str) -> Exception:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def read(self, name: str) -> np.ndarray:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def __contains__(self, name: str) -> bool:
        return name in self.headers

    def checked_header(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> ArrayHeader:
        """The header of array ``name``, refused if its values are not plain numbers, booleans or text."""
        if dtype.hasobject:
            raise self.error(f"the array {name!r} holds Python objects ({dtype}), which would need pickle; "
                             "xaikit never loads pickled data")
        if dtype.names is not None or dtype.subdtype is not None or dtype.kind not in _NUMERIC_KINDS + "SU":
            raise self.error(f"the array {name!r} has the dtype {dtype}; xaikit writes plain numbers")
        return ArrayHeader(tuple(int(s) for s in shape), dtype)

    def require(self, name: str, *, kinds: str = _NUMERIC_KINDS, ndim: int | None = None,
                dtype: Any = None) -> ArrayHeader:
        """The header of ``name``, checked: present, of the dtype kinds (or exact dtype), and rank given."""
        header = self.headers.get(name)
        if header is None:
            raise self.error(f"the array {name!r} is missing")
        if dtype is not None and header.dtype != np.dtype(dtype):
            raise self.error(f"the array {name!r} is {header.dtype}; it must be {np.dtype(dtype)}")
        if header.dtype.kind not in kinds:
            wanted = {"i": "integers", "u": "integers", "f": "floats", "b": "booleans"}
            names = sorted({wanted.get(k, k) for k in kinds})
            raise self.error(f"the array {name!r} holds {header.dtype} values; it must hold {' or '.join(names)}")
        if ndim is not None and len(header.shape) != ndim:
            raise self.error(f"the array {name!r} has shape {header.shape}; it must have {ndim} dimension(s)")
        return header

    def read_numeric(self) -> dict[str, np.ndarray]:
        """Every array, each checked to hold numbers or booleans."""
        for name in self.headers:
            self.require(name)
        return {name: self.read(name) for name in self.headers}


class ArraysInMemory(ArrayChecks):
    """Arrays about to be written, checked as :class:`NpzReader` will check them when the file is read.

    Parameters
    ----------
    arrays
        Name -> array (NumPy arrays; what ``np.savez`` would write).
    error
        Makes the exception a problem raises (the writer's: naming what cannot be written).
    """

    def __init__(self, arrays: dict[str, np.ndarray], error: Any) -> None:
        self._arrays = arrays
        self._error = error
        self.headers = {name: self.checked_header(name, a.shape, a.dtype) for name, a in arrays.items()}

    def error(self, problem: str) -> Exception:
        return self._error(problem)

    def read(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            raise self.error(f"the array {name!r} is missing")
        return self._arrays[name]


class NpzReader(ArrayChecks):
    """An ``.npz`` file whose member headers are checked before anything is loaded.

    Parameters
    ----------
    path
        The file.
    what
        What the file should be, for messages (``"xaikit Explanation file"``).
    max_bytes
        Refuse files whose arrays together would need more memory than this (None: no
        bound).

    Raises
    ------
    FileFormatError
        Not a zip archive, truncated, a member that is not a plain ``.npy`` array of
        numbers, a header that disagrees with the member's size, or too large.
    FileNotFoundError, PermissionError
        As :func:`open` raises them.
    """

    def __init__(self, path: str | os.PathLike[str], *, what: str, max_bytes: int | None = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path)
        self.what = what
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except zipfile.BadZipFile:
            raise self.error(_zip_problem(self.path)) from None
        except _READ_ERRORS as exc:
            raise self.error(f"its zip directory is damaged ({exc})") from None
        try:
            self.headers = self._read_headers()
            total = sum(h.nbytes for h in self.headers.values())
            if max_bytes is not None and total > max_bytes:
                raise self.error(f"its arrays would need {total / 2**20:,.0f} MiB of memory, more than max_bytes="
                                 f"{max_bytes:,}; pass a larger max_bytes if you trust the file")
        except BaseException:
            self._zip.close()
            raise

    # ------------------------------------------------------------------ helpers
    def error(self, problem: str) -> FileFormatError:
        """A :class:`FileFormatError` naming the file: ``<path> is not a readable <what>: <problem>``."""
        return FileFormatError(f"{self.path} is not a readable {self.what}: {problem}")

    def __enter__(self) -> NpzReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    # ------------------------------------------------------------------ headers
    def _read_headers(self) -> dict[str, ArrayHeader]:
        headers: dict[str, ArrayHeader] = {}
        for info in self._zip.infolist():
            if not info.filename.endswith(".npy") or info.is_dir():
                raise self.error(f"it holds {info.filename!r}, which is not a .npy array")
            name = info.filename[:-4]
            if name in headers:
                raise self.error(f"it holds the array {name!r} twice")
            try:
                with self._zip.open(info) as fp:
                    version = np.lib.format.read_magic(fp)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
                    else:
                        raise ValueError(f"unsupported .npy format version {version}")
                    header_size = fp.tell()
            except _READ_ERRORS as exc:
                raise self.error(f"the header of the array {name!r} is damaged ({exc})") from None
            header = self.checked_header(name, shape, dtype)
            if header.nbytes + header_size != info.file_size:
                raise self.error(f"the array {name!r} claims {header.describe()} ({header.nbytes:,} bytes) but its "
                                 f"member holds {info.file_size - header_size:,} bytes: the file is damaged or was "
                                 "altered")
            headers[name] = header
        return headers

    # ------------------------------------------------------------------ data
    def read(self, name: str) -> np.ndarray:
        """Load one member (its header was checked when the file was opened)."""
        if name not in self.headers:
            raise self.error(f"the array {name!r} is missing")
        try:
            with self._zip.open(name + ".npy") as fp:
                return np.lib.format.read_array(fp, allow_pickle=False)
        except _READ_ERRORS as exc:
            raise self.error(f"the data of the array {name!r} is damaged ({exc})") from None

    def read_json(self, name: str) -> Any:
        """A JSON document stored as a 1-D uint8 array (how xaikit stores metadata)."""
        self.require(name, ndim=1, dtype=np.uint8)
        try:
            return json.loads(self.read(name).tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise self.error(f"its metadata {name!r} is not valid JSON ({exc})") from None
