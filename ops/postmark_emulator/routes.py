"""The emulator's one router: every Account API and control API path as a werkzeug ``Rule`` in one ``Map``.

A declared table is easier to check against Postmark's documentation than hand-written regular expressions, and
werkzeug decides 404 (no rule for the path) versus 405 (a rule for the path, not for the verb) the way an HTTP
framework does. Werkzeug's routing: https://werkzeug.palletsprojects.com/en/stable/routing/ (``Map``, ``Rule``,
``Submount``, the ``int`` and ``path`` converters, ``MapAdapter.match`` raising ``NotFound`` / ``MethodNotAllowed``).

Before matching, a path is lower-cased (the documented paths mix cases: ``verifyDkim``, ``verifyspf``) and loses
one trailing slash; a control path also loses empty segments. Every control path falls back to ``control.unknown``
(any verb), so the control API answers its own JSON 404 and never a bare API 404/405.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule, Submount

CONTROL_PREFIX = "/__emulator"
CONTROL_UNKNOWN = "control.unknown"

_ID = "/domains/<int:domain_id>"  # ``int`` only matches digits: a non-numeric ID finds no rule, hence 404

_MAP = Map(
    [
        # The Account API's /domains endpoints, methods as documented in https://postmarkapp.com/developer/api/domains-api
        Rule("/domains", methods=["GET"], endpoint="list_domains"),
        Rule("/domains", methods=["POST"], endpoint="create_domain"),
        Rule(_ID, methods=["GET"], endpoint="get_domain"),
        Rule(_ID, methods=["PUT"], endpoint="edit_domain"),
        Rule(_ID, methods=["DELETE"], endpoint="delete_domain"),
        Rule(f"{_ID}/verifydkim", methods=["PUT"], endpoint="verify_dkim"),
        Rule(f"{_ID}/verifyreturnpath", methods=["PUT"], endpoint="verify_return_path"),
        Rule(f"{_ID}/verifyspf", methods=["POST"], endpoint="verify_spf"),
        Rule(f"{_ID}/rotatedkim", methods=["POST"], endpoint="rotate_dkim"),
        # The control API: unauthenticated, never logged, never hit by faults.
        Rule(CONTROL_PREFIX, endpoint=CONTROL_UNKNOWN),
        Submount(
            CONTROL_PREFIX,
            [
                Rule("/state", methods=["GET"], endpoint="control.state"),
                Rule("/reset", methods=["POST"], endpoint="control.reset"),
                Rule("/requests", methods=["GET"], endpoint="control.requests"),
                Rule("/requests", methods=["DELETE"], endpoint="control.clear_requests"),
                Rule("/faults", methods=["GET"], endpoint="control.faults"),
                Rule("/faults", methods=["POST"], endpoint="control.add_faults"),
                Rule("/faults", methods=["DELETE"], endpoint="control.clear_faults"),
                Rule("/dns", methods=["GET"], endpoint="control.dns"),
                Rule("/dns/<name>", methods=["GET"], endpoint="control.dns_record"),
                Rule("/dns/<name>", methods=["PUT"], endpoint="control.publish_dns"),
                Rule("/dns/<name>", methods=["DELETE"], endpoint="control.remove_dns"),
                Rule("/clock", methods=["GET"], endpoint="control.clock"),
                Rule("/clock", methods=["PUT"], endpoint="control.set_clock"),
                Rule("/settings", methods=["GET"], endpoint="control.settings"),
                Rule("/settings", methods=["PUT"], endpoint="control.configure"),
                Rule("/accounts", methods=["POST"], endpoint="control.add_account"),
                Rule("/domains", methods=["POST"], endpoint="control.seed_domain"),
                Rule("/domains/<int:domain_id>/revoke-safe", methods=["POST"], endpoint="control.revoke_safe"),
                Rule("/<path:rest>", endpoint=CONTROL_UNKNOWN),  # lowest priority: a path converter
            ],
        ),
    ],
    strict_slashes=True,  # trailing slashes are handled below, so werkzeug never answers with a redirect
    merge_slashes=False,  # "/domains//1" is not a Postmark path
)
_ADAPTER = _MAP.bind("postmark-emulator")


@dataclass(frozen=True)
class Route:
    """Where a request goes: an endpoint with its path values, or no endpoint and the 404/405 to answer."""

    endpoint: str | None
    values: dict[str, Any] = field(default_factory=dict)
    status: int | None = None
    allow: tuple[str, ...] = ()

    @property
    def control(self) -> bool:
        return self.endpoint is not None and self.endpoint.startswith("control.")


def is_control_path(path: str) -> bool:
    lowered = path.lower()
    return lowered == CONTROL_PREFIX or lowered.startswith(CONTROL_PREFIX + "/")


def normalise(path: str) -> str:
    """The path as matched: lower-cased, one trailing slash dropped (control paths: every empty segment)."""
    lowered = path.lower()
    if is_control_path(lowered):
        return "/" + "/".join(segment for segment in lowered.split("/") if segment)
    if lowered.endswith("/") and len(lowered) > 1:
        return lowered[:-1]
    return lowered


def resolve(method: str, path: str) -> Route:
    """Match a decoded request path; 405 carries ``Allow`` (HEAD left out: the emulator does not serve it)."""
    try:
        endpoint, values = _ADAPTER.match(normalise(path), method=method)
    except MethodNotAllowed as exc:
        allowed = sorted(m for m in (exc.valid_methods or ()) if m != "HEAD")
        return Route(None, status=405, allow=tuple(allowed))
    except NotFound:
        return Route(None, status=404)
    return Route(str(endpoint), dict(values))
