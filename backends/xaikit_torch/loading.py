"""Loading a PyTorch model file: code only when trusted, weights into a named architecture, damage named.

==================================  ==========================================================
file (``.pt`` / ``.pth``)           how it is loaded
==================================  ==========================================================
a state dict (``torch.save(         ``torch.load(weights_only=True)`` (no code runs), then
model.state_dict(), f)``)           ``torchvision.models.get_model(arch, weights=None,
                                    num_classes=...)`` and ``load_state_dict(strict=True)``:
                                    needs ``arch=``
a checkpoint dict with a            the same, with that entry as the state dict
``"state_dict"`` or
``"model_state_dict"`` entry
a TorchScript archive               ``torch.jit.load``, only with ``unsafe=True``
(``torch.jit.save``)
a pickled module                    ``torch.load(weights_only=False)``, only with
(``torch.save(model, f)``)          ``unsafe=True``
==================================  ==========================================================

**Code runs only when trusted.** A TorchScript archive carries the model's code
(its compiled ``forward``), which runs whenever the model is called; a pickled module
runs code while it is unpickled. Both are refused unless ``unsafe=True``, as Keras
``Lambda`` layers and SavedModels are (:mod:`xaikit_tensorflow.loading`). A state dict
holds tensors only and is read with ``weights_only=True``.

**Damage is named.** A file torch cannot read is examined and the error
(:class:`~xaikit.errors.FileFormatError`) names the file and what is wrong: empty, not a
PyTorch file, truncated, a member failing its checksum.

A TorchScript model is compiled code: its modules cannot be hooked, so layer methods
(``gradcam``, activations, layer-wise expected gradients) need the Python module -- save
its ``state_dict()`` and load it with ``arch=``; methods that only need the input
gradient or forward passes work on it with ``score="output"``.
"""

from __future__ import annotations

import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any

from xaikit.errors import FileFormatError, InputError, ModelError, UnknownNameError

__all__ = ["MODEL_SUFFIXES", "load_model"]

#: File suffixes :func:`load_model` reads.
MODEL_SUFFIXES = (".pt", ".pth")
_ZIP_SIGNATURE = b"PK\x03\x04"
_PICKLE_PROTOCOL = 0x80
_TRUST = "pass unsafe=True (command line: --unsafe)"
_STATE_DICT_KEYS = ("state_dict", "model_state_dict")


def load_model(path: str | Path, *, unsafe: bool = False, arch: str | None = None,
               num_classes: int | None = None) -> Any:
    """Load a PyTorch model file as an ``nn.Module`` in eval mode, on the CPU.

    Parameters
    ----------
    path
        A ``.pt`` / ``.pth`` file: a state dict (with ``arch``), a TorchScript archive or
        a pickled module (both with ``unsafe=True``).
    unsafe
        Allow files that carry code (TorchScript, pickled modules). Pass True only for
        files you trust (you made them, or their source is trusted).
    arch
        A torchvision architecture (``"resnet18"``, ``"vgg16"``, ...) to load a state
        dict into, built with ``weights=None`` (nothing is downloaded).
    num_classes
        Output width of that architecture (torchvision's default, 1000, if not given).

    Raises
    ------
    FileFormatError
        The file is damaged, truncated or not a PyTorch file; the message names it.
    InputError
        No such file, another suffix, code that needs ``unsafe=True``, a state dict
        without ``arch``, weights that do not fit the architecture.
    UnknownNameError
        ``arch`` is not a torchvision architecture.
    ModelError
        A pickled object that is not an ``nn.Module``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file" + (" (a folder: PyTorch models are single files)"
                                                    if path.is_dir() else ""))
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise InputError(f"{path}: the torch backend loads {', '.join(MODEL_SUFFIXES)} files; got a "
                         f"{path.suffix or 'suffix-less'} file")
    kind = _file_kind(path)
    if kind == "torchscript":
        if arch is not None:
            raise InputError(f"{path} is a TorchScript archive, which carries its own architecture; drop arch={arch!r}")
        if not unsafe:
            raise InputError(f"{path} is a TorchScript archive: it carries the model's code (its compiled forward), "
                             "which runs whenever the model is called, so xaikit does not load it by default. If you "
                             f"trust it (you exported it, or its source is trusted), {_TRUST}.")
        return _load_torchscript(path)
    return _load_saved(path, unsafe, arch, num_classes)


def _torch() -> Any:
    import torch

    return torch


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _file_kind(path: Path) -> str:
    """``"torchscript"``, ``"zip"`` (torch.save) or ``"legacy"`` (pre-1.6 torch.save); damage raises."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        raise FileFormatError(f"{path} is not a loadable PyTorch file: the file is empty")
    if head.startswith(_ZIP_SIGNATURE):
        if not zipfile.is_zipfile(path):
            raise FileFormatError(f"{path} is not a loadable PyTorch file: it is truncated: it starts like a zip "
                                  "archive (torch.save / torch.jit.save) but the directory at its end is missing (an "
                                  "interrupted download or copy?)")
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                bad = zf.testzip()
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, NotImplementedError) as exc:
            raise FileFormatError(f"{path} is not a loadable PyTorch file: it is damaged "
                                  f"({_first_line(exc)})") from None
        if bad is not None:
            raise FileFormatError(f"{path} is not a loadable PyTorch file: it is damaged: the member {bad!r} fails its "
                                  "checksum")
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return "torchscript"
        if not any(n.endswith("data.pkl") for n in names):
            raise FileFormatError(f"{path} is not a loadable PyTorch file: it is a zip archive but holds no data.pkl "
                                  "(not written by torch.save or torch.jit.save)")
        return "zip"
    if head[0] == _PICKLE_PROTOCOL:
        return "legacy"
    raise FileFormatError(f"{path} is not a loadable PyTorch file: it is neither a zip archive (torch.save since "
                          "PyTorch 1.6, torch.jit.save) nor a pickle (older torch.save); another kind of file?")


