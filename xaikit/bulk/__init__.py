"""Bulk explanation: the maps of a whole image set in a chunked Zarr store, streamed and resumable.

>>> import xaikit.bulk                                                         # doctest: +SKIP
>>> xaikit.bulk.explain_to_zarr("zoo:shapes_cnn4", "val/", "maps.zarr", method="gradcam")  # doctest: +SKIP

or ``xaikit explain --zoo shapes_cnn4 --images val/ --out maps.zarr [--engine ray]``.

The images are read in chunks of ``chunk_size`` (a reader thread keeps at most
``prefetch`` chunks ahead), each chunk is explained by an executor
(:mod:`xaikit.execution`: ``local`` in this process, ``ray`` on workers) and the
driver writes it into the store from a writer thread (at most two chunks waiting), so
reading and writing overlap the explanation and memory is bounded by the chunks in
flight and ``batch_size``, never by the dataset.

The store (a Zarr group, ``zarr>=3``):

=================  ==========================================================
``maps``           float32 ``(N, H, W)`` (float16 with ``dtype="float16"``), one Zarr
                   chunk per ``chunk_size`` images (NaN where not yet computed),
                   compressed with Blosc LZ4 after a byte shuffle
``targets``        int64 ``(N,)``: the class explained
``predictions``    int64 ``(N,)``: the predicted class
``outputs``        float32 ``(N, K)``: the model outputs of the images
``image_hashes``   uint64 ``(N,)``: xxh3-64 of each image's pixels as read (decoded,
                   resized, before preprocessing): what the map was computed from
``done``           uint8 ``(n_chunks,)``: 1 once a chunk is written (the record)
attributes         ``xaikit_bulk``: method, backend, parameters (as given and as
                   run), score, layer, preprocessing, image names, chunk size,
                   model (source, weights fingerprint, layout), versions, engine
=================  ==========================================================

Resuming: a chunk is finished when its arrays are written and then its ``done`` flag
(Zarr writes each chunk file atomically); running the same call again after a kill
(even ``kill -9``) keeps the finished chunks and computes the others, and gives the
store an uninterrupted run would have (chunks are the same images whatever ran
before; random methods draw per image from the seed, recorded on the first run).
A store made by another run (other model, method, parameters or image names) is refused.

Maps in float16 (``dtype="float16"``, ``--dtype float16``): half the bytes, a third of
the compressed size; each value is rounded to the nearest float16, within
:data:`FLOAT16_RELATIVE_ERROR` (2^-11) of it relative to its magnitude, or
:data:`FLOAT16_ABSOLUTE_ERROR` (2^-25) absolute below float16's smallest normal value
(6.1e-5). A map with a value beyond float16's range (|v| > 65504) is refused with an error
(it would become infinite): such a run needs float32.

Codec: Blosc LZ4 with a byte shuffle, about half the time of Zarr's default (Zstandard,
level 0) per chunk of 64 maps of 64 x 64 here, and smaller (measured in ``docs/scaling.md``).
Files are decoded in a pool of threads (OpenCV releases the GIL while decoding).

Images are known by their content, not only their names: a finished chunk is kept only
if its images' pixels hash as they did when its maps were computed (the images are read
again to check; xxh3 costs about 1 µs per 64 x 64 image, 9 µs at 224 x 224, against
about 120 µs to decode a PNG). A chunk with a changed image (a file replaced under the
same name) is computed again, and :attr:`BulkResult.changed` names the changed images.

Concurrent runs: a run holds an inter-process lock on the store (the file
``.<store name>.lock`` beside it, :mod:`filelock`) from checking or creating the store
to its last chunk, so a second run on the same store waits for the first (``log`` says
so), then keeps what it finished; the operating system releases the lock of a killed run.

The package, by job: :mod:`.source` (the model and the images), :mod:`.plan` (the
run resolved, the store's identity), :mod:`.store` (the Zarr store), :mod:`.threads`
(the reader and writer threads), :mod:`.task` (a chunk explained), :mod:`.schedule`
(chunks on an executor), :mod:`.summary` (:class:`BulkResult`), :mod:`.explain` (the
driver).
"""

from __future__ import annotations

from .explain import explain_to_zarr
from .source import find_bulk_images, image_hashes
from .store import (
    FLOAT16_ABSOLUTE_ERROR,
    FLOAT16_RELATIVE_ERROR,
    FORMAT,
    MAP_DTYPES,
    maps_as,
    open_zarr,
    store_lock,
    write_together,
)
from .summary import BulkResult
from .task import explain_chunk

__all__ = ["FLOAT16_ABSOLUTE_ERROR", "FLOAT16_RELATIVE_ERROR", "FORMAT", "MAP_DTYPES", "BulkResult", "explain_chunk",
           "explain_to_zarr", "find_bulk_images", "image_hashes", "maps_as", "open_zarr", "store_lock",
           "write_together"]
