"""S3 notifications in the local stack: bucket -> SQS (moto) -> Lambda's asynchronous invocation
of the subscribed function, with its retries and on-failure destination; the gateway keeps
answering meanwhile."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smartnote.local.async_invoke import AsyncInvokeConfig
from smartnote.local.gateway import Gateway
from smartnote.local.s3_events import S3EventDelivery, subscriptions
from smartnote.local.services import AwsService
from smartnote.local.template import Template, load_template
from tests.conftest import ApiUser
from tests.utils.images import encode, photographed_page
from tests.utils.local_stack import write_project

TEMPLATE = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties: {BucketName: events-test-bucket}
  Failures:
    Type: AWS::SQS::Queue
  RecordFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/record/
      Handler: app.handler
      Events:
        Uploaded:
          Type: S3
          Properties:
            Bucket: !Ref Bucket
            Events: s3:ObjectCreated:*
            Filter: {S3Key: {Rules: [{Name: prefix, Value: in/}]}}
  BoomFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/boom/
      Handler: app.handler
      EventInvokeConfig:
        DestinationConfig:
          OnFailure: {Type: SQS, Destination: !GetAtt Failures.Arn}
      Events:
        Uploaded:
          Type: S3
          Properties:
            Bucket: !Ref Bucket
            Events: [s3:ObjectCreated:*]
            Filter: {S3Key: {Rules: [{Name: prefix, Value: boom/}]}}
  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/work/
      Handler: app.handler
      Timeout: 120
      Events:
        Uploaded:
          Type: S3
          Properties:
            Bucket: !Ref Bucket
            Events: s3:ObjectCreated:*
            Filter: {S3Key: {Rules: [{Name: prefix, Value: work/}]}}
"""

RECORD_APP = """
import json, pathlib

def handler(event, context):
    with open(pathlib.Path(__file__).parent / "events.jsonl", "a") as out:
        out.write(json.dumps(event) + "\\n")
    return {"ok": True}
"""

BOOM_APP = """
def handler(event, context):
    raise RuntimeError("cannot process")
"""

WORK_APP = """
import json, pathlib, time

def handler(event, context):
    keys = [r["s3"]["object"]["key"] for r in event.get("Records", [])]
    with open(pathlib.Path(__file__).parent / "calls.jsonl", "a") as out:
        out.write(json.dumps({"id": context.aws_request_id, "keys": keys}) + "\\n")
    if keys:
        time.sleep(40)  # an OCR of a big page: well within the function's 120 s Timeout
    return {"ok": True}
"""


