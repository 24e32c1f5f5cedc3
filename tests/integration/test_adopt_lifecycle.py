"""After the import, the deploy's custom resources adopt what the old deployment left, through the real protocol.

The old deployment is built in the loopback world (moto's ``ThreadedMotoServer`` with its recorder, the Postmark
emulator over HTTP, the HTTPS response receiver): the imported zone with its records, the account-token secret, a
verified Postmark domain with its DKIM record, and the NS delegation in the Platform Root's parent zone with the
zone's name servers and the template's TTL. Then CloudFormation's Creates are played with properties rendered from
``template.yaml`` as ``bin/deploy --adopt`` deploys it (``TakeOverExistingPostmarkDomain=true``):

* ``Custom::PostmarkDomain`` takes the domain over: the same ``DomainId``, the same DKIM selector and key (so the
  DKIM record CloudFormation builds from the attributes is exactly the one in place), no ``POST /domains``, no
  rotation, and Postmark's verification state untouched;
* ``Custom::NsDelegation`` finds the record already holding its values and sends Route 53 no change at all: its
  ``ChangeResourceRecordSets`` calls are counted by moto's recorder, which sees every request the handler makes;
* ``Custom::PostmarkDomainVerification`` reports both verified.

moto reads the recorder's file name once, at import, so the scenario runs in a fresh Python process (as
``make rehearse`` does) and reports what it saw as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from arda_ops.handlers import REPO_ROOT

_SCENARIO = textwrap.dedent(
    """
    import contextlib, json, sys
    from arda_mail.placement import partition_placement
    from arda_mail.txt_records import route53_txt_value
    from arda_ops.cfn_protocol import invoke
    from arda_ops.handlers import REPO_ROOT, load_function_module
    from arda_ops.rehearsal.world import World
    from arda_ops.route53_records import change_record_sets
    from arda_ops.sam_translate import sam_to_cfn
    from support.cfn_render import Renderer

    DEV = partition_placement("dev")
    MAIL = DEV.mail
    ACCOUNT = "PostmarkNonProd"
    TYPES = {"PostmarkDomain": "Custom::PostmarkDomain", "NsDelegation": "Custom::NsDelegation",
             "PostmarkDomainVerification": "Custom::PostmarkDomainVerification"}
    FUNCTIONS = {"PostmarkDomain": "postmark_domain", "NsDelegation": "ns_delegation",
                 "PostmarkDomainVerification": "postmark_domain_verification"}
    template = sam_to_cfn(REPO_ROOT / "template.yaml")
    seen = {}

    with World(DEV) as world:
        # -- the old deployment ------------------------------------------------------------------------
        world.create_platform_root()
        world.create_zone_and_secrets(ACCOUNT)  # the zone (imported), both secrets, SPF and DMARC
        old = world.postmark.add_domain(ACCOUNT, MAIL.postmark_domain_name, MAIL.return_path_host,
                                        dkim_verified=True, return_path_verified=True)
        world.upsert(old["DKIMHost"], "TXT", [route53_txt_value(old["DKIMTextValue"])])
        world.upsert(MAIL.return_path_host, "CNAME", [MAIL.return_path_target])
        change_record_sets(world.root_route53, world.parent_zone_id, "UPSERT",
                           [(MAIL.mail_domain, "NS", world.name_servers)], 172800)
        seen["old"] = {"id": old["ID"], "dkim_host": old["DKIMHost"], "dkim_text": old["DKIMTextValue"]}
        seen["ns_before"] = world.parent_ns_record()
        seen["records_before"] = world.mail_records()

        # -- the deploy after the import ----------------------------------------------------------------
        params = {"Partition": "dev", "PostmarkAccountToken": "x", "DelegationRoleArn": world.delegation_role_arn,
                  "TakeOverExistingPostmarkDomain": "true", "PostmarkApiUrl": world.postmark.url,
                  "VerificationMaxWaitSeconds": "0"}
        known = {"<Ref PostmarkAccountTokenSecret>": world.secret_arns["account-token"],
                 "<GetAtt MailZone.NameServers>": world.name_servers}

        def create(logical_id):
            rendered = Renderer(template, params, DEV.stack_name).resource(logical_id)["Properties"]
            props = {k: known.get(v, v) if isinstance(v, str) else v for k, v in rendered.items() if k != "ServiceToken"}
            unresolved = [k for k, v in props.items() if isinstance(v, str) and v.startswith("<")]
            assert not unresolved, unresolved
            mark = world.calls.mark()
            world.postmark.clear_requests()
            event = world.events.create(TYPES[logical_id], logical_id, props)
            with contextlib.redirect_stdout(sys.stderr):
                response = invoke(load_function_module(FUNCTIONS[logical_id]).handler, event, world.receiver,
                                  timeout_ms=300_000, wait_s=60)
            seen[logical_id] = {"props": props, "status": response.status, "reason": response.reason,
                                "physical_id": response.physical_id, "data": response.data,
                                "aws": dict(world.calls.since(mark)), "postmark": world.postmark.calls()}
            return response

        domain = create("PostmarkDomain")
        known["<GetAtt PostmarkDomain.DomainId>"] = domain.physical_id
        create("NsDelegation")
        create("PostmarkDomainVerification")
        seen["ns_after"] = world.parent_ns_record()
        seen["records_after"] = world.mail_records()
        seen["domains_after"] = world.postmark.domains(ACCOUNT)
    print(json.dumps(seen, default=str))
    """
)


def _scenario(tmp_path: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    env["PYTHONPATH"] = os.pathsep.join(str(REPO_ROOT / p) for p in ("layers/shared", "ops", "tests"))
    result = subprocess.run(
        [sys.executable, "-c", _SCENARIO],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_custom_resources_adopt_the_domain_and_the_delegation_without_a_change(tmp_path: Path) -> None:
    seen = _scenario(tmp_path)
    old, domain, ns, verification = (
        seen["old"],
        seen["PostmarkDomain"],
        seen["NsDelegation"],
        seen["PostmarkDomainVerification"],
    )

    # The rendered properties are what the adoption deploys: take-over on.
    assert domain["props"]["TakeOverExisting"] == "true"

    # Custom::PostmarkDomain: the same domain, the same DKIM key, nothing registered, nothing rotated.
    assert domain["status"] == "SUCCESS", domain["reason"]
    assert domain["physical_id"] == str(old["id"])
    assert domain["data"]["DomainId"] == str(old["id"])
    assert domain["data"]["DkimHostName"] == old["dkim_host"]
    assert domain["data"]["DkimTextValue"] == old["dkim_text"]
    assert not [c for c in domain["postmark"] if c.startswith("POST") or "rotatedkim" in c.lower()]
    assert [d["ID"] for d in seen["domains_after"]] == [old["id"]]
    assert seen["domains_after"][0]["DKIMVerified"] is True
    assert seen["domains_after"][0]["DKIMPendingHost"] in ("", None)
    # The DKIM record CloudFormation builds from the attributes is byte for byte the one in place.
    dkim = next(r for r in seen["records_before"] if r["Name"].rstrip(".") == old["dkim_host"] and r["Type"] == "TXT")
    assert [v["Value"] for v in dkim["ResourceRecords"]] == [domain["data"]["DkimRecordValue"]]

    # Custom::NsDelegation: adopted with no Route 53 change (moto's recorder counts every handler call).
    assert ns["status"] == "SUCCESS", ns["reason"]
    assert ns["aws"].get("route53:ChangeResourceRecordSets", 0) == 0, ns["aws"]
    assert ns["aws"].get("route53:ListResourceRecordSets", 0) >= 1  # it did look at the record
    assert (ns["data"]["ChangeId"], ns["data"]["ChangeStatus"]) == ("UNCHANGED", "INSYNC")
    assert seen["ns_after"] == seen["ns_before"]
    assert ns["physical_id"].endswith(f"/{ns['props']['DelegatedZoneName']}/NS")

    # Custom::PostmarkDomainVerification: verified already, and nothing in the zone changed.
    assert verification["status"] == "SUCCESS", verification["reason"]
    assert verification["data"] == {"DkimVerified": "true", "ReturnPathVerified": "true"}
    assert seen["records_after"] == seen["records_before"]
