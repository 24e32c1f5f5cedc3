"""The single-source rule, enforced: only the placement module composes mail names.

Scans every Python and shell source outside ``tests/`` for the tokens that make up a mail-root name, a
record host or a resource/export name. Templates and samconfig compose with ``!Sub`` and are compared
with the placement function by their own tests.
"""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLACEMENT = REPO / "layers" / "shared" / "arda_mail" / "placement.py"
TOKENS = re.compile(
    r"ardamails|-API-|pm-bounces|_dmarc|-I-Email|EmailDnsProvisioningRole|EmailEncryptionKeyFallbackRole"
)
SOURCE_DIRS = ("layers", "functions", "ops", "bin", ".ci", ".github")


def _sources():
    for top in SOURCE_DIRS:
        base = REPO / top
        if not base.exists():
            continue
        for path in base.rglob("*"):
            is_source = path.suffix in {".py", ".sh"} or path.parent.name in {"bin", ".ci"}
            if path.is_file() and is_source and ".aws-sam" not in path.parts and "__pycache__" not in path.parts:
                yield path


def offending_lines(paths, root=REPO):
    hits = []
    for path in paths:
        if path == PLACEMENT:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if TOKENS.search(line):
                hits.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return hits


def test_scan_covers_the_source_tree():
    scanned = list(_sources())
    assert PLACEMENT in scanned
    assert len(scanned) >= 10


def test_no_module_outside_placement_composes_mail_names():
    assert offending_lines(_sources()) == []


def test_the_scan_catches_an_inline_name(tmp_path):
    # Written under tmp_path, never into the source tree.
    rogue = tmp_path / "layers" / "rogue.py"
    rogue.parent.mkdir()
    rogue.write_text('domain = f"{partition}.ardamails.com"\n')
    assert offending_lines([rogue], root=tmp_path) == ['layers/rogue.py:1: domain = f"{partition}.ardamails.com"']
