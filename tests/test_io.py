"""Atomic writing (xaikit.atomic_files): one winner among racing writers, no temporary file left, stale ones cleaned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import xaikit as xk
from xaikit.atomic_files import TEMP_MARK, atomic_path, atomic_write_bytes, is_temp_file


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if is_temp_file(p))


def _race(n: int, write) -> tuple[list[int], list[BaseException]]:
    """Run ``write(i)`` in ``n`` threads at once; return the winners and the errors."""
    wins: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            write(i)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            with lock:
                errors.append(exc)
        else:
            with lock:
                wins.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins, errors


def test_no_overwrite_has_exactly_one_winner_even_after_every_writer_passed_the_check(tmp_path):
    """Every writer is past the early exists() check before any finishes: only the final link decides."""
    target = tmp_path / "out.bin"
    n = 8
    barrier = threading.Barrier(n)

    def write(i: int) -> None:
        with atomic_path(target, overwrite=False) as tmp:
            tmp.write_bytes(str(i).encode())
            barrier.wait(timeout=30)

    wins, errors = _race(n, write)
    assert len(wins) == 1 and len(errors) == n - 1
    assert all(isinstance(e, FileExistsError) and "overwrite=True" in str(e) for e in errors)
    assert target.read_bytes() == str(wins[0]).encode()  # the winner's content, whole
    assert _temps(tmp_path) == []


def test_explanation_save_from_eight_threads_one_winner(tmp_path):
    exp = xk.Explanation(np.zeros((2, 4, 4), np.float32), "m", "b", np.array([0, 1]), np.zeros((2, 2), np.float32),
                         np.array([0, 1]), {}, 0.0)
    target = tmp_path / "exp.npz"
    wins, errors = _race(8, lambda i: exp.save(target))
    assert len(wins) == 1 and all(isinstance(e, FileExistsError) for e in errors)
    assert xk.Explanation.load(target).shape == (2, 4, 4)
    assert _temps(tmp_path) == []


def test_overwrite_replaces_and_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"two" and _temps(tmp_path) == []


def test_temporary_names_are_recognisable(tmp_path):
    with atomic_path(tmp_path / "fig.png") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".fig.png" + TEMP_MARK) and is_temp_file(tmp)
        assert f"-{os.getpid()}-" in tmp.name


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_processes_are_removed_live_ones_kept(tmp_path):
    target = tmp_path / "fig.png"
    with atomic_path(target) as mine:  # a name of this machine, as a dead or live writer would have made it
        host = mine.name[len(".fig.png" + TEMP_MARK):].split("-")[0]
    dead = tmp_path / f".fig.png{TEMP_MARK}{host}-{_dead_pid()}-abc123"
    dead_staged = tmp_path / f".fig.png{TEMP_MARK}{host}-{_dead_pid()}-abc123.keras"  # a suffix added by the writer
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = tmp_path / f".fig.png{TEMP_MARK}{host}-{live.pid}-def456"
        elsewhere = tmp_path / f".fig.png{TEMP_MARK}00000000-{_dead_pid()}-ghi789"  # another machine's
        other = tmp_path / f".other.png{TEMP_MARK}{host}-{_dead_pid()}-jkl012"  # another target's
        for p in (dead, dead_staged, alive, elsewhere, other):
            p.write_bytes(b"partial")
        atomic_write_bytes(target, b"png")
        assert _temps(tmp_path) == sorted(p.name for p in (alive, elsewhere, other))
    finally:
        live.kill()
        live.wait()


def test_kill_9_while_writing_then_the_next_write_cleans_up(tmp_path):
    target = tmp_path / "plot.png"
    code = ("import sys, time\nfrom xaikit.atomic_files import atomic_path\n"
            f"with atomic_path({str(target)!r}) as tmp:\n"
            "    tmp.write_bytes(b'half a png')\n    print(tmp, flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        left = Path(proc.stdout.readline().strip())
        assert left.is_file()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert left.is_file() and not target.exists()  # what kill -9 leaves
    atomic_write_bytes(target, b"png")
    assert target.read_bytes() == b"png" and _temps(tmp_path) == []
