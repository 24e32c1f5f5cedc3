"""The account IDs and region of every loopback world, defined once.

moto keeps one backend per account: the partition account holds the partitions' zones, secrets and stacks,
the Platform Root account the parent zone and its NS delegations, and Corporate's account the DMARC report
domain's zone (outside every partition stack). One set of IDs means a rehearsal, a benchmark and a test that
print an ARN print the same one.
"""

from __future__ import annotations

from typing import Any

#: moto's default account (what credentials without an account mapping land in): the partition account.
PARTITION_ACCOUNT = "123456789012"
#: The Platform Root account: the parent zone and the NS delegation role the handlers assume.
PLATFORM_ROOT_ACCOUNT = "210987654321"
#: Corporate's account: the DMARC report domain's zone.
CORPORATE_ACCOUNT = "310987654321"
REGION = "us-east-1"
#: moto's request header naming the account a request acts in (``moto/core/responses.py``,
#: ``BaseResponse.get_current_account``); honoured in-process (``mock_aws``) and by ``ThreadedMotoServer`` alike.
ACCOUNT_HEADER = "x-moto-account-id"
#: Access key of the world's own setup clients: what CloudFormation itself does is counted apart from the handlers.
CLOUDFORMATION_KEY = "AKIACLOUDFORMATIONSIM"


def act_in[C](client: C, account: str) -> C:
    """``client`` acting in ``account``: the one way the loopback world and the tests act as an account (moto's
    account header on every request). The handlers never do this: they reach another account by AssumeRole."""
    if account != PARTITION_ACCOUNT:

        def to_account(request: Any, **_: Any) -> None:
            request.headers[ACCOUNT_HEADER] = account

        client.meta.events.register("before-sign.*.*", to_account)  # type: ignore[attr-defined]
    return client
