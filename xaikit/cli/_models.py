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

from pathlib import Path

from ..models import OpenedModel

__all__ = ["LoadedModel", "load_model"]

#: What a command works with (the core's :class:`xaikit.models.OpenedModel`).
LoadedModel = OpenedModel


def load_model(*, model_path: str | None = None, arch: str | None = None, zoo: str | None = None,
               weights: str | None = None, input_size: tuple[int, int] | None = None, classes: int | None = None,
               unsafe: bool = False, framework: str | None = None) -> OpenedModel:
    """Open the model named by exactly one of ``--model``, ``--arch`` or ``--zoo`` (TensorFlow's start-up
    lines muted, as every command does)."""
    from ..models import open_model
    from ._quiet import import_tensorflow_quietly

    path = Path(model_path) if model_path else None
    keras_file = path is not None and (path.is_dir() or path.suffix.lower() in (".keras", ".h5", ".hdf5"))
    if keras_file or arch or (zoo and framework in (None, "keras")):
        # its start-up lines would otherwise land in the command's output; an architecture may be torchvision's,
        # and torch must be imported before TensorFlow
        import_tensorflow_quietly(torch_first=bool(arch) and framework != "keras")
    return open_model(path=model_path, arch=arch, zoo=zoo, weights=weights, input_size=input_size, classes=classes,
                      unsafe=unsafe, framework=framework)

