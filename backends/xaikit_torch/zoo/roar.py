"""ROAR (remove and retrain) on the zoo's datasets with its PyTorch architectures.

Usage::

    python -m xaikit_torch.zoo.roar --model digits_bn --out roar-digits.md
    python -m xaikit_torch.zoo.roar --model shapes_cnn4 --n-train 2000 --fractions 0.1 0.5 0.9
    python -m xaikit_torch.zoo.roar --model digits_bn --engine ray --store roar-cells   # in parallel, resumable

The maps come from the shipped zoo model (the PyTorch twin of the Keras weights) for
every training and test image; each retraining builds the same architecture from scratch
(:data:`xaikit_torch.zoo.architectures.BUILDERS`) and trains it with Adam on the degraded
images. Each retraining is a cell of a results store (``--store``, default
``xaikit-roar-MODEL``) run by xaikit's executors (:func:`xaikit.bench.roar.run_remove_and_retrain`,
``--engine local`` or ``ray``): a stopped run started again skips the finished cells.
Magnitude methods (vanilla gradients, SmoothGrad) are ranked by ``|map|``, as the bench does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEFAULT_METHODS", "make_fit", "method_maps", "run_roar"]

#: The methods of Hooker et al.'s comparison available here (SmoothGrad-squared is SquareGrad).
DEFAULT_METHODS = ("vanilla_gradients", "gradcam", "smoothgrad", "squaregrad", "vargrad")
_NOISY = {"smoothgrad", "squaregrad", "vargrad"}


def make_fit(architecture: str, input_shape: tuple[int, int, int], n_classes: int, *, epochs: int = 5,
             batch_size: int = 64, learning_rate: float = 1e-3,
             init: str = "torch") -> Callable[[np.ndarray, np.ndarray, int], Any]:
    """``fit(images NHWC, labels, seed) -> predict``: the zoo architecture trained from scratch.

    ``init="torch"`` (default, what the docs' tables used) keeps PyTorch's initial weights,
    with which ``cnn4`` often stays at chance on the shapes; ``"keras"`` starts from Keras'
    initial weights, as the shipped model did
    (:func:`~xaikit_torch.zoo.architectures.keras_initialise`).
    """
    import torch

    from xaikit.validation import check_choice

    from .architectures import BUILDERS, keras_initialise

    check_choice("init", init, ("keras", "torch"))

    h, w, c = input_shape

    def fit(images: np.ndarray, labels: np.ndarray, seed: int) -> Callable[[np.ndarray], np.ndarray]:
        torch.manual_seed(seed)
        model = BUILDERS[architecture]((c, h, w), n_classes)
        if init == "keras":
            keras_initialise(model)
        for module in model.modules():  # the twins' BatchNorm keeps Keras' slow running statistics (momentum
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):  # 0.01): a short training
                module.momentum = None                                           # needs the plain average
        optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
        x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(images, -1, 1), dtype=np.float32))
        y = torch.from_numpy(np.asarray(labels, np.int64))
        order = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            for idx in torch.randperm(len(x), generator=order).split(batch_size):
                if len(idx) < 2:   # BatchNorm needs two samples
                    continue
                optimiser.zero_grad()
                probabilities = model(x[idx])  # the zoo architectures end with their softmax
                loss = torch.nn.functional.nll_loss(torch.log(probabilities.clamp_min(1e-12)), y[idx])
                loss.backward()
                optimiser.step()
        model.eval()

        def predict(batch: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(np.ascontiguousarray(np.moveaxis(batch, -1, 1),
                                                                   dtype=np.float32))).numpy()

        return predict

    return fit


def method_maps(model: Any, images: np.ndarray, targets: np.ndarray, method: str, *, n_samples: int = 16,
                batch_size: int = 128) -> np.ndarray:
    """``(n, H, W)`` maps of the zoo model for ``targets``, ``|map|`` for vanilla gradients and SmoothGrad."""
    import xaikit as xk
    from xaikit.kernels import to_layout

    params: dict[str, Any] = {"batch_size": batch_size}
    if method in _NOISY:
        params["n_samples"] = n_samples
    out = []
    for start in range(0, len(images), batch_size):
        x = to_layout(images[start:start + batch_size], "NHWC", "NCHW")
        out.append(xk.explain(model, x, method=method, targets=targets[start:start + batch_size], backend="torch",
                              **params).attributions)
    maps = np.concatenate(out)
    return np.abs(maps) if method in ("vanilla_gradients", "smoothgrad") else maps


def _kept_maps(folder: Path | None, model: Any, images: np.ndarray, targets: np.ndarray, method: str,
               n_samples: int) -> np.ndarray:
    """:func:`method_maps`, kept in ``folder`` (when given) under a key of everything they depend on.

    The key hashes the images, targets, model weights, method, samples and the code of
    xaikit and this backend, so a restarted run reuses the maps (shapes: 27 min of them)
    only when they would come out the same.
    """
    if folder is None:
        return method_maps(model, images, targets, method, n_samples=n_samples)
    from xaikit.atomic_files import atomic_path
    from xaikit.execution import array_digest, cell_key, code_digest
    from xaikit.execution.tasks import weights_digest

    key = cell_key({"kind": "roar_maps", "method": method, "n_samples": n_samples if method in _NOISY else None,
                    "images": array_digest(images), "targets": array_digest(targets),
                    "weights": weights_digest(model), "code": code_digest("xaikit", "xaikit_torch")})
    path = folder / f"{method}-{key}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    maps = method_maps(model, images, targets, method, n_samples=n_samples)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, maps, allow_pickle=False)
    return maps


def run_roar(name: str, *, methods: Sequence[str] = DEFAULT_METHODS, fractions: Sequence[float] = (0.1, 0.3, 0.5,
             0.7, 0.9), seeds: Sequence[int] = (0, 1), n_train: int | None = None, n_test: int | None = None,
             epochs: int = 5, n_samples: int = 16, log: Callable[[str], None] | None = None,
             store: str | Path | None = None, engine: str = "local", address: str | None = None,
             workers: int | None = None, init: str = "torch") -> Any:
    """ROAR for zoo model ``name`` (a softmax classifier: ``digits_bn`` or ``shapes_cnn4``).

    With ``store`` (a folder), every retraining is a cell of the bench's results store run
    by ``engine`` (``"local"`` or ``"ray"``, :func:`xaikit.bench.roar.run_remove_and_retrain`):
    a stopped run started again with the same folder skips the finished cells and reuses
    the maps kept in its ``maps`` subfolder. Without it, the retrainings run here one
    after the other and nothing is kept. ``init`` picks the retrainings' initial weights
    (:func:`make_fit`).
    """
    from xaikit.metrics.roar import remove_and_retrain
    from xaikit.zoo import load_data, load_model, model_info

    say = log or (lambda s: None)
    entry = model_info(name)
    train, test = load_data(name, "train", n_train), load_data(name, "test", n_test)
    model = load_model(name, framework="torch")
    start = time.perf_counter()
    maps = {}
    map_folder = None if store is None else Path(store) / "maps"
    for method in methods:
        maps[method] = tuple(_kept_maps(map_folder, model, split.images, split.labels, method, n_samples)
                             for split in (train, test))
        say(f"maps of {method}: {time.perf_counter() - start:.0f} s")
    map_seconds = time.perf_counter() - start
    fit_kwargs = {"architecture": entry.architecture, "input_shape": tuple(entry.input_shape),
                  "n_classes": entry.n_outputs, "epochs": epochs, "init": init}
    if store is not None:
        from xaikit.bench.roar import run_remove_and_retrain

        result = run_remove_and_retrain(make_fit, fit_kwargs, train.images, train.labels, test.images, test.labels,
                                        maps, store=store, fractions=fractions, seeds=seeds, engine=engine,
                                        address=address, workers=workers, log=say)
    else:
        if engine != "local":
            from xaikit.errors import InputError

            raise InputError(f"engine={engine!r} runs the retrainings as cells of a results store: give store= "
                             "(a folder; a stopped run resumes from it)")
        result = remove_and_retrain(make_fit(**fit_kwargs), train.images, train.labels, test.images, test.labels,
                                    maps, fractions=fractions, seeds=seeds, log=say)
    result.params.update(model=name, epochs=epochs, n_samples=n_samples, map_seconds=map_seconds, init=init)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xaikit_torch.zoo.roar", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits_bn", help="digits_bn or shapes_cnn4")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.1, 0.3, 0.5, 0.7, 0.9])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--n-train", type=int, default=None, help="first N training images (default: all)")
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n-samples", type=int, default=16, help="samples of SmoothGrad, SquareGrad, VarGrad")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown table (and a .json beside it)")
    parser.add_argument("--store", type=Path, default=None,
                        help="results folder of the retraining cells (default: xaikit-roar-MODEL); a stopped run "
                             "started again with it skips the finished cells")
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="run the retrainings here (local) or in parallel on Ray workers")
    parser.add_argument("--address", default=None, help="Ray cluster to join (default: start Ray here)")
    parser.add_argument("--workers", type=int, default=None, help="Ray workers (default: the CPUs)")
    parser.add_argument("--init", choices=["keras", "torch"], default="torch",
                        help="initial weights of each retraining: Keras' (as the shipped model was trained; "
                             "default) or PyTorch's defaults")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run_roar(args.model, methods=args.methods, fractions=args.fractions, seeds=args.seeds,
                      n_train=args.n_train, n_test=args.n_test, epochs=args.epochs, n_samples=args.n_samples,
                      log=lambda s: print(s, file=sys.stderr, flush=True),
                      store=args.store or Path(f"xaikit-roar-{args.model}"), engine=args.engine,
                      address=args.address, workers=args.workers, init=args.init)
    seconds = time.perf_counter() - start
    text = (f"ROAR on {args.model}: test accuracy after removing the top fraction of pixels and retraining "
            f"(mean ± half the range over seeds {args.seeds}; {result.params['n_train']} training and "
            f"{result.params['n_test']} test images, {args.epochs} epochs; {seconds:.0f} s)\n\n{result.table()}\n")
    print(text)
    if args.out is not None:
        from xaikit.atomic_files import atomic_write_text
        from xaikit.execution import json_ready

        atomic_write_text(args.out, text)
        record = {"methods": list(result.methods), "fractions": result.fractions, "seeds": list(result.seeds),
                  "accuracy": result.accuracy, "baseline": result.baseline, "seconds": seconds,
                  "params": result.params, "command": " ".join(["python -m xaikit_torch.zoo.roar", *(argv or
                                                                                                    sys.argv[1:])])}
        atomic_write_text(args.out.with_suffix(".json"), json.dumps(json_ready(record), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
