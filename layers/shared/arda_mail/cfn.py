"""The crhelper setup every custom-resource handler shares.

crhelper defaults that do not fit this project are changed here once: it sleeps 120 s on every Delete
(``sleep_on_delete``; our functions outlive their custom resources, so there is nothing to wait for), it
logs whole events at DEBUG, including the pre-signed ``ResponseURL``, and it builds Lambda, EventBridge and
CloudWatch Logs clients in its constructor for a polling mode these resources never use. Those clients cost
about 100 ms of every cold start (``make bench``) and, without a region, turn every answer into FAILED; here
they are built on first use instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from crhelper import CfnResource

#: Event keys safe to log: never ``ResponseURL`` (a pre-signed URL that lets anyone answer for us).
_SAM_LOCAL = "AWS_SAM_LOCAL"
LOGGABLE_EVENT_KEYS = ("RequestType", "StackId", "RequestId", "LogicalResourceId", "ResourceType", "PhysicalResourceId")


class _LazyClient:
    """Stands in for a boto3 client and builds it on the first attribute access."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._factory()
        return getattr(self._client, name)


class _DeferredClientsResource(CfnResource):
    """crhelper 2.0.12 calls ``boto3.client`` inline in ``__init__`` unless ``AWS_SAM_LOCAL`` is set; this
    constructor sets it for the duration of ``super().__init__`` only, restores crhelper's own view of it, and
    puts lazily built clients in place of the skipped ones."""

    def __init__(self, **kwargs: Any) -> None:
        saved = os.environ.get(_SAM_LOCAL)
        os.environ[_SAM_LOCAL] = "true"
        try:
            super().__init__(**kwargs)
        finally:
            if saved is None:
                os.environ.pop(_SAM_LOCAL, None)
            else:
                os.environ[_SAM_LOCAL] = saved
        self._sam_local = saved
        region, verify = getattr(self, "_region", None), getattr(self, "_ssl_verify", None)
        for attribute, service in (
            ("_lambda_client", "lambda"),
            ("_events_client", "events"),
            ("_logs_client", "logs"),
        ):
            setattr(self, attribute, _LazyClient(_client_factory(service, region, verify)))


def _client_factory(service: str, region: str | None, verify: Any) -> Callable[[], Any]:
    def build() -> Any:
        import boto3

        return boto3.client(service, region_name=region, verify=verify)  # type: ignore[call-overload]

    return build


def new_resource_helper() -> CfnResource:
    """A crhelper resource with no sleep on Delete, INFO logging (DEBUG would log the raw event) and its
    polling clients built only if ever used."""
    return _DeferredClientsResource(json_logging=False, log_level="INFO", boto_level="ERROR", sleep_on_delete=0)


def event_summary(event: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of an event worth a log line (properties are logged by the handlers that know them)."""
    return {key: event[key] for key in LOGGABLE_EVENT_KEYS if key in event}
