"""The crhelper setup every custom-resource handler shares.

crhelper defaults that do not fit this project are changed here once: it sleeps 120 s on every Delete
(``sleep_on_delete``; our functions outlive their custom resources, so there is nothing to wait for) and it
logs whole events at DEBUG, including the pre-signed ``ResponseURL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crhelper import CfnResource

#: Event keys safe to log: never ``ResponseURL`` (a pre-signed URL that lets anyone answer for us).
LOGGABLE_EVENT_KEYS = ("RequestType", "StackId", "RequestId", "LogicalResourceId", "ResourceType", "PhysicalResourceId")


def new_resource_helper() -> CfnResource:
    """A crhelper resource with no sleep on Delete and INFO logging (DEBUG would log the raw event)."""
    return CfnResource(json_logging=False, log_level="INFO", boto_level="ERROR", sleep_on_delete=0)


def event_summary(event: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of an event worth a log line (properties are logged by the handlers that know them)."""
    return {key: event[key] for key in LOGGABLE_EVENT_KEYS if key in event}
