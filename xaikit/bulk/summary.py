"""What a bulk run reports: :class:`BulkResult`, made from the schedule's tally."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .schedule import RunTally

__all__ = ["BulkResult", "summarise"]


@dataclass
class BulkResult:
    """What :func:`explain_to_zarr` did.

    Attributes
    ----------
    path : Path
        The Zarr store.
    n_images, n_chunks : int
        Images and chunks of the store.
    computed, reused : int
        Chunks computed by this call, and kept from an earlier (interrupted) one.
    seconds : float
        Wall time of the run, from handing the model to the engine to the last chunk
        written (opening the model and creating the store come before it).
    images_per_second : float
        Images computed by this call per second of ``seconds`` (0 when all were reused).
    engine : dict
        What computed the chunks.
    startup_seconds : float
        Of ``seconds``, the time until the first chunk was explained: the engine's start,
        the explainer's build and tracing, the first chunk's read.
    steady_images_per_second : float
        The streaming rate once started: images after the first chunk per second after
        it (0 with a single computed chunk). This is the rate a long run approaches.
    changed : list of str
        Images of chunks kept from an earlier run whose pixels changed since (same
        names, other content): their chunks were computed again (counted in ``computed``).
    traffic : dict
        On a remote executor (Ray): what travelled per computed image, in bytes --
        ``to_workers`` (pixels, or file names when the workers decode: ``decode``) and
        ``from_workers`` (maps, targets, predictions, outputs) -- counted from the
        arrays and names handed over, without the serialisation's small framing. Empty
        for the local executor (nothing is copied).
    """

    path: Path
    n_images: int
    n_chunks: int
    computed: int
    reused: int
    seconds: float
    images_per_second: float
    engine: dict[str, Any] = field(default_factory=dict)
    startup_seconds: float = 0.0
    steady_images_per_second: float = 0.0
    changed: list[str] = field(default_factory=list)
    traffic: dict[str, Any] = field(default_factory=dict)


def summarise(out: Path, n_chunks: int, tally: RunTally, log: Callable[[str], None] | None) -> BulkResult:
    """The :class:`BulkResult` of a run that wrote ``out``; ``log`` is told of images changed since an earlier run."""
    changed = tally.changed
    if changed and log is not None:
        listed = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        log(f"{len(changed)} image(s) changed since their maps were computed (same names, other pixels): "
            f"{listed}; their chunks were computed again")
    start, end, first = tally.start, tally.end, tally.first
    seconds = end - start
    startup = first[0] - start if first else 0.0
    steady = ((tally.images_computed - first[1]) / (end - first[0])
              if first and tally.computed > 1 and end > first[0] else 0.0)
    rate = tally.images_computed / seconds if tally.images_computed and seconds > 0 else 0.0
    traffic: dict[str, Any] = {}
    if tally.remote and tally.images_computed:
        traffic = {"decode": tally.decode, "to_workers": tally.bytes_sent / tally.images_computed,
                   "from_workers": tally.bytes_received / tally.images_computed}
    return BulkResult(out, tally.n, n_chunks, tally.computed, tally.reused, seconds, rate, tally.engine,
                      startup_seconds=startup, steady_images_per_second=steady, changed=changed, traffic=traffic)
