"""Atomic file writing: a reader never sees a half-written file, and a writer never clobbers by accident.

Every file xaikit writes goes through :func:`atomic_path` (or the two helpers built on
it). The content is written to a temporary file next to the target, named
``.<name>.xaikit-tmp-<host>-<pid>-<random>`` so that it is recognisable, and moved into
place when it is complete:

- ``overwrite=True``: :func:`os.replace`, an atomic rename;
- ``overwrite=False``: :func:`os.link` of the finished file to the target name, which
  fails if the name exists. Of several writers racing for one new name exactly one wins;
  the others get :class:`FileExistsError` and leave nothing behind.

A process killed while writing (``kill -9``, a power cut) leaves its temporary file.
Writing a path removes the stale temporary files of that path left by dead processes
of this machine; a temporary file of a live process (or of another machine sharing
the folder) is never touched.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import InputError

__all__ = ["TEMP_MARK", "atomic_path", "atomic_write_bytes", "atomic_write_text", "check_writable_path", "is_temp_file"]

#: Part of the name of every temporary file xaikit writes (``.<name>.xaikit-tmp-<host>-<pid>-<random>``).
TEMP_MARK = ".xaikit-tmp-"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()  # what open() would give a new file
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def is_temp_file(path: str | os.PathLike[str]) -> bool:
    """True for the name of a temporary file written by :func:`atomic_path`."""
    return TEMP_MARK in Path(path).name


def _temp_pattern(final: Path) -> re.Pattern[str]:
    """Temporary names of ``final``; group 1 is the host tag, group 2 the writer's pid (anything may follow)."""
    return re.compile(rf"\.{re.escape(final.name)}{re.escape(TEMP_MARK)}([0-9a-f]+)-(\d+)-")


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine exists (True when that cannot be told)."""
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another account
        return True
    return True


def _remove_stale_temps(final: Path) -> None:
    """Delete temporary files of ``final`` left by dead processes of this machine."""
    pattern = _temp_pattern(final)
    try:
        names = os.listdir(final.parent)
    except OSError:
        return
    prefix = f".{final.name}{TEMP_MARK}"
    for name in names:
        match = pattern.match(name) if name.startswith(prefix) else None
        if match is None or match.group(1) != _HOST or int(match.group(2)) == os.getpid():
            continue
        if not _pid_alive(int(match.group(2))):
            with contextlib.suppress(OSError):
                os.unlink(final.parent / name)


def _new_temp(final: Path) -> Path:
    """Create an empty temporary file next to ``final`` (never another writer's) and return it."""
    fd, name = tempfile.mkstemp(prefix=f".{final.name}{TEMP_MARK}{_HOST}-{os.getpid()}-", dir=final.parent)
    os.close(fd)
    os.chmod(name, _FILE_MODE)  # mkstemp makes it 0600; the result should be an ordinary file
    return Path(name)


def _exists_message(final: Path) -> str:
    return f"{final} exists; pass overwrite=True (CLI: --overwrite) to replace it"


def _publish_new(tmp: Path, final: Path) -> None:
    """Give the finished ``tmp`` the name ``final`` only if no file has it (one winner among racing writers)."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise FileExistsError(_exists_message(final)) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        # No hard links on this file system: claim the name with O_EXCL, then swap the content in.
        try:
            fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        except FileExistsError:
            raise FileExistsError(_exists_message(final)) from None
        os.close(fd)
        os.replace(tmp, final)
        return
    tmp.unlink()


def check_writable_path(final: Path) -> None:
    """Refuse a target that is a folder, or whose folder is a file, before anything is written."""
    if final.is_dir():
        raise InputError(f"{final} is a folder, not a file name: give the path of the file to write in it "
                         f"(e.g. {final / 'name'}{final.suffix or '.npz'})")
    for parent in final.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{parent} is a file, not a folder: cannot write {final} under it; choose another "
                                 "path")
            return


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; move it into place on success.

    Parameters
    ----------
    path
        The final file name.
    overwrite
        If False and ``path`` exists, raise :class:`FileExistsError`: before anything
        is written, and again, atomically, when the finished file is put in place (a
        file that appeared meanwhile is not replaced).

    Notes
    -----
    The temporary file lives in the same directory so that putting it in place is an
    atomic rename (or link) on POSIX and Windows. On any exception the temporary file
    is removed and the previous content of ``path`` is untouched. Stale temporary files
    of ``path`` left by killed processes are removed first (see the module docstring).
    """
    final = Path(path)
    check_writable_path(final)
    if not overwrite and final.exists():
        raise FileExistsError(_exists_message(final))
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(final)
    tmp = _new_temp(final)
    try:
        yield tmp
        if overwrite:
            os.replace(tmp, final)
        else:
            _publish_new(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)
