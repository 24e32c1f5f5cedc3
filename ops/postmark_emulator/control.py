"""The control API (``/__emulator/…``): what a test or the rehearsal uses to seed, inspect and steer the emulator.

The router (:mod:`postmark_emulator.routes`) picks the endpoint; each handler here takes the emulator, the path
values and the decoded JSON body. Invalid input answers 400 with ``{"error": …}``; nothing here is logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from postmark_emulator.dns import StaticDnsView
from postmark_emulator.faults import Fault
from postmark_emulator.model import ApiResult
from postmark_emulator.routes import CONTROL_PREFIX, CONTROL_UNKNOWN, Route

if TYPE_CHECKING:
    from postmark_emulator.server import PostmarkEmulator

_Handler = Callable[["PostmarkEmulator", dict[str, Any], Any], ApiResult]


def _state(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    return ApiResult(200, pm.state())


def _reset(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    pm.reset()
    return ApiResult(200, {"reset": True})


def _requests(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    return ApiResult(200, pm.requests)


def _clear_requests(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    pm.clear_requests()
    return ApiResult(200, {"cleared": True})


def _faults(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    return ApiResult(200, pm.faults.pending())


def _add_faults(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    items = data if isinstance(data, list) else [data]
    pm.inject(*(Fault.from_json(item) for item in items))
    return ApiResult(200, pm.faults.pending())


def _clear_faults(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    pm.faults.clear()
    return ApiResult(200, pm.faults.pending())


def _writable_dns(pm: PostmarkEmulator) -> StaticDnsView | ApiResult:
    if isinstance(pm.dns, StaticDnsView):
        return pm.dns
    return ApiResult(409, {"error": "the DNS view is not writable through the emulator"})


def _dns(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    dns = _writable_dns(pm)
    return dns if isinstance(dns, ApiResult) else ApiResult(200, dns.snapshot())


def _dns_record(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    dns = _writable_dns(pm)
    if isinstance(dns, ApiResult):
        return dns
    return ApiResult(200, dns.snapshot().get(str(values["name"]).rstrip("."), {}))


def _publish_dns(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    dns = _writable_dns(pm)
    if isinstance(dns, ApiResult):
        return dns
    if "TXT" in data:
        dns.publish_txt(values["name"], data["TXT"], append=bool(data.get("append")))
    if "CNAME" in data:
        dns.publish_cname(values["name"], str(data["CNAME"]))
    return _dns_record(pm, values, data)


def _remove_dns(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    dns = _writable_dns(pm)
    if isinstance(dns, ApiResult):
        return dns
    dns.remove(values["name"])
    return _dns_record(pm, values, data)


def _clock(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    return ApiResult(200, {"now": pm.clock.now().isoformat()})


def _set_clock(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    if "now" in data:
        pm.clock.set(datetime.fromisoformat(data["now"]) if data["now"] else None)
    if "advance_s" in data:
        pm.clock.advance(float(data["advance_s"]))
    return _clock(pm, values, data)


def _settings(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    return ApiResult(200, pm.settings())


def _configure(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    pm.configure(**data)
    return _settings(pm, values, data)


def _add_account(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    pm.add_account(str(data["name"]), data.get("token"))
    return ApiResult(200, {"accounts": pm.accounts})


def _seed_domain(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    details = pm.add_domain(
        str(data["Account"]),
        str(data["Name"]),
        str(data.get("ReturnPathDomain") or ""),
        dkim_verified=bool(data.get("DKIMVerified")),
        return_path_verified=bool(data.get("ReturnPathDomainVerified")),
    )
    return ApiResult(200, details)


def _revoke_safe(pm: PostmarkEmulator, values: dict[str, Any], data: Any) -> ApiResult:
    domain_id = int(values["domain_id"])
    if pm.api.mark_revoked_key_safe(domain_id, forget=bool(data.get("forget"))):
        return ApiResult(200, pm.domain(domain_id))
    return ApiResult(404, {"error": "no such domain"})


_HANDLERS: dict[str, _Handler] = {
    "control.state": _state,
    "control.reset": _reset,
    "control.requests": _requests,
    "control.clear_requests": _clear_requests,
    "control.faults": _faults,
    "control.add_faults": _add_faults,
    "control.clear_faults": _clear_faults,
    "control.dns": _dns,
    "control.dns_record": _dns_record,
    "control.publish_dns": _publish_dns,
    "control.remove_dns": _remove_dns,
    "control.clock": _clock,
    "control.set_clock": _set_clock,
    "control.settings": _settings,
    "control.configure": _configure,
    "control.add_account": _add_account,
    "control.seed_domain": _seed_domain,
    "control.revoke_safe": _revoke_safe,
}


def handle(pm: PostmarkEmulator, route: Route, method: str, path: str, body: bytes) -> ApiResult:
    """Answer one control request; ``path`` is the request's decoded path, as sent (for the 404 message)."""
    try:
        data: Any = json.loads(body) if body else {}
    except ValueError:
        return ApiResult(400, {"error": "body is not JSON"})
    endpoint = route.endpoint or CONTROL_UNKNOWN
    if endpoint == CONTROL_UNKNOWN:
        shown = CONTROL_PREFIX + (path[len(CONTROL_PREFIX) :].rstrip("/") or "/")
        return ApiResult(404, {"error": f"unknown control endpoint {method} {shown}"})
    handler = _HANDLERS[endpoint]
    try:
        return handler(pm, route.values, data)
    except (ValueError, TypeError, KeyError) as exc:
        return ApiResult(400, {"error": str(exc)})
