"""``mulligan view``: the report served on 127.0.0.1, following runs that are still writing.

The page is the one ``mulligan report`` writes, in live mode: it asks ``api/version`` every second
and, when the runs have grown, reloads ``api/main`` (figures and episode rows); an episode's turns
come from ``api/chunk``. Each poll reads only the bytes appended since the last one.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Sequence
from urllib.parse import parse_qs, urlparse

from mulligan.errors import RunError
from mulligan.report.page import Payload, build, pack, render
from mulligan.report.runs import RunReader, expand, selftrain_metrics

MIN_REFRESH_S = 0.5
"""Polls closer together than this reuse the last reading."""


class Viewer:
    """The runs named by ``paths``, reread on demand; ``version`` grows whenever they changed."""

    def __init__(self, paths: Sequence[str | Path], title: str | None = None):
        self.paths = [Path(p) for p in paths]
        self.title = title or " vs ".join(p.name or str(p) for p in self.paths)
        self.readers: dict[Path, RunReader] = {}
        self.version = 0
        self.lock = threading.Lock()
        self._payload: Payload | None = None
        self._checked = 0.0
        expand(self.paths)  # fail now on a path that names no run

    def refresh(self) -> Payload:
        """The payload as of now (rebuilt only when a run changed)."""
        with self.lock:
            if self._payload is not None and time.monotonic() - self._checked < MIN_REFRESH_S:
                return self._payload
            self._checked = time.monotonic()
            try:
                runs = expand(self.paths)
            except RunError:
                runs = [(r.label, p) for p, r in self.readers.items()]  # a path removed under us: keep what we have
            changed = self._payload is None or [p for _, p in runs] != list(self.readers)
            readers = {path: self.readers.get(path) or RunReader(label, path) for label, path in runs}
            for reader in readers.values():
                changed = reader.poll() or changed
            self.readers = readers
            if changed:
                self.version += 1
                self._payload = build(list(readers.values()), title=self.title, selftrain=selftrain_metrics(self.paths))
                self._payload.main["version"] = self.version
            return self._payload

    def chunk(self, run: int, k: int) -> str:
        payload = self.refresh()
        with self.lock:
            return pack(payload.chunk(run, k))


def _handler(viewer: Viewer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            try:
                if url.path in ("/", "/index.html"):
                    self._send(render(viewer.refresh(), live=True), "text/html; charset=utf-8")
                elif url.path == "/api/version":
                    self._send(json.dumps({"version": viewer.refresh().main["version"]}), "application/json")
                elif url.path == "/api/main":
                    self._send(pack(viewer.refresh().main), "text/plain")
                elif url.path == "/api/chunk":
                    q = parse_qs(url.query)
                    self._send(viewer.chunk(int(q["run"][0]), int(q["k"][0])), "text/plain")
                else:
                    self.send_error(404)
            except (KeyError, ValueError, IndexError) as e:
                self.send_error(400, f"bad request: {e}")

        def _send(self, text: str, kind: str) -> None:
            data = text.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def make_server(paths: Sequence[str | Path], *, host: str = "127.0.0.1", port: int = 8765,
                title: str | None = None) -> ThreadingHTTPServer:
    """An HTTP server of the live report of ``paths`` (``port=0``: any free port); call ``serve_forever``.

    Raises:
        RunError: A path that names no run.
        OSError: The port is taken.
    """
    viewer = Viewer(paths, title)
    viewer.refresh()
    server = ThreadingHTTPServer((host, port), _handler(viewer))
    server.daemon_threads = True
    return server
