"""Generate the mail-domain block shared by the partition and Corporate stacks from its one source.

Everything a partition stack and the Corporate stack have in common (the shared layer, the three custom-resource
functions with their roles and log groups, the mail zone with SPF and DMARC, the Postmark domain with its DKIM and
Return-Path records, verification, the NS delegation, the account-token secret, and the parameters, rule,
conditions, globals and outputs they need) is written once, in ``templates/mail-domain.yaml``. This module copies
each top-level section of that file between the ``# BEGIN GENERATED mail-domain <Section>`` and
``# END GENERATED mail-domain <Section>`` markers of every target template, so no function definition exists twice
by hand. ``--check`` (run by the tests) fails when a target differs from what the source renders; ``--write``
rewrites the blocks.

The source looks every stack-specific name up with ``!FindInMap [MailStack, !Ref MailScope, <Key>]``. Each target
says which of its own mappings answers that lookup: the partition template its generated ``Partitions`` mapping
keyed by the ``Partition`` parameter, the Corporate template its generated ``Corporate`` mapping (both rendered
from :mod:`arda_mail.placement` by :mod:`arda_ops.template_mappings`, with the same keys). A copy rather than a
nested stack keeps every resource in the stack that owns it: see the README, "Sharing the mail-domain block".
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE = REPO_ROOT / "templates" / "mail-domain.yaml"
COMMAND = "python -m arda_ops.template_blocks --write"
#: The sections the source may hold, in the order they appear in a SAM template.
SECTIONS = ("Parameters", "Rules", "Conditions", "Globals", "Resources", "Outputs")
#: How the source spells the stack-specific lookup; every target replaces it with its own mapping and key.
LOOKUP = "MailStack, !Ref MailScope,"
_LOOKUP_KEY = re.compile(r"!FindInMap \[MailStack, !Ref MailScope, (\w+)\]")
_TOP_LEVEL = re.compile(r"^([A-Za-z]+):\s*$")
#: Local code paths are relative to the template's own folder (SAM resolves them so), hence rewritten per target.
_LOCAL_PATH = re.compile(r"^(\s+(?:CodeUri|ContentUri): )(?!s3://)(\S+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Target:
    """A template that carries the block, and what it puts in place of the source's lookup."""

    path: Path
    lookup: str
    #: The mapping (in the target's own ``Mappings``) that must provide every key the block looks up.
    mapping: str
    #: Prefix of the source's repository-relative ``CodeUri``/``ContentUri`` paths from the target's folder.
    path_prefix: str = ""


TARGETS: tuple[Target, ...] = (
    Target(REPO_ROOT / "template.yaml", "Partitions, !Ref Partition,", "Partitions"),
    Target(REPO_ROOT / "corporate" / "template.yaml", "Corporate, corporate,", "Corporate", path_prefix="../"),
)


class BlockError(ValueError):
    """The source or a target is malformed (a missing marker, an unknown section, a leftover placeholder)."""


def begin_marker(section: str) -> str:
    return f"  # BEGIN GENERATED mail-domain {section} ({COMMAND})"


def end_marker(section: str) -> str:
    return f"  # END GENERATED mail-domain {section}"


def source_sections(text: str) -> dict[str, str]:
    """The body of each top-level section of the source (indented lines, trailing blank lines dropped).

    Lines before the first section are the source's own header comment and are not copied.
    """
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        match = _TOP_LEVEL.match(line)
        if match:
            name = match.group(1)
            if name not in SECTIONS or name in sections:
                raise BlockError(f"{SOURCE.name}:{number}: unexpected or repeated section {name!r}")
            current = sections[name] = []
        elif current is None:
            if line.strip() and not line.startswith("#"):
                raise BlockError(f"{SOURCE.name}:{number}: content before the first section")
        elif line.strip() and not line.startswith("  "):
            raise BlockError(f"{SOURCE.name}:{number}: section content must be indented by two spaces")
        else:
            current.append(line)
    bodies = {}
    for name, lines in sections.items():
        while lines and not lines[-1].strip():
            lines.pop()
        bodies[name] = "\n".join(lines)
    return bodies


def lookup_keys(text: str) -> set[str]:
    """The mapping keys the source looks up (every target's mapping must provide them)."""
    return set(_LOOKUP_KEY.findall(text))


def render_section(target: Target, section: str, body: str) -> str:
    rendered = _LOCAL_PATH.sub(
        lambda m: m.group(1) + target.path_prefix + m.group(2), body.replace(LOOKUP, target.lookup)
    )
    if "MailStack" in rendered or "MailScope" in rendered:
        raise BlockError(
            f"{SOURCE.name} [{section}]: MailStack/MailScope used other than as "
            "'!FindInMap [MailStack, !Ref MailScope, <Key>]'"
        )
    return "\n".join((begin_marker(section), rendered, end_marker(section)))


def current_section(text: str, section: str, path: Path) -> str:
    begin, end = begin_marker(section), end_marker(section)
    if text.count(begin) != 1 or text.count(end) != 1:
        raise BlockError(f"{path}: needs exactly one pair of markers for the {section} block ({begin.strip()!r})")
    start, stop = text.index(begin), text.index(end) + len(end)
    return text[start:stop]


def render_target(target: Target, text: str, sections: dict[str, str]) -> str:
    """``text`` with every generated block replaced by what the source renders for ``target``."""
    for section in SECTIONS:
        if section not in sections:
            continue
        text = text.replace(
            current_section(text, section, target.path), render_section(target, section, sections[section])
        )
    return text


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="fail if a template differs from the shared source")
    mode.add_argument("--write", action="store_true", help="rewrite the generated blocks in every template")
    args = parser.parse_args(argv)
    sections = source_sections(SOURCE.read_text(encoding="utf-8"))
    stale = []
    for target in TARGETS:
        text = target.path.read_text(encoding="utf-8")
        rendered = render_target(target, text, sections)
        if rendered == text:
            print(f"{_shown(target.path)}: mail-domain block is up to date")
            continue
        if args.check:
            stale.append(target)
            print(f"{_shown(target.path)}: mail-domain block is out of date; run {COMMAND}")
            continue
        target.path.write_text(rendered, encoding="utf-8")
        print(f"{_shown(target.path)}: mail-domain block rewritten")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
