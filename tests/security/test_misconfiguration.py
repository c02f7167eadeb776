"""Misconfiguration: headers, CORS, errors without internals, secrets and IAM in the template."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from smartnote.config import Settings
from smartnote.local.template import load_yaml
from smartnote.routes import notes
from tests.conftest import ROOT, ApiUser, assert_error
from tests.security.checks import SECURITY_HEADERS, assert_security_headers
from tests.security.containers import cold_container

TEMPLATE = load_yaml((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {
    name: r["Properties"]
    for name, r in RESOURCES.items()
    if r["Type"] == "AWS::Serverless::Function"
}


def test_security_headers_on_every_kind_of_answer(api: httpx.Client, user: ApiUser) -> None:
    answers = [
        api.get("/health"),
        api.get("/openapi.json"),
        api.get("/docs"),
        api.get("/notes"),  # 401
        api.get("/notes", headers=user.headers),
        api.get("/notes/" + "0" * 24, headers=user.headers),  # 404
        api.get("/notes", params={"limit": 0}, headers=user.headers),  # 422
        api.delete("/tags", headers=user.headers),  # 405
        api.post(
            "/notes",
            content=b"x" * 1_100_000,
            headers={**user.headers, "Content-Type": "application/json"},
        ),  # 413
    ]
    assert {a.status_code for a in answers} >= {200, 401, 404, 422, 413}
    for answer in answers:
        assert_security_headers(answer)


ALLOWED = "https://app.example.com"


@pytest.fixture
def cors_app(stack_env: None) -> Iterator[Any]:
    with cold_container(notes.router, cors_allow_origins=(ALLOWED,)) as client:
        yield client


def _preflight(client: Any, origin: str) -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    response: httpx.Response = client.options("/notes", headers=headers)
    return response


def test_cors_allows_only_configured_origins_with_credentials(cors_app: Any) -> None:
    allowed = _preflight(cors_app, ALLOWED)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert allowed.headers["access-control-allow-credentials"] == "true"
    evil = _preflight(cors_app, "https://evil.example")
    assert "access-control-allow-origin" not in evil.headers
    simple = cors_app.get("/notes", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    assert_security_headers(allowed)


def test_no_cors_headers_without_configured_origins(stack_env: None) -> None:
    with cold_container(notes.router, cors_allow_origins=()) as client:
        response = _preflight(client, ALLOWED)
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("origins", ["*", "https://*.example.com", "null", "app.example.com"])
def test_settings_refuse_wildcard_or_vague_origins(origins: str) -> None:
    with pytest.raises(ValidationError):
        Settings(cors_allow_origins=origins)  # type: ignore[arg-type]


def test_errors_say_nothing_about_internals(api: httpx.Client, user: ApiUser) -> None:
    for response in (
        api.post(
            "/notes",
            content=b"{bad json",
            headers={**user.headers, "Content-Type": "application/json"},
        ),
        api.get("/notes", params={"cursor": "x" * 50}, headers=user.headers),
        api.get("/nope", headers=user.headers),
    ):
        assert 400 <= response.status_code < 500
        assert_error(response, response.status_code)


def test_function_apps_do_not_run_in_debug_mode() -> None:
    from smartnote.app import create_app

    assert create_app(notes.router).debug is False


# --- the template ------------------------------------------------------------------------


def _statements(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if "Effect" in value and "Action" in value:
            yield value
        for inner in value.values():
            yield from _statements(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _statements(inner)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# Actions AWS does not let you scope to a resource.
UNSCOPABLE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "cloudwatch:PutMetricData",
}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_function_has_least_privilege(function: str) -> None:
    policies = _as_list(FUNCTIONS[function].get("Policies", []))
    for policy in policies:
        if isinstance(policy, str):  # a managed policy by name
            assert not any(w in policy for w in ("FullAccess", "Administrator", "PowerUser")), (
                policy
            )
    for statement in _statements(policies):
        actions = _as_list(statement["Action"])
        for action in actions:
            assert action != "*" and not action.endswith(":*"), f"{function}: {action}"
        if statement["Effect"] == "Allow" and not set(actions) <= UNSCOPABLE_ACTIONS:
            assert "*" not in _as_list(statement.get("Resource")), f"{function}: {actions} on *"


def test_no_secret_is_a_literal_in_the_template() -> None:
    environment = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert "JWT_SECRET" not in environment  # on AWS the key comes from Secrets Manager
    # The key is the secret given by ARN, else one the stack generates: never a literal.
    assert environment["JWT_SECRET_ARN"] == {
        "Fn::If": ["HasJwtSecretArn", {"Ref": "JwtSecretArn"}, {"Ref": "JwtSecret"}]
    }
    assert RESOURCES["JwtSecret"]["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    for name in ("MongoDbUri", "DatabaseUrl"):
        assert TEMPLATE["Parameters"][name]["NoEcho"] is True
    # Connection strings preferably by secret ARN, read by the functions at cold start.
    assert environment["MONGODB_URI_SECRET_ARN"] == {"Ref": "MongoDbUriSecretArn"}
    assert environment["DATABASE_URL_SECRET_ARN"] == {"Ref": "DatabaseUrlSecretArn"}
    for function in FUNCTIONS.values():
        for key in function.get("Environment", {}).get("Variables", {}):
            assert "SECRET" not in key or key.endswith("_ARN"), key


def test_api_gateway_throttles_every_method() -> None:
    api = next(r for r in RESOURCES.values() if r["Type"] == "AWS::Serverless::Api")
    settings = api["Properties"]["MethodSettings"]
    catch_all = next(s for s in settings if s["ResourcePath"] == "/*" and s["HttpMethod"] == "*")

    def value(setting: object) -> int:  # a literal or a parameter's default
        if isinstance(setting, dict):
            return int(TEMPLATE["Parameters"][setting["Ref"]]["Default"])
        return int(str(setting))

    assert 0 < value(catch_all["ThrottlingRateLimit"]) <= 100
    assert 0 < value(catch_all["ThrottlingBurstLimit"]) <= 200


def test_cors_origins_come_from_a_parameter() -> None:
    environment = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["CORS_ALLOW_ORIGINS"] == {"Ref": "CorsAllowOrigins"}
    assert TEMPLATE["Parameters"]["CorsAllowOrigins"]["Default"] == ""


def test_uploads_bucket_is_private_and_encrypted() -> None:
    for resource in RESOURCES.values():
        if resource["Type"] != "AWS::S3::Bucket":
            continue
        block = resource["Properties"]["PublicAccessBlockConfiguration"]
        assert all(
            block[k] is True
            for k in (
                "BlockPublicAcls",
                "BlockPublicPolicy",
                "IgnorePublicAcls",
                "RestrictPublicBuckets",
            )
        )
        assert resource["Properties"]["BucketEncryption"]


def test_api_gateways_own_errors_carry_the_security_headers() -> None:
    api = next(r for r in RESOURCES.values() if r["Type"] == "AWS::Serverless::Api")
    responses = api["Properties"]["GatewayResponses"]
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        headers = {
            name.lower(): value.strip("'")
            for name, value in responses[kind]["ResponseParameters"]["Headers"].items()
        }
        assert headers == SECURITY_HEADERS
