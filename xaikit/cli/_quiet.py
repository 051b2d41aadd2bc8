"""Keep TensorFlow's native start-up log lines out of the command line's output.

TensorFlow 2.21 prints its oneDNN and CUDA-probing lines through absl *before* it reads
``TF_CPP_MIN_LOG_LEVEL``, so the variable alone no longer hides them. The command line
imports TensorFlow once with the process's stderr file descriptor pointed at
``/dev/null``; Python exceptions still propagate, and ``TF_CPP_MIN_LOG_LEVEL=0`` shows
everything. The Python API never does this: a library does not touch its host's stderr.
"""

from __future__ import annotations

import contextlib
import os
import sys


def import_torch_first() -> None:
    """Import PyTorch and torchvision (those installed) if TensorFlow is not imported yet.

    CUDA builds of PyTorch ship Triton, whose LLVM crashes the process (a segmentation
    fault) when it is loaded after TensorFlow's; a command that may use both imports
    torch first (docs/backends/torch.md).
    """
    import importlib.util

    if "tensorflow" in sys.modules:
        return
    for name in ("torch", "torchvision"):
        if name not in sys.modules and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def import_tensorflow_quietly(*, torch_first: bool = False) -> None:
    """Import TensorFlow (if installed and not yet imported) without its start-up chatter.

    ``torch_first``: the command may use PyTorch too, so it is imported before
    (:func:`import_torch_first`). A missing TensorFlow is not an error here: the caller's
    own import then raises the error that names the extra to install.
    """
    if torch_first:
        import_torch_first()
    level = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules or level == "0":
        return
    try:
        saved = os.dup(2)
    except OSError:  # no stderr descriptor (embedded interpreter): nothing to hide
        return
    try:
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        with contextlib.suppress(ImportError):
            import tensorflow  # noqa: F401
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
