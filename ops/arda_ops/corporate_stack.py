"""The Output keys of corporate/template.yaml that tooling reads (drift, the loopback world, the rehearsal).

Output keys are the template's own identifiers, not composed names; they are defined here once, and
tests/unit/test_corporate_template.py checks that the template publishes exactly these.
"""

from __future__ import annotations

ZONE_ID_OUTPUT = "MailZoneId"
ZONE_NAME_OUTPUT = "MailZoneName"
FREE_KANBAN_OUTPUT = "FreeKanbanDomain"
POSTMARK_DOMAIN_ID_OUTPUT = "PostmarkDomainId"
