"""The viewer's answers, independent of how they are delivered (the local server, the static export).

Every address the page asks for is one of a fixed set (:data:`ROUTES`): the page and its
two assets, the source's index, and per ``(column, image)`` a tile, the image and the raw
map. Column and image are integers checked against the source; nothing of an address
becomes a file path, so no address reaches a file outside the package's own assets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from .cache import ByteLRU
from .render import COLORMAPS, SIGNED_COLORMAPS, VIEWS, method_view, png_bytes, render_tile

__all__ = ["ASSETS", "DEFAULT_ALPHA", "DEFAULT_COLORMAP", "ROUTES", "Reply", "ViewerApp", "TILE_CACHE_BYTES"]

#: Bytes of rendered tiles (PNG) kept per viewer, least recently used dropped first.
TILE_CACHE_BYTES = 64 * 2**20
DEFAULT_COLORMAP = "jet"
DEFAULT_ALPHA = 0.4
#: The page and its assets: address -> (file in xaikit/viewer/static, content type).
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/viewer.js": ("viewer.js", "text/javascript; charset=utf-8"),
    "/static/viewer.css": ("viewer.css", "text/css; charset=utf-8"),
}
#: The data addresses (``column`` and ``image`` are decimal integers).
ROUTES = {
    "index_js": re.compile(r"/api/index\.js"),
    "index_json": re.compile(r"/api/index\.json"),
    "tile": re.compile(r"/api/tile/(\d{1,6})/(\d{1,9})\.png"),
    "image": re.compile(r"/api/image/(\d{1,6})/(\d{1,9})\.png"),
    "raw": re.compile(r"/api/raw/(\d{1,6})/(\d{1,9})\.f32"),
}


@dataclass(frozen=True)
class Reply:
    """What the server sends: status, content type, body, whether the browser may cache it."""

    status: int
    content_type: str
    body: bytes
    cacheable: bool = False


def _not_found(what: str) -> Reply:
    return Reply(404, "text/plain; charset=utf-8", f"not found: {what}\n".encode())


def _bad(what: str) -> Reply:
    return Reply(400, "text/plain; charset=utf-8", f"bad request: {what}\n".encode())


def asset(name: str) -> bytes:
    """The bytes of a shipped asset (``index.html``, ``viewer.js``, ``viewer.css``)."""
    return (resources.files("xaikit.viewer") / "static" / name).read_bytes()


class ViewerApp:
    """Answers the page's requests for one source (:mod:`.sources`), caching rendered tiles.

    Parameters
    ----------
    source
        A :class:`~.sources.BulkSource` or :class:`~.sources.BenchSource`.
    static
        For the export: what the page is told about the bounds of a static copy (None
        when served).
    """

    def __init__(self, source: Any, *, static: dict[str, Any] | None = None,
                 tile_cache_bytes: int = TILE_CACHE_BYTES) -> None:
        self.source = source
        self.static = static
        self.tiles = ByteLRU(tile_cache_bytes)
        self._index: bytes | None = None

    # ------------------------------------------------------------------ data
    def index(self) -> dict[str, Any]:
        data = self.source.index()
        data["controls"] = {"views": list(VIEWS), "colormaps": list(COLORMAPS),
                            "signed_colormaps": list(SIGNED_COLORMAPS), "colormap": DEFAULT_COLORMAP,
                            "alpha": DEFAULT_ALPHA}
        data["static"] = self.static
        return data

    def index_json(self) -> bytes:
        if self._index is None:
            self._index = json.dumps(self.index(), ensure_ascii=True, allow_nan=False,
                                     separators=(",", ":")).encode("ascii")
        return self._index

    def tile(self, column: int, i: int, view: str = "auto", colormap: str = DEFAULT_COLORMAP,
             alpha: float = DEFAULT_ALPHA) -> bytes:
        """PNG of the map of image ``i`` in ``column`` over the image (``view="auto"``: the method's view)."""
        self.source.check(column, i)
        if view == "auto":
            view = method_view(self.source.columns[column].method)
        if view == "signed" and colormap not in SIGNED_COLORMAPS:
            colormap = "shap"  # one colormap control: a sequential choice means the default diverging one
        elif view != "signed" and colormap not in COLORMAPS:
            colormap = DEFAULT_COLORMAP
        amap = self.source.map(column, i)
        if not np.isfinite(amap).all():  # a chunk a running (or killed) bulk run has not written yet
            return png_bytes(self.source.image(column, i) // 2 + 64)
        key = (column, i, view, colormap, round(alpha, 2))
        return self.tiles.get(key, lambda: png_bytes(render_tile(self.source.image(column, i), amap, view=view,
                                                                 colormap=colormap, alpha=round(alpha, 2))))

    def image_png(self, column: int, i: int) -> bytes:
        return self.tiles.get(("image", column, i), lambda: png_bytes(self.source.image(column, i)))

    def raw(self, column: int, i: int) -> bytes:
        """The map's float32 values, little-endian, row by row (``height x width`` in the index)."""
        return np.ascontiguousarray(self.source.map(column, i), dtype="<f4").tobytes()

    # ------------------------------------------------------------------ requests
    def reply(self, path: str, query: dict[str, list[str]]) -> Reply:
        """The answer to ``GET path?query`` (only the addresses of :data:`ASSETS` and :data:`ROUTES`)."""
        if path in ASSETS:
            name, content_type = ASSETS[path]
            return Reply(200, content_type, asset(name))
        if ROUTES["index_json"].fullmatch(path):
            return Reply(200, "application/json", self.index_json())
        if ROUTES["index_js"].fullmatch(path):
            return Reply(200, "text/javascript; charset=utf-8", b"window.XAIKIT_INDEX = " + self.index_json() + b";\n")
        for name in ("tile", "image", "raw"):
            match = ROUTES[name].fullmatch(path)
            if match is None:
                continue
            column, i = int(match.group(1)), int(match.group(2))
            try:
                self.source.check(column, i)
            except KeyError:
                return _not_found(f"column {column}, image {i}")
            if name == "image":
                return Reply(200, "image/png", self.image_png(column, i), cacheable=True)
            if name == "raw":
                return Reply(200, "application/octet-stream", self.raw(column, i))
            view = query.get("view", ["auto"])[-1]
            colormap = query.get("cmap", [DEFAULT_COLORMAP])[-1]
            try:
                alpha = float(query.get("alpha", [str(DEFAULT_ALPHA)])[-1])
            except ValueError:
                return _bad("alpha must be a number in [0, 1]")
            if view not in VIEWS:
                return _bad(f"view must be one of {', '.join(VIEWS)}")
            if colormap not in COLORMAPS + SIGNED_COLORMAPS:
                return _bad(f"cmap must be one of {', '.join(COLORMAPS + SIGNED_COLORMAPS)}")
            if not 0.0 <= alpha <= 1.0:
                return _bad("alpha must be a number in [0, 1]")
            return Reply(200, "image/png", self.tile(column, i, view, colormap, alpha), cacheable=True)
        return _not_found("this address")
