"""What can be checked of the Docker/LocalStack path without Docker; and every shell script."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from smartnote.local.template import load_yaml

ROOT = Path(__file__).resolve().parents[3]
LOCALSTACK = ROOT / "localstack"


def _compose() -> dict[str, object]:
    compose = yaml.safe_load((LOCALSTACK / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(compose, dict)
    return compose


ENVIRONMENTS = ("dev", "prod", "localstack")


def _deploy_parameters(environment: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    parameters = config[environment]["deploy"]["parameters"]
    assert isinstance(parameters, dict)
    return parameters


def _overrides(environment: str) -> dict[str, str]:
    text = str(_deploy_parameters(environment)["parameter_overrides"])
    return dict(pair.split("=", 1) for pair in text.split())


def _image_functions() -> list[str]:
    template = load_yaml((ROOT / "template.yaml").read_text(encoding="utf-8"))
    return [
        name
        for name, resource in template["Resources"].items()
        if (resource.get("Properties") or {}).get("PackageType") == "Image"
    ]


def test_compose_has_localstack_mongo_and_postgres_on_the_lambda_network() -> None:
    compose = _compose()
    services = compose["services"]
    assert isinstance(services, dict)
    assert {"localstack", "mongo", "postgres"} <= set(services)
    localstack = services["localstack"]
    network = localstack["environment"]["LAMBDA_DOCKER_NETWORK"]
    assert compose["networks"]["smartnote"]["name"] == network  # type: ignore[index]
    for name in ("localstack", "mongo", "postgres"):
        assert network in services[name]["networks"]
        assert "healthcheck" in services[name]
    hooks = [v.split(":")[0] for v in localstack["volumes"] if "init/ready.d" in v]
    assert hooks == ["./init/ready.d"]
    assert (LOCALSTACK / "init/ready.d/10-smartnote.sh").is_file()


def test_localstack_services_cover_the_template_resource_types() -> None:
    services = _compose()["services"]["localstack"]["environment"]["SERVICES"]  # type: ignore[index]
    enabled = {name.strip() for name in services.replace("\n", "").split(",")}
    template = load_yaml((ROOT / "template.yaml").read_text(encoding="utf-8"))
    needed = {"cloudformation", "iam", "lambda", "apigateway", "s3", "logs", "cloudwatch"}
    kinds = {str(res["Type"]) for res in template["Resources"].values()}
    prefixes = {"AWS::SecretsManager": "secretsmanager", "AWS::SNS": "sns", "AWS::SQS": "sqs"}
    needed |= {svc for prefix, svc in prefixes.items() if any(k.startswith(prefix) for k in kinds)}
    if _image_functions():  # resolve_image_repos creates its repository in ECR
        needed.add("ecr")
    assert needed <= enabled


def test_localstack_sends_from_the_address_the_init_hook_verifies() -> None:
    hook = (LOCALSTACK / "init/ready.d/10-smartnote.sh").read_text(encoding="utf-8")
    sender = _overrides("localstack")["SesSender"]
    assert f"verify-email-identity --email-address {sender}" in hook


def test_samconfig_environments_name_only_template_parameters() -> None:
    template = load_yaml((ROOT / "template.yaml").read_text(encoding="utf-8"))
    parameters = set(template["Parameters"])
    for environment in ENVIRONMENTS:
        overrides = _overrides(environment)
        assert set(overrides) <= parameters, environment
        allowed = template["Parameters"]["Environment"]["AllowedValues"]
        assert overrides["Environment"] in allowed


def test_localstack_parameters_point_at_what_the_init_hook_creates() -> None:
    hook = (LOCALSTACK / "init/ready.d/10-smartnote.sh").read_text(encoding="utf-8")
    overrides = _overrides("localstack")
    for key in ("MongoDbUriSecretArn", "DatabaseUrlSecretArn"):
        name = "/" + overrides[key].split(":parameter/", 1)[1]
        assert f"put_secure {name} " in hook, name
    # The connection strings use the compose service names, reachable from Lambda containers.
    assert "@postgres:5432/" in hook
    # A remote host is verified over TLS unless the URL says otherwise; compose's has no TLS.
    assert "@postgres:5432/smartnote?sslmode=disable" in hook
    assert "mongodb://mongo:27017/" in hook


def _shell_scripts() -> list[Path]:
    scripts = [
        p
        for p in ROOT.rglob("*.sh")
        if not {".venv", ".venv-deploy", ".aws-sam"} & set(p.relative_to(ROOT).parts)
    ]
    return sorted([*scripts, ROOT / ".ci" / "run"])


def test_every_shell_script_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is missing on CI (.ci/run installs it)")
        pytest.skip("shellcheck not installed (apt install shellcheck)")
    scripts = _shell_scripts()
    assert ROOT / "deploy" / "check.sh" in scripts
    assert LOCALSTACK / "init/ready.d/10-smartnote.sh" in scripts
    result = subprocess.run(
        [shellcheck, *map(str, scripts)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout
