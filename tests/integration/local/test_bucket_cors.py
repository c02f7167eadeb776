"""The uploads bucket's CORS in the local S3: the template's rule, the local API's origins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from smartnote.local.services import AwsService
from smartnote.local.stack import ephemeral_services
from smartnote.local.template import load_template

REPO = Path(__file__).resolve().parents[3]
ALLOWED = "http://localhost:5173"
OTHER = "https://evil.example"
BUCKET = "cors-test-uploads"  # moto's store is per process: not the session's uploads bucket


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """template.yaml's uploads bucket (its CorsConfiguration, the parameter and condition it
    uses), under a name of its own."""
    real = load_template(REPO / "template.yaml").raw
    bucket = dict(real["Resources"]["UploadsBucket"])
    bucket["Properties"] = {**bucket["Properties"], "BucketName": BUCKET}
    template = {
        "Parameters": real["Parameters"],
        "Conditions": real["Conditions"],
        "Globals": {"Function": {"Environment": real["Globals"]["Function"]["Environment"]}},
        "Resources": {"UploadsBucket": bucket},
    }
    (tmp_path / "template.yaml").write_text(yaml.safe_dump(template), encoding="utf-8")
    return tmp_path


def _services(project: Path, monkeypatch: pytest.MonkeyPatch, origins: str) -> Iterator[str]:
    for name in ("MONGODB_URI", "DATABASE_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", origins)
    with ephemeral_services(project, load_template(project / "template.yaml")) as env:
        yield env["AWS_ENDPOINT_URL"]


@pytest.fixture
def s3_url(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The local S3 with CORS_ALLOW_ORIGINS naming one browser app, as the API reads it."""
    yield from _services(project, monkeypatch, ALLOWED)


@pytest.fixture
def s3_url_without_origins(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield from _services(project, monkeypatch, "")


def _preflight(s3_url: str, origin: str) -> httpx.Response:
    """What a browser asks before it POSTs the presigned upload form from `origin`."""
    return httpx.options(
        f"{s3_url}/{BUCKET}/uploads/u/n/a/original",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )


def test_the_bucket_answers_a_browser_preflight_of_an_allowed_origin_only(s3_url: str) -> None:
    allowed = _preflight(s3_url, ALLOWED)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    other = _preflight(s3_url, OTHER)
    assert "access-control-allow-origin" not in other.headers


def test_without_origins_no_browser_may_reach_the_bucket(s3_url_without_origins: str) -> None:
    """As on AWS with CorsAllowOrigins empty: the bucket has no CORS rule, and the local S3
    answers no origin (moto's server would otherwise allow every one)."""
    answer = _preflight(s3_url_without_origins, ALLOWED)
    assert "access-control-allow-origin" not in answer.headers


def test_the_local_rule_is_the_templates_rule(s3_url: str) -> None:
    """Methods, exposed headers and max age come from template.yaml, the origins from the
    local API's CORS_ALLOW_ORIGINS: the two cannot drift apart."""
    (declared,) = load_template(REPO / "template.yaml").raw["Resources"]["UploadsBucket"][
        "Properties"
    ]["CorsConfiguration"]["Fn::If"][1]["CorsRules"]
    (rule,) = AwsService(s3_url).client("s3").get_bucket_cors(Bucket=BUCKET)["CORSRules"]
    expected: dict[str, Any] = {
        "AllowedMethods": declared["AllowedMethods"],
        "AllowedOrigins": [ALLOWED],
        "ExposeHeaders": declared["ExposedHeaders"],
        "MaxAgeSeconds": declared["MaxAge"],
    }
    assert rule == expected
