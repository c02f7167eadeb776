"""Misconfiguration: headers, CORS, errors without internals, secrets and IAM in the template."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from smartnote.app import CORS_RESPONSE_HEADERS
from smartnote.config import Settings
from smartnote.local.template import load_template, load_yaml
from smartnote.models.notes import MAX_NOTE_BODY_BYTES
from smartnote.routes import notes
from tests.conftest import ROOT, ApiUser, assert_error
from tests.security.checks import API_CSP, SECURITY_HEADERS, assert_security_headers
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
        api.get("/docs/oauth2-redirect"),
        api.get("/redoc"),
        api.get("/static/redoc/nope.js"),  # 404
        api.get("/notes"),  # 401
        api.get("/notes", headers=user.headers),
        api.get("/notes/" + "0" * 24, headers=user.headers),  # 404
        api.get("/notes", params={"limit": 0}, headers=user.headers),  # 422
        api.delete("/tags", headers=user.headers),  # 405
        api.post(
            "/notes",
            content=b"x" * (MAX_NOTE_BODY_BYTES + 1),
            headers={**user.headers, "Content-Type": "application/json"},
        ),  # 413 (the notes function's limit)
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


@pytest.mark.parametrize(
    ("origin", "method", "requested"),
    [
        ("https://evil.example", "POST", "content-type"),
        (ALLOWED, "TRACE", "content-type"),
        (ALLOWED, "POST", "x-unknown"),
    ],
    ids=["origin", "method", "header"],
)
def test_a_refused_preflight_is_an_error_of_the_one_shape(
    cors_app: Any, origin: str, method: str, requested: str
) -> None:
    response = cors_app.options(
        "/notes",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": requested,
            "X-Request-ID": "preflight-1",
        },
    )
    assert_error(response, 400, "bad_request")
    assert response.headers["x-request-id"] == "preflight-1"
    assert_security_headers(response)


def test_a_browser_may_preflight_a_head_with_credentials(cors_app: Any) -> None:
    """HEAD is answered wherever GET is (middleware.py); a browser's `fetch` of a HEAD with
    Authorization is preflighted with `Access-Control-Request-Method: HEAD`, and a refused
    preflight is a network error."""
    response = cors_app.options(
        "/notes/" + "0" * 24,
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "HEAD",
            "Access-Control-Request-Headers": "authorization,if-none-match",
        },
    )
    assert response.status_code == 200, response.text
    allowed = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert "HEAD" in allowed


def test_a_browser_may_send_and_read_the_request_id(cors_app: Any) -> None:
    response = cors_app.options(
        "/notes",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-request-id",
        },
    )
    assert response.status_code == 200, response.text
    assert "x-request-id" in response.headers["access-control-allow-headers"].lower()
    answer = cors_app.get("/notes", headers={"Origin": ALLOWED})  # 401
    exposed = answer.headers["access-control-expose-headers"].lower()
    exposed_names = {name.strip() for name in exposed.split(",")}
    assert {"x-request-id", "www-authenticate", "retry-after", "etag"} <= exposed_names


def test_an_allowed_origin_reads_the_body_limits_413(cors_app: Any) -> None:
    """The 413 comes from the body-limit middleware, not a route: CORS must still wrap it."""
    headers = {"Origin": ALLOWED, "Content-Type": "application/json"}
    declared = cors_app.post("/notes", content=b"x" * 2_000_000, headers=headers)
    streamed = cors_app.post(
        "/notes", content=iter([b"x" * 600_000, b"x" * 600_000]), headers=headers
    )
    for response in (declared, streamed):
        assert_error(response, 413, "payload_too_large")
        assert response.headers["access-control-allow-origin"] == ALLOWED
        assert_security_headers(response)


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


def test_browser_origins_allowed_by_the_api_may_upload_to_the_bucket_and_no_others() -> None:
    """The presigned POST and GETs go to S3, not the API: its bucket needs the same origins
    (only when there are any), and the parameter refuses what the rule could not take."""
    parameter = TEMPLATE["Parameters"]["CorsAllowOrigins"]
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("https://app.example.com,https://admin.example.com")
    assert pattern.fullmatch("http://localhost:5173") and pattern.fullmatch("")
    # What a browser never sends as its Origin (no path, not even "/"; a scheme), as written
    # in a header or a bucket rule that would then match no browser at all.
    for refused in (
        "*",
        "https://*.example.com",
        "https://a.example.com, https://b.example.com",
        "https://app.example.com/",
        "https://app.example.com/app",
        "app.example.com",
        "https://a.example.com,,https://b.example.com",
        "https://a.example.com,",
    ):
        assert not pattern.fullmatch(refused), refused
    assert TEMPLATE["Conditions"]["HasCorsOrigins"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CorsAllowOrigins"}, ""]}]
    }
    bucket = RESOURCES["UploadsBucket"]["Properties"]
    condition, configured, without = bucket["CorsConfiguration"]["Fn::If"]
    assert (condition, without) == ("HasCorsOrigins", {"Ref": "AWS::NoValue"})
    (rule,) = configured["CorsRules"]
    assert rule["AllowedOrigins"] == {"Fn::Split": [",", {"Ref": "CorsAllowOrigins"}]}
    assert set(rule["AllowedMethods"]) == {"GET", "HEAD", "POST"}  # no PUT or DELETE


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


CLIENTS_REQUEST_ID = "method.request.header.X-Request-ID"


def test_api_gateways_own_errors_carry_the_security_headers_and_the_clients_request_id() -> None:
    api = next(r for r in RESOURCES.values() if r["Type"] == "AWS::Serverless::Api")
    responses = api["Properties"]["GatewayResponses"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for response in responses.values():
        headers = {
            # A static value is the text between its outer quotes ('none' keeps its own).
            name.lower(): value[1:-1]
            for name, value in response["ResponseParameters"]["Headers"].items()
            if isinstance(value, str)  # not the CORS headers, which depend on the parameter
        }
        assert SECURITY_HEADERS.items() <= headers.items()
        assert headers["content-security-policy"] == API_CSP
        # The client's own id, as the functions echo it (unquoted: a mapping, not a literal).
        assert response["ResponseParameters"]["Headers"]["X-Request-ID"] == CLIENTS_REQUEST_ID
        # API.md's one error shape ($context.error.messageString is a quoted JSON string).
        body = response["ResponseTemplates"]["application/json"]
        error = json.loads(body.replace("$context.error.messageString", '"x"'))["error"]
        assert set(error) == {"code", "message", "details"} and error["details"] == []


ONE_ORIGIN = "https://app.example.com"
TWO_ORIGINS = "https://app.example.com,https://admin.example.com"
EXPOSED = "'" + ", ".join(CORS_RESPONSE_HEADERS) + "'"


def _gateway_response_headers(origins: str) -> dict[str, dict[str, Any]]:
    """Each GatewayResponse's headers as CloudFormation resolves them for CorsAllowOrigins."""
    template = load_template(ROOT / "template.yaml")
    resolved = template.resolver({"CORS_ALLOW_ORIGINS": origins}).resolve(
        template.raw["Resources"]["Api"]["Properties"]["GatewayResponses"]
    )
    return {kind: r["ResponseParameters"]["Headers"] for kind, r in resolved.items()}


