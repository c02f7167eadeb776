"""Embedded SecantusDB and moto, the whole local stack, and `invoke`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
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
from smartnote.local.stack import main as stack_main
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
    body["authorization"] = [
        (event.get("headers") or {}).get("Authorization"),
        (event.get("multiValueHeaders") or {}).get("Authorization"),
    ]
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


def test_damaged_mongo_data_is_not_said_to_be_in_use(tmp_path: Path) -> None:
    """Data WiredTiger cannot read (a damaged file) is no other process's: the error says
    what is wrong and what to do, rather than sending the developer to look for a second
    `make run`."""
    mongo = MongoService(tmp_path / "mongo")
    mongo.start()
    mongo.stop()
    (tmp_path / "mongo" / "WiredTiger.turtle").write_text("garbage\n")
    with pytest.raises(OSError) as refused:
        MongoService(tmp_path / "mongo").start()
    message = str(refused.value)
    assert "in use by another process" not in message
    assert "corruption" in message and "make clean-data" in message


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


def _stale_stack_file(data_dir: Path, pid: int) -> None:
    """What a stack killed with -9 leaves: its stack.json, naming services long gone."""
    data_dir.mkdir(parents=True, exist_ok=True)
    info = {"pid": pid, "api_url": "http://127.0.0.1:9", "mongodb_uri": "mongodb://127.0.0.1:9"}
    (data_dir / "stack.json").write_text(json.dumps(info))


def test_a_stale_stack_file_whose_pid_was_reused_is_no_running_stack(tmp_path: Path) -> None:
    # A stack killed with -9 (or a reboot) leaves stack.json; its pid may belong to any
    # process later. `make run` then refused to start ("a stack (pid N) already runs") and
    # `make invoke` sent its events to services long gone.
    _stale_stack_file(tmp_path / ".local", os.getpid())  # a live process, not a stack
    assert read_stack_file(tmp_path / ".local") is None


@pytest.mark.usefixtures("restore_environ")
def test_a_second_stack_on_the_same_data_is_refused_and_leaves_the_first_alone(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("MONGODB_URI", "DATABASE_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    data_dir = project / ".local"
    template = load_template(project / "template.yaml")
    first = Stack(template, data_dir, port=0, quiet=True)
    first.start()
    try:
        info = read_stack_file(data_dir)
        assert info is not None
        second = Stack(template, data_dir, port=0, quiet=True)
        with pytest.raises(OSError, match="already runs"):
            second.start()
        assert read_stack_file(data_dir) == info  # the first one's file, still there
    finally:
        first.stop()
    assert read_stack_file(data_dir) is None


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_clean_data_refuses_only_while_a_stack_runs(project: Path) -> None:
    makefile = Path(__file__).parents[3] / "Makefile"

    def clean_data() -> subprocess.CompletedProcess[str]:
        command = ["make", "-s", "-f", str(makefile), "clean-data"]
        return subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)

    _stale_stack_file(project / ".local", os.getpid())  # a pid in use, but no stack
    done = clean_data()
    assert done.returncode == 0, done.stderr
    assert not (project / ".local").exists()

    process, _info = start_stack_process(project, free_port())
    try:
        refused = clean_data()
        assert refused.returncode != 0
        assert "stop it first" in refused.stderr
        assert (project / ".local" / "jwt_secret").exists()
    finally:
        interrupt(process)


def test_run_says_why_it_cannot_listen(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project)
    # `make run HOST=...` with an address of no interface here (TEST-NET-1): not "in use".
    assert stack_main(["--host", "192.0.2.1", "--port", str(free_port())]) == 1
    err = capsys.readouterr().err
    assert "already in use" not in err
    assert "cannot listen on 192.0.2.1:" in err
    assert "Cannot assign requested address" in err
    with socket.socket() as listener:  # a port that is taken still says so
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        assert stack_main(["--port", str(taken)]) == 1
    assert f"port {taken} on 127.0.0.1 is already in use" in capsys.readouterr().err
    # `make run PORT=70000`: a usage error, not an OverflowError's traceback.
    with pytest.raises(SystemExit) as exited:
        stack_main(["--port", "70000"])
    assert exited.value.code == 2
    assert "0..65535" in capsys.readouterr().err
    assert not (project / ".local").exists()  # nothing started, nothing written


def test_run_refuses_a_pool_of_no_containers(project: Path) -> None:
    # --pool-size 0 served nothing (every request a 504 after 29 s), and a Ctrl-C then waited
    # for ever for the requests queued for a container that would never come.
    command = [sys.executable, "-m", "smartnote.local.stack", "--pool-size", "0"]
    try:
        refused = subprocess.run(
            [*command, "--port", str(free_port())],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the stack started with no containers")
    assert refused.returncode == 2
    assert "--pool-size: '0' is not a number of containers (1 or more)" in refused.stderr


def test_run_and_invoke_report_a_missing_or_broken_template_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Started outside the project's folder, or after a typo in template.yaml: a message, not
    # a FileNotFoundError's or a YAML parser's traceback.
    monkeypatch.chdir(tmp_path)
    assert stack_main(["--port", str(free_port())]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'template.yaml'}" in err and "project's folder" in err
    (tmp_path / "template.yaml").write_text("Resources:\n  Broken: [\n")
    assert stack_main(["--port", str(free_port())]) == 1
    err = capsys.readouterr().err
    assert "template.yaml is not valid YAML" in err and "line 3" in err
    assert invoke.main(["notes"]) == 2
    assert "template.yaml is not valid YAML" in capsys.readouterr().err
    (tmp_path / "template.yaml").write_text("- a list\n")
    assert invoke.main(["notes"]) == 2
    assert "template.yaml is not a template" in capsys.readouterr().err
    assert not (tmp_path / ".local").exists()


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


SLOW_TEMPLATE = """
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties: {BucketName: slow-uploads}
  SlowFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/slow/
      Handler: app.handler
      Timeout: 900
      Events:
        Uploaded:
          Type: S3
          Properties: {Bucket: !Ref Uploads, Events: "s3:ObjectCreated:*"}
