"""Shared pieces of the Captum adapter: the explainer base, the forward function handed to Captum, batching."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from xaikit_torch.adapters import (
    ScoreModel,
    TorchModelMixin,
    as_numpy,
    library_call,
    library_score,
    library_seeds,
    seeded,
    to_tensor,
    versions,
)

from xaikit.catalogue import SHARED
from xaikit.explainer import ActivationExtractor, Explainer, ModelSpec
from xaikit.kernels import chunks

__all__ = ["CaptumExplainer", "CaptumExtractorBase", "SEED", "captum_call"]

#: Captum's notes on what it does as designed, one per call: they say nothing the user can act on.
CAPTUM_NOTES = (r"Input Tensor \d+ did not already require gradients", r"Setting backward hooks on ReLU activations",
                r"Setting forward, backward hooks and attributes on non-linear")


@contextlib.contextmanager
def captum_call(model: Any) -> Iterator[None]:
    """:func:`xaikit_torch.adapters.library_call` with Captum's routine notes (:data:`CAPTUM_NOTES`: the adapter
    hands it tensors without ``requires_grad``, and its ReLU hooks are removed afterwards) kept out of the user's
    output; every other warning passes."""
    with library_call(model), warnings.catch_warnings():
        for note in CAPTUM_NOTES:
            warnings.filterwarnings("ignore", message=note, category=UserWarning)
        yield

#: Captum draws from torch's global generator: the adapter seeds it once per image.
SEED = SHARED["seed"].with_default(None, "Seed of torch's generator for each image's Captum call (one seed per "
                                         "image, keyed by this seed and the image's content, so a result does not "
                                         "depend on the batch).")


class CaptumExplainer(TorchModelMixin, Explainer):
    """Base of the Captum adapters.

    Subclasses call one Captum class on :meth:`_forward` (the model's class scores for the
    resolved ``score``) and return per-image raw float attributions.
    """

    backend = "captum"

    def _info(self) -> dict[str, Any]:
        return versions("captum")

    def _default_score(self, spec: ModelSpec) -> str:
        """What Captum explains when handed the model: its output as it is (the logit of a usual torch classifier)."""
        return library_score(spec)

    def _forward(self, images: np.ndarray, score: str) -> ScoreModel:
        return ScoreModel(self.model, score, tuple(images.shape[1:]))

    def _chunked(self, images: np.ndarray, targets: np.ndarray, size: int,
                 call: Callable[[Any, list[int]], Any]) -> np.ndarray:
        """``call(x, targets)`` on chunks of at most ``size`` images, as one float32 array (one library call each)."""
        out = []
        with captum_call(self.model):
            for s in chunks(len(images), size):
                out.append(as_numpy(call(to_tensor(images[s], self.model), targets[s].tolist())))
        return np.concatenate(out)

    def _per_image(self, images: np.ndarray, targets: np.ndarray, seed: int,
                   call: Callable[[Any, int, int], Any]) -> np.ndarray:
        """``call(x, target, i)`` on each image alone, torch's (and NumPy's) global generator seeded per image."""
        out = []
        with captum_call(self.model):
            for i, image_seed in enumerate(library_seeds(seed, images)):
                with seeded(image_seed, self.model):
                    out.append(as_numpy(call(to_tensor(images[i:i + 1], self.model), int(targets[i]), i)))
        return np.concatenate(out)

    def _resolve_params(self, images: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
        params = super()._resolve_params(images, spec)
        if "seed" in params and params["seed"] is None:  # drawn once, recorded, reproduces the result
            params["seed"] = int(np.random.SeedSequence().entropy % (2**32))
        return params


class CaptumExtractorBase(TorchModelMixin, ActivationExtractor):
    """Base of Captum's activation extractor."""

    backend = "captum"

    def _info(self) -> dict[str, Any]:
        return versions("captum")
