"""Opening the model to explain from a name: a model file, an architecture, a zoo entry.

Framework-free: every step goes through the backends' model services
(:mod:`xaikit.services`), so the CLI and the bench open Keras, PyTorch, ONNX or
black-box models the same way.

=====================  ==================================================================
source                 how it is opened
=====================  ==================================================================
``path="m.keras"``     the backend that reads the suffix (:func:`xaikit.registry.load_model`):
                       ``.keras``/``.h5``/SavedModel folders (Keras), ``.pt``/``.pth``
                       (PyTorch), ``.onnx`` ...; what carries code needs ``unsafe=True``
``arch="VGG16"``       the backend whose services build that architecture
                       (``keras.applications``, torchvision), random weights or a file
``zoo="shapes_cnn4"``  :func:`xaikit.zoo.load_model` in the chosen framework
=====================  ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .spec import ModelSpec

__all__ = ["OpenedModel", "open_model", "find_architecture"]


@dataclass
class OpenedModel:
    """A model ready to explain, and what xaikit knows about it before seeing images.

    Attributes
    ----------
    model
        The framework's model object.
    services
        Its :class:`~xaikit.services.ModelServices`.
    spec : ModelSpec
        What is known without images (``input_shape`` may hold ``None``; ``n_outputs`` is
        0 until the model has been described with images when it cannot tell).
    source : str
        What was loaded, for messages and figure titles.
    default_preprocess : str or None
        The preprocessing xaikit *knows* the model takes (zoo: ``"scale255"``; an
        architecture: its family, e.g. ``"vgg16"``, or ``"torch"``), else None.
    family : str or None
        The architecture family whose preprocessing the original weights were trained with.
    class_names : list of str or None
        Class names shipped with the model (zoo models).
    opaque : bool
        True when the layers are not visible (a SavedModel, a black box).
    zoo : str or None
        The zoo name, if the model came from the zoo.
    notes : list of str
        Things the user should know (logged by the CLI).
    """

    model: Any
    services: Any
    spec: ModelSpec
    source: str
    default_preprocess: str | None = None
    family: str | None = None
    class_names: list[str] | None = None
    opaque: bool = False
    zoo: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def layout(self) -> str:
        return self.spec.layout

    @property
    def input_size(self) -> tuple[int | None, int | None]:
        """``(H, W)`` of the model input (None for a free dimension)."""
        return self.spec.image_size

    @property
    def channels(self) -> int:
        """Input channels; 3 (RGB) when the model does not say (a note tells the user)."""
        return self.spec.channels or 3

    @property
    def n_outputs(self) -> int:
        return self.spec.n_outputs

    @property
    def n_classes(self) -> int:
        """Classes a target can name: 2 for a single (sigmoid or logit) output, else the output width."""
        return self.spec.n_classes if self.spec.n_outputs else 0

    def described(self, image_shape: tuple[int, ...]) -> OpenedModel:
        """This model with its spec filled in for images of ``image_shape`` (one probe pass when needed)."""
        import numpy as np

        spec = self.services.describe(self.model, np.zeros((1, *image_shape), np.float32))
        self.spec = spec
        return self


def find_architecture(name: str, framework: str | None = None) -> tuple[Any, str]:
    """The model services that build architecture ``name`` and its exact spelling there."""
    from .registry import discover_backends, get_services

    candidates = []
    for spec in discover_backends().values():
        if not spec.native or not spec.services or spec.missing():
            continue
        if framework is not None and framework not in spec.frameworks:
            continue
        services = get_services(spec.name)
        names = services.architectures()
        exact = [n for n in names if n == name] or [n for n in names if n.lower() == name.lower()]
        if exact:
            candidates.append((services, exact[0], names))
    exact_case = [c for c in candidates if c[1] == name]
    if exact_case:
        return exact_case[0][0], exact_case[0][1]
    if len(candidates) == 1:
        return candidates[0][0], candidates[0][1]
    if len(candidates) > 1:
        frameworks = ", ".join(c[0].framework for c in candidates)
        raise InputError(f"architecture {name!r} exists in several frameworks ({frameworks}); choose one with "
                         "framework=... (--framework)")
    raise InputError(f"unknown architecture {name!r}; Keras names are like 'VGG16' (keras.applications), torchvision "
                     "names like 'resnet18' (installed frameworks only)")


def open_model(*, path: str | None = None, arch: str | None = None, zoo: str | None = None,
               weights: str | None = None, input_size: tuple[int, int] | None = None, classes: int | None = None,
               unsafe: bool = False, framework: str | None = None, seed: int | None = None) -> OpenedModel:
    """Open the model named by exactly one of ``path``, ``arch`` or ``zoo``.

    Parameters
    ----------
    path
        A model file or folder (by suffix, see :func:`xaikit.registry.load_model`), or
        ``package.module:function`` for a Python callable (runs your code: needs ``unsafe``).
    arch, weights, classes
        A named architecture with ``weights`` ``"none"`` (random, seeded by ``seed``), or a
        weights file; ``classes`` outputs. ``path`` with ``arch`` (and no ``weights``) is
        the architecture's weights file (a state dict).
    zoo
        A zoo model (:mod:`xaikit.zoo`).
    input_size
        ``(H, W)`` for models that do not declare one (a SavedModel, a PyTorch module) or
        for an architecture built at another size.
    unsafe
        Allow what runs code (Lambda layers, SavedModels, TorchScript, pickles, callables).
    framework
        ``"keras"`` or ``"torch"`` for ``zoo`` and ``arch`` (default: Keras for the zoo; the
        framework whose architectures know the name).
    """
    from . import zoo as zoo_module
    from .registry import services_for

    if path and arch and weights is None:  # --model r.pt --arch resnet18: the file holds the architecture's weights
        path, weights = None, path
    given = [name for name, v in (("path", path), ("arch", arch), ("zoo", zoo)) if v]
    if len(given) != 1:
        raise InputError("name the model with exactly one of a model file (--model), an architecture (--arch NAME "
                         "--weights FILE|none, or --arch NAME --model FILE) or a zoo model (--zoo NAME); got "
                         f"{', '.join(given) or 'none'}")
    if arch is None and (weights is not None or classes is not None):
        raise InputError("weights and classes configure a named architecture; use them with --arch")
    notes: list[str] = []
    default_preprocess = family = None
    class_names = None
    opaque = False
    if zoo is not None:
        info = zoo_module.model_info(zoo)
        try:
            model = zoo_module.load_model(zoo, framework or "keras")
        except FileNotFoundError as exc:
            raise InputError(str(exc)) from None
        source = f"zoo:{zoo}" + (f" ({framework})" if framework and framework != "keras" else "")
        default_preprocess = info.preprocess
        class_names = list(info.class_names)
    elif arch is not None:
        if weights is None:
            raise InputError(f"--arch {arch} needs --weights: a weights file, 'none' (random initialisation) or "
                             "'imagenet' (downloaded once by Keras)")
        services, name = find_architecture(arch, framework)
        model = services.architecture(name, weights=weights, input_size=input_size, classes=classes, seed=seed)
        family = services.architecture_preprocess(name)
        default_preprocess = None
        if weights.strip().lower() == "none":
            source = f"{name} (random weights{'' if seed is None else f', seed {seed}'})"
        else:
            source = f"{name} ({Path(weights).name})"
    else:
        assert path is not None
        model, source, opaque, note = _open_path(path, unsafe=unsafe, input_size=input_size)
        if note:
            notes.append(note)
    services = services_for(model)
    spec = services.describe(model, None)
    if spec.channels is None:
        notes.append("the model does not declare its input channels: images are read as RGB (3 channels)")
    opened = OpenedModel(model, services, spec, source, default_preprocess, family, class_names, opaque, zoo, notes)
    if zoo is not None and None in spec.image_size:  # a PyTorch twin takes any size: the zoo says which it was made for
        hh, ww, cc = zoo_module.model_info(zoo).input_shape
        opened = opened.described((cc, hh, ww) if spec.layout == "NCHW" else (hh, ww, cc))
        spec = opened.spec
    h, w = spec.image_size
    if input_size is not None and None not in (h, w) and tuple(input_size) != (h, w) and arch is None:
        raise InputError(f"--input-size {input_size[0]} {input_size[1]} does not match the model input {h}x{w}; "
                         "images are resized to the model input, drop --input-size")
    if not spec.n_outputs and spec.channels and (input_size or None not in (h, w)):
        size = (h, w) if None not in (h, w) else tuple(input_size)  # type: ignore[arg-type]
        shape = (*size, spec.channels) if spec.layout == "NHWC" else (spec.channels, *size)
        opened.described(shape)
    return opened


def _open_path(path: str, *, unsafe: bool, input_size: tuple[int, int] | None) -> tuple[Any, str, bool, str]:
    from .registry import load_model

    p = Path(path)
    if not p.exists():
        if ":" in path and not p.suffix:
            from .registry import get_services

            services = get_services("callable")
            return services.load(path, unsafe=unsafe), path, True, ""
        raise InputError(f"--model {p}: no such file or folder")
    options = {"input_size": input_size} if input_size is not None else {}
    model = load_model(p, unsafe=unsafe, **options)
    opaque = p.is_dir()
    note = ("SavedModel: layers are not visible (gradcam, activations and filters need a .keras/.h5 file); the output "
            "is explained as is (--score output)") if opaque else ""
    return model, p.name or str(p), opaque, note
