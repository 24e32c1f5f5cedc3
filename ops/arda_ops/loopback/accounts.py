"""The account IDs and region of every loopback world, defined once.

moto keeps one backend per account: the partition account holds the partitions' zones, secrets and stacks,
the Platform Root account the parent zone and its NS delegations, and Corporate's account the DMARC report
domain's zone (outside every partition stack). One set of IDs means a rehearsal, a benchmark and a test that
print an ARN print the same one.
"""

from __future__ import annotations

#: moto's default account (what credentials without an account mapping land in): the partition account.
PARTITION_ACCOUNT = "123456789012"
#: The Platform Root account: the parent zone and the NS delegation role the handlers assume.
PLATFORM_ROOT_ACCOUNT = "210987654321"
#: Corporate's account: the DMARC report domain's zone.
CORPORATE_ACCOUNT = "310987654321"
REGION = "us-east-1"
#: Access key of the world's own setup clients: what CloudFormation itself does is counted apart from the handlers.
CLOUDFORMATION_KEY = "AKIACLOUDFORMATIONSIM"
