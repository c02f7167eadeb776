"""The offline translation + cfn-lint of deploy-check: passes the real template, catches bad refs.

Runs the deployment venv's tools (`make deploy-tools`); skipped without them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TOOLS = ROOT / ".venv-deploy" / "bin"

pytestmark = pytest.mark.skipif(
    not (TOOLS / "cfn-lint").exists(), reason="deployment tools missing: make deploy-tools"
)


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    for credential in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(credential, None)  # proves no credentials are needed
    return subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, cwd=ROOT, env=env, check=False
    )


def _translate_and_lint(template: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    output = tmp_path / "cloudformation.json"
    translated = _run(TOOLS / "python", "-m", "deploy.translate", template, output)
    assert translated.returncode == 0, translated.stderr
    return _run(TOOLS / "cfn-lint", "--ignore-checks", "W2001", "W3005", "--", output)


def test_the_template_translates_and_lints_clean(tmp_path: Path) -> None:
    linted = _translate_and_lint(ROOT / "template.yaml", tmp_path)
    assert linted.returncode == 0, linted.stdout
    resources = json.loads((tmp_path / "cloudformation.json").read_text())["Resources"]
    types = {resource["Type"] for resource in resources.values()}
    # What SAM generates from the template is what gets checked.
    assert {"AWS::Lambda::Function", "AWS::IAM::Role", "AWS::ApiGateway::Stage"} <= types
    roles = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    # X-Ray's managed policy came from the bundled map, offline.
    assert any(
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
        in r["Properties"].get("ManagedPolicyArns", [])
        for r in roles
    )
    # API Gateway's own answers echo the client's X-Request-ID (a mapping, not a quoted literal).
    (api,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    gateway_responses = api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    assert {
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "MISSING_AUTHENTICATION_TOKEN",
        "THROTTLED",
        "QUOTA_EXCEEDED",
    } <= set(gateway_responses)
    for response in gateway_responses.values():
        parameters = response["responseParameters"]
        assert (
            parameters["gatewayresponse.header.X-Request-ID"]
            == "method.request.header.X-Request-ID"
        )
        # Their CORS headers reach CloudFormation, which resolves them with CorsAllowOrigins.
        assert "Fn::If" in parameters["gatewayresponse.header.Access-Control-Allow-Origin"]


def test_schedules_are_named_per_stack(tmp_path: Path) -> None:
    """Schedule and rule names are unique per account and region (per group for EventBridge
    Scheduler): a name SAM fixes, like `CleanupFunctionDaily` for a ScheduleV2 without
    `OmitName`, makes a second stack (dev and prod side by side) fail to create."""
    translated = _run(
        TOOLS / "python", "-m", "deploy.translate", "template.yaml", tmp_path / "cfn.json"
    )
    assert translated.returncode == 0, translated.stderr
    resources = json.loads((tmp_path / "cfn.json").read_text())["Resources"]
    schedules = {
        logical_id: resource["Properties"].get("Name")
        for logical_id, resource in resources.items()
        if resource["Type"] in {"AWS::Scheduler::Schedule", "AWS::Events::Rule"}
    }
    assert "CleanupFunctionDaily" in schedules
    fixed = {
        logical_id: name
        for logical_id, name in schedules.items()
        if name is not None and "AWS::StackName" not in json.dumps(name)
    }
    assert fixed == {}


def test_a_reference_to_a_missing_resource_is_caught(tmp_path: Path) -> None:
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "template.yaml"
    broken.write_text(
        text.replace("- !Ref DocsFunctionRole", "- !Ref DocsFunctionRoleTypo"), encoding="utf-8"
    )
    linted = _translate_and_lint(broken, tmp_path)
    assert linted.returncode != 0
    assert "DocsFunctionRoleTypo" in linted.stdout


def test_sam_validate_lint_accepts_the_template() -> None:
    validated = _run(TOOLS / "sam", "validate", "--lint", "--template-file", "template.yaml")
    assert validated.returncode == 0, validated.stdout + validated.stderr


IMAGE_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  ImageFunction:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      Events:
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref Bucket
            Events: s3:ObjectCreated:*
    Metadata:
      Dockerfile: Dockerfile
      DockerContext: ./image
  Bucket:
    Type: AWS::S3::Bucket
"""


def test_image_functions_are_validated_with_a_placeholder_image(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(IMAGE_TEMPLATE, encoding="utf-8")
    linted = _translate_and_lint(template, tmp_path)
    assert linted.returncode == 0, linted.stdout
    resources = json.loads((tmp_path / "cloudformation.json").read_text())["Resources"]
    function = resources["ImageFunction"]["Properties"]
    assert function["PackageType"] == "Image"
    assert function["Code"]["ImageUri"].endswith(":deploy-check")
    assert "ImageFunctionUploadPermission" in resources  # the S3 trigger was translated too