"""

# A long job (the cleanup's Timeout is 15 minutes): says when it has begun.
SLOW_APP = """
import pathlib, time

def handler(event, context):
    (pathlib.Path(__file__).parent / "started").touch()
    time.sleep(600)
    return {"ok": True}
"""


def test_a_second_ctrl_c_stops_at_once_while_a_long_invocation_runs(tmp_path: Path) -> None:
    """A clean stop waits for the asynchronous invocations under way, up to their Timeout (the
    cleanup's is 15 minutes); a second Ctrl-C must end the stack at once, as kill -9 would,
    rather than leave the developer no way out but kill -9 from another terminal."""
    project = write_project(tmp_path, SLOW_TEMPLATE, {"slow": SLOW_APP})
    process, info = start_stack_process(project, free_port())
    try:
        s3 = AwsService(info["aws_endpoint_url"]).client("s3")
        s3.put_object(Bucket="slow-uploads", Key="big.jpg", Body=b"x")
        started = project / "functions" / "slow" / "started"
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline, "the S3 event never reached the function"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        time.sleep(1)
        assert process.poll() is None  # the first Ctrl-C waits for the job
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 128 + signal.SIGINT
    assert "without waiting" in output
    assert read_stack_file(project / ".local") is None


SERVICE_URLS = ("MONGODB_URI", "DATABASE_URL", "AWS_ENDPOINT_URL")


@pytest.fixture
def invoke_project(project: Path, monkeypatch: pytest.MonkeyPatch, restore_environ: None) -> Path:
    """`project` as the working folder of `invoke`, with no service named in the environment
    (other tests' may be): it starts ephemeral ones."""
    for key in SERVICE_URLS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(project)
    return project


def test_invoke_with_ephemeral_services(
    invoke_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = invoke_project
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


def test_invoke_puts_the_access_token_given_in_the_events_placeholder(
    invoke_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # tests/events/notes.json, users.json and notes-create.json carry a placeholder token: as
    # written, `make invoke FN=notes` could only ever answer 401, and said nothing about why.
    project = invoke_project
    placeholder = "Bearer REPLACE_WITH_ACCESS_TOKEN"
    event = build_rest_event("GET", "/hello", [("Authorization", placeholder)], resource="/hello")
    (project / "hello.json").write_text(json.dumps(event))

    assert invoke.main(["hello", "hello.json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(json.loads(captured.out)["body"])["authorization"] == [
        placeholder,
        [placeholder],
    ]
    assert "REPLACE_WITH_ACCESS_TOKEN" in captured.err
    assert "TOKEN=" in captured.err  # how to pass one

    for key in SERVICE_URLS:  # the first run's, gone
        monkeypatch.delenv(key, raising=False)
    assert invoke.main(["hello", "hello.json", "--token", "a.b.c"]) == 0
    captured = capsys.readouterr()
    body = json.loads(json.loads(captured.out)["body"])
    assert body["authorization"] == ["Bearer a.b.c", ["Bearer a.b.c"]]
    assert "REPLACE_WITH_ACCESS_TOKEN" not in captured.err


@pytest.fixture
def local_env(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The recipe for other tests: real services, torn down afterwards."""
    # Other tests' services may be named in the environment; this one starts its own.
    for name in SERVICE_URLS:
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
