"""Random streams keyed by the seed and each image's content.

An image's draws do not depend on its position in the batch, on the other images, on
``batch_size`` or on how a long run is split into chunks: the same image with the same
seed gets the same noise whether it is explained alone, in a batch, or in a CLI run
split into pieces. Streams are consumed in sample order, a chunk at a time, so plans
are never allocated whole (memory is bounded by the chunk, not by ``n_samples``).
Drawing ``a`` then ``b`` values from a stream gives the same values as drawing ``a + b``
at once (NumPy keeps its buffered bits in the generator's state; tested).

**One layout for the streams.** Streams are keyed by the image in channels-last order
and image-shaped noise is drawn channels-last, then transposed to the model's layout,
so the same image explained on a channels-first (PyTorch) and a channels-last (Keras)
model gets the same noise, references and positions: the same network in both
frameworks gives the same SmoothGrad and expected-gradients maps.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

import numpy as np

__all__ = ["GLOBAL_RNG_LOCK", "STREAMS", "ImageStreams", "channels_last", "image_digest", "image_rng", "image_seeds"]

#: Held by every adapter while its library draws from a *global* generator (NumPy's, torch's), which it
#: seeds and restores around the call: one such call at a time in the process, so draws never interleave.
GLOBAL_RNG_LOCK = threading.RLock()

#: Stream numbers, one per use, so that independent draws never share a stream ("library": the seeds
#: adapters give a library for each image, :func:`image_seeds`).
STREAMS = {"noise": 0, "smoothing": 1, "references": 2, "positions": 3, "masks": 4, "shifts": 5, "library": 6}


def image_digest(image: np.ndarray) -> int:
    """64-bit digest of an image's bytes (its content, not its position in a batch)."""
    data = np.ascontiguousarray(image).tobytes()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def image_rng(seed: int, image: np.ndarray, stream: int = 0) -> np.random.Generator:
    """A generator for one image, keyed by ``seed``, ``stream`` and the image's content."""
    return np.random.default_rng([seed, stream, image_digest(image)])


def channels_last(image: np.ndarray, layout: str) -> np.ndarray:
    """One image ``(C, H, W)`` (``layout="NCHW"``) as ``(H, W, C)``; channels-last images unchanged."""
    return np.moveaxis(image, 0, -1) if layout == "NCHW" else image


class ImageStreams:
    """One random stream per image, drawn lazily in sample order.

    Parameters
    ----------
    seed : int
        The explanation's seed.
    images : sequence of numpy.ndarray
        The images (their content, in channels-last order, keys the streams).
    stream : str
        One of :data:`STREAMS`.
    layout : {"NHWC", "NCHW"}
        The layout of ``images``.
    """

    def __init__(self, seed: int, images: Sequence[np.ndarray] | np.ndarray, stream: str, layout: str) -> None:
        self._generators = [image_rng(seed, channels_last(image, layout), STREAMS[stream]) for image in images]

    def normal(self, image: int, count: int, shape: tuple[int, ...], scale: float = 1.0,
               layout: str = "NHWC") -> np.ndarray:
        """``(count, *shape)`` float32 standard normals times ``scale``, the next ones of ``image``'s stream.

        With ``layout="NCHW"``, ``shape`` is ``(C, H, W)``: the values are drawn as
        ``(count, H, W, C)`` and transposed, so they equal the channels-last draws.
        """
        out = np.empty((count, *shape), np.float32)
        self.normal_into(image, out, scale, layout)
        return out

    def normal_into(self, image: int, out: np.ndarray, scale: float = 1.0, layout: str = "NHWC") -> None:
        """Fill the C-contiguous float32 ``out`` ``(count, *shape)`` with :meth:`normal`'s draws.

        For a chunk's noise written in place (no intermediate array to copy): channels-last
        rows are drawn into ``out`` directly, channels-first ones drawn channels-last and
        written transposed and scaled in one pass.
        """
        generator = self._generators[image]
        if layout == "NCHW" and out.ndim == 4:
            count, channels, height, width = out.shape
            drawn = np.empty((count, height, width, channels), np.float32)
            generator.standard_normal(out=drawn, dtype=np.float32)
            np.multiply(drawn.transpose(0, 3, 1, 2), np.float32(scale), out=out)
            return
        generator.standard_normal(out=out, dtype=np.float32)
        if scale != 1.0:
            out *= np.float32(scale)

    def uniform(self, image: int, count: int) -> np.ndarray:
        """``count`` float64 draws from U[0, 1), the next ones of ``image``'s stream."""
        return self._generators[image].uniform(size=count)

    def integers(self, image: int, count: int, high: int) -> np.ndarray:
        """``count`` int64 draws from ``0 .. high - 1``, the next ones of ``image``'s stream."""
        return self._generators[image].integers(0, high, size=count)


def image_seeds(seed: int, images: Sequence[np.ndarray] | np.ndarray, layout: str, high: int = 2**63) -> list[int]:
    """One seed in ``[0, high)`` per image, keyed by ``seed`` and the image's content (channels-last bytes).

    For a library that draws from a global generator: seeded with its image's seed before
    each image's call, it gives the image the same draws whatever the batch.
    """
    return [int(image_rng(int(seed), channels_last(image, layout), STREAMS["library"]).integers(high))
            for image in images]