def test_api_gateways_own_errors_carry_cors_for_the_allowed_origins() -> None:
    """A browser app of an allowed origin reads API Gateway's own 429 (and its Retry-After),
    504 or 404 as it reads the functions' answers, not as an opaque network error."""
    cors = {"access-control-allow-origin", "access-control-allow-credentials", "vary"}
    cors.add("access-control-expose-headers")
    for kind, headers in _gateway_response_headers(ONE_ORIGIN).items():
        # One origin: named, with credentials as the functions allow them.
        assert headers["Access-Control-Allow-Origin"] == f"'{ONE_ORIGIN}'", kind
        assert headers["Access-Control-Allow-Credentials"] == "'true'", kind
        assert headers["Access-Control-Expose-Headers"] == EXPOSED, kind
        assert "Vary" not in headers, kind
    for kind, headers in _gateway_response_headers(TWO_ORIGINS).items():
        # Several: the caller's Origin (no conditionals in API Gateway), so never credentials.
        assert headers["Access-Control-Allow-Origin"] == "method.request.header.Origin", kind
        assert "Access-Control-Allow-Credentials" not in headers, kind
        assert headers["Access-Control-Expose-Headers"] == EXPOSED, kind
        assert headers["Vary"] == "'Origin'", kind
    for kind, headers in _gateway_response_headers("").items():
        assert not cors & {name.lower() for name in headers}, kind


