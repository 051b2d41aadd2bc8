"""A thread-safe least-recently-used cache bounded by the bytes it holds.

The viewer keeps rendered tiles (PNG bytes) and the Zarr chunks they were drawn from;
both are bounded here so that scrolling through a store of 50,000 images does not grow
the server's memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["ByteLRU"]


def _size(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    nbytes = getattr(value, "nbytes", None)
    return int(nbytes) if nbytes is not None else len(value)


class ByteLRU:
    """``key -> value`` holding at most ``max_bytes`` of values.

    A value weighs ``len(bytes)``, ``array.nbytes``, or the sum over a dict's values.

    Parameters
    ----------
    max_bytes
        The bound; the least recently used values are dropped to stay under it (a value
        larger than the bound is returned but not kept).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._pending: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[Hashable]:
        """The keys held, least recently used first."""
        with self._lock:
            return list(self._items)

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The cached value of ``key``, or ``make()`` (computed outside the lock, then kept).

        Requests for a key being made wait for it instead of making it again (the tiles of a
        screen arrive together and share one Zarr chunk).
        """
        while True:
            with self._lock:
                item = self._items.get(key)
                if item is not None:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return item[0]
                pending = self._pending.get(key)
                if pending is None:  # nobody is making it: this call does
                    self.misses += 1
                    self._pending[key] = threading.Event()
                    break
            pending.wait()  # then look again (a value too large to keep, or a failure, is made anew)
        try:
            value = make()
        except BaseException:
            with self._lock:
                self._pending.pop(key).set()
            raise
        size = _size(value)
        with self._lock:
            if size <= self.max_bytes and key not in self._items:
                self._items[key] = (value, size)
                self.bytes += size
                while self.bytes > self.max_bytes:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self.bytes -= dropped
            self._pending.pop(key).set()  # after the value is in: the waiters find it
        return value
