"""Embedded SecantusDB and moto, the whole local stack, and `invoke`."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

from smartnote.config import get_settings
from smartnote.local import invoke
from smartnote.local.events import build_rest_event
from smartnote.local.services import AwsService, MongoService, free_port, port_is_free
from smartnote.local.stack import Stack, ephemeral_services, jwt_secret, read_stack_file
from smartnote.local.template import load_template
from tests.conftest import SQL_BACKENDS, postgres_database
from tests.utils.local_stack import interrupt, start_stack_process, write_project

TEMPLATE = """
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: test-uploads
  Jobs:
    Type: AWS::SQS::Queue
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/hello/
      Handler: app.handler
      Environment:
        Variables:
          GREETING: hi
      Events:
        Hello:
          Type: Api
          Properties: {Path: /hello, Method: GET}
"""

# A plain handler: reports the settings the stack handed it.
HELLO_APP = """
import json
import os


def handler(event, context):
    keys = ("ENVIRONMENT", "MONGODB_URI", "AWS_ENDPOINT_URL", "GREETING")
    body = {key: os.environ.get(key) for key in keys}
    body["path"] = event["path"]
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps(body)}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, TEMPLATE, {"hello": HELLO_APP})


def test_free_port_and_port_is_free() -> None:
    port = free_port()
    assert port_is_free("127.0.0.1", port)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert not port_is_free("127.0.0.1", port)


def test_secantus_answers_ping_on_a_free_port() -> None:
    mongo = MongoService(":memory:")
    mongo.start()
    try:
        assert mongo.url.startswith("mongodb://127.0.0.1:")
        with MongoClient(mongo.url, serverSelectionTimeoutMS=5000) as client:
            assert client.admin.command("ping")["ok"] == 1
    finally:
        mongo.stop()


def test_secantus_keeps_data_across_restarts(tmp_path: Path) -> None:
    for expected in (0, 1):
        mongo = MongoService(tmp_path / "mongo")
        mongo.start()
        try:
            client: MongoClient[dict[str, Any]]
            with MongoClient(mongo.url, serverSelectionTimeoutMS=5000) as client:
                notes: Collection[dict[str, Any]] = client.smartnote.notes
                assert notes.count_documents({}) == expected
                notes.insert_one({"title": "kept"})
        finally:
            mongo.stop()


def test_mongo_data_in_use_by_another_stack_is_a_clear_error(tmp_path: Path) -> None:
    """A second `make run` while the first one runs (or still stops): one line saying why,
    which the stack prints as `error: could not start the stack: ...`, not a traceback."""
    first = MongoService(tmp_path / "mongo")
    first.start()
    try:
        with pytest.raises(OSError, match="in use by another process") as refused:
            MongoService(tmp_path / "mongo").start()
        assert str(tmp_path / "mongo") in str(refused.value)
    finally:
        first.stop()


def test_external_mongo_uri_starts_nothing() -> None:
    mongo = MongoService.from_env(environ={"MONGODB_URI": "mongodb://db.example:27017"})
    mongo.start()
    assert mongo.external and mongo.url == "mongodb://db.example:27017"
    mongo.stop()


def test_moto_creates_buckets_queues_and_ses_identity(project: Path) -> None:
    aws = AwsService()
    aws.start()
    try:
        s3 = aws.client("s3")
        s3.create_bucket(Bucket="ad-hoc")
        created = aws.provision(load_template(project / "template.yaml"))
        assert created["Uploads"] == "test-uploads"
        assert created["Jobs"].endswith("/smartnote-jobs")
        names = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
        assert {"ad-hoc", "test-uploads"} <= names
        identities = aws.client("ses").list_identities()["Identities"]
        assert "noreply@smartnote.local" in identities
        aws.provision(load_template(project / "template.yaml"))  # idempotent
    finally:
        aws.stop()


def test_jwt_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    secret = jwt_secret(tmp_path)
    assert len(secret) >= 32
    assert jwt_secret(tmp_path) == secret
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o777 == 0o600


