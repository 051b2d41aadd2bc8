"""The local server of ``xaikit view``: the standard library's ``ThreadingHTTPServer``, kept small and closed.

- bound to 127.0.0.1 only (never another interface), on a free port unless one is given;
- ``GET`` only (any other method gets 501 from :mod:`http.server`), and only the fixed
  addresses of :mod:`.app` (nothing of an address becomes a file path);
- requests whose ``Host`` is not this server (``127.0.0.1:PORT`` or ``localhost:PORT``)
  are refused, so a web page elsewhere cannot reach it through DNS rebinding;
- every answer carries a Content-Security-Policy that allows this server only (no
  inline script, no request elsewhere), ``nosniff`` and ``no-referrer``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .app import Reply, ViewerApp

__all__ = ["CSP", "ViewerServer", "serve"]

#: The page may load scripts, styles, images and data from this server only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _handler(app: ViewerApp, allowed_hosts: Callable[[], set[str]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "xaikit-view"
        sys_version = ""
        protocol_version = "HTTP/1.1"  # keep-alive: a screen of tiles over a few connections (every answer is sized)
        timeout = 60  # seconds an idle kept-alive connection holds its thread

        def do_GET(self) -> None:
            if self.headers.get("Host", "") not in allowed_hosts():
                self._send(Reply(403, "text/plain; charset=utf-8", b"forbidden: unknown Host\n"))
                return
            parts = urlsplit(self.path)
            try:
                reply = app.reply(parts.path, parse_qs(parts.query))
            except Exception as exc:  # noqa: BLE001 - one bad tile must not stop the server; the page shows it
                reply = Reply(500, "text/plain; charset=utf-8", f"error: {type(exc).__name__}: {exc}\n".encode())
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Cache-Control", "private, max-age=300" if reply.cacheable else "no-store")
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the terminal shows the address and how to stop

    return Handler


class ViewerServer:
    """The viewer served on ``127.0.0.1:port`` (0: a free port) from a background thread.

    >>> with ViewerServer(ViewerApp(source)) as server:   # doctest: +SKIP
    ...     print(server.url)
    """

    def __init__(self, app: ViewerApp, port: int = 0) -> None:
        self.app = app
        hosts: set[str] = set()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", int(port)), _handler(app, lambda: hosts))
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        hosts.update({f"127.0.0.1:{self.port}", f"localhost:{self.port}"})
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread: threading.Thread | None = None

    def start(self) -> ViewerServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="xaikit-view", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> ViewerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _has_desktop() -> bool:
    """Whether a graphical browser can open here (on Linux without a display, :mod:`webbrowser` would start a
    text browser such as lynx in this terminal)."""
    import os
    import sys

    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def serve(app: ViewerApp, *, port: int = 0, open_browser: bool = True, log: Callable[[str], None] = print) -> None:
    """Serve until Ctrl-C: print the address, open it in the browser where there is a graphical session."""
    server = ViewerServer(app, port)
    log(f"xaikit view: {server.url}  (Ctrl-C stops)")
    if open_browser:
        if _has_desktop():
            import webbrowser

            threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
        else:
            log("no graphical session here (no DISPLAY): open the address in a browser, e.g. through ssh -L")
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        log("stopped")
    finally:
        server.httpd.server_close()
