"""The image function's failure counts: one EMF record per invocation, on Lambda only.

What it swallows (a failed OCR, a decoder bug) leaves the attachment `ready` without text or
`failed` with a reason, and the invocation succeeds: Lambda's Errors stay 0, and only these
metrics' alarms tell of a deployment that broke Tesseract or OpenCV.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from smartnote import aws, metrics
from smartnote.config import get_settings
from smartnote.jobs import images as image_job
from smartnote.local.gateway import Gateway
from tests.conftest import ApiUser, object_event
from tests.integration.attachments.conftest import Scene, announce, upload_key
from tests.utils import tesseract
from tests.utils.aws_faults import aws_answering
from tests.utils.emf import emf_records, metric_names, record_of
from tests.utils.images import encode, text_strip

# A Tesseract language that looks valid but whose traineddata is not installed (only eng and
# osd are, here as in the image function's container): what a deploy that lost it does.
MISSING_LANGUAGE = "deu"
FUNCTION = "ImageFunction"
TEXT = "Invoice number 4711"
COUNTS = {image_job.PROCESSING_ERRORS_METRIC, image_job.OCR_FAILURES_METRIC}


@pytest.fixture
def on_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    yield


@pytest.fixture
def ocr_languages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The image function's OCR_LANGUAGES name a language pack it does not have."""
    monkeypatch.setenv("OCR_LANGUAGES", MISSING_LANGUAGE)
    get_settings.cache_clear()
    try:
        yield
    finally:
        monkeypatch.delenv("OCR_LANGUAGES")
        get_settings.cache_clear()


def page() -> bytes:
    return encode(text_strip(TEXT, 24), ".png")


def invocation_record(output: str) -> dict[str, Any]:
    """The one record of the image function's counts in what it wrote."""
    record = record_of(output, image_job.OCR_FAILURES_METRIC)
    assert metric_names(record) == COUNTS
    assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [list(metrics.DIMENSIONS)]
    assert (record["function_name"], record["service"]) == (FUNCTION, "smartnote")
    return record


