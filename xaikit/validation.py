"""Input validation shared by every explainer.

The messages follow scikit-learn's ``check_array``: say what was received, what is
expected, and how to get there. Nothing here reshapes or rescales data silently; the
only conversion is the lossless one from integer pixels (e.g. uint8) to float32 and the
float to float32 cast every TensorFlow/PyTorch model applies anyway.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InputError

__all__ = [
    "as_numpy",
    "check_images",
    "check_targets",
    "check_positive_int",
    "check_nonnegative_float",
    "check_choice",
    "check_pair",
    "check_seed",
    "check_bool",
    "parse_bool_text",
    "MAX_INT",
    "SEED_LIMIT",
]


def as_numpy(array: Any) -> np.ndarray:
    """Return ``array`` as a NumPy array without copying when possible.

    Accepts NumPy arrays, framework tensors exposing ``.numpy()`` (TensorFlow eager
    tensors, PyTorch CPU tensors) or ``__array__``, and nested sequences.
    """
    if isinstance(array, np.ndarray):
        return array
    numpy_method = getattr(array, "numpy", None)
    if callable(numpy_method):
        detach = getattr(array, "detach", None)  # torch tensors that require grad
        if callable(detach):
            return np.asarray(detach().cpu().numpy())
        return np.asarray(numpy_method())
    return np.asarray(array)


def check_images(
    images: Any,
    expected_shape: tuple[int | None, ...] | None = None,
    *,
    layout: str = "NHWC",
    name: str = "images",
) -> np.ndarray:
    """Validate a batch of images and return it as float32.

    Parameters
    ----------
    images
        Array-like of shape ``(N, H, W, C)`` (``layout="NHWC"``, Keras) or ``(N, C, H, W)``
        (``"NCHW"``, PyTorch). Integer pixels (uint8, ...) are converted to float32 without
        rescaling; floating point is cast to float32 (values beyond float32's range are an
        error, not Inf).
    expected_shape
        One image's shape the model accepts, in ``layout`` order, ``None`` entries meaning
        "any". Without it only the generic checks run.
    layout
        ``"NHWC"`` or ``"NCHW"``.
    name
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        float32 array (a copy only when a cast was needed).

    Raises
    ------
    InputError
        For a wrong rank, an empty batch, a channel count or size the model does not
        accept, a non-numeric dtype, or NaN/Inf values. The message says how to fix it.
    """
    arr = as_numpy(images)
    described = "(N, H, W, C), channels last" if layout == "NHWC" else "(N, C, H, W), channels first"
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise InputError(f"{name} must be a numeric array; got dtype {arr.dtype}. Stack your images into one numeric "
                         "array, e.g. np.stack(list_of_images).")
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.complexfloating):
        raise InputError(f"{name} has dtype {arr.dtype}; pass real-valued pixels (uint8 or float).")
    if arr.ndim != 4:
        hint = ""
        if arr.ndim == 3:
            if expected_shape is not None and tuple(arr.shape) == tuple(
                    s if s is not None else arr.shape[i] for i, s in enumerate(expected_shape)):
                hint = " This looks like a single image: pass images[None] (or np.expand_dims(image, 0))."
            elif (arr.shape[-1] if layout == "NHWC" else arr.shape[0]) in (1, 3, 4):
                hint = " If this is one image, pass images[None] to make a batch of one."
            else:
                axis = "images[..., None]" if layout == "NHWC" else "images[:, None]"
                hint = f" If this is a batch of grayscale images (N, H, W), pass {axis} to add the channel axis."
        elif arr.ndim == 2:
            hint = (" If this is one grayscale image (H, W), pass "
                    + ("image[None, :, :, None]." if layout == "NHWC" else "image[None, None]."))
            flat = _flattened(arr.shape[1], expected_shape, layout)
            if flat:
                hint = f" The rows look like flattened images: {flat}."
        raise InputError(f"{name} must have 4 dimensions {described}; got shape {arr.shape}.{hint}")
    if arr.shape[0] == 0:
        raise InputError(f"{name} is an empty batch (shape {arr.shape}); pass at least one image.")
    if 0 in arr.shape[1:]:
        raise InputError(f"{name} has an empty axis (shape {arr.shape}).")
    if expected_shape is not None:
        _check_shape(arr, tuple(expected_shape), layout, name)
    return _as_float32(arr, name)


def _flattened(width: int, expected: tuple[int | None, ...] | None, layout: str) -> str:
    """How to unflatten rows of ``width`` values into images in ``layout`` ('' when no square image fits)."""
    channels = None
    if expected is not None:
        channels = expected[2] if layout == "NHWC" else expected[0]
    for c in ([channels] if channels else [3, 1]):
        side = round((width / c) ** 0.5)
        if side > 1 and c * side * side == width:
            shape = f"(N, {side}, {side}, {c})" if layout == "NHWC" else f"(N, {c}, {side}, {side})"
            order = "channels last" if layout == "NHWC" else "channels first"
            return f"this model takes {shape} ({order}): pass images.reshape(-1, {shape[4:-1]})"
    return ""


def _check_shape(arr: np.ndarray, expected: tuple[int | None, ...], layout: str, name: str) -> None:
    if layout == "NHWC":
        exp_h, exp_w, exp_c = expected
        h, w, c = arr.shape[1:]
        other_c = arr.shape[1]
        fix_layout = "images.transpose(0, 2, 3, 1)"
    else:
        exp_c, exp_h, exp_w = expected
        c, h, w = arr.shape[1:]
        other_c = arr.shape[3]
        fix_layout = "images.transpose(0, 3, 1, 2)"
    if exp_c is not None and c != exp_c:
        hint = ""
        if other_c == exp_c and c not in (1, 3, 4):
            other = "channels-first" if layout == "NHWC" else "channels-last"
            hint = f" The array looks {other}; this model takes {layout}: pass {fix_layout}."
        elif exp_c == 3 and c == 1:
            axis = 3 if layout == "NHWC" else 1
            hint = (f" Convert grayscale to RGB with np.repeat(images, 3, axis={axis}) if that is what the model was "
                    "trained on.")
        elif exp_c == 1 and c == 3:
            hint = (" Convert RGB to grayscale the way the model's training data was made (e.g. "
                    "cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)).")
        elif exp_c == 3 and c == 4:
            hint = " Drop the alpha channel."
        raise InputError(f"the model expects {exp_c} channel(s) but {name} has {c} (shape {arr.shape}, read as "
                         f"{layout}).{hint}")
    if (exp_h is not None and h != exp_h) or (exp_w is not None and w != exp_w):
        raise InputError(
            f"the model expects images of height x width {exp_h} x {exp_w} but {name} are {h} x {w}. "
            f"Resize them first, e.g. xaikit.io.load_images(paths, size=({exp_h}, {exp_w})) or "
            f"cv2.resize(img, ({exp_w}, {exp_h})) per image (cv2 takes width first)."
        )


def _as_float32(arr: np.ndarray, name: str) -> np.ndarray:
    """float32 copy (or view) of numeric ``arr``; NaN, Inf and values beyond float32's range raise."""
    if np.issubdtype(arr.dtype, np.floating):
        # Fast path: a float64 sum is finite iff every value is (float32 values cannot overflow
        # it); only a non-finite sum pays for the element-wise check that locates the culprit.
        with np.errstate(over="ignore"):  # a sum overflowing float64 is one of the cases checked below
            total = arr.sum(dtype=np.float64)
        if np.isfinite(total):
            if arr.dtype.itemsize > 4:
                peak = float(np.abs(arr).max())
                if peak > float(np.finfo(np.float32).max):
                    raise InputError(f"{name} has values beyond the float32 range (|x| up to {peak:.3g}) that would "
                                     "become Inf in the model; rescale the input.")
            return arr.astype(np.float32, copy=False)
        finite = np.isfinite(arr)
        bad = np.argwhere(~finite)
        if len(bad):
            first = tuple(int(i) for i in bad[0])
            raise InputError(
                f"{name} contains {len(bad)} NaN or Inf value(s) (first at index {first}); "
                f"clean the input (e.g. np.nan_to_num) or check its preprocessing."
            )
        # finite values whose float64 sum overflows: huge values
        raise InputError(f"{name} has values beyond the float32 range (|x| up to {float(np.abs(arr).max()):.3g}) that "
                         "would become Inf in the model; rescale the input.")
    return arr.astype(np.float32)  # every integer is within float32's range


