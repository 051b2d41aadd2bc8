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
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xaikit.metrics.roar import REMOVALS
from xaikit.validation import check_choice, check_nonnegative_float

__all__ = ["DEFAULT_METHODS", "LEARNERS", "cnn4_bn_gap", "make_fit", "method_maps", "run_roar"]

#: The methods of Hooker et al.'s comparison available here (SmoothGrad-squared is SquareGrad).
DEFAULT_METHODS = ("vanilla_gradients", "gradcam", "smoothgrad", "squaregrad", "vargrad")
_NOISY = {"smoothgrad", "squaregrad", "vargrad"}


def make_fit(architecture: str, input_shape: tuple[int, int, int], n_classes: int, *, epochs: int = 5,
             batch_size: int = 64, learning_rate: float = 1e-3, init: str = "torch", learner: str = "same",
             schedule: str = "constant") -> Callable[[np.ndarray, np.ndarray, int], Any]:
    """``fit(images NHWC, labels, seed) -> predict``: a classifier trained from scratch with Adam.

    Parameters
    ----------
    architecture, input_shape, n_classes
        The zoo model's architecture (:data:`~xaikit_torch.zoo.architectures.BUILDERS`),
        ``(H, W, C)`` and classes.
    epochs, batch_size, learning_rate
        Adam's passes over the training set, minibatch and (peak) learning rate.
    init : {"torch", "keras"}
        ``"torch"`` (default, what the digits table used) keeps PyTorch's initial weights,
        with which ``cnn4`` often stays at chance on the shapes; ``"keras"`` starts from
        Keras' initial weights, as the shipped model did
        (:func:`~xaikit_torch.zoo.architectures.keras_initialise`).
    learner : {"same", "cnn4_bn_gap"}
        ``"same"`` retrains the zoo model's own architecture, as Hooker et al. do;
        ``"cnn4_bn_gap"`` retrains :func:`cnn4_bn_gap` instead (for the shapes, where the
        plain ``cnn4`` does not train reliably on degraded images).
    schedule : {"constant", "one_cycle"}
        The learning rate: constant, or Smith & Topin's (2019) one-cycle schedule peaking at
        ``learning_rate`` (PyTorch's ``OneCycleLR``).
    """
    import torch

    from xaikit.validation import check_choice

    from .architectures import BUILDERS, keras_initialise

    check_choice("init", init, ("keras", "torch"))
    check_choice("learner", learner, ("same", *LEARNERS))
    check_choice("schedule", schedule, ("constant", "one_cycle"))
    build = BUILDERS[architecture] if learner == "same" else LEARNERS[learner]

    h, w, c = input_shape

    def fit(images: np.ndarray, labels: np.ndarray, seed: int) -> Callable[[np.ndarray], np.ndarray]:
        torch.manual_seed(seed)
        model = build((c, h, w), n_classes)
        if init == "keras":
            keras_initialise(model)
        if learner == "same":   # the twins' BatchNorm keeps Keras' slow running statistics (momentum 0.01): a
            for module in model.modules():             # short training needs the plain average (cnn4_bn_gap
                if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):   # keeps PyTorch's 0.1)
                    module.momentum = None
        optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
        steps = epochs * math.ceil(len(images) / batch_size)
        scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=learning_rate, total_steps=steps)
                     if schedule == "one_cycle" else None)
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
                if scheduler is not None:
                    scheduler.step()
        model.eval()

        def predict(batch: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(np.ascontiguousarray(np.moveaxis(batch, -1, 1),
                                                                   dtype=np.float32))).numpy()

        return predict

    return fit