def test_an_ocr_failure_is_counted_and_the_image_stays_ready(
    scene: Scene,
    on_lambda: None,
    ocr_languages: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scene.put(page())
    capsys.readouterr()
    assert scene.process("0A") == "ready"
    record = invocation_record(capsys.readouterr().out)
    assert record[image_job.OCR_FAILURES_METRIC] == 1
    assert record[image_job.PROCESSING_ERRORS_METRIC] == 0
    view = scene.view()
    assert (view["status"], view["ocr_text"], view["height"]) == ("ready", None, 24)


@pytest.mark.parametrize("kind", sorted(tesseract.BROKEN))
def test_a_broken_tesseract_program_is_an_ocr_failure_and_the_image_stays_ready(
    scene: Scene,
    on_lambda: None,
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A deploy that lost the Tesseract program or cannot run it (an OSError, the program's
    own error) costs uploads their text, not their thumbnails: `ready` without text, counted
    as an OCR failure and logged with the cause, not a processing error. The container read
    a page before (warm); tests/unit/images/test_pipeline.py has a cold one."""
    scene.put(page())
    assert scene.process("0A") == "ready"
    assert scene.view()["ocr_text"] == TEXT
    monkeypatch.setenv("PATH", tesseract.install(kind, tmp_path))
    scene.put(encode(text_strip(TEXT, 30), ".png"))  # another upload to the key
    capsys.readouterr()
    caplog.clear()

    assert scene.process("0B") == "ready"
    record = invocation_record(capsys.readouterr().out)
    assert record[image_job.OCR_FAILURES_METRIC] == 1
    assert record[image_job.PROCESSING_ERRORS_METRIC] == 0
    view = scene.view()
    assert (view["status"], view["error"], view["height"]) == ("ready", None, 30)
    assert (view["ocr_text"], view["ocr_confidence"]) == (None, None)
    assert view["thumbnail_url"] and view["web_url"]
    scene.assert_only_recorded_outputs_kept()
    warnings = [r.getMessage() for r in caplog.records if r.name == "smartnote.images.pipeline"]
    assert len(warnings) == 1 and warnings[0].startswith("OCR failed: ")
    assert tesseract.BROKEN[kind].warm_cause in warnings[0]


def test_an_s3_write_failure_is_no_swallowed_error_but_a_failed_invocation_retried(
    scene: Scene,
    on_lambda: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """S3 refusing a web copy is not the pipeline's to swallow: the run gives its claim back
    and fails (Lambda's Errors, and its retry), counting no processing error; the retry, with
    the same request id, finishes the upload over what the failed attempt wrote."""
    scene.put(page())
    event = scene.event("0A")

    def internal_error(params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if not params["url_path"].endswith("/web.jpg"):
            return None
        return 500, {"Error": {"Code": "InternalError", "Message": "We encountered an error"}}

    capsys.readouterr()
    with (
        aws_answering("s3", "PutObject", internal_error, aws.S3_CALLS),
        pytest.raises(Exception, match="InternalError"),
    ):
        scene.gateway.invoke("image", event, request_id="request-1")
    record = invocation_record(capsys.readouterr().out)
    assert record[image_job.PROCESSING_ERRORS_METRIC] == 0
    stored = scene.stored()
    assert (stored["status"], stored["claim"], stored["error"]) == ("pending", None, None)

    retry = scene.gateway.invoke("image", event, request_id="request-1")
    assert retry["results"][0]["outcome"] == "ready"
    assert invocation_record(capsys.readouterr().out)[image_job.PROCESSING_ERRORS_METRIC] == 0
    scene.assert_only_recorded_outputs_kept()


def test_read_rejected_and_edited_images_count_no_failure(
    scene: Scene,
    api: httpx.Client,
    user: ApiUser,
    on_lambda: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bad input the pipeline refuses with a reason is the user's, not a bug: not counted."""
    scene.put(page())
    capsys.readouterr()
    assert scene.process("0A") == "ready"
    read = invocation_record(capsys.readouterr().out)
    assert scene.view()["ocr_text"] == TEXT
    rotate = [{"op": "rotate", "degrees": 90}]
    assert scene.run_edit(scene.ask_edit(rotate)) == "ready"
    edited = invocation_record(capsys.readouterr().out)
    refused = scene.ask_edit(rotate)
    scene.put(encode(text_strip(TEXT, 30), ".png"))  # another upload before the edit runs
    assert scene.run_edit(refused) == f"failed: {image_job.REPLACED}"
    replaced = invocation_record(capsys.readouterr().out)
    truncated = encode(np.zeros((50, 50, 3), np.uint8), ".png")[:60]
    other = announce(api, user, scene.note_id)
    key = upload_key(user, scene.note_id, other["id"])
    scene.s3.put_object(Bucket=scene.bucket, Key=key, Body=truncated)
    outcome = scene.gateway.invoke("image", object_event(scene.s3, scene.bucket, key))
    assert outcome["results"][0]["outcome"].startswith("failed: The image is corrupt")
    rejected = invocation_record(capsys.readouterr().out)
    for record in (read, edited, replaced, rejected):
        assert record[image_job.PROCESSING_ERRORS_METRIC] == 0
        assert record[image_job.OCR_FAILURES_METRIC] == 0


def test_an_invocation_that_fails_part_way_still_writes_what_it_counted(
    scene: Scene,
    api: httpx.Client,
    user: ApiUser,
    gateway: Gateway,
    on_lambda: None,
    ocr_languages: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One event of two uploads (S3 batches them): the first loses its OCR, S3 refuses to
    read the second, and the invocation fails (Lambda retries it): the record still counts
    the first's failure."""
    scene.put(page())
    second = announce(api, user, scene.note_id)
    refused = upload_key(user, scene.note_id, second["id"])
    scene.s3.put_object(Bucket=scene.bucket, Key=refused, Body=page())
    event = scene.event("0A")
    event["Records"] += object_event(scene.s3, scene.bucket, refused)["Records"]

    def access_denied(params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if not params["url_path"].endswith(f"{second['id']}/original"):
            return None
        return 403, {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}

    capsys.readouterr()
    with (
        aws_answering("s3", "GetObject", access_denied, aws.S3_CALLS),
        pytest.raises(Exception, match="Denied"),
    ):
        gateway.invoke("image", event)
    record = invocation_record(capsys.readouterr().out)
    assert record[image_job.OCR_FAILURES_METRIC] == 1
    assert scene.stored()["status"] == "ready"


def test_no_record_is_written_off_lambda(
    scene: Scene,
    ocr_languages: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The local stack: nothing reads stdout as metrics, and its console stays clean."""
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    scene.put(page())
    capsys.readouterr()
    assert scene.process("0A") == "ready"
    assert emf_records(capsys.readouterr().out) == []
