"""The stage prefix seen by API Gateway becomes the app's root_path; HEAD is a bodiless GET."""

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from smartnote.app import create_app
from smartnote.config import get_settings
from smartnote.errors import NotFound
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


# What a JSON (or any non-HTML) answer may do once a browser opens it: nothing. Hard-coded on
# purpose, so that a change of the middleware's header fails here.
API_CSP = "default-src 'none'; frame-ancestors 'none'"

_answers = APIRouter()


@_answers.get("/answers/ok")
async def _ok() -> dict[str, str]:
    return {"ok": "yes"}


@_answers.get("/answers/missing")
async def _missing() -> None:
    raise NotFound("No such thing")


@_answers.get("/answers/number/{n}")
async def _number(n: int) -> dict[str, int]:
    return {"n": n}


@_answers.get("/answers/crash")
async def _crash() -> None:
    raise RuntimeError("boom")


@_answers.post("/answers/body")
async def _body(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


@_answers.get("/answers/own-policy")
async def _own_policy() -> PlainTextResponse:
    return PlainTextResponse("x", headers={"Content-Security-Policy": "sandbox"})


def test_every_answer_of_the_app_carries_the_api_content_security_policy() -> None:
    """Routes, the error mapping (AppError, 404, 405, 422), the body limit's 413, the clean 500,
    the form layer's 400 and HEAD: a browser that opens any of them runs and loads nothing."""
    multipart = {"Content-Type": "multipart/form-data; boundary=b; charset=utf-16"}
    limit = get_settings().max_request_body_bytes
    with TestClient(create_app(_answers), raise_server_exceptions=False) as c:
        answers = {
            "route": c.get("/answers/ok"),
            "head": c.head("/answers/ok"),
            "app error": c.get("/answers/missing"),
            "no route": c.get("/nowhere"),
            "method": c.put("/answers/ok"),
            "validation": c.get("/answers/number/x"),
            "crash": c.get("/answers/crash"),
            "declared too large": c.post("/answers/body", content=b"x" * (limit + 1)),
            "streamed too large": c.post("/answers/body", content=iter([b"x" * limit, b"x"])),
            "form charset": c.post("/answers/body", content=b"--b--", headers=multipart),
        }
    statuses = {kind: answer.status_code for kind, answer in answers.items()}
    assert statuses == {
        "route": 200,
        "head": 200,
        "app error": 404,
        "no route": 404,
        "method": 405,
        "validation": 422,
        "crash": 500,
        "declared too large": 413,
        "streamed too large": 413,
        "form charset": 400,
    }
    for kind, answer in answers.items():
        assert answer.headers.get("content-security-policy") == API_CSP, kind


def test_an_answer_with_its_own_policy_keeps_it() -> None:
    """The docs pages send their own; the middleware adds its policy only where none is."""
    with TestClient(create_app(_answers)) as client:
        answer = client.get("/answers/own-policy")
    assert answer.headers.get_list("content-security-policy") == ["sandbox"]


def test_the_answer_to_a_malformed_event_carries_the_api_content_security_policy() -> None:
    event = build_rest_event("GET", "/answers/ok", [("Host", "x")], resource="/{proxy+}")
    malformed = {**event, "isBase64Encoded": True, "body": "%%"}
    answer = lambda_handler(create_app(_answers))(malformed, LambdaContext("answers"))
    assert answer["statusCode"] == 400, answer
    assert answer["headers"]["content-security-policy"] == API_CSP
