"""A loopback front for moto's Route 53 that answers a change PENDING for its first looks, as Route 53 does.

moto answers every ``ChangeResourceRecordSets`` and ``GetChange`` INSYNC at once, so the NS delegation's polling
path would never run against it. Route 53 itself answers a change PENDING until every authoritative server has
it ("Status: PENDING indicates that the changes in this request have not propagated to all Amazon Route 53 DNS
servers managing the hosted zone", https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html;
the same ChangeInfo is returned by ChangeResourceRecordSets,
https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html). This front forwards
every request to moto unchanged and rewrites only the ``<Status>`` of a ``ChangeInfo`` answer: PENDING for the
first ``pending_looks`` answers about each change ID, then moto's own INSYNC.

Point a botocore client (or the handlers, through ``AWS_ENDPOINT_URL_ROUTE_53``, botocore's service-specific
endpoint variable) at :attr:`url`; other services keep going to moto directly.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

import urllib3
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

_CHANGE_ID = re.compile(rb"<ChangeInfo>\s*<Id>(?:/change/)?([^<]+)</Id>")
_INSYNC = b"<Status>INSYNC</Status>"
_PENDING = b"<Status>PENDING</Status>"
#: Hop-by-hop and length headers are the front's own business, not moto's.
_NOT_FORWARDED = frozenset({"host", "content-length", "connection", "transfer-encoding"})


class PendingRoute53Front:
    """``with PendingRoute53Front(moto_url, pending_looks=2) as front: front.url``; ``front.looks`` counts answers."""

    def __init__(self, moto_url: str, *, pending_looks: int) -> None:
        self.moto_url = moto_url.rstrip("/")
        self.pending_looks = pending_looks
        self.looks: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._pool = urllib3.PoolManager()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def __enter__(self) -> PendingRoute53Front:
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="route53-pending-front", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._pool.clear()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
        upstream = self._pool.request(
            request.method,
            self.moto_url + request.full_path.rstrip("?"),
            body=request.get_data(),
            headers=headers,
            redirect=False,
            retries=False,
        )
        body = self._rewrite(upstream.data)
        kept = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _NOT_FORWARDED]
        return Response(body, status=upstream.status, headers=kept)(environ, start_response)

    def _rewrite(self, body: bytes) -> bytes:
        match = _CHANGE_ID.search(body)
        if match is None or _INSYNC not in body:
            return body
        change_id = match.group(1).decode()
        with self._lock:
            self.looks[change_id] += 1
            pending = self.looks[change_id] <= self.pending_looks
        return body.replace(_INSYNC, _PENDING) if pending else body