def _wait_for(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    apps = {"record": RECORD_APP, "boom": BOOM_APP, "work": WORK_APP}
    return write_project(tmp_path_factory.mktemp("s3-events"), TEMPLATE, apps)


@pytest.fixture(scope="module")
def small_stack(project: Path) -> Iterator[tuple[Template, AwsService]]:
    template = load_template(project / "template.yaml")
    aws = AwsService()
    aws.start()
    aws.provision(template)
    with Gateway(template, port=0, quiet=True) as gateway:
        delivery = S3EventDelivery(template, aws, gateway)
        delivery.start()
        yield template, aws
        delivery.stop()
    aws.stop()


def test_subscriptions_are_read_from_the_template(project: Path) -> None:
    found = {s.function.name: s for s in subscriptions(load_template(project / "template.yaml"))}
    assert found["record"].bucket == "events-test-bucket"
    assert found["record"].events == ["s3:ObjectCreated:*"]
    assert found["record"].filter_rules == [{"Name": "prefix", "Value": "in/"}]


def test_retries_and_on_failure_destination_are_read_from_the_template(project: Path) -> None:
    template = load_template(project / "template.yaml")
    record = AsyncInvokeConfig.of(template, template.function("record"))
    boom = AsyncInvokeConfig.of(template, template.function("boom"))
    assert record == AsyncInvokeConfig(retry_attempts=2, on_failure_queue=None)  # Lambda's
    assert boom == AsyncInvokeConfig(retry_attempts=2, on_failure_queue="smartnote-failures")


def test_object_created_reaches_the_function_with_lambdas_event(
    project: Path, small_stack: tuple[Template, AwsService]
) -> None:
    _, aws = small_stack
    s3 = aws.client("s3")
    s3.put_object(Bucket="events-test-bucket", Key="elsewhere/x", Body=b"1")
    s3.put_object(Bucket="events-test-bucket", Key="in/a file.txt", Body=b"hello")
    log = project / "functions" / "record" / "events.jsonl"

    def delivered() -> list[dict[str, Any]]:
        if not log.exists():
            return []
        events = [json.loads(line) for line in log.read_text().splitlines()]
        return [e for e in events if "Records" in e]

    records = _wait_for(delivered)[0]["Records"]
    assert records[0]["eventSource"] == "aws:s3"
    assert records[0]["eventName"].startswith("ObjectCreated")
    assert records[0]["s3"]["object"]["key"] == "in/a+file.txt"  # URL-encoded, as on AWS
    time.sleep(1)
    keys = [r["s3"]["object"]["key"] for e in delivered() for r in e["Records"]]
    assert keys == ["in/a+file.txt"]  # the prefix filter held


def test_failing_event_ends_in_the_on_failure_queue_as_lambda_records_it(
    small_stack: tuple[Template, AwsService],
) -> None:
    """Lambda's on-failure record: the event under `requestPayload`, the error under
    `responsePayload` (docs/operations.md has the operator read both), and how it ended."""
    template, aws = small_stack
    s3, sqs = aws.client("s3"), aws.client("sqs")
    s3.put_object(Bucket="events-test-bucket", Key="boom/1", Body=b"1")
    url = sqs.get_queue_url(QueueName=template.queue("Failures").queue_name)["QueueUrl"]

    def failed() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
        records = [json.loads(m["Body"]) for m in messages]
        # S3's own test event (sent when the notification is set up) fails here too.
        return [r for r in records if "Records" in r["requestPayload"]]

    record = _wait_for(failed)[0]
    assert record["requestPayload"]["Records"][0]["s3"]["object"]["key"] == "boom/1"
    assert record["responsePayload"]["errorMessage"] == "cannot process"
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    context = record["requestContext"]
    assert context["condition"] == "RetriesExhausted"
    assert context["approximateInvokeCount"] == 3  # the first try and 2 retries
    assert context["requestId"] and context["functionArn"].endswith(":BoomFunction:$LATEST")
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }


def test_a_long_running_s3_event_is_not_delivered_again_while_it_runs(
    project: Path, small_stack: tuple[Template, AwsService]
) -> None:
    """S3 invokes the function asynchronously: Lambda runs the event once and retries only
    after a failure. The notification queue's 30 s visibility timeout, under the function's
    120 s Timeout, must not bring the event back while the first run goes on (~60 s test)."""
    _, aws = small_stack
    aws.client("s3").put_object(Bucket="events-test-bucket", Key="work/page.jpg", Body=b"x")
    log = project / "functions" / "work" / "calls.jsonl"

    def calls() -> list[dict[str, Any]]:
        if not log.exists():
            return []
        return [c for c in map(json.loads, log.read_text().splitlines()) if c["keys"]]

    _wait_for(calls, timeout=20)
    time.sleep(36)  # past the visibility timeout; the first run (40 s) still goes on
    assert len(calls()) == 1, calls()


def test_upload_through_the_api_is_processed_in_the_background(
    gateway: Gateway, template: Template, aws: AwsService, api: httpx.Client, user: ApiUser
) -> None:
    delivery = S3EventDelivery(template, aws, gateway)
    delivery.start()
    try:
        note = api.post("/notes", json={"title": "scan"}, headers=user.headers).json()
        uploaded = api.post(
            f"/notes/{note['id']}/attachments/upload",
            files={"file": ("page.jpg", encode(photographed_page()), "image/jpeg")},
            headers=user.headers,
        )
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["status"] == "pending"  # answered before processing
        path = f"/notes/{note['id']}/attachments/{uploaded.json()['id']}"

        def ready() -> dict[str, Any] | None:
            body: dict[str, Any] = api.get(path, headers=user.headers).json()
            return body if body["status"] in ("ready", "failed") else None

        attachment = _wait_for(ready, timeout=60)
        assert attachment["status"] == "ready"
        assert "plumber" in attachment["ocr_text"]
    finally:
        delivery.stop()
