"""``python -m postmark_emulator``: serve the emulator until interrupted.

Accounts come from ``--account NAME`` (repeatable; a token is generated) and from the environment variable
``POSTMARK_EMULATOR_ACCOUNTS`` (a JSON object ``{"name": "token"}``), so tokens never need to appear on a
command line. One JSON line on stdout announces ``{"url": …, "port": …, "accounts": [...]}`` (no tokens);
the control API (``/__emulator/…``) then serves state, DNS, faults and the request log.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from types import FrameType

from postmark_emulator.server import PostmarkEmulator

ACCOUNTS_ENV = "POSTMARK_EMULATOR_ACCOUNTS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m postmark_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (announced on stdout)")
    parser.add_argument("--account", action="append", default=[], help="an account name (token generated)")
    parser.add_argument("--dkim-key-bits", type=int, choices=(1024, 2048), default=1024)
    parser.add_argument("--verify-lag-calls", type=int, default=0)
    parser.add_argument("--first-id", type=int, default=None)
    parser.add_argument("--lenient-headers", action="store_true", help="do not enforce JSON Accept/Content-Type")
    parser.add_argument(
        "--missing-domain-status", type=int, choices=(422, 404), default=422, help="HTTP status of ErrorCode 510"
    )
    parser.add_argument(
        "--foreign-domain-code", type=int, choices=(513, 510), default=513, help="another account's domain ID"
    )
    parser.add_argument("--case-sensitive-token", action="store_true", help="compare the token header exactly")
    args = parser.parse_args(argv)

    accounts: dict[str, str] = json.loads(os.environ.get(ACCOUNTS_ENV) or "{}")
    emulator = PostmarkEmulator(
        accounts or None,
        host=args.host,
        port=args.port,
        dkim_key_bits=args.dkim_key_bits,
        verify_lag_calls=args.verify_lag_calls,
        strict_headers=not args.lenient_headers,
        missing_domain_status=args.missing_domain_status,
        foreign_domain_code=args.foreign_domain_code,
        token_case_insensitive=not args.case_sensitive_token,
        **({"first_id": args.first_id} if args.first_id is not None else {}),
    )
    for name in args.account:
        if name not in emulator.accounts:
            emulator.add_account(name)

    def _stop(signum: int, frame: FrameType | None) -> None:
        emulator.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    emulator.start()
    print(json.dumps({"url": emulator.url, "port": emulator.port, "accounts": emulator.accounts}), flush=True)
    try:
        emulator.serve_forever()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