#: Largest count, size or index a parameter may take: the int32 range TensorFlow and
#: PyTorch use for sizes and class indices (a larger value is a typo, not a request).
MAX_INT = 2**31 - 1
#: Seeds are below 2**32, the range NumPy's legacy seeding takes (tf-explain's and shap's
#: noise): one seed means the same on every backend, so ``compare`` can pass it to all.
SEED_LIMIT = 2**32
_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _integral(value: Any) -> int | None:
    """``value`` as a Python int if it is an integer (Python, NumPy or a 0-d integer array), else None.

    Bools are not integers here (``True`` as a class index or a size is a mistake).
    """
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and np.issubdtype(value.dtype, np.integer):
        return int(value.item())
    return None


def _real(value: Any) -> float | None:
    """``value`` as a Python float if it is a real number (incl. NumPy scalars, 0-d arrays), else None.

    An integer too large for a float (``10**400``) gives ``inf``, which callers refuse as
    non-finite.
    """
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0 and (
            np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating)):
        value = value.item()
    if not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def _target_type_error(name: str, value: Any) -> InputError:
    """The message for a target that is not an integer class index, with the fix for its type."""
    if isinstance(value, (bool, np.bool_)):
        return InputError(f"{name} must be an int class index or one index per image, not a bool ({value!r}).")
    if isinstance(value, (str, np.str_, bytes)):
        return InputError(
            f"{name} must be class indices (ints); got the text {value!r}. The Python API takes indices only: map "
            f"a class name to its index with your model's label list (e.g. class_names.index({value!r})); the "
            f"command line takes names with --labels FILE.")
    number = _real(value)
    if number is not None and np.isfinite(number) and number == int(number):
        return InputError(f"{name} must be an int class index; got the float {value!r}. Pass int({value!r}) "
                          f"(floats are not cast silently).")
    return InputError(f"{name} must be an int class index or a 1-D sequence of ints (one per image); got "
                      f"{value!r} ({type(value).__name__}).")