@pytest.mark.usefixtures("restore_environ")
def test_stack_runs_everything_and_cleans_up(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("MONGODB_URI", "DATABASE_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    data_dir = project / ".local"
    stack = Stack(load_template(project / "template.yaml"), data_dir, port=0, quiet=True)
    stack.start()
    try:
        info = read_stack_file(data_dir)
        assert info is not None and info["api_url"] == stack.gateway.url
        response = httpx.get(f"{stack.gateway.url}/hello", timeout=10)
        assert response.status_code == 200
        seen = response.json()
        assert seen["ENVIRONMENT"] == "local"
        assert seen["MONGODB_URI"] == stack.mongo.url
        assert seen["AWS_ENDPOINT_URL"] == stack.aws.url
        assert seen["GREETING"] == "hi"
        summary = stack.summary()
        for url in (stack.gateway.url, stack.mongo.url, stack.sql.url, stack.aws.url):
            assert url in summary
        assert stack.sql.url == f"sqlite:///{data_dir.resolve() / 'smartnote.db'}"
    finally:
        stack.stop()
    assert not (data_dir / "stack.json").exists()
    assert (data_dir / "mongo").is_dir()


@pytest.mark.skipif("postgres" not in SQL_BACKENDS, reason="needs PostgreSQL")
@pytest.mark.usefixtures("restore_environ")
def test_stack_on_postgres_hands_its_functions_its_own_services(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make run` with DATABASE_URL: migrating PostgreSQL reads the settings (its statement
    # timeout) before the stack sets MONGODB_URI and AWS_ENDPOINT_URL; the functions must not
    # be left with those stale settings (every Mongo and S3 call timed out: 503).
    for key in ("MONGODB_URI", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    with postgres_database() as url:
        monkeypatch.setenv("DATABASE_URL", url)
        stack = Stack(
            load_template(project / "template.yaml"), project / ".local", port=0, quiet=True
        )
        stack.start()
        try:
            settings = get_settings()
            assert settings.database_url == url
            assert settings.mongodb_uri == stack.mongo.url
            assert settings.aws_endpoint_url == stack.aws.url
        finally:
            stack.stop()
            get_settings.cache_clear()


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    return not port_is_free(parts.hostname or "", parts.port or 0)


def test_ctrl_c_stops_everything_and_a_second_run_keeps_the_data(project: Path) -> None:
    port = free_port()
    process, info = start_stack_process(project, port)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/hello", timeout=10).status_code == 200
        with MongoClient(info["mongodb_uri"]) as client:
            client.smartnote.kept.insert_one({"_id": "across-restarts"})
    finally:
        output = interrupt(process)
    assert "Ctrl-C to stop" in output
    urls = (info["api_url"], info["mongodb_uri"], info["aws_endpoint_url"])
    assert [url for url in urls if _listening(url)] == []  # nothing left running
    assert read_stack_file(project / ".local") is None

    process, again = start_stack_process(project, port)
    try:
        assert again["jwt_secret_file"] == info["jwt_secret_file"]
        with MongoClient(again["mongodb_uri"]) as client:
            assert client.smartnote.kept.find_one({"_id": "across-restarts"}) is not None
    finally:
        interrupt(process)


@pytest.mark.usefixtures("restore_environ")
def test_invoke_with_ephemeral_services(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("MONGODB_URI", "DATABASE_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(project)
    events = project / "tests" / "events"
    events.mkdir(parents=True)
    event = build_rest_event("GET", "/hello", [], resource="/hello")
    (events / "hello.json").write_text(json.dumps(event))

    assert invoke.main(["hello"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["statusCode"] == 200
    body = json.loads(result["body"])
    assert body["path"] == "/hello"
    assert body["MONGODB_URI"].startswith("mongodb://127.0.0.1:")

    (events / "hello.json").rename(events / "other.json")
    assert invoke.main(["hello"]) == 2
    assert "other.json" in capsys.readouterr().err


@pytest.fixture
def local_env(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The recipe for other tests: real services, torn down afterwards."""
    # Other tests' services may be named in the environment; this one starts its own.
    for name in ("MONGODB_URI", "DATABASE_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with ephemeral_services(tmp_path, load_template(project / "template.yaml")) as env:
        yield env


def test_ephemeral_services_fixture(local_env: dict[str, str]) -> None:
    client: MongoClient[dict[str, Any]]
    with MongoClient(local_env["MONGODB_URI"], serverSelectionTimeoutMS=5000) as client:
        assert client.admin.command("ping")["ok"] == 1
    assert local_env["DATABASE_URL"].startswith("sqlite:///")
    aws = AwsService(local_env["AWS_ENDPOINT_URL"])
    aws.client("s3").head_bucket(Bucket="test-uploads")
    assert len(local_env["JWT_SECRET"]) >= 32
