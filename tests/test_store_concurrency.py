"""The bench results store under concurrent processes, and with damaged side files.

Real processes (subprocess) write to one store: no line may be lost or cut, and two
runners on the same cells compute each cell exactly once. The runners run a fake suite
(cheap cells through the runner's own claim-compute-store path) so the test takes seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from xaikit.errors import FileFormatError
from xaikit.execution import ResultStore

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from xaikit.execution import ResultStore

    folder, name, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    while not (Path(folder) / "go").exists():  # start together
        time.sleep(0.005)
    store = ResultStore(folder)
    for i in range(n):
        store.put(f"{name}-{i}", {"result": {"payload": (name * size)[:size], "i": i}})
""")

RUNNER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    import numpy as np
    from xaikit.bench.runner import _Runner

    out, computations, n, fresh = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "fresh"
    # Both runs start before either writes: a fresh run started after the other's records would rightly
    # recompute them, so the runners are built first and only then released together.
    runner = _Runner(None, out, reuse=not fresh, log=lambda line: None, progress=False)
    (out / f"ready-{os.getpid()}").touch()
    while not (out / "go").exists():
        time.sleep(0.005)

    def cell(i):
        def compute():
            fd = os.open(computations, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.write(fd, f"{os.getpid()} cell{i}\\n".encode())
            os.close(fd)
            time.sleep(0.01)
            arrays = {"attributions": np.full((4, 8, 8), i, np.float32)} if i % 3 == 0 else None
            return {"value": i}, arrays
        return compute

    for i in range(n):
        record = runner.cell(f"cell{i}", f"cell {i}", cell(i), {"kind": "fake"})
        assert record["result"]["value"] == i, record
        if i % 3 == 0:
            assert runner.arrays(f"cell{i}")["attributions"][0, 0, 0] == i
    print(json.dumps({"computed": runner.results.computed, "reused": runner.results.reused}))
""")


def _start(tmp_path: Path, script: str, *args: object) -> subprocess.Popen:
    path = tmp_path / "script.py"
    path.write_text(script)
    return subprocess.Popen([sys.executable, str(path), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(condition: object, procs: list[subprocess.Popen], timeout: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            _finish(procs)  # raises with the failing process's stderr
            raise AssertionError("the processes did not get ready")
        time.sleep(0.01)


def _finish(procs: list[subprocess.Popen]) -> list[str]:
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        outs.append(out)
    return outs


def _lines(store: Path) -> list[dict]:
    return [json.loads(line) for line in (store / ResultStore.FILE).read_text().splitlines()]  # every line parses


def test_concurrent_writers_of_large_records_lose_no_line(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    n_procs, n_records, size = 4, 8, 200_000
    procs = [_start(tmp_path, WRITER, folder, f"w{p}", n_records, size) for p in range(n_procs)]
    (folder / "go").touch()
    _finish(procs)
    records = _lines(folder)
    assert len(records) == n_procs * n_records
    assert {r["key"] for r in records} == {f"w{p}-{i}" for p in range(n_procs) for i in range(n_records)}
    assert all(len(r["result"]["payload"]) == size for r in records)
    assert len(ResultStore(folder)) == n_procs * n_records


@pytest.mark.parametrize("mode", ["reuse", "fresh"])
def test_two_runners_compute_every_cell_exactly_once(tmp_path, mode):
    out, n = tmp_path / "out", 30
    out.mkdir()
    if mode == "fresh":  # old records of the same cells, which a fresh run must not reuse
        old = ResultStore(out)
        for i in range(n):
            old.put(f"cell{i}", {"result": {"value": -1}})
    computations = tmp_path / "computations.txt"
    procs = [_start(tmp_path, RUNNER, out, computations, n, mode) for _ in range(2)]
    _wait_for(lambda: len(list(out.glob("ready-*"))) == 2, procs)
    (out / "go").touch()
    counts = [json.loads(line) for line in _finish(procs)]
    done = Counter(line.split()[1] for line in computations.read_text().splitlines())
    assert done == Counter({f"cell{i}": 1 for i in range(n)}), "every cell computed exactly once"
    assert sum(c["computed"] for c in counts) == n and all(c["computed"] + c["reused"] == n for c in counts)
    new = [r for r in _lines(out) if r["result"]["value"] >= 0]
    assert sorted(r["key"] for r in new) == sorted(f"cell{i}" for i in range(n))  # one line per cell, none lost


def test_a_damaged_side_file_is_recomputed_and_logged(tmp_path):
    from xaikit.bench.runner import _Runner

    store = ResultStore(tmp_path)
    store.put("k", {"result": {"value": 1}}, arrays={"attributions": np.ones((2, 5, 5), np.float32)})
    side = tmp_path / "cells" / "k.npz"
    side.write_bytes(side.read_bytes()[:-40])  # truncated
    with pytest.raises(FileFormatError, match=rf"{side}.*truncated"):
        ResultStore(tmp_path).arrays("k")

    logs: list[str] = []
    runner = _Runner(None, tmp_path, reuse=True, log=logs.append, progress=False)
    calls = []

    def compute():
        calls.append(1)
        return {"value": 2}, {"attributions": np.full((2, 5, 5), 2, np.float32)}

    record = runner.cell("k", "m · gradcam · explain", compute, {"kind": "explain"})
    assert calls == [1] and record["result"]["value"] == 2 and runner.results.computed == 1
    np.testing.assert_array_equal(runner.arrays("k")["attributions"], np.full((2, 5, 5), 2, np.float32))
    assert any("stored maps were damaged" in line and "truncated" in line for line in logs)
    assert any("damaged" in note for note in runner.results.notes)
    assert "cell k: damaged side file" in (tmp_path / ResultStore.LOG).read_text()

    again = _Runner(None, tmp_path, reuse=True, log=logs.append, progress=False)  # repaired: reused from now on
    assert again.cell("k", "m · gradcam · explain", compute, {"kind": "explain"})["result"]["value"] == 2
    assert calls == [1] and again.results.reused == 1


def test_lines_that_are_not_records_are_skipped(tmp_path):
    store = ResultStore(tmp_path)
    store.put("good", {"result": 1})
    with open(store.path, "a") as fh:
        fh.write('[1, 2]\n{"key": 3, "result": 1}\n{"key": "x"}\n'
                 '{"key": "y", "result": 1, "arrays": "../../etc/passwd"}\n')
    again = ResultStore(tmp_path)
    assert list(again.records) == ["good"] and again.skipped_lines == 4
    with pytest.raises(ValueError, match="no 'result'"):
        again.put("z", {"value": 1})


def test_a_claim_of_a_killed_process_is_released(tmp_path):
    """kill -9 while computing a cell: the operating system drops the lock, the next run takes the cell over."""
    code = ("import sys, time\nfrom xaikit.execution import ResultStore\n"
            f"with ResultStore({str(tmp_path)!r}).claim('cell'):\n"
            "    print('claimed', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "claimed"
    finally:
        proc.kill()
        proc.wait()
    waited = []
    with ResultStore(tmp_path).claim("cell", on_wait=lambda: waited.append(1)):
        pass
    assert waited == []  # not held any more: taken at once
