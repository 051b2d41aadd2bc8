"""Loading the model a command explains: the options, mapped onto :func:`xaikit.models.open_model`.

=====================  ==================================================================
option                 how it is loaded
=====================  ==================================================================
``--model m.keras``    the backend that reads the file (Keras ``.keras``/``.h5``, a
                       SavedModel folder, PyTorch ``.pt``, ``.onnx``, ...), see
                       :func:`xaikit.registry.load_model`
``--model pkg.mod:fn`` a Python callable returning class scores (runs your code: --unsafe)
``--arch VGG16``       a named architecture (``keras.applications``, torchvision), with
                       ``--weights FILE|none``
``--zoo shapes_cnn4``  :func:`xaikit.zoo.load_model` (``--framework torch`` for the twins)
=====================  ==================================================================

What runs code is refused unless the user passes ``--unsafe`` after deciding to trust
the file: a ``Lambda`` layer (Keras safe mode), a SavedModel graph, TorchScript, a
pickled module, a Python callable. A damaged file gets an error naming it and what is
wrong.

A SavedModel is an opaque graph: its layers are not visible. Methods that only need
the input gradient or forward passes work (``vanilla_gradients``, ``gradient_x_input``,
``smoothgrad``, ``integrated_gradients``, ``expected_gradients`` at the input,
``occlusion``) with ``--score output`` (the last activation cannot be seen, so the
logit cannot be taken); ``gradcam``/``gradcam++``, layer-wise expected gradients,
``activations`` and ``filters`` need a ``.keras``/``.h5`` file.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from ..models import OpenedModel

__all__ = ["LoadedModel", "load_model", "model_framework", "RANDOM_WEIGHTS_SEED"]

#: What a command works with (the core's :class:`xaikit.models.OpenedModel`).
LoadedModel = OpenedModel

#: The seed of ``--weights none``: random weights are the same on every run (and said so).
RANDOM_WEIGHTS_SEED = 0

_KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
_TORCH_SUFFIXES = (".pt", ".pth")


def model_framework(*, model_path: str | None, arch: str | None, zoo: str | None, weights: str | None,
                    framework: str | None) -> str | None:
    """The framework the model needs, as far as the options tell without importing one: ``"keras"``, ``"torch"``,
    or None (another file: its backend imports what it needs)."""
    if framework is not None:
        return framework
    if zoo:
        return "keras"
    files = [Path(p) for p in (model_path, weights) if p and p.strip().lower() not in ("none", "imagenet")]
    for p in files:
        if p.is_dir() or p.suffix.lower() in _KERAS_SUFFIXES:
            return "keras"
        if p.suffix.lower() in _TORCH_SUFFIXES:
            return "torch"
    if arch:  # torchvision's names are lower case (resnet18), keras.applications' CamelCase (ResNet50)
        return "torch" if arch == arch.lower() else "keras"
    return None


def _announce(framework: str, log: Callable[[str], None]) -> None:
    module = {"keras": "tensorflow", "torch": "torch"}[framework]
    if module not in sys.modules:
        log(f"loading {'TensorFlow' if framework == 'keras' else 'PyTorch'} ...")


def load_model(*, model_path: str | None = None, arch: str | None = None, zoo: str | None = None,
               weights: str | None = None, input_size: tuple[int, int] | None = None, classes: int | None = None,
               unsafe: bool = False, framework: str | None = None,
               log: Callable[[str], None] = lambda message: None) -> OpenedModel:
    """Open the model named by exactly one of ``--model``, ``--arch`` or ``--zoo`` (or ``--arch`` with its
    weights file as ``--model``).

    Only the framework the model needs is imported (TensorFlow with its start-up lines muted), and ``log`` says
    which before the import's seconds pass. ``--weights none`` draws random weights seeded by
    :data:`RANDOM_WEIGHTS_SEED`.
    """
    from ..models import open_model
    from ._quiet import import_tensorflow_quietly, import_torch_first

    needs = model_framework(model_path=model_path, arch=arch, zoo=zoo, weights=weights, framework=framework)
    guessed = needs if framework is None and arch else None
    if needs is not None:
        _announce(needs, log)
    if needs == "keras":
        import_tensorflow_quietly()
    elif needs == "torch":
        import_torch_first()
    seed = RANDOM_WEIGHTS_SEED if arch and (weights or "").strip().lower() == "none" else None
    options = {"path": model_path, "arch": arch, "zoo": zoo, "weights": weights, "input_size": input_size,
               "classes": classes, "unsafe": unsafe, "seed": seed}
    try:
        return open_model(**options, framework=framework or guessed)  # type: ignore[arg-type]
    except InputError as exc:
        if guessed is None or not str(exc).startswith("unknown architecture"):
            raise
    # the name is not the guessed framework's (an architecture only the other framework knows): ask both
    other = "keras" if guessed == "torch" else "torch"
    _announce(other, log)
    import_tensorflow_quietly(torch_first=True)
    return open_model(**options, framework=None)  # type: ignore[arg-type]