def check_targets(targets: Any, n_images: int, n_classes: int | None, *, name: str = "targets") -> np.ndarray:
    """Normalise explicit targets to an int64 array of shape ``(n_images,)``.

    Parameters
    ----------
    targets
        An int (the same class for every image) or a sequence with one class per image.
        ``None`` is handled by the caller (it means "the predicted class"). Floats (even
        integral ones such as ``2.0``), bools and class names are refused with the fix.
    n_images
        Batch size N.
    n_classes
        Number of classes of the model (2 for a single-sigmoid binary model), or None
        when unknown.
    """
    single = _integral(targets)
    if single is not None:
        values = np.asarray([single], dtype=object)
    elif isinstance(targets, (bool, np.bool_, str, np.str_, bytes, numbers.Number)):
        raise _target_type_error(name, targets)
    else:
        arr = as_numpy(targets)
        if arr.ndim == 0:
            raise _target_type_error(name, arr.item())
        if arr.ndim != 1:
            raise InputError(f"{name} must be an int or a 1-D sequence of ints (one per image); got shape {arr.shape}.")
        if arr.shape[0] != n_images:
            hint = ""
            if n_images == 1 and arr.shape[0] > 1:
                hint = (f" To explain one image for {arr.shape[0]} classes, repeat it: "
                        f"explain(np.repeat(images, {arr.shape[0]}, axis=0), targets=[...]) gives one map per class.")
            raise InputError(f"{name} has {arr.shape[0]} entries but there are {n_images} images; pass one target per "
                             f"image or a single int for all.{hint}")
        items = arr.tolist()
        bad = next((i for i, v in enumerate(items) if _integral(v) is None), None)
        if bad is not None:
            if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(np.mod(arr, 1) == 0):
                raise InputError(f"{name} must be integers; got floats {items[:5]}... Cast with "
                                 f"np.asarray({name}, dtype=int) (floats are not cast silently).")
            raise _target_type_error(f"{name}[{bad}]", items[bad])
        values = np.asarray(items, dtype=object)  # Python ints: no wrap-around before the range check
    limit = n_classes if n_classes is not None else MAX_INT + 1
    for i, v in enumerate(values.tolist()):
        if not 0 <= v < limit:
            if n_classes is None:
                raise InputError(f"{name}[{i}] = {v} is not a class index (0 <= index <= {MAX_INT}).")
            extra = (" (a single-sigmoid binary model has classes 0 = negative and 1 = positive)"
                     if n_classes == 2 else "")
            raise InputError(f"{name}[{i}] = {v} is out of range: the model has {n_classes} classes, valid targets "
                             f"are 0..{n_classes - 1}{extra}.")
    if single is not None:
        return np.full(n_images, single, dtype=np.int64)
    return values.astype(np.int64)


