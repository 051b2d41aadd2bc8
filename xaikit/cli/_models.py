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
``--model m.onnx``     :class:`xaikit_callable.OnnxModel` (onnxruntime; a black box)
``--model pkg.mod:f``  the callable ``f`` of module ``pkg.mod`` (or a
                       ``xaikit_callable.BlackBox`` there), only with ``--unsafe``
=====================  ==================================================================

Files and references are loaded by the model services of the backend that declares
them (:func:`xaikit.registry.backend_for_source`); what the model takes (image shape,
layout, outputs) comes from its services' ``signature`` (a plain function declares
nothing: ``--input-size`` is needed and it is called with channels-last batches).

What runs code is refused unless the user passes ``--unsafe`` after deciding to trust
the file: a ``Lambda`` layer (Keras safe mode), any SavedModel and a Python reference
(importing its module runs it). An ONNX file holds no code. A damaged file gets an
error naming it and what is wrong (see :mod:`xaikit_tensorflow.loading`,
:mod:`xaikit_callable.onnx_model`).

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

import numpy as np

from ..errors import InputError, MissingDependencyError, ModelError
from ..registry import backend_for_source, get_backend, get_services, services_for_model

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
    notes : list of str
        What the commands log about the model.
    layout : str
        How the model takes a batch: ``"NHWC"`` or ``"NCHW"`` (images are read channels-last
        and transposed for it, see :meth:`xaikit.cli._common.Setup.to_input`).
    framework : str
        Its services' framework (``"keras"``, ``"callable"``, ``"onnx"``...).
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
    layout: str = "NHWC"
    framework: str = "keras"

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
        model, source, opaque = _load_source(str(model_path), unsafe, input_size, notes)
    services = services_for_model(model)
    shape, layout, n_outputs = _signature(services, model, source, input_size, notes)
    channels = shape[2] if layout == "NHWC" else shape[0]
    size: tuple[int | None, int | None] = (shape[0], shape[1]) if layout == "NHWC" else (shape[1], shape[2])
    if len(shape) != 3 or channels not in (1, 3):
        batch = "(N, H, W, 1 or 3)" if layout == "NHWC" else "(N, 1 or 3, H, W)"
        raise ModelError(f"the model {source} takes inputs of shape (N, {', '.join(map(str, shape))}); xaikit's "
                         f"command line explains image classifiers taking {batch} batches")
    if n_outputs is None:  # only a forward pass tells: one zero image at the size the images will have
        concrete = size if None not in size else input_size
        if concrete is None:
            raise InputError(f"the model {source} accepts any image size; give --input-size H W")
        probe = (*concrete, channels) if layout == "NHWC" else (channels, *concrete)
        n_outputs = services.describe(model, np.zeros((1, *probe), np.float32)).n_outputs
    return LoadedModel(model, source, size, int(channels), int(n_outputs), default_preprocess, family, class_names,
                       opaque, zoo, notes, layout, services.framework)


def _load_source(text: str, unsafe: bool, input_size: tuple[int, int] | None, notes: list[str]
                 ) -> tuple[Any, str, bool]:
    """``(model, source, opaque)`` of ``--model``: a file or folder a backend loads, or a Python reference."""
    backend = backend_for_source(text)  # names a missing file and what each backend loads
    if "tensorflow" in get_backend(backend).requires:
        _quiet_tensorflow()
    model = get_services(backend).load(text, unsafe=unsafe, input_size=input_size)
    path = Path(text)
    if path.is_dir():
        notes.append("SavedModel: layers are not visible (gradcam, activations and filters need a .keras/.h5 "
                     "file); the output is explained as is (--score output)")
        return model, path.name or text, True
    return model, (path.name if path.exists() else text), False


def _signature(services: Any, model: Any, source: str, input_size: tuple[int, int] | None, notes: list[str]
               ) -> tuple[tuple[int | None, ...], str, int | None]:
    """``(one image's shape, layout, outputs or None)`` the model declares; a bare function declares none."""
    signature = services.signature(model)
    if signature is not None:
        if set(get_backend(services.backend).capabilities) == {"scores"}:
            notes.append(f"{source} is a black box: methods that need only scores work (occlusion); gradient and "
                         "layer methods do not")
        return tuple(signature.shape), signature.layout, signature.n_outputs
    if input_size is None:
        raise InputError(f"{source} declares no input shape; give --input-size H W (it is called with (N, H, W, 3) "
                         "float32 batches), or point --model at a xaikit_callable.BlackBox(f, layout=..., "
                         "input_shape=...) that states it")
    notes.append(f"{source} is a Python callable: it is called with (N, {input_size[0]}, {input_size[1]}, 3) float32 "
                 "batches (channels last); to state another layout or channel count, point --model at a "
                 "xaikit_callable.BlackBox(f, layout=..., input_shape=...)")
    return (int(input_size[0]), int(input_size[1]), 3), "NHWC", None
