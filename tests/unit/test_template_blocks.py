"""The mail-domain block: one source (templates/mail-domain.yaml), generated into both stacks' templates.

A template that disagrees with the source fails here, and so does a source that looks up a key one of the
placement-generated mappings does not provide.
"""

from __future__ import annotations

import re

import pytest

from arda_ops import template_blocks, template_mappings
from arda_ops.sam_translate import load_sam


def test_every_template_holds_the_block_the_source_renders():
    assert template_blocks.main(["--check"]) == 0
    assert template_mappings.main(["--check"]) == 0


def test_check_fails_when_a_template_is_edited_inside_its_block(tmp_path, monkeypatch):
    corporate = template_blocks.TARGETS[1]
    edited = corporate.path.read_text(encoding="utf-8").replace("ServiceTimeout: 420", "ServiceTimeout: 421", 1)
    assert "ServiceTimeout: 421" in edited
    copy = tmp_path / "template.yaml"
    copy.write_text(edited, encoding="utf-8")
    monkeypatch.setattr(template_blocks, "TARGETS", (template_blocks.Target(copy, corporate.lookup, "Corporate"),))
    assert template_blocks.main(["--check"]) == 1
    assert template_blocks.main(["--write"]) == 0
    assert "ServiceTimeout: 421" not in copy.read_text(encoding="utf-8")
    assert template_blocks.main(["--check"]) == 0


@pytest.mark.parametrize("target", template_blocks.TARGETS, ids=lambda t: t.mapping)
def test_every_key_the_block_looks_up_exists_in_the_targets_mapping(target):
    keys = template_blocks.lookup_keys(template_blocks.SOURCE.read_text(encoding="utf-8"))
    assert {"MailDomain", "AccountTokenSecretName", "NsDelegationFunctionRoleName"} <= keys
    mapping = load_sam(target.path)["Mappings"][target.mapping]
    for entry in mapping.values():
        assert keys <= set(entry), keys - set(entry)


def test_both_stacks_define_the_shared_resources_identically_but_for_names_and_paths():
    """The generated copy is the whole sharing mechanism: the two templates' shared resources differ only where
    the block looks a name up (FindInMap) or names a local code path."""
    partition, corporate = (load_sam(t.path) for t in template_blocks.TARGETS)
    shared = template_blocks.source_sections(template_blocks.SOURCE.read_text(encoding="utf-8"))
    names = re.findall(r"^  ([A-Za-z0-9]+):$", shared["Resources"], re.MULTILINE)
    assert "PostmarkDomainFunction" in names
    assert "MailZone" in names

    def normalised(node):
        if isinstance(node, dict):
            if set(node) == {"Fn::FindInMap"}:
                return ("lookup", node["Fn::FindInMap"][2])
            return {k: normalised(v) for k, v in node.items() if k not in {"CodeUri", "ContentUri"}}
        if isinstance(node, list):
            return [normalised(v) for v in node]
        return node

    for name in names:
        assert normalised(partition["Resources"][name]) == normalised(corporate["Resources"][name]), name
