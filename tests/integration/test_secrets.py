"""Connection strings and the JWT key read from Secrets Manager / SSM (moto server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from smartnote import aws as aws_clients
from smartnote.config import (
    MIN_JWT_SECRET_LENGTH,
    Settings,
    WeakJwtSecret,
    jwt_secret,
    resolve_secrets,
)
from smartnote.local.services import AwsService
from smartnote.routes import auth, notes
from tests.conftest import assert_error
from tests.security.containers import cold_container
from tests.utils.aws_faults import aws_answering, aws_silent


def _settings(aws: AwsService, **values: str) -> Settings:
    return Settings(aws_endpoint_url=aws.url, **values)  # type: ignore[arg-type]


def _secrets_manager_arn(aws: AwsService, value: str) -> str:
    client = aws_clients.client("secretsmanager", _settings(aws))
    return str(client.create_secret(Name=f"smoke-{uuid.uuid4().hex}", SecretString=value)["ARN"])


def _ssm_arn(aws: AwsService, value: str) -> str:
    name = f"/smartnote/test/{uuid.uuid4().hex}"
    client = aws_clients.client("ssm", _settings(aws))
    client.put_parameter(Name=name, Value=value, Type="SecureString")
    return f"arn:aws:ssm:us-east-1:123456789012:parameter{name}"


def test_connection_strings_come_from_secrets_manager_and_ssm(aws: AwsService) -> None:
    mongo = "mongodb+srv://app:p%40ss@cluster0.example.mongodb.net/?retryWrites=true"
    sql = "postgresql+pg8000://app:secret@proxy.example:5432/smartnote"
    settings = resolve_secrets(
        _settings(
            aws,
            mongodb_uri_secret_arn=_secrets_manager_arn(aws, mongo),
            database_url_secret_arn=_ssm_arn(aws, sql),
        )
    )
    assert settings.mongodb_uri == mongo
    assert settings.database_url == sql


def test_without_arns_the_plain_values_stay(aws: AwsService) -> None:
    settings = _settings(aws, mongodb_uri="mongodb://db:27017", database_url="sqlite:///x.db")
    assert resolve_secrets(settings) is settings


def test_jwt_key_from_an_ssm_parameter(aws: AwsService) -> None:
    key = uuid.uuid4().hex * 2
    settings = _settings(aws, jwt_secret_arn=_ssm_arn(aws, key))
    assert jwt_secret(settings) == key


def test_a_short_jwt_key_from_secrets_manager_is_refused(aws: AwsService) -> None:
    """Settings checks JWT_SECRET's length; the key behind JWT_SECRET_ARN is checked once
    fetched, with the same minimum, even in production where Settings let the ARN through."""
    short = "k" * (MIN_JWT_SECRET_LENGTH - 1)
    settings = _settings(aws, environment="prod", jwt_secret_arn=_secrets_manager_arn(aws, short))
    with pytest.raises(WeakJwtSecret, match=f"has {MIN_JWT_SECRET_LENGTH - 1} characters"):
        jwt_secret(settings)
    enough = "k" * MIN_JWT_SECRET_LENGTH
    settings = _settings(aws, environment="prod", jwt_secret_arn=_secrets_manager_arn(aws, enough))
    assert jwt_secret(settings) == enough


@pytest.mark.parametrize(
    "arn", ["not-an-arn", "arn:aws:s3:::bucket/key", "arn:aws:secretsmanager:too-short"]
)
def test_other_arns_are_refused_before_any_call(aws: AwsService, arn: str) -> None:
    with pytest.raises(ValueError, match="not a Secrets Manager or SSM parameter ARN"):
        resolve_secrets(_settings(aws, mongodb_uri_secret_arn=arn))


def test_a_missing_secret_fails_loudly(aws: AwsService) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:smartnote-missing-AbCdEf"
    with pytest.raises(Exception, match="ResourceNotFound"):
        resolve_secrets(_settings(aws, database_url_secret_arn=arn))


@pytest.fixture
def jwt_key_arn(aws: AwsService) -> str:
    return _secrets_manager_arn(aws, uuid.uuid4().hex * 2)


@pytest.mark.parametrize(
    ("status", "code"), [(400, "ThrottlingException"), (500, "InternalServiceError")]
)
def test_a_failed_jwt_key_read_is_a_503_then_read_again(
    stack_env: None, jwt_key_arn: str, status: int, code: str
) -> None:
    """A container reads the key at its first authenticated request; Secrets Manager throttling
    or failing that read is a backing service unavailable now (503, Retry-After), not a crash
    (500), and the next request reads it again."""

    def failing(_: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return status, {"Error": {"Code": code, "Message": "try again"}}

    bearer = {"Authorization": "Bearer not-a-token"}
    timeout = aws_clients.SECRET_TIMEOUT_SECONDS
    with cold_container(notes.router, auth.router, jwt_secret_arn=jwt_key_arn) as client:
        with aws_answering("secretsmanager", "GetSecretValue", failing, timeout):
            listed = client.get("/notes", headers=bearer)
            login = client.post("/auth/token", data={"username": "a@b.example", "password": "x"})
        for refused in (listed, login):
            assert_error(refused, 503, "service_unavailable")
            assert int(refused.headers["retry-after"]) > 0
        assert_error(client.get("/notes", headers=bearer), 401, "unauthorized")


@pytest.fixture
def secrets_silent(stack_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """AWS behind an endpoint that accepts connections and never answers (a VPC without a
    route to Secrets Manager)."""
    with aws_silent(monkeypatch):
        yield


def test_a_secrets_manager_that_does_not_answer_is_a_503(secrets_silent: None) -> None:
    """The request that needs the key gets its 503 after a few seconds, not the function's
    timeout (botocore alone waits 60 s a try, several tries) and API Gateway's 502."""
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:smartnote-jwt-AbCdEf"
    with cold_container(notes.router, jwt_secret_arn=arn) as client:
        response = client.get("/notes", headers={"Authorization": "Bearer not-a-token"})
    assert_error(response, 503, "service_unavailable")
