"""A loopback HTTP server that answers every request 200 with a body that is not JSON (a captive portal, a proxy's
error page), to prove that nothing it says reads as a healthy Postmark or AWS."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BODY = b"<html>not an API</html>"


class _Garbage(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def do_GET(self) -> None:  # the name http.server dispatches to
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def garbage_http_server() -> Iterator[str]:
    """The server's base URL while the block runs; stopped and joined afterwards."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
