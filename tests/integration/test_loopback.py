"""The one loopback world: moto's recorder counts every call by caller, accounts stay apart, nothing is left.

moto reads the recorder's file name once, when it is imported, so each case runs in a fresh Python process
(as ``make rehearse`` does) and reports what it saw as JSON.
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

SECRET_VALUE = "loopback-test-secret-value-0123456789"

_COUNTING = textwrap.dedent(
    f"""
    import json, os
    from arda_ops.loopback.accounts import PLATFORM_ROOT_ACCOUNT
    from arda_ops.loopback.world import LoopbackWorld

    with LoopbackWorld(record_calls=True) as world:
        recorder = world.moto.recorder
        world.moto.reset()  # moto's control API: recorded by moto, never counted as an AWS call
        handler = {{"aws_access_key_id": "AKIALOOPBACKHANDLER", "aws_secret_access_key": "test"}}
        world.client("sts", **handler).get_caller_identity()
        world.client("secretsmanager", **handler).create_secret(Name="s", SecretString={SECRET_VALUE!r})
        handler_r53 = world.client("route53", **handler)
        handler_r53.list_hosted_zones_by_name()
        root_r53 = world.client("route53", PLATFORM_ROOT_ACCOUNT)
        root_r53.create_hosted_zone(Name="example.org", CallerReference="root")
        mark = recorder.mark()
        handler_r53.list_hosted_zones()
        seen = {{
            "handler": recorder.since(0, "handler"),
            "cloudformation": recorder.since(0, "cloudformation"),
            "after_mark": recorder.since(mark, None),
        }}
        seen["root_zones"] = [z["Name"] for z in root_r53.list_hosted_zones()["HostedZones"]]
        seen["partition_zones"] = [z["Name"] for z in world.client("route53").list_hosted_zones()["HostedZones"]]
        path = recorder.path
    seen["recording_left"] = os.path.exists(path)
    seen["variable_left"] = os.environ.get("MOTO_RECORDER_FILEPATH")
    print(json.dumps(seen))
    """
)

_IMPORTED_TOO_EARLY = textwrap.dedent(
    """
    from moto.moto_api import recorder  # moto reads MOTO_RECORDER_FILEPATH now, before the world could set it
    from arda_ops.loopback.world import LoopbackWorld

    try:
        with LoopbackWorld(record_calls=True):
            print("started")
    except RuntimeError as exc:
        print("refused:", exc)
    """
)


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    env["PYTHONPATH"] = os.pathsep.join(str(REPO_ROOT / p) for p in ("layers/shared", "ops"))
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_calls_are_counted_by_caller_and_operation_and_the_recording_is_deleted(tmp_path: Path) -> None:
    result = _python(_COUNTING, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    seen: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["handler"] == {
        "sts:GetCallerIdentity": 1,  # query protocol: Action in the body
        "secretsmanager:CreateSecret": 1,  # JSON protocol: X-Amz-Target
        "route53:ListHostedZonesByName": 1,  # REST: method and path
        "route53:ListHostedZones": 1,
    }
    assert seen["cloudformation"] == {"route53:CreateHostedZone": 1}
    assert seen["after_mark"] == {"route53:ListHostedZones": 1}
    # x-moto-account-id put the zone in the Platform Root account only
    assert seen["root_zones"] == ["example.org."]
    assert seen["partition_zones"] == []
    # the recording (which held the secret's value) is gone, and the variable restored
    assert seen["recording_left"] is False
    assert seen["variable_left"] is None
    assert SECRET_VALUE not in result.stdout + result.stderr


def test_a_recorder_moto_does_not_write_to_is_refused(tmp_path: Path) -> None:
    result = _python(_IMPORTED_TOO_EARLY, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "refused: moto's recorder does not write to this world's file" in result.stdout
    assert "started" not in result.stdout
    # Refused before moto was asked anything: its recorder would have created its default file in the working
    # directory (a stray file in the repository when the suite runs there).
    assert list(tmp_path.iterdir()) == []