def cnn4_bn_gap(input_shape: tuple[int, int, int] = (3, 64, 64), n_classes: int = 4) -> Any:
    """``cnn4``'s four convolution blocks with BatchNorm, and a global-average-pooling head: a learner for ROAR.

    Each block is a 3x3 convolution (no bias), BatchNorm (Ioffe & Szegedy 2015), ReLU and 2x2
    max pooling, with ``cnn4``'s 32, 64, 128 and 128 filters; the head averages the last
    feature maps over space (Lin et al. 2014) into one softmax layer. Not a twin of a Keras
    model: on the shapes, the plain ``cnn4`` stays at chance for its first epochs, and short
    retrainings on degraded images often never leave it, whatever the seed or the initial
    weights; this learner leaves chance within the first epoch.

    ``input_shape`` is ``(C, H, W)``; ends in a softmax, as the zoo's architectures do.
    """
    from collections import OrderedDict

    from torch import nn

    from xaikit.errors import InputError

    channels = int(input_shape[0])
    if int(n_classes) < 2:
        raise InputError(f"cnn4_bn_gap builds a softmax classifier: n_classes must be >= 2; got {n_classes}")
    stack: list[tuple[str, nn.Module]] = []
    for i, filters in enumerate((32, 64, 128, 128)):
        stack += [(f"conv{i}", nn.Conv2d(channels, filters, 3, bias=False)), (f"norm{i}", nn.BatchNorm2d(filters)),
                  (f"relu{i}", nn.ReLU()), (f"pool{i}", nn.MaxPool2d(2))]
        channels = filters
    stack += [("average", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
              ("logits", nn.Linear(channels, int(n_classes))), ("softmax", nn.Softmax(dim=1))]
    return nn.Sequential(OrderedDict(stack))


#: Learners ROAR can retrain instead of the zoo model's own architecture (``learner=``).
LEARNERS: dict[str, Callable[..., Any]] = {"cnn4_bn_gap": cnn4_bn_gap}


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
             workers: int | None = None, init: str = "torch", learner: str = "same",
             schedule: str = "constant", learning_rate: float = 1e-3, batch_size: int = 64,
             removal: str = "mean", noise: float = 0.01) -> Any:
    """ROAR for zoo model ``name`` (a softmax classifier: ``digits_bn`` or ``shapes_cnn4``).

    With ``store`` (a folder), every retraining is a cell of the bench's results store run
    by ``engine`` (``"local"`` or ``"ray"``, :func:`xaikit.bench.roar.run_remove_and_retrain`):
    a stopped run started again with the same folder skips the finished cells and reuses
    the maps kept in its ``maps`` subfolder. Without it, the retrainings run here one
    after the other and nothing is kept. ``init``, ``learner``, ``schedule``,
    ``learning_rate`` and ``batch_size`` set the retrainings (:func:`make_fit`); ``removal``
    and ``noise`` how the removed pixels are filled
    (:func:`xaikit.metrics.roar.remove_and_retrain`).
    """
    from xaikit.metrics.roar import remove_and_retrain
    from xaikit.zoo import load_data, load_model, model_info

    say = log or (lambda s: None)
    removal = check_choice("removal", removal, REMOVALS)   # checked before minutes of maps
    noise = check_nonnegative_float("noise", noise)
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
                  "n_classes": entry.n_outputs, "epochs": epochs, "init": init, "batch_size": batch_size,
                  "learning_rate": learning_rate, "learner": learner, "schedule": schedule}
    if store is not None:
        from xaikit.bench.roar import run_remove_and_retrain

        result = run_remove_and_retrain(make_fit, fit_kwargs, train.images, train.labels, test.images, test.labels,
                                        maps, store=store, fractions=fractions, seeds=seeds, engine=engine,
                                        address=address, workers=workers, log=say, removal=removal, noise=noise)
    else:
        if engine != "local":
            from xaikit.errors import InputError

            raise InputError(f"engine={engine!r} runs the retrainings as cells of a results store: give store= "
                             "(a folder; a stopped run resumes from it)")
        result = remove_and_retrain(make_fit(**fit_kwargs), train.images, train.labels, test.images, test.labels,
                                    maps, fractions=fractions, seeds=seeds, log=say, removal=removal, noise=noise)
    result.params.update(model=name, epochs=epochs, n_samples=n_samples, map_seconds=map_seconds, init=init,
                         removal=removal, noise=noise,
                         learner=learner, schedule=schedule, learning_rate=learning_rate, batch_size=batch_size)
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
                        help="initial weights of each retraining: PyTorch's defaults (default) or Keras' (as the "
                             "shipped model was trained)")
    parser.add_argument("--learner", choices=["same", *LEARNERS], default="same",
                        help="what each retraining trains: the zoo model's architecture (same, default) or "
                             "cnn4 with BatchNorm and a global-average-pooling head (the shapes)")
    parser.add_argument("--schedule", choices=["constant", "one_cycle"], default="constant",
                        help="learning rate: constant (default) or one cycle peaking at --learning-rate")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam's (peak) learning rate")
    parser.add_argument("--batch-size", type=int, default=64, help="minibatch of the retrainings (default 64)")
    parser.add_argument("--removal", choices=list(REMOVALS), default="mean",
                        help="fill the removed pixels with the training set's channel means (mean, Hooker et al.) "
                             "or by noisy linear imputation from their surroundings (noisy_linear, Rong et al.: "
                             "the hole's outline shows less of the class)")
    parser.add_argument("--noise", type=float, default=0.01,
                        help="standard deviation of the imputation noise, in the images' units (default 0.01, "
                             "Rong et al.'s for images in [0, 1]: the zoo's datasets)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run_roar(args.model, methods=args.methods, fractions=args.fractions, seeds=args.seeds,
                      n_train=args.n_train, n_test=args.n_test, epochs=args.epochs, n_samples=args.n_samples,
                      log=lambda s: print(s, file=sys.stderr, flush=True),
                      store=args.store or Path(f"xaikit-roar-{args.model}"), engine=args.engine,
                      address=args.address, workers=args.workers, init=args.init, learner=args.learner,
                      schedule=args.schedule, learning_rate=args.learning_rate, batch_size=args.batch_size,
                      removal=args.removal, noise=args.noise)
    seconds = time.perf_counter() - start
    text = (f"ROAR on {args.model}: test accuracy after removing the top fraction of pixels and retraining "
            f"(mean ± half the range over seeds {args.seeds}; {result.params['n_train']} training and "
            f"{result.params['n_test']} test images, {args.epochs} epochs, learner {args.learner}, {args.schedule} "
            f"learning rate {args.learning_rate:g}, batch {args.batch_size}, removal {args.removal}; "
            f"{seconds:.0f} s)\n\n{result.table()}\n")
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
