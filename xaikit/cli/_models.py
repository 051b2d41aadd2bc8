"""Loading the model a command explains: files, SavedModel folders, Keras applications, the zoo.

=====================  ==================================================================
source                 how it is loaded
=====================  ==================================================================
``--model m.keras``    :func:`xaikit_tensorflow.loading.load_model` (Keras safe mode on)
``--model m.h5``       the same (Keras 3 reads legacy HDF5 model files)
``--model folder/``    a TensorFlow SavedModel, only with ``--unsafe`` (its graph runs as
                       saved): ``keras.layers.TFSMLayer`` in a one-layer Functional model
``--arch VGG16``       ``keras.applications.VGG16(weights=..., input_shape=..., classes=...)``
``--zoo shapes_cnn4``  :func:`xaikit_tensorflow.zoo.load_model` (shipped, offline)
=====================  ==================================================================

What runs code is refused unless the user passes ``--unsafe`` after deciding to trust
the file: a ``Lambda`` layer (Keras safe mode) and any SavedModel. A damaged file gets
an error naming it and what is wrong (see :mod:`xaikit_tensorflow.loading`).

A SavedModel is an opaque graph: its layers are not visible. Methods that only need
the input gradient or forward passes work (``vanilla_gradients``, ``gradient_x_input``,
``smoothgrad``, ``integrated_gradients``, ``expected_gradients`` at the input,
``occlusion``) with ``--score output`` (the last activation cannot be seen, so the
logit cannot be taken); ``gradcam``/``gradcam++``, layer-wise expected gradients,
``activations`` and ``filters`` need a ``.keras``/``.h5`` file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, MissingDependencyError, ModelError

__all__ = ["LoadedModel", "load_model", "top_level_layers", "find_layer", "arch_names"]


@dataclass
class LoadedModel:
    """A model ready to explain, and what xaikit knows about it.

    Attributes
    ----------
    model : keras.Model
    source : str
        What was loaded, for messages and figure titles.
    input_size : tuple of (int or None)
        ``(H, W)`` of the model input (None for a free dimension).
    channels : int
        Input channels (1 or 3).
    n_outputs : int
        Width of the model output.
    default_preprocess : str or None
        The preprocessing xaikit *knows* the model takes (zoo models: ``"scale255"``),
        else None (the commands then default to ``"none"`` and say so).
    family : str or None
        The ``keras.applications`` family of an ``--arch`` model (``"vgg16"``), whose
        ``preprocess_input`` the weights were trained with.
    class_names : list of str or None
        Class names shipped with the model (zoo models).
    opaque : bool
        True for a SavedModel (no visible layers).
    zoo : str or None
        The zoo name, if the model came from the zoo.
    """

    model: Any
    source: str
    input_size: tuple[int | None, int | None]
    channels: int
    n_outputs: int
    default_preprocess: str | None = None
    family: str | None = None
    class_names: list[str] | None = None
    opaque: bool = False
    zoo: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        """Classes a target can name: 2 for a single (sigmoid) output, else the output width."""
        return 2 if self.n_outputs == 1 else self.n_outputs


def _quiet_tensorflow() -> None:
    from ._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()


def _keras() -> Any:
    _quiet_tensorflow()
    try:
        import keras
    except ImportError:
        raise MissingDependencyError('loading models needs TensorFlow and Keras 3: pip install "xaikit[tensorflow]"') \
            from None
    return keras


def _loading() -> Any:
    """:mod:`xaikit_tensorflow.loading` (model files and SavedModels), or the error naming the extra to install."""
    _keras()
    try:
        from xaikit_tensorflow import loading
    except ImportError:
        raise MissingDependencyError('loading model files needs the native TensorFlow backend: '
                                     'pip install "xaikit[tensorflow]"') from None
    return loading


def arch_names() -> list[str]:
    """Architectures of ``keras.applications`` (``VGG16``, ``ResNet50``, ``Xception``, ...)."""
    keras = _keras()
    apps = keras.applications
    return sorted(n for n in dir(apps) if n[:1].isupper() and callable(getattr(apps, n)))


def _load_arch(name: str, weights: str, input_size: tuple[int, int] | None, classes: int | None,
               channels: int) -> tuple[Any, str]:
    keras = _keras()
    names = arch_names()
    match = {n.lower(): n for n in names}.get(name.lower())
    if match is None:
        raise InputError(f"unknown architecture {name!r}; keras.applications has: {', '.join(names)}")
    builder = getattr(keras.applications, match)
    family = builder.__module__.rsplit(".", 1)[-1]
    w = weights.strip()
    if w.lower() == "none":
        w_arg: Any = None
    elif w.lower() == "imagenet":
        w_arg = "imagenet"  # keras downloads into ~/.keras/models unless the file is cached there
    else:
        p = Path(w)
        if not p.is_file():
            raise InputError(f"--weights {w}: no such file; pass a weights file (.h5 / .weights.h5), 'none' "
                             "(random initialisation) or 'imagenet' (downloaded once by Keras into ~/.keras)")
        w_arg = str(p)
    kwargs: dict[str, Any] = {"weights": w_arg, "include_top": True}
    if input_size is not None:
        kwargs["input_shape"] = (int(input_size[0]), int(input_size[1]), channels)
    if classes is not None:
        kwargs["classes"] = int(classes)
    try:
        model = builder(**kwargs)
    except (ValueError, TypeError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"cannot build {match}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}): {first}") \
            from None
    return model, family


def top_level_layers(model: Any) -> list[Any]:
    """``model.layers`` without input layers: what the seeds' ``model.layers[:8]`` indexes."""
    keras = _keras()
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def find_layer(model: Any, name: str) -> Any:
    """The layer called ``name`` (``outer/inner`` reaches into nested models); unknown names list candidates."""
    keras = _keras()
    found: dict[str, Any] = {}

    def walk(container: Any, prefix: str) -> None:
        for layer in container.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            found.setdefault(layer.name, layer)
            found[prefix + layer.name] = layer
            if isinstance(layer, keras.Model):
                walk(layer, prefix + layer.name + "/")

    walk(model, "")
    if name not in found:
        names = [n for n in found if "/" not in n] + [n for n in found if "/" in n]
        raise InputError(f"unknown layer {name!r}; the model's layers are: {', '.join(names)}")
    return found[name]


