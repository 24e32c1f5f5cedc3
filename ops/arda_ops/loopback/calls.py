"""Counts of the AWS API calls made against the loopback moto server, by caller, from moto's recorder.

The rehearsal and the benchmark report how many AWS calls each lifecycle operation of a custom resource
costs. The handlers build their own clients (and, for the NS delegation, assume a role), so the count is
taken where every call must pass: moto's server. moto's documented recorder
(https://docs.getmoto.org/en/latest/docs/configuration/recorder/index.html) appends every request it serves
(method, URL, headers, body) as one JSON line to the file named by ``MOTO_RECORDER_FILEPATH``, which moto reads
once, when its recorder is first loaded; ``POST /moto-api/recorder/start-recording`` turns it on and ``GET
/moto-api/recorder/download-recording`` returns the lines. Each line is classified into ``service:Operation``
(``X-Amz-Target`` for JSON protocols, ``Action`` for query protocols, the REST path for Route 53) and a caller:
calls signed with one of :attr:`CallRecorder.cloudformation_keys` stand for CloudFormation's own work (zones,
records, secrets, exports) and are counted apart from the handlers' calls.

The recording holds request bodies (secret values among them), so it lives in a private temporary directory
the recorder owns and deletes, and nothing here prints an entry.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import tempfile
import urllib.request
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from arda_ops.loopback.accounts import CLOUDFORMATION_KEY

#: The variable moto's recorder reads, at import, for the file it appends to.
RECORDER_FILE_VARIABLE = "MOTO_RECORDER_FILEPATH"
#: The module that reads the variable, once, when it is imported.
_RECORDER_MODULE = "moto.moto_api._internal.recorder.models"
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/")
#: Route 53 speaks REST: the operation is the method and the path
#: (https://docs.aws.amazon.com/Route53/latest/APIReference/API_Operations_Amazon_Route_53.html).
_ROUTE53_PATHS = (
    ("POST", re.compile(r"/hostedzone/[^/]+/rrset/?$"), "ChangeResourceRecordSets"),
    ("GET", re.compile(r"/hostedzone/[^/]+/rrset/?$"), "ListResourceRecordSets"),
    ("GET", re.compile(r"/hostedzonesbyname/?$"), "ListHostedZonesByName"),
    ("GET", re.compile(r"/change/[^/]+/?$"), "GetChange"),
    ("POST", re.compile(r"/hostedzone/?$"), "CreateHostedZone"),
    ("GET", re.compile(r"/hostedzone/?$"), "ListHostedZones"),
    ("GET", re.compile(r"/hostedzone/[^/]+/?$"), "GetHostedZone"),
    ("DELETE", re.compile(r"/hostedzone/[^/]+/?$"), "DeleteHostedZone"),
)


def classify(entry: Mapping[str, Any], cloudformation_keys: set[str]) -> tuple[str, str]:
    """``(caller, "service:Operation")`` of one recorded request; caller is ``handler`` or ``cloudformation``."""
    headers = {str(k).lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
    match = _CREDENTIAL.search(headers.get("authorization", ""))
    key, service = (match.group(1), match.group(2)) if match else ("", "unknown")
    caller = "cloudformation" if key in cloudformation_keys else "handler"
    target = headers.get("x-amz-target")
    if target:
        return caller, f"{service}:{target.split('.')[-1]}"
    url = urlsplit(str(entry.get("url", "")))
    if service == "route53":
        method = str(entry.get("method", ""))
        for verb, pattern, name in _ROUTE53_PATHS:
            if verb == method and pattern.search(url.path):
                return caller, f"route53:{name}"
        return caller, f"route53:{method} {url.path}"
    action = parse_qs(_body(entry)).get("Action") or parse_qs(url.query).get("Action")
    return caller, f"{service}:{action[0] if action else '?'}"


def _body(entry: Mapping[str, Any]) -> str:
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        return base64.b64decode(body).decode("utf-8", "replace")
    return str(body)


def parse_recording(text: str) -> list[dict[str, Any]]:
    """The recording's entries, one per line, in order.

    moto writes each entry with its own small append, so lines of requests served at once do not mix in
    practice; a line that still does not parse stays in the list as an empty entry (not counted), so the
    positions :meth:`CallRecorder.mark` hands out keep meaning the same requests.
    """
    entries: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entries.append(dict(json.loads(line)))
        except ValueError:
            entries.append({})
    return entries


class CallRecorder:
    """moto's recorder, pointed at a file in a temporary directory this object owns.

    :meth:`point_moto_here` must run before moto's recorder is loaded in this process (moto reads the variable
    once);
    :meth:`start` proves the server writes to this file, so a recorder pointed elsewhere fails loudly instead of
    counting nothing.
    """

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="moto-recording-")
        self.path = os.path.join(self._tmp.name, "recording.jsonl")
        self.cloudformation_keys: set[str] = {CLOUDFORMATION_KEY}
        self._url = ""
        self._saved: str | None = None
        self._loaded_before = False
        self._shared = False

    def point_moto_here(self) -> None:
        self._saved = os.environ.get(RECORDER_FILE_VARIABLE)
        loaded = _RECORDER_MODULE in sys.modules
        if loaded and self._saved:
            # moto's recorder already writes to the file this process named before loading it (the test session
            # names one, tests/conftest.py): record there, and empty it on close instead of deleting it.
            self.path = self._saved
            self._shared = True
        else:
            os.environ[RECORDER_FILE_VARIABLE] = self.path
        # Loaded with no file named, moto's recorder writes "moto_recording" in the working directory: asking it to
        # reset would create that file, so start() refuses before asking anything.
        self._loaded_before = loaded and not self._shared

    def start(self, moto_url: str) -> None:
        if self._loaded_before:
            raise RuntimeError(
                "moto's recorder does not write to this world's file: moto was imported in this process before "
                f"{RECORDER_FILE_VARIABLE} was set; count calls in a fresh process"
            )
        self._url = moto_url
        self._post("reset-recording")  # creates (empties) the recorder's file
        if not os.path.exists(self.path):
            raise RuntimeError(
                "moto's recorder does not write to this world's file: moto was imported in this process before "
                f"{RECORDER_FILE_VARIABLE} was set; count calls in a fresh process"
            )
        self._post("start-recording")

    def close(self) -> None:
        """Stop recording, delete the recording (empty it, when shared), restore the variable."""
        try:
            if self._url:
                self._post("stop-recording")
                if self._shared:
                    self._post("reset-recording")  # what it recorded (secret values included) does not outlive us
        finally:
            self._url = ""
            self._tmp.cleanup()
            if not self._shared:  # a shared file's variable is the process's, not ours to restore
                _restore(RECORDER_FILE_VARIABLE, self._saved)

    def entries(self) -> list[dict[str, Any]]:
        url = f"{self._url}/moto-api/recorder/download-recording"
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback moto only
            return parse_recording(response.read().decode("utf-8"))

    def mark(self) -> int:
        """A position in the recording: :meth:`since` counts what came after it."""
        return len(self.entries())

    def since(self, mark: int, caller: str | None = "handler") -> Counter[str]:
        """``service:Operation`` counts after ``mark`` made by ``caller`` (None: every caller)."""
        counts: Counter[str] = Counter()
        for entry in self.entries()[mark:]:
            if not entry or urlsplit(str(entry.get("url", ""))).path.startswith("/moto-api"):
                continue  # moto's own control API (reset), not an AWS call
            who, operation = classify(entry, self.cloudformation_keys)
            if caller is None or who == caller:
                counts[operation] += 1
        return counts

    def _post(self, action: str) -> None:
        url = f"{self._url}/moto-api/recorder/{action}"
        request = urllib.request.Request(url, method="POST", data=b"")  # noqa: S310 - loopback moto only
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - loopback moto only
            pass


def describe(counts: Counter[str]) -> str:
    """``route53:ChangeResourceRecordSets x1, sts:AssumeRole x1`` (stable order)."""
    return ", ".join(f"{op} x{n}" for op, n in sorted(counts.items())) or "none"


def _restore(variable: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(variable, None)
    else:
        os.environ[variable] = value
