"""A throwaway HTTP server on 127.0.0.1 for download tests (no network needed)."""
from __future__ import annotations

import http.server
import threading
from contextlib import contextmanager
from typing import Iterator


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # a client that timed out and left
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    """Subclass with ``do_GET``; ``hits`` counts requests per path (one dict per subclass)."""

    hits: dict[str, int]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.hits = {}

    def log_message(self, *args):  # keep pytest output clean
        pass

    def count(self) -> int:
        n = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        return n

    def send(self, code: int, body: bytes, ctype: str = "application/octet-stream") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve(handler: type[Handler]) -> Iterator[tuple[str, dict[str, int]]]:
    """Run ``handler`` on a free local port: yields (base URL, hits)."""
    httpd = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.hits
    finally:
        httpd.shutdown()
