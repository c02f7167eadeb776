"""aws: the limits of the functions' S3 calls against the template's timeouts; the URLs
browsers take to S3."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from smartnote import aws
from smartnote.config import Settings
from smartnote.deps import AFTER_S3
from smartnote.local.template import Template
from smartnote.storage import presigned_get, presigned_post


@pytest.mark.parametrize("function", ["attachments", "notes", "users"])
def test_an_s3_call_and_the_rest_of_its_route_end_before_the_function_times_out(
    template: Template, function: str
) -> None:
    """The routes start an S3 call only while its worst case and what follows it fit before
    the deadline (`deps.s3_has_time`): a Timeout below that would refuse every deletion."""
    timeout = timedelta(seconds=template.function(function).timeout)
    assert aws.S3_CALLS.worst_case + AFTER_S3 < timeout


def test_a_calls_worst_case_counts_every_attempt_and_the_longest_backoffs() -> None:
    # Each attempt: 1 s to connect, 1 s for "100 Continue", 2 s for the answer; 1 s backoff.
    assert aws.CallLimits(1.0, 2.0, attempts=2).worst_case == timedelta(seconds=9)
    assert aws.CallLimits(3.0, 3.0).worst_case == timedelta(seconds=7)  # one attempt


BUCKET = "smartnote-prod-uploads-111122223333"


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2", "eu-central-1"])
def test_presigned_urls_are_sigv4_for_the_buckets_regional_host(
    region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A browser takes the presigned POST and GETs straight to S3. Left to itself botocore
    signs them with SigV2 where the region still lists it (us-east-1, us-west-2...), which a
    bucket created since June 2020 (the stack's) refuses, and names the global host, which a
    bucket outside us-east-1 answers with a 307 to its regional one for up to a day after it
    is created (a browser's POST does not follow it; a GET's SigV4 signature covers the host).
    """
    # As on AWS: no endpoint of our own (botocore itself reads these from the environment,
    # which the local stack's tests set).
    for endpoint in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(endpoint, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    settings = Settings(aws_region=region, aws_endpoint_url=None)
    s3 = aws.client("s3", settings, aws.S3_CALLS)
    regional = {f"{BUCKET}.s3.{region}.amazonaws.com"}
    if region == "us-east-1":  # its global host is its regional one
        regional.add(f"{BUCKET}.s3.amazonaws.com")

    url = urlsplit(presigned_get(s3, BUCKET, "derived/u/n/a/web.jpg", 300))
    assert parse_qs(url.query)["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert url.hostname in regional
    post = presigned_post(s3, BUCKET, "uploads/u/n/a/original", "image/png", 10, 300)
    assert post["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert urlsplit(post["url"]).hostname in regional
