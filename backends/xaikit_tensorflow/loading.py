"""Loading a Keras model file or a TensorFlow SavedModel: code only when trusted, damage named.

==========================  ==============================================================
path                        how it is loaded
==========================  ==============================================================
``m.keras``                 ``keras.saving.load_model(path, compile=False, safe_mode=not unsafe)``
``m.h5`` / ``m.hdf5``       the same (Keras 3 reads legacy HDF5 model files)
``m.weights.h5``            refused: weights only; load them into their architecture
``folder/``                 a TensorFlow SavedModel, only with ``unsafe=True``:
                            ``keras.layers.TFSMLayer`` in a one-layer Functional model
==========================  ==============================================================

**Code runs only when trusted.** Keras safe mode stays on, so a file with a ``Lambda``
layer (Python bytecode) is refused unless ``unsafe=True``. A SavedModel is a TensorFlow
graph that runs as saved whenever the model is called: it can do anything a TensorFlow
program can (read and write files, for instance), so it is refused without
``unsafe=True`` too, before TensorFlow reads it. Formats that carry code (TorchScript,
pickled models) follow the same rule in their backends.

**Damage is named.** When Keras cannot read a file, the file is examined and the error
(:class:`~xaikit.errors.FileFormatError`) says what is wrong with it: empty, not a zip
archive / not an HDF5 file (another kind of file, or the wrong suffix), truncated, a
member that fails its checksum, no model config inside.

A SavedModel is an opaque graph: its layers are not visible. Methods that only need the
input gradient or forward passes work on it with ``score="output"``; layer methods
(``gradcam``, layer-wise expected gradients, activations) need a ``.keras``/``.h5`` file.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from xaikit.errors import FileFormatError, InputError, ModelError

__all__ = ["MODEL_SUFFIXES", "is_savedmodel", "load_model"]

#: File suffixes :func:`load_model` reads as Keras model files.
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
_TRUST = "pass unsafe=True (command line: --unsafe)"


def is_savedmodel(path: str | Path) -> bool:
    """Whether ``path`` is a TensorFlow SavedModel folder."""
    p = Path(path)
    return p.is_dir() and ((p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file())


def load_model(path: str | Path, *, unsafe: bool = False, input_size: tuple[int, int] | None = None) -> Any:
    """Load a Keras model file or a SavedModel folder as an uncompiled ``keras.Model``.

    Parameters
    ----------
    path
        A ``.keras`` / ``.h5`` / ``.hdf5`` file, or a SavedModel folder.
    unsafe
        Allow what runs code: ``Lambda`` layers (Keras safe mode off) and SavedModels.
        Pass True only for files you trust (you made them, or their source is trusted).
    input_size
        ``(H, W)`` for a SavedModel that accepts any image size (ignored otherwise).

    Returns
    -------
    keras.Model

    Raises
    ------
    FileFormatError
        The file is damaged, truncated, or not a Keras model file; the message names the
        file and the problem.
    InputError
        No such file, an unsupported suffix, weights only, code that needs ``unsafe=True``,
        or anything else Keras refuses (its first line quoted).
    ModelError
        A SavedModel that is not an image classifier with one (N, H, W, C) input and one
        output.
    """
    path = Path(path)
    if path.is_dir():
        return _load_savedmodel(path, unsafe, input_size)
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    if path.name.lower().endswith(".weights.h5"):
        raise InputError(_weights_only_message(path))
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise InputError(f"{path}: xaikit loads {', '.join(MODEL_SUFFIXES)} model files and SavedModel folders; got "
                         f"a {path.suffix or 'suffix-less'} file")
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=not unsafe)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - Keras, h5py and zipfile raise many types; each becomes one message
        raise _load_error(path, exc) from None


# --------------------------------------------------------------------------- errors of model files
def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _weights_only_message(path: Path) -> str:
    return (f"{path} holds weights only, not a model; load it into its architecture (model.load_weights, or on the "
            "command line --arch NAME --weights FILE for keras.applications) or save the whole model with "
            "model.save('model.keras').")


def _load_error(path: Path, exc: BaseException) -> InputError:
    """The error to raise when Keras failed to load ``path`` with ``exc``."""
    text = str(exc)
    if "safe_mode" in text or "unsafe_deserialization" in text:
        what = ("a Lambda layer (arbitrary Python code)" if "Lambda" in text or "lambda" in text
                else f"code Keras safe mode refuses to run ({_first_line(exc)})")
        return InputError(f"{path} contains {what}, which Keras safe mode refuses to load. If you trust the file "
                          f"(you made it, or it comes from a source you trust), {_TRUST}.")
    problem = _zip_problem(path) if path.suffix.lower() == ".keras" else _hdf5_problem(path, text)
    if problem is not None:
        return FileFormatError(f"{path} is not a loadable Keras model file: {problem}")
    if "No model config found" in text:
        return InputError(_weights_only_message(path))
    return InputError(f"cannot load the model file {path}: {_first_line(exc)}")


def _head(path: Path, n: int = 8, offset: int = 0) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(n)


def _zip_problem(path: Path) -> str | None:
    """What is wrong with a ``.keras`` file (a zip archive with ``config.json``), or None if nothing is seen."""
    head = _head(path)
    if not head:
        return "the file is empty"
    if head.startswith(_HDF5_SIGNATURE):
        return "it is an HDF5 file, not a .keras zip archive (a legacy Keras model? rename it to .h5)"
    if not head.startswith(_ZIP_SIGNATURE):
        return "it is not a zip archive, which a .keras file is (another kind of file, or a damaged one)"
    if not zipfile.is_zipfile(path):
        return ("it is truncated: it starts like a .keras zip archive but the directory at its end is missing (an "
                "interrupted download or copy?)")
    try:
        with zipfile.ZipFile(path) as zf:
            if "config.json" not in zf.namelist():
                return "it is a zip archive but not a Keras model file (no config.json inside)"
            bad = zf.testzip()
            if bad is not None:
                return f"it is damaged: the member {bad!r} fails its checksum"
            json.loads(zf.read("config.json").decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "it is damaged: its config.json is not valid JSON"
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, NotImplementedError) as exc:
        return f"it is damaged ({_first_line(exc)})"
    return None


def _hdf5_problem(path: Path, text: str) -> str | None:
    """What is wrong with an HDF5 model file, or None if nothing is seen."""
    head = _head(path)
    if not head:
        return "the file is empty"
    offsets = [0] + [512 * 2**i for i in range(8)]  # the signature may follow a user block
    if not any(_head(path, len(_HDF5_SIGNATURE), o) == _HDF5_SIGNATURE for o in offsets):
        if head.startswith(_ZIP_SIGNATURE):
            return "it is a zip archive, not an HDF5 file (a .keras model? rename it to .keras)"
        return "it is not an HDF5 file (another kind of file, or a damaged one)"
    cut = re.search(r"truncated file: eof = (\d+).*?stored_eof = (\d+)", text)
    if cut:
        return f"it is truncated ({int(cut.group(1)):,} of {int(cut.group(2)):,} bytes)"
    if "truncated" in text or "bad object header" in text or "checksum" in text:
        return f"it is damaged ({text.strip().splitlines()[0]})"
    return None


# --------------------------------------------------------------------------- SavedModel
def _signature_input(obj: Any, endpoint: str) -> tuple[int | None, ...]:
    """The (N, H, W, C) input shape of a SavedModel endpoint."""
    import tensorflow as tf

    fn = obj.signatures.get(endpoint) if hasattr(obj, "signatures") else None
    specs: list[Any] = []
    if fn is not None:
        args, kwargs = fn.structured_input_signature
        specs = [s for s in tf.nest.flatten((args, kwargs)) if isinstance(s, tf.TensorSpec)]
    else:
        f = getattr(obj, endpoint, None)
        sig = getattr(f, "input_signature", None) or ()
        specs = [s for s in tf.nest.flatten(sig) if isinstance(s, tf.TensorSpec)]
    if len(specs) != 1:
        raise ModelError(f"the SavedModel endpoint {endpoint!r} takes {len(specs)} inputs; xaikit explains image "
                         "classifiers with one (N, H, W, C) input.")
    shape = tuple(specs[0].shape.as_list())
    if len(shape) != 4:
        raise ModelError(f"the SavedModel endpoint {endpoint!r} takes inputs of shape {shape}; xaikit explains "
                         "image classifiers taking channels-last (N, H, W, C) batches.")
    return shape


def _load_savedmodel(path: Path, unsafe: bool, input_size: tuple[int, int] | None) -> Any:
    if not is_savedmodel(path):
        raise InputError(f"{path} is a folder but not a TensorFlow SavedModel (no saved_model.pb inside)")
    if not unsafe:
        raise InputError(f"{path} is a TensorFlow SavedModel: its graph runs as saved whenever the model is called and "
                         "can do anything a TensorFlow program can (read or write files, for instance), so xaikit "
                         f"does not load it by default. If you trust it (you exported it, or its source is trusted), "
                         f"{_TRUST}.")
    import keras
    import tensorflow as tf

    try:
        obj = tf.saved_model.load(str(path))
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - TensorFlow raises many types here
        raise FileFormatError(f"{path} is not a loadable SavedModel: {_first_line(exc)}") from None
    signatures = list(getattr(obj, "signatures", {}).keys())
    endpoint = "serving_default" if "serving_default" in signatures else ("serve" if hasattr(obj, "serve") else None)
    if endpoint is None:
        raise InputError(f"the SavedModel {path} has no 'serving_default' signature or 'serve' endpoint "
                         f"(signatures: {signatures or 'none'}); export it with model.export(path) (Keras 3) or "
                         "tf.saved_model.save(model, path).")
    shape = _signature_input(obj, endpoint)
    h, w, c = shape[1], shape[2], shape[3]
    if h is None or w is None:
        if input_size is None:
            raise InputError(f"the SavedModel {path} accepts any image size; say which with input_size=(H, W) "
                             "(command line: --input-size H W)")
        h, w = input_size
    if c is None:
        raise ModelError(f"the SavedModel {path} does not fix the number of input channels; xaikit needs 1 or 3")
    layer = keras.layers.TFSMLayer(str(path), call_endpoint=endpoint, name="savedmodel")
    inputs = keras.Input((h, w, c), name="image")
    out = layer(inputs)
    if isinstance(out, dict):
        if len(out) != 1:
            raise ModelError(f"the SavedModel {path} returns {len(out)} outputs ({', '.join(out)}); xaikit explains "
                             "classifiers with one (N, K) output.")
        out = next(iter(out.values()))
    elif isinstance(out, (list, tuple)):
        if len(out) != 1:
            raise ModelError(f"the SavedModel {path} returns {len(out)} outputs; xaikit explains classifiers with "
                             "one (N, K) output.")
        out = out[0]
    return keras.Model(inputs, out, name=path.name or "savedmodel")