def load_model(*, model_path: str | None = None, arch: str | None = None, zoo: str | None = None,
               weights: str | None = None, input_size: tuple[int, int] | None = None, classes: int | None = None,
               unsafe: bool = False) -> LoadedModel:
    """Load the model named by exactly one of ``model_path``, ``arch`` or ``zoo``."""
    given = [name for name, v in (("--model", model_path), ("--arch", arch), ("--zoo", zoo)) if v]
    if len(given) != 1:
        raise InputError("name the model with exactly one of --model FILE|FOLDER, --arch NAME --weights FILE|none, "
                         f"--zoo NAME; got {', '.join(given) or 'none'}")
    if arch is None and (weights is not None or classes is not None):
        raise InputError("--weights and --classes configure a keras.applications architecture; use them with --arch")
    opaque = False
    family = None
    default_preprocess = None
    class_names = None
    notes: list[str] = []
    if zoo is not None:
        _quiet_tensorflow()
        try:
            from xaikit_tensorflow import zoo as zoo_module
        except ImportError:
            raise MissingDependencyError('zoo models need the native TensorFlow backend: '
                                         'pip install "xaikit[tensorflow]"') from None
        info = zoo_module.model_info(zoo)
        try:
            model = zoo_module.load_model(zoo)
        except FileNotFoundError as exc:
            raise InputError(str(exc)) from None
        source = f"zoo:{zoo}"
        default_preprocess = "scale255"  # zoo models take pixels / 255 (their training data is in [0, 1])
        class_names = list(info.class_names)
    elif arch is not None:
        if weights is None:
            raise InputError(f"--arch {arch} needs --weights: a weights file, 'none' (random initialisation) or "
                             "'imagenet' (downloaded once by Keras)")
        model, family = _load_arch(arch, weights, input_size, classes, 3)
        source = f"{arch} ({'random weights' if weights.lower() == 'none' else Path(weights).name})"
    else:
        path = Path(model_path)  # type: ignore[arg-type]
        if not path.exists():
            raise InputError(f"--model {path}: no such file or folder")
        model = _loading().load_model(path, unsafe=unsafe, input_size=input_size)
        if path.is_dir():
            opaque = True
            notes.append("SavedModel: layers are not visible (gradcam, activations and filters need a .keras/.h5 "
                         "file); the output is explained as is (--score output)")
        source = path.name or str(path)
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1:
        raise ModelError(f"the model {source} must have one image input; it has "
                         f"{len(inputs) if inputs else 'no known'} inputs")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[3] not in (1, 3):
        raise ModelError(f"the model {source} takes inputs of shape {shape}; xaikit's command line explains image "
                         "classifiers taking (N, H, W, 1 or 3) batches")
    outputs = getattr(model, "outputs", None)
    n_outputs = int(outputs[0].shape[-1]) if outputs and outputs[0].shape[-1] is not None else 1
    size: tuple[int | None, int | None] = (shape[1], shape[2])
    return LoadedModel(model, source, size, int(shape[3]), n_outputs, default_preprocess, family, class_names,
                       opaque, zoo, notes)
