"""A faithful emulator of Postmark's Account API ``/domains`` endpoints, served over real HTTP on loopback.

Used by the test suite and by the offline rehearsal. In-process::

    with PostmarkEmulator({"PostmarkNonProd": token}) as pm:
        client = PostmarkClient(token, api_url=pm.url)

or as a subprocess: ``python -m postmark_emulator --port 0`` (see :mod:`postmark_emulator.process`).
"""

from postmark_emulator.dns import DnsView, StaticDnsView
from postmark_emulator.faults import Fault
from postmark_emulator.server import PostmarkEmulator, new_token

__all__ = ["DnsView", "Fault", "PostmarkEmulator", "StaticDnsView", "new_token"]
