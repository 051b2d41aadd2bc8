"""Reproduce the zoo's shipped weights.

Usage::

    python -m xaikit_tensorflow.zoo.train --all                 # rewrite zoo/models/
    python -m xaikit_tensorflow.zoo.train --model digits_bn --out /tmp/zoo

Each model is trained from its recipe in :data:`xaikit_tensorflow.zoo.ZOO` with every
seed fixed (``keras.utils.set_random_seed``) and TensorFlow's deterministic ops
(``tf.config.experimental.enable_op_determinism``), so a rerun on the same machine and
software versions gives the same weights (compare ``weights_sha256`` in the JSON).
Another CPU or library version may round differently and end a little elsewhere.

For each model the script writes, atomically, ``<name>.keras`` (uncompiled: no
optimizer state, loads with ``safe_mode=True``) and ``<name>.json`` (data recipe,
hyper-parameters, test accuracy, weight checksum, library versions). It exits with
status 1 if a model misses its ``min_accuracy``. About 1-3 minutes per model on 2 CPU
cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from xaikit.atomic_files import atomic_path, atomic_write_text
from xaikit.execution import json_ready

from . import MODELS_DIR, ZOO, ZooModel, load_data

__all__ = ["main", "train_model", "weights_sha256"]


def weights_sha256(model: Any) -> str:
    """SHA-256 of every weight (trainable and not, in model order) as float32 bytes."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _save_keras(model: Any, path: Path) -> None:
    """``model.save`` into a temporary ``.keras`` name, then an atomic rename."""
    with atomic_path(path) as tmp:
        staged = tmp.with_name(tmp.name + ".keras")  # Keras insists on the suffix
        try:
            model.save(staged)
            os.replace(staged, tmp)
        finally:
            staged.unlink(missing_ok=True)


def _make_readable(path: Path) -> None:
    """Give a written file the usual permissions (the atomic temp file is created 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _predicted(outputs: np.ndarray, entry: ZooModel) -> np.ndarray:
    if entry.output_activation == "sigmoid":
        return (outputs[:, 0] > 0.5).astype(np.int64)
    return np.argmax(outputs, axis=1).astype(np.int64)


def train_model(entry: ZooModel, out_dir: Path, *, epochs: int | None = None, verbose: int = 2) -> dict[str, Any]:
    """Train one zoo model from its recipe, write ``.keras`` + ``.json``, return the metadata."""
    hp = dict(entry.training)
    if epochs is not None:
        hp["epochs"] = int(epochs)
    _fix_seeds(int(hp["seed"]))

    start = time.perf_counter()
    train, test = load_data(entry.name, "train"), load_data(entry.name, "test")
    seconds = {"data": time.perf_counter() - start}
    model, history, seconds["train"] = _fit(entry, hp, train, verbose)

    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / f"{entry.name}.keras"
    clean = _save_uncompiled(entry, model, model_path)
    accuracy = _test_accuracy(entry, model_path, test)
    meta = _metadata(entry, hp, accuracy, n_test=len(test), n_train=len(train), history=history, clean=clean,
                     model_path=model_path, seconds=seconds)
    atomic_write_text(out_dir / f"{entry.name}.json", json.dumps(meta, indent=2) + "\n")
    for path in (model_path, out_dir / f"{entry.name}.json"):
        _make_readable(path)
    return meta


def _fix_seeds(seed: int) -> None:
    """Python's, NumPy's and TensorFlow's seeds, and TensorFlow's deterministic ops (process-global)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)  # Python, NumPy and TensorFlow seeds
    tf.config.experimental.enable_op_determinism()


def _fit(entry: ZooModel, hp: dict[str, Any], train: Any, verbose: int) -> tuple[Any, dict[str, list[float]], float]:
    """The model built from its architecture, compiled and trained: ``(model, history, seconds)``."""
    import keras

    from .architectures import BUILDERS

    sigmoid = entry.output_activation == "sigmoid"
    y_train = train.labels.astype(np.float32)[:, None] if sigmoid else train.labels
    model = BUILDERS[entry.architecture](entry.input_shape, entry.n_outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=hp["learning_rate"]),
        loss="binary_crossentropy" if sigmoid else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    history = model.fit(train.images, y_train, batch_size=hp["batch_size"], epochs=hp["epochs"], shuffle=True,
                        verbose=verbose)
    return model, history.history, time.perf_counter() - start


