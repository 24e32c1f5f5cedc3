"""``bin/deploy --adopt`` never shows the account token: not in the plan, not in the files under ``.adopt/``, not in
any log line, at DEBUG included, and whatever characters the token holds (shell metacharacters too).

The adoption runs in a fresh Python process with every logger at DEBUG, as a caller that configures logging that
way would run it: the log-record factory that redacts secrets is process-wide, so in the test process another test
(or a fixture) could have installed it already and hidden a path that forgets to. The process plays the old
deployment on moto (in-process ``mock_aws``) with the Postmark emulator over HTTP on loopback; discovery reads the
token secret (``GetSecretValue``, whose answer botocore dumps at DEBUG) before anything else could install the
redaction.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from arda_mail.placement import partition_placement
from arda_ops import samconfig
from arda_ops.handlers import REPO_ROOT

ACCOUNT_ID = "123456789012"  # moto's default account: the partition's
#: A token no Postmark account would issue, built to break anything that passes it through a shell or a naive parser.
TOKEN_TAIL = str(uuid.uuid4())
HOSTILE_TOKEN = f"""pm$(touch /tmp/adopt-pwned)`id`;|&<>"'\\*?~!{{}}# ={TOKEN_TAIL}"""

SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from pathlib import Path

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")

    import boto3
    from moto import mock_aws

    from arda_mail.placement import partition_placement
    from arda_ops import adopt
    from arda_ops.adopt_discovery import AdoptionRefusedError, Clients
    from postmark_emulator import PostmarkEmulator

    token, out_dir = sys.stdin.read(), Path(sys.argv[1])
    dev = partition_placement("dev")
    emulator = PostmarkEmulator({"PostmarkNonProd": token, "PostmarkProd": "other-" + token[::-1]}).start()
    try:
        with mock_aws():
            secrets = boto3.client("secretsmanager")
            secrets.create_secret(Name=dev.account_token_secret_name, SecretString="previous-token")
            secrets.put_secret_value(SecretId=dev.account_token_secret_name, SecretString=token)
            emulator.add_domain("PostmarkNonProd", dev.mail.postmark_domain_name, dev.mail.return_path_host)
            clients = Clients(
                route53=boto3.client("route53"),
                secretsmanager=secrets,
                iam=boto3.client("iam"),
                cloudformation=boto3.client("cloudformation"),
            )
            logging.getLogger().setLevel(logging.DEBUG)  # the setup above wrote the token: not logged
            try:
                code = adopt.adopt(
                    "dev",
                    dry_run=True,
                    identity=lambda region, profile: "ACCOUNT_ID",
                    token_reader=lambda partition: token,
                    clients_factory=lambda region, profile: clients,
                    postmark=lambda token, api_url: adopt.postmark_lookup(token, emulator.url),
                    build=lambda: None,
                    sam=lambda args: 0,
                    out_dir=out_dir,
                )
                print("exit", code)
            except AdoptionRefusedError as exc:
                print("adopt:", exc, file=sys.stderr)
    finally:
        emulator.stop()
    """
).replace("ACCOUNT_ID", ACCOUNT_ID)


def _accounts(tmp_path: Path) -> dict[str, str]:
    """Real-looking accounts and the samconfig rendered from them, as bin/deploy's preflight needs them."""
    accounts_file = tmp_path / "accounts.toml"
    tables = [
        f'[infrastructure.{name}]\naccount_id = "{acct}"\nregion = "us-east-1"'
        for name, acct in [("PlatformRoot", "210987654321"), ("Alpha001", "111122223333"), ("Alpha002", ACCOUNT_ID)]
    ]
    accounts_file.write_text("\n".join([*tables, '[mail_root]\nzone_id = "Z0123456789ABCDEFGHIJ"']) + "\n")
    env = {"ARDA_MAIL_ACCOUNTS_FILE": str(accounts_file), "ARDA_MAIL_SAMCONFIG": str(tmp_path / "samconfig.toml")}
    subprocess.run(
        [sys.executable, "-m", "arda_ops.samconfig", "--write", "--path", env["ARDA_MAIL_SAMCONFIG"]],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=120,
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("op", "make"):
        (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / tool).chmod(0o755)
    return {**env, "PATH": f"{bin_dir}:/usr/bin:/bin"}


def test_the_token_is_in_no_log_line_no_plan_and_no_file_at_debug(tmp_path):
    assert samconfig  # the module the subprocess runs (imported here so a broken import fails fast)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env = {
        **base,
        **_accounts(tmp_path),
        "PYTHONPATH": os.pathsep.join(str(REPO_ROOT / p) for p in ("layers/shared", "ops")),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    out_dir = tmp_path / "adopt"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out_dir)],
        input=HOSTILE_TOKEN,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    dev = partition_placement("dev")

    # The run got as far as the plan, with the token compared (the old deployment here has only the secret and the
    # domain, so the adoption refuses on the rest), and botocore really logged the secret's answer at DEBUG.
    assert f"Adoption of {dev.mail.mail_domain} into stack {dev.stack_name}" in result.stdout, output[-3000:]
    assert f"token in {dev.account_token_secret_name}: equals the token from 1Password" in result.stdout
    assert "GetSecretValue" in result.stderr
    assert '"SecretString"' in result.stderr

    assert HOSTILE_TOKEN not in output
    # A log line may show the token escaped (JSON, repr): its plain tail must not appear in any form.
    assert TOKEN_TAIL not in output
    written = sorted(p for p in out_dir.rglob("*") if p.is_file())
    assert written, "the documents are written before the preconditions are judged"
    for path in written:
        assert TOKEN_TAIL not in path.read_text(encoding="utf-8"), path


def test_a_refused_sam_option_is_named_without_its_value():
    """The refusal comes before the preflight; a token pasted after ``--`` must not come back in the message."""
    import pytest

    from arda_ops import adopt
    from arda_ops.deploy import PreflightError

    pasted = f"--parameter-overrides=PostmarkAccountToken={TOKEN_TAIL}"
    with pytest.raises(PreflightError) as refused:
        adopt.adopt("dev", extra_sam_args=[pasted, "--no-disable-rollback"])
    assert "--parameter-overrides" in str(refused.value)
    assert "--no-disable-rollback" in str(refused.value)
    assert TOKEN_TAIL not in str(refused.value)
