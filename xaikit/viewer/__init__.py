"""``xaikit view``: an explorer in the browser for bulk stores and bench folders.

>>> from xaikit.viewer import open_source, ViewerApp, ViewerServer     # doctest: +SKIP
>>> with ViewerServer(ViewerApp(open_source(["maps.zarr"]))) as server:  # doctest: +SKIP
...     print(server.url)

or ``xaikit view maps.zarr [gradcam.zarr ...]``, ``xaikit view bench-out/``,
``xaikit view maps.zarr --export site/``.

- :mod:`.sources`: what is shown (bulk stores read chunk by chunk, a bench folder);
- :mod:`.render`: tiles drawn with :mod:`xaikit.viz`'s colour rules, as PNG;
- :mod:`.app`: the fixed set of addresses the page asks for, and their answers;
- :mod:`.server`: the local server (standard library, 127.0.0.1, GET only);
- :mod:`.export`: the same pages as static files, bounded in size;
- ``static/``: the page (plain HTML, CSS and JavaScript, no build step).

``import xaikit`` does not import this package.
"""

from __future__ import annotations

from .app import ViewerApp
from .export import ExportResult, export_site
from .server import ViewerServer, serve
from .sources import BenchSource, BulkSource, open_source

__all__ = ["BenchSource", "BulkSource", "ExportResult", "ViewerApp", "ViewerServer", "export_site", "open_source",
           "serve"]
