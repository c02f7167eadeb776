"""Translate template.yaml to plain CloudFormation offline, for cfn-lint to check the result.

`python -m deploy.translate template.yaml out.json` (in the deployment venv). `sam validate`
needs AWS credentials for the managed-policy lookup and lints the SAM form; translating with
samtranslator's bundled managed-policy map needs neither credentials nor network, and cfn-lint
on the output sees the resources SAM generates (roles, permissions, stage, deployment).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class BundledPolicies:
    """A managed-policy loader serving the map shipped with samtranslator (no IAM calls)."""

    def __init__(self, partition: str = "aws") -> None:
        policies = get_bundled_managed_policy_map(partition)
        if not policies:
            raise RuntimeError(f"samtranslator ships no managed policies for {partition!r}")
        self.policies = policies

    def load(self) -> dict[str, str]:
        return self.policies


# What `sam package` would put in place of local folders and unbuilt images.
PLACEHOLDER_BUCKET = "smartnote-deploy-check"
PLACEHOLDER_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/smartnote:deploy-check"
ARTIFACT_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


def with_packaged_artifacts(template: dict[str, Any]) -> dict[str, Any]:
    """`template` with local CodeUri/ContentUri as S3 URIs and image functions given an image."""
    for logical_id, resource in (template.get("Resources") or {}).items():
        properties = resource.setdefault("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and (
            properties.get("PackageType") == "Image"
        ):
            properties.setdefault("ImageUri", PLACEHOLDER_IMAGE)
            continue
        key = ARTIFACT_PROPERTIES.get(resource.get("Type", ""))
        if key and isinstance(properties.get(key), str):
            properties[key] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"
    return template


def translate(template_text: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """The CloudFormation form of a SAM template, as after `sam package`."""
    template = with_packaged_artifacts(yaml_parse(template_text))
    result: dict[str, Any] = transform(template, parameters or {}, BundledPolicies())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.translate", description=__doc__)
    parser.add_argument("template", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    # The translator names AWS::Region in ARNs; any region will do for checking.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        translated = translate(args.template.read_text(encoding="utf-8"))
    except InvalidDocumentException as exc:
        for cause in exc.causes:
            print(f"error: {cause.message}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(translated, indent=2) + "\n", encoding="utf-8")
    resources = translated.get("Resources", {})
    print(f"translated {args.template} -> {args.output}: {len(resources)} resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
