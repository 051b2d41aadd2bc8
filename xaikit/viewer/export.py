"""``xaikit view PATH --export site/``: the viewer's pages as static files, bounded in size.

The export writes what the server would answer, as files at the same relative
addresses: the page and its assets, ``api/index.js`` (the index, loaded by a script tag
so that the page also works opened from disk, where browsers refuse ``fetch``), a tile
and the image for the first ``limit`` images of every column (each column drawn with
its method's view and the default colormap and alpha: the controls need the server),
and the raw maps of the first ``detail_limit`` images (``api/raw/C/I.js``) for the
detail view's values and histograms. The page says what was left out.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic_files import atomic_write_bytes
from .app import ASSETS, ViewerApp, asset

__all__ = ["DEFAULT_DETAIL_LIMIT", "DEFAULT_LIMIT", "ExportResult", "export_site"]

#: Images per column in a static export by default (tiles and images).
DEFAULT_LIMIT = 500
#: Images per column whose raw maps (values under the cursor, histogram) are exported by default.
DEFAULT_DETAIL_LIMIT = 100


@dataclass
class ExportResult:
    """What :func:`export_site` wrote."""

    path: Path
    files: int
    bytes: int
    images: int  # per column
    detail_images: int  # per column, with raw maps
    total_images: int  # in the source


def export_site(source: Any, out: str | os.PathLike[str], *, limit: int = DEFAULT_LIMIT,
                detail_limit: int = DEFAULT_DETAIL_LIMIT, overwrite: bool = False,
                progress: Callable[[int, int], None] | None = None) -> ExportResult:
    """Write the viewer of ``source`` as static pages into the folder ``out``.

    Parameters
    ----------
    source
        A source of :func:`xaikit.viewer.sources.open_source`.
    out
        The folder (created; an existing non-empty folder is replaced only with ``overwrite``).
    limit
        Images per column exported (tiles and images), from the first.
    detail_limit
        Images per column (of the first ``limit``) whose raw maps are exported.
    overwrite
        Replace an existing non-empty folder.
    progress
        Called as ``progress(done, total)`` per column.
    """
    from ..errors import InputError

    if limit < 1 or detail_limit < 0:
        raise InputError(f"limit must be >= 1 and detail_limit >= 0; got {limit} and {detail_limit}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise FileExistsError(f"{out} exists and is not empty; give another folder or --overwrite to replace it")
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    columns = source.columns
    total = max((c.n for c in columns), default=0)
    shown = min(limit, total)
    detail = min(detail_limit, shown)
    app = ViewerApp(source, static={"limit": shown, "detail_limit": detail, "total": total})
    files = 0
    size = 0

    def write(rel: str, data: bytes) -> None:
        nonlocal files, size
        atomic_write_bytes(out / rel, data)
        files += 1
        size += len(data)

    for address, (name, _) in ASSETS.items():
        if address != "/":
            write(address.lstrip("/"), asset(name))
    write("api/index.js", b"window.XAIKIT_INDEX = " + app.index_json() + b";\n")
    for c, column in enumerate(columns):
        for i in range(min(shown, column.n)):
            write(f"api/tile/{c}/{i}.png", app.tile(c, i))
            if c == 0 or source.kind != "bulk":  # a bulk view's stores share their images (column 0's)
                write(f"api/image/{c}/{i}.png", app.image_png(c, i))
            if i < detail:
                data = base64.b64encode(app.raw(c, i)).decode("ascii")
                write(f"api/raw/{c}/{i}.js", f"window.xaikitRaw({c}, {i}, {json.dumps(data)});\n".encode("ascii"))
        if progress is not None:
            progress(c + 1, len(columns))
    return ExportResult(out, files, size, shown, detail, total)
