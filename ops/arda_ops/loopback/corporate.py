"""Corporate in the loopback world: its mail stack lives in Corporate's own account, as in config/accounts.toml.

The partitions' stacks live in the loopback world's partition account; Corporate's zone, account-token secret and
stack live in :data:`~arda_ops.loopback.accounts.CORPORATE_ACCOUNT`. What acts inside Corporate's account gets
there the way it does on AWS: with session credentials of a role in that account, from STS ``AssumeRole`` (what a
Lambda function's execution role gives its handler), which moto maps to the role's account
(https://docs.getmoto.org/en/latest/docs/multi_account.html). The world's own setup clients (CloudFormation's work)
choose the account with moto's account header instead (:mod:`arda_ops.loopback.aws`).
"""

from __future__ import annotations

import json
import threading
import uuid
import warnings
from typing import Any

from arda_mail.placement import CORPORATE_INFRASTRUCTURE, FUNCTION_ROLE_PATH, CorporatePlacement
from arda_ops.accounts import PLATFORM_ROOT
from arda_ops.corporate_stack import FREE_KANBAN_OUTPUT, POSTMARK_DOMAIN_ID_OUTPUT, ZONE_ID_OUTPUT, ZONE_NAME_OUTPUT
from arda_ops.loopback.accounts import CORPORATE_ACCOUNT, PARTITION_ACCOUNT, PLATFORM_ROOT_ACCOUNT
from arda_ops.loopback.aws import MotoService


def loopback_account(infrastructure: object) -> str:
    """The loopback account standing in for an infrastructure of config/accounts.toml."""
    if infrastructure == CORPORATE_INFRASTRUCTURE:
        return CORPORATE_ACCOUNT
    if infrastructure == PLATFORM_ROOT:
        return PLATFORM_ROOT_ACCOUNT
    return PARTITION_ACCOUNT


def role_credentials(moto: MotoService, account: str, role_name: str, session_name: str) -> dict[str, str]:
    """Environment variables holding session credentials of ``role_name`` (under the functions' path) in
    ``account``: what the Lambda runtime hands a function of that account."""
    role_arn = f"arn:aws:iam::{account}:role{FUNCTION_ROLE_PATH}{role_name}"
    credentials = moto.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


class LoopbackClients:
    """The drift check's AWS clients for a loopback world holding targets of several accounts in one run.

    On AWS, the daily job runs once per account with that account's role (``--github-matrix``); a test that checks
    partitions and Corporate in one run gives each target a client in its own loopback account instead.
    """

    def __init__(self, moto: MotoService) -> None:
        self._moto = moto
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, target: Any) -> Any:
        account = loopback_account(target.facts.get("infrastructure"))
        with self._lock:
            client = self._clients.get((service, account))
            if client is None:
                client = self._clients[(service, account)] = self._moto.client(service, account)
        return client


def create_corporate_stack(moto: MotoService, placement: CorporatePlacement, zone_id: str, domain_id: int) -> None:
    """A stack of Corporate's name in Corporate's account with the Outputs corporate/template.yaml publishes."""
    outputs = {
        ZONE_ID_OUTPUT: {"Value": zone_id, "Export": {"Name": placement.mail_zone_id_export}},
        ZONE_NAME_OUTPUT: {"Value": placement.mail.mail_domain},
        FREE_KANBAN_OUTPUT: {"Value": placement.free_kanban.mail_domain},
        POSTMARK_DOMAIN_ID_OUTPUT: {"Value": str(domain_id)},
        # The shared block's Output of Custom::PostmarkDkim's rotation phase, as a stack without a rotation shows it.
        "DkimRotationPhase": {"Value": "idle"},
    }
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": outputs,
    }
    with warnings.catch_warnings():  # moto warns that it does not model the marker resource; nothing to model
        warnings.simplefilter("ignore")
        moto.client("cloudformation", CORPORATE_ACCOUNT).create_stack(
            StackName=placement.stack_name, TemplateBody=json.dumps(template), ClientRequestToken=uuid.uuid4().hex
        )
