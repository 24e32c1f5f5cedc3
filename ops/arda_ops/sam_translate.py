"""Translate a SAM template to plain CloudFormation offline, with the real ``samtranslator``.

Used by template tests and by ``make checkov`` (checkov covers IAM only on the translated template). Local
``CodeUri``/``ContentUri`` paths are swapped for S3 URIs exactly as ``sam validate`` does; no credentials,
no network.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

_LOCAL_URI = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def load_sam(path: str | Path) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return dict(yaml_parse(Path(path).read_text(encoding="utf-8")))


def sam_to_cfn(path: str | Path, params: dict[str, str] | None = None, region: str = "us-east-1") -> dict[str, Any]:
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(load_sam(path))
    for resource in sam.get("Resources", {}).values():
        key = _LOCAL_URI.get(resource.get("Type"))
        props = resource.get("Properties", {})
        if key and isinstance(props.get(key), str) and not props[key].startswith("s3://"):
            props[key] = "s3://bucket/" + props[key]
    if "Transform" not in sam:
        return sam
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    translator = Translator(
        managed_policy_map=None, sam_parser=Parser(), boto_session=boto3.Session(region_name=region)
    )
    return dict(translator.translate(sam, parameter_values=params or {}, get_managed_policy_map=lambda: {}))


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m arda_ops.sam_translate TEMPLATE", file=sys.stderr)
        return 2
    json.dump(sam_to_cfn(args[0]), sys.stdout, indent=2, sort_keys=True, default=str)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
