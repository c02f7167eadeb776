"""The docs function serves the OpenAPI document the build wrote (deploy/build.sh) instead of
importing every router, and every driver, to build it on a new container's first request."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from smartnote.local.events import build_rest_event
from smartnote.local.gateway import Gateway
from smartnote.openapi import PREBUILT_NAME, document_source, merged_openapi

ROOT = Path(__file__).resolve().parents[3]
ROUTER_MODULES = {"smartnote.routes.notes", "smartnote.routes.auth", "pymongo", "sqlalchemy"}

FIRST_REQUEST = """
import json, sys
sys.path.insert(0, sys.argv[1])
import app
response = app.handler(json.loads(sys.stdin.read()), None)
print(json.dumps({"response": response, "modules": sorted(sys.modules)}))
"""


def _docs_function(folder: Path, *, prebuilt: bool) -> Path:
    """A copy of the docs function as the build lays it out, with or without the document."""
    folder.mkdir()
    shutil.copy(ROOT / "functions" / "docs" / "app.py", folder / "app.py")
    if prebuilt:  # the build's command (deploy/build.sh)
        subprocess.run(
            [sys.executable, "-m", "smartnote.openapi", str(folder / PREBUILT_NAME)],
            check=True,
            timeout=120,
        )
    return folder


def _first_openapi_request(function: Path) -> tuple[dict[str, Any], set[str]]:
    event = build_rest_event("GET", "/openapi.json", [("Host", "x")], resource="/openapi.json")
    out = subprocess.run(
        [sys.executable, "-c", FIRST_REQUEST, str(function)],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(out.stdout.splitlines()[-1])
    return result["response"], set(result["modules"])


def test_the_build_writes_the_merged_document(tmp_path: Path) -> None:
    function = _docs_function(tmp_path / "docs", prebuilt=True)
    written = json.loads((function / PREBUILT_NAME).read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(merged_openapi()))
    assert "/notes/{note_id}" in written["paths"] and "/auth/token" in written["paths"]


@pytest.mark.parametrize("prebuilt", [True, False], ids=["built", "local stack"])
def test_a_new_docs_container_serves_the_document(tmp_path: Path, prebuilt: bool) -> None:
    function = _docs_function(tmp_path / "docs", prebuilt=prebuilt)
    response, modules = _first_openapi_request(function)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == json.loads(json.dumps(merged_openapi()))
    if prebuilt:  # read from the file: no router, no driver loaded
        assert modules & ROUTER_MODULES == set()
    else:  # built from the code: every router and driver
        assert modules >= ROUTER_MODULES


def test_without_a_prebuilt_document_it_is_built_from_the_code(tmp_path: Path) -> None:
    assert document_source(tmp_path / PREBUILT_NAME) is merged_openapi
    (tmp_path / PREBUILT_NAME).write_text('{"openapi": "3.1.0", "paths": {}}', encoding="utf-8")
    assert document_source(tmp_path / PREBUILT_NAME)() == {"openapi": "3.1.0", "paths": {}}


@pytest.mark.parametrize(
    ("stage_path", "token_path"), [("", "/auth/token"), ("/prod", "/prod/auth/token")]
)
def test_the_token_url_resolves_under_the_stage_as_openapi_says(
    gateway: Gateway, stage_path: str, token_path: str
) -> None:
    """OpenAPI resolves a relative tokenUrl against the server URL (RFC 3986): `auth/token`
    against `/prod` is `/auth/token`, outside the stage, where a client that follows the
    document (a generated client, an importing tool) gets API Gateway's 403. Swagger UI only
    reached it by resolving against its page's URL instead."""
    event = build_rest_event("GET", "/openapi.json", [("Host", "x")], resource="/openapi.json")
    event["requestContext"]["path"] = stage_path + event["path"]
    document = json.loads(gateway.invoke("docs", event)["body"])
    base = document.get("servers", [{"url": "/"}])[0]["url"]
    flow = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]
    assert urljoin(base, flow["tokenUrl"]) == token_path
