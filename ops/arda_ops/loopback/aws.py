"""moto's own threaded server on loopback, and clients that act as any account of the world.

The server is moto's documented ``ThreadedMotoServer`` (https://docs.getmoto.org/en/latest/docs/server_mode.html)
on 127.0.0.1 with an ephemeral port; nothing of moto's is subclassed or patched. The world's own setup
clients choose their account with moto's ``x-moto-account-id`` request header
(https://docs.getmoto.org/en/latest/docs/multi_account.html), added by a ``before-sign`` hook: no STS call,
nothing counted as a handler's, and it survives a reset. (moto ignores the header when ``MOTO_ACCOUNT_ID`` is
set, so the world must not run with that variable.) The handlers under test still reach the Platform
Root account the real way, by assuming its delegation role through STS.
"""

from __future__ import annotations

import logging
import urllib.request
from typing import Any

from arda_ops.loopback.accounts import CLOUDFORMATION_KEY, PARTITION_ACCOUNT, REGION, act_in
from arda_ops.loopback.calls import CallRecorder


class MotoService:
    """moto's server for the duration of a ``with`` block, optionally recording every call it serves."""

    def __init__(self, *, record_calls: bool = False) -> None:
        self.recorder = CallRecorder() if record_calls else None
        self._server: Any = None
        self.url = ""

    def __enter__(self) -> MotoService:
        if self.recorder is not None:
            self.recorder.point_moto_here()  # before moto.server is imported below
        from moto.server import ThreadedMotoServer

        # werkzeug logs one line per request at INFO: configuration, not code, keeps the progress readable
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        self._server = server
        try:
            host, port = server.get_host_and_port()
            self.url = f"http://{host}:{port}"
            self.reset()  # moto's backends are process-wide: start from nothing even after an earlier world
            if self.recorder is not None:
                self.recorder.start(self.url)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.recorder is not None:
                self.recorder.close()
        finally:
            if self._server is not None:
                self._server.stop()
                self._server = None

    def reset(self) -> None:
        """Empty every backend of every account (moto's documented ``/moto-api/reset``)."""
        request = urllib.request.Request(self.url + "/moto-api/reset", method="POST", data=b"")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - loopback moto only
            pass

    def client(self, service: str, account: str = PARTITION_ACCOUNT, **credentials: str) -> Any:
        """A boto3 client in ``account``, signed as CloudFormation's own work unless credentials are given."""
        import boto3

        creds = credentials or {"aws_access_key_id": CLOUDFORMATION_KEY, "aws_secret_access_key": "cloudformation"}
        settings: dict[str, Any] = {"region_name": REGION, "endpoint_url": self.url, **creds}
        return act_in(boto3.client(service, **settings), account)  # type: ignore[call-overload]