def check_positive_int(name: str, value: Any, *, minimum: int = 1, maximum: int = MAX_INT) -> int:
    """Return ``value`` as an int in ``[minimum, maximum]`` or raise :class:`InputError`.

    Python and NumPy integers (and 0-d integer arrays) are accepted; bools, floats and
    text are not.
    """
    number = _integral(value)
    if number is None:
        raise InputError(f"{name} must be an integer >= {minimum}; got {value!r} ({type(value).__name__}).")
    if number < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}; got {number}.")
    if number > maximum:
        raise InputError(f"{name} must be at most {maximum}; got {number}.")
    return number


def check_nonnegative_float(name: str, value: Any, *, allow_zero: bool = True, maximum: float | None = None) -> float:
    """Return ``value`` as a finite float >= 0 (> 0 if ``allow_zero`` is False)."""
    number = _real(value)
    if number is None:
        raise InputError(f"{name} must be a number; got {value!r} ({type(value).__name__}).")
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(f"{name} must be a finite number {bound}; got {number:g}.")
    if maximum is not None and number > maximum:
        raise InputError(f"{name} must be at most {maximum}; got {number}.")
    return number


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` as a Python bool; only ``True``/``False`` (and NumPy bools) are accepted.

    Text such as ``"False"`` or ``"no"`` would be *true* under ``bool(...)``, and ``0``/``1``
    are counts elsewhere, so anything but a bool raises :class:`InputError` naming ``name``.
    (The command line turns true/false/yes/no/1/0 into bools before they get here.)
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype == np.bool_:
        return bool(value.item())
    hint = ""
    if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        hint = f" Pass {_BOOL_WORDS[value.strip().lower()]} (the text {value!r} is not read as a bool)."
    raise InputError(f"{name} must be True or False; got {value!r} ({type(value).__name__}).{hint}")


def parse_bool_text(name: str, text: str) -> bool:
    """Read a command-line bool: true/false, yes/no, 1/0 (any case); anything else raises naming ``name``."""
    key = str(text).strip().strip("\"'").strip().lower()
    if key not in _BOOL_WORDS:
        raise InputError(f"{name} takes true or false (also yes/no, 1/0); got {text!r}.")
    return _BOOL_WORDS[key]


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise with the list."""
    comparable = value is None or (isinstance(value, (str, numbers.Number)) and not isinstance(value, np.ndarray))
    if not comparable or not any((type(value) is type(c) and value == c) or value is c for c in choices):
        raise InputError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}.")
    return value


def check_pair(name: str, value: Any, *, minimum: int = 1) -> tuple[int, int]:
    """Return an ``(h, w)`` pair from an int or a pair of ints (each >= ``minimum``).

    A pair is a tuple, a list or a 1-D integer array of length 2.
    """
    if _integral(value) is not None:
        v = check_positive_int(name, value, minimum=minimum)
        return v, v
    if isinstance(value, np.ndarray) and value.shape == (2,):
        value = tuple(value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return (check_positive_int(f"{name}[0]", value[0], minimum=minimum),
                check_positive_int(f"{name}[1]", value[1], minimum=minimum))
    raise InputError(f"{name} must be an int or a (height, width) pair of ints; got {value!r}.")


def check_seed(seed: Any) -> int:
    """Resolve a seed: an int in ``[0, 2**32)`` is kept, ``None`` draws a fresh one (to be recorded)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % SEED_LIMIT)
    number = _integral(seed)
    if number is None or not 0 <= number < SEED_LIMIT:
        raise InputError(f"seed must be None or an integer in [0, 2**32); got {seed!r}.")
    return number
