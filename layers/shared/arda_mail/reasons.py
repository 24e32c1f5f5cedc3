"""What a Reason looks like, defined once: one line, cut with an ellipsis.

The console shows a custom resource's Reason as one line in the stack's events, so every Reason is made one line
and kept to :data:`MAX_REASON_LENGTH` characters by whoever writes it (the handlers' own failures); the response
builder (:mod:`arda_mail.cfn`) cuts further only when a body would not fit CloudFormation's 4,096 bytes.
"""

from __future__ import annotations

#: What a person reads at a glance in the stack events; a Reason this long names the operation, the cause and the
#: fix (property problems are packed to fit it by :func:`arda_mail.properties.summarise`).
MAX_REASON_LENGTH = 250
ELLIPSIS = "…"


def one_line(text: str, limit: int = MAX_REASON_LENGTH) -> str:
    """``text`` with its whitespace collapsed to single spaces, cut to ``limit`` characters (ending in "…")."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: max(0, limit - len(ELLIPSIS))] + ELLIPSIS if limit > len(ELLIPSIS) else ""