def _save_uncompiled(entry: ZooModel, model: Any, path: Path) -> Any:
    """Save without optimizer state: a fresh, uncompiled copy of the same architecture (returned)."""
    from .architectures import BUILDERS

    clean = BUILDERS[entry.architecture](entry.input_shape, entry.n_outputs)
    clean.set_weights(model.get_weights())
    _save_keras(clean, path)
    return clean


def _test_accuracy(entry: ZooModel, path: Path, test: Any) -> dict[str, Any]:
    """Accuracy on the test set, overall (``"all"``) and per class name (``"per_class"``).

    The file is evaluated as users will get it: reloaded with safe mode on.
    """
    import keras

    reloaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    outputs = reloaded.predict(test.images, batch_size=256, verbose=0)
    overall = float(np.mean(_predicted(outputs, entry) == test.labels))
    per_class = {name: float(np.mean(_predicted(outputs, entry)[test.labels == c] == c))
                 for c, name in enumerate(entry.class_names)}
    return {"all": overall, "per_class": per_class}


def _metadata(entry: ZooModel, hp: dict[str, Any], accuracy: dict[str, Any], *, n_test: int, n_train: int,
              history: dict[str, list[float]], clean: Any, model_path: Path, seconds: dict[str, float]
              ) -> dict[str, Any]:
    """The ``<name>.json`` written beside the weights."""
    return {
        "format": "xaikit.zoo.model",
        "name": entry.name,
        "description": entry.description,
        "architecture": entry.architecture,
        "dataset": entry.dataset,
        "data": json_ready(entry.data),
        "input_shape": list(entry.input_shape),
        "class_names": list(entry.class_names),
        "output_activation": entry.output_activation,
        "n_outputs": entry.n_outputs,
        "test_accuracy": round(accuracy["all"], 4),
        "test_accuracy_per_class": {k: round(v, 4) for k, v in accuracy["per_class"].items()},
        "n_test": n_test,
        "n_train": n_train,
        "training": hp,
        "history": {k: [round(float(v), 4) for v in vals] for k, vals in history.items()},
        "n_params": int(clean.count_params()),
        "file_bytes": model_path.stat().st_size,
        "weights_sha256": weights_sha256(clean),
        "deterministic_ops": True,
        "seconds": {"data": round(seconds["data"], 1), "train": round(seconds["train"], 1)},
        "command": f"python -m xaikit_tensorflow.zoo.train --model {entry.name}",
        "versions": _versions(),
        "platform": platform.platform(),
    }


def _versions() -> dict[str, str]:
    """The versions of the software that trained the model."""
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "opencv": __import__("cv2").__version__,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m xaikit_tensorflow.zoo.train", description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", action="append", choices=list(ZOO), help="model to train (repeatable)")
    which.add_argument("--all", action="store_true", help="train every zoo model")
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help=f"output folder (default: {MODELS_DIR})")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (quick checks)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    names = list(ZOO) if args.all else args.model
    status = 0
    for name in names:
        entry = ZOO[name]
        print(f"== {name}: {entry.description}", flush=True)
        meta = train_model(entry, args.out, epochs=args.epochs, verbose=0 if args.quiet else 2)
        target = entry.training.get("min_accuracy", 0.0)
        ok = meta["test_accuracy"] >= target
        status |= 0 if ok else 1
        print(f"   test accuracy {meta['test_accuracy']:.4f} on {meta['n_test']} images "
              f"({'ok' if ok else f'BELOW the required {target}'}), {meta['file_bytes'] / 1e6:.2f} MB, "
              f"{meta['seconds']['train']:.0f} s, weights sha256 {meta['weights_sha256'][:16]}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