def test_a_change_of_the_allowed_origins_reaches_api_gateways_own_errors() -> None:
    """SAM redeploys the stage only when the API's definition changes as written, and the
    CORS headers change with a parameter: without AlwaysDeploy, changing CorsAllowOrigins
    alone would leave the stage answering with the old origins."""
    api = next(r for r in RESOURCES.values() if r["Type"] == "AWS::Serverless::Api")
    assert api["Properties"]["AlwaysDeploy"] is True


# The functions whose routes verify or sign tokens: they load jose at start
# (tests/integration/functions/test_imports.py, LOADS). No other function needs the key.
TOKEN_FUNCTIONS = {"AuthFunction", "UsersFunction", "NotesFunction", "AttachmentsFunction"}
JWT_KEY_REFS = ({"Ref": "JwtSecretArn"}, {"Ref": "JwtSecret"})


def _names_the_jwt_key(resource: Any) -> bool:
    if isinstance(resource, dict):
        return resource in JWT_KEY_REFS or any(_names_the_jwt_key(v) for v in resource.values())
    if isinstance(resource, list):
        return any(_names_the_jwt_key(item) for item in resource)
    return False


def _jwt_key_readers() -> set[str]:
    """The functions whose role is allowed a read of the JWT signing key, from their own
    Policies or from a managed policy attached to their role."""
    readers = set()
    for name, function in FUNCTIONS.items():
        if any(_names_the_jwt_key(s.get("Resource")) for s in _statements(function)):
            readers.add(name)
    for resource in RESOURCES.values():
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            continue
        properties = resource["Properties"]
        if any(_names_the_jwt_key(s.get("Resource")) for s in _statements(properties)):
            for role in properties.get("Roles", []):
                readers.add(role["Ref"].removesuffix("Role"))
    return readers


def test_only_the_functions_that_verify_tokens_may_read_the_jwt_key() -> None:
    """Whoever reads the key can sign a token for any user: the image function (OpenCV and
    Tesseract on files users upload), the jobs, the docs and the migration have no use for it."""
    assert _jwt_key_readers() == TOKEN_FUNCTIONS


def test_every_bucket_refuses_requests_without_tls() -> None:
    """Encryption at rest says nothing of the wire: S3 still answers plain HTTP (a presigned
    URL rewritten to http://, a misconfigured client) unless the bucket's policy denies it."""
    buckets = [name for name, r in RESOURCES.items() if r["Type"] == "AWS::S3::Bucket"]
    denied = set()
    for resource in RESOURCES.values():
        if resource["Type"] != "AWS::S3::BucketPolicy":
            continue
        bucket = resource["Properties"]["Bucket"]["Ref"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] != "Deny" or statement["Principal"] != "*":
                continue
            insecure = statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
            if statement["Action"] == "s3:*" and str(insecure).lower() == "false":
                assert statement["Resource"] == [
                    {"Fn::GetAtt": [bucket, "Arn"]},
                    {"Fn::Sub": f"${{{bucket}.Arn}}/*"},
                ]
                denied.add(bucket)
    assert buckets and denied == set(buckets)


# HeadBucket (/health) is authorized as s3:ListBucket with no prefix: no condition can keep it.
HEAD_BUCKET_ONLY = {"DocsFunction"}


@pytest.mark.parametrize("function", sorted(set(FUNCTIONS) - HEAD_BUCKET_ONLY))
def test_a_function_lists_no_further_than_the_attachment_prefixes(function: str) -> None:
    """Every listing the code makes is of an owner's, note's or attachment's objects under
    uploads/ or derived/ (storage.py): a role allowed the whole bucket could enumerate the
    keys (user, note and attachment ids) of whatever else it ever holds."""
    for statement in _statements(_as_list(FUNCTIONS[function].get("Policies", []))):
        if "s3:ListBucket" not in _as_list(statement["Action"]):
            continue
        prefixes = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
        assert prefixes, f"{function} may list the whole bucket"
        assert set(prefixes) <= {"uploads/*", "derived/*"}, function
