"""Where the speed suite runs its cases: the CPU, or a CUDA GPU (``xaikit speed --device cuda``).

A case on ``cuda`` builds its PyTorch model on ``cuda:0`` (images cross from NumPy to the
GPU inside each call, as users' NumPy batches do) and runs its Keras model under
``tf.device("/GPU:0")``. Timings need no explicit synchronisation: every xaikit call returns
NumPy arrays (a copy back to the host waits for the GPU), the PyTorch floor loop ends each
pass with ``.item()``, and the Keras floor loop returns a host value. Memory cases report, on
a GPU, the peak of the framework's device allocator beside the process's RSS.

Importing this module imports no framework.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["DEVICES", "check_device", "keras_device", "torch_device", "GPUPeak"]

#: The devices the suite knows.
DEVICES = ("cpu", "cuda")


def _torch_gpu() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return str(torch.cuda.get_device_name(0))


def _tensorflow_gpu() -> str | None:
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        return None
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return gpus[0].name if gpus else None


def check_device(device: str) -> dict[str, str | None]:
    """Check that ``device`` can run the suite and say which frameworks can use it.

    Returns
    -------
    dict
        ``{"torch": name, "tensorflow": name}``: the device each framework would use, or
        ``None`` where that framework cannot use it (its cases are then left out).

    Raises
    ------
    ValueError
        For an unknown device, or ``"cuda"`` where neither PyTorch nor TensorFlow sees a GPU
        (the message says what each one reports and how to get a GPU build).
    """
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; use one of: {', '.join(DEVICES)}")
    if device == "cpu":
        return {"torch": "cpu", "tensorflow": "cpu"}
    report = {"torch": _torch_gpu(), "tensorflow": _tensorflow_gpu()}
    if report["torch"] is None and report["tensorflow"] is None:
        raise ValueError(
            "--device cuda: no GPU is visible here: PyTorch's torch.cuda.is_available() is False and TensorFlow "
            "lists no 'GPU' device. Run on a machine with an NVIDIA GPU and its driver (nvidia-smi lists it), with "
            "a CUDA build of PyTorch (PyPI's Linux wheels are) and, for the Keras cases, "
            "`pip install 'tensorflow[and-cuda]'`.")
    return report


@contextlib.contextmanager
def keras_device(device: str) -> Iterator[None]:
    """Run the Keras/TensorFlow work inside on ``device``: ``/GPU:0`` for ``"cuda"``, ``/CPU:0`` for ``"cpu"``
    (TensorFlow would otherwise place it on a GPU where there is one). Build the models inside too: their
    variables then live on that device."""
    import tensorflow as tf

    with tf.device("/GPU:0" if device == "cuda" else "/CPU:0"):
        yield


def torch_device(device: str) -> Any:
    """The ``torch.device`` of a suite device name (``"cuda"`` is ``cuda:0``)."""
    import torch

    return torch.device("cuda:0" if device == "cuda" else "cpu")


class GPUPeak:
    """Peak bytes of the framework's GPU allocator during the block (``mb``; ``None`` on the CPU).

    Parameters
    ----------
    device
        ``"cpu"`` (measures nothing) or ``"cuda"``.
    framework
        ``"torch"`` (``torch.cuda.max_memory_allocated``) or ``"tensorflow"``
        (``tf.config.experimental.get_memory_info("GPU:0")["peak"]``).
    """

    def __init__(self, device: str, framework: str) -> None:
        self.device, self.framework = device, framework
        self.mb: float | None = None
        self._start = 0

    def __enter__(self) -> GPUPeak:
        if self.device == "cuda":
            if self.framework == "torch":
                import torch

                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                self._start = int(torch.cuda.memory_allocated())
            else:
                import tensorflow as tf

                tf.config.experimental.reset_memory_stats("GPU:0")
                self._start = int(tf.config.experimental.get_memory_info("GPU:0")["current"])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device != "cuda":
            return
        if self.framework == "torch":
            import torch

            torch.cuda.synchronize()
            peak = int(torch.cuda.max_memory_allocated())
        else:
            import tensorflow as tf

            peak = int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        self.mb = (peak - self._start) / 2**20
