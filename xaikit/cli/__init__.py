"""The ``xaikit`` command line.

Exit codes a script can rely on:

==== =====================================================================
0    success
1    unexpected error (a bug: please report it with the traceback)
2    usage error (unknown option, missing argument) — from Click
3    invalid input (images, model, layer, targets, parameters) — the message says the fix
4    a missing optional dependency — the message says what to install
5    an output file exists and ``--overwrite`` was not given
130  interrupted (``xaikit bench``, ``xaikit explain --out``: what finished is kept; re-run to resume)
==== =====================================================================

Each command lives in its own module and registers itself on :data:`main` (:mod:`._group`).
"""

from __future__ import annotations

import os

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing on a CPU machine) drowns the
# command's own output; keep it quiet unless the user asked for a level (see _quiet.py:
# commands that need TensorFlow import it through import_tensorflow_quietly).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from . import (  # noqa: F401 (register the commands)
    activations,
    bench,
    compare,
    demo,
    doctor,
    explain,
    filters,
    listing,
    sanity,
    speed,
    view,
)
from ._group import EXIT_DEPENDENCY, EXIT_EXISTS, EXIT_INPUT, main

__all__ = ["main", "EXIT_INPUT", "EXIT_DEPENDENCY", "EXIT_EXISTS"]
