"""The stage prefix seen by API Gateway becomes the app's root_path; HEAD is a bodiless GET."""

import re
from typing import Any

from fastapi import APIRouter
from fastapi.testclient import TestClient

from smartnote.app import create_app
from smartnote.lambda_runtime import lambda_handler
from smartnote.local.events import LambdaContext, build_rest_event
from smartnote.middleware import request_id, stage_prefix


def _scope(path: str, context_path: str) -> dict[str, object]:
    return {"aws.event": {"path": path, "requestContext": {"path": context_path}}}


def test_execute_api_url_has_stage_prefix() -> None:
    assert stage_prefix(_scope("/notes/abc", "/dev/notes/abc")) == "/dev"
    assert stage_prefix(_scope("/docs", "/prod/docs")) == "/prod"
    assert stage_prefix(_scope("/", "/dev/")) == "/dev"


def test_a_trailing_slash_keeps_the_stage_prefix() -> None:
    assert stage_prefix(_scope("/notes/", "/dev/notes/")) == "/dev"


def test_custom_domain_or_local_gateway_has_none() -> None:
    assert stage_prefix(_scope("/notes", "/notes")) == ""
    assert stage_prefix(_scope("/notes/", "/notes/")) == ""
    assert stage_prefix({}) == ""


def test_a_context_path_that_is_no_string_has_no_prefix() -> None:
    """Mangum does not read `requestContext.path`, so a hand-made event's number reached
    `stage_prefix`, which raised before the middleware's own error handling: Starlette's
    plain-text 500, with no request id or security headers."""
    assert stage_prefix(_scope("/notes", 5)) == ""  # type: ignore[arg-type]
    event = build_rest_event("GET", "/things", [("Host", "x")], resource="/{proxy+}")
    event["requestContext"]["path"] = 5
    answer = lambda_handler(create_app(_router))(event, LambdaContext("things"))
    assert answer["statusCode"] == 200, answer
    assert answer["headers"]["x-request-id"]


_router = APIRouter()


@_router.get("/things")
async def _things() -> dict[str, str]:
    return {"thing": "one"}


@_router.post("/things")
async def _add_thing() -> dict[str, str]:
    return {}


@_router.delete("/things/{thing_id}")
async def _remove_thing(thing_id: str) -> None:
    return None


def test_head_is_answered_as_a_get_without_its_body() -> None:
    with TestClient(create_app(_router)) as client:
        get, head = client.get("/things"), client.head("/things")
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["x-request-id"]


def test_405_allows_every_method_of_the_path_and_head_with_get() -> None:
    with TestClient(create_app(_router)) as client:
        response = client.put("/things")
        head_of_post_only = client.head("/things/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert head_of_post_only.status_code == 405
    assert head_of_post_only.headers["allow"] == "DELETE"


def test_the_trailing_slash_redirect_keeps_the_stage() -> None:
    """Under an execute-api URL (`/dev/things/`), the redirect goes to `/dev/things`."""
    event: dict[str, Any] = build_rest_event(
        "GET", "/things/", [("Host", "api.example.com")], resource="/{proxy+}", stage="dev"
    )
    event["requestContext"]["path"] = "/dev/things/"  # as execute-api sends it
    answer = lambda_handler(create_app(_router))(event, LambdaContext("things"))
    assert answer["statusCode"] == 307
    assert answer["headers"]["location"].endswith("//api.example.com/dev/things")


def test_a_request_id_ending_in_a_line_feed_is_replaced() -> None:
    """The id's pattern ended in `$`, which also matches before a final line feed: `abc\\n`
    was echoed as a header value, by the app and by the answer to a malformed event."""
    handler = lambda_handler(create_app(_router))
    sent = [("Host", "api.example.com"), ("X-Request-ID", "abc\n")]
    served = build_rest_event("GET", "/things", sent, resource="/{proxy+}")
    malformed = {**served, "isBase64Encoded": True, "body": "%%"}
    for event in (served, malformed):
        answer = handler(event, LambdaContext("things"))
        echoed = answer["headers"]["x-request-id"]
        assert "\n" not in echoed and re.fullmatch(r"[0-9a-f]{32}", echoed), answer
    assert request_id("abc") == "abc"