def _load_torchscript(path: Path) -> Any:
    torch = _torch()
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - TorchScript raises many types; each becomes one message
        raise FileFormatError(f"{path} is not a loadable TorchScript archive: {_first_line(exc)}") from None


def _load_saved(path: Path, unsafe: bool, arch: str | None, num_classes: int | None) -> Any:
    torch = _torch()
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not unsafe:
            raise InputError(f"{path} holds pickled Python objects besides tensors (a whole model saved with "
                             "torch.save(model, f)?): unpickling them runs code from the file, so xaikit does not "
                             f"load it by default. If you trust it, {_TRUST}; or save model.state_dict() instead and "
                             f"load it with arch=... ({_first_line(exc)})") from None
        obj = _load_pickled(path)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types for damaged files
        raise FileFormatError(f"{path} is not a loadable PyTorch file: {_first_line(exc)}") from None
    if isinstance(obj, torch.nn.Module):
        if arch is not None:
            raise InputError(f"{path} holds a whole model, which carries its own architecture; drop arch={arch!r}")
        return obj.eval()
    state = _state_dict(path, obj)
    if arch is None:
        raise InputError(f"{path} holds weights only (a state dict of {len(state)} tensors), not a model; name the "
                         "architecture they belong to: arch='resnet18' (a torchvision architecture) and num_classes=K "
                         "(command line: --arch NAME --weights FILE), or load them into your module yourself with "
                         "model.load_state_dict(torch.load(f, weights_only=True)).")
    return _into_architecture(path, state, arch, num_classes)


def _load_pickled(path: Path) -> Any:
    torch = _torch()
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=False)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - unpickling raises whatever the pickled code raises
        raise InputError(f"cannot load the pickled model {path}: {_first_line(exc)} (the classes it was saved with "
                         "must be importable under the same names)") from None
    if not isinstance(obj, torch.nn.Module) and not isinstance(obj, dict):
        raise ModelError(f"{path} holds a {type(obj).__name__}, not a torch.nn.Module or a state dict")
    return obj


def _state_dict(path: Path, obj: Any) -> dict[str, Any]:
    torch = _torch()
    if isinstance(obj, dict):
        for key in _STATE_DICT_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        what = type(obj).__name__ if not isinstance(obj, dict) else \
            f"dict with keys {', '.join(map(str, list(obj)[:6]))}"
        raise InputError(f"{path} holds a {what}, not a model or a state dict (name -> tensor); a checkpoint should "
                         f"keep the weights under {' or '.join(map(repr, _STATE_DICT_KEYS))}")
    return obj


def _into_architecture(path: Path, state: dict[str, Any], arch: str, num_classes: int | None) -> Any:
    torch = _torch()
    try:
        import torchvision
    except ImportError:
        from xaikit.errors import MissingDependencyError

        raise MissingDependencyError('arch= builds a torchvision architecture: pip install "xaikit[torch]"') from None
    known = torchvision.models.list_models(module=torchvision.models)
    if arch not in known:
        close = [name for name in known if arch.lower().replace("_", "") in name.replace("_", "")][:8]
        raise UnknownNameError(f"unknown torchvision architecture {arch!r}"
                               + (f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"))
    kwargs = {} if num_classes is None else {"num_classes": int(num_classes)}
    with torch.random.fork_rng(devices=[]):  # the random initialisation is overwritten; the global RNG is untouched
        model = torchvision.models.get_model(arch, weights=None, **kwargs)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        text = str(exc)
        hint = ""
        if any(k.startswith("module.") for k in state):
            hint = (" The keys start with 'module.' (saved from nn.DataParallel / DistributedDataParallel): save "
                    "model.module.state_dict() instead.")
        elif "size mismatch" in text:
            outputs = [v.shape[0] for v in state.values() if v.ndim == 2]
            if outputs:
                hint = f" If only the classifier differs, pass num_classes={outputs[-1]}."
        lines = [line.strip() for line in text.splitlines()[1:4] if line.strip()]
        raise InputError(f"the weights in {path} do not fit torchvision's {arch}"
                         f"{'' if num_classes is None else f' with num_classes={num_classes}'}: "
                         f"{' '.join(lines) or _first_line(exc)}{hint}") from None
    return model.eval()
