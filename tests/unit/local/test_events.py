"""API Gateway REST v1 proxy events, Lambda contexts and proxy results."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from smartnote.local.events import (
    InvalidLambdaResponse,
    LambdaContext,
    build_rest_event,
    is_text_content_type,
    parse_lambda_response,
)


def test_event_shape_with_multi_value_query_and_headers() -> None:
    event = build_rest_event(
        "get",
        "/notes/a%20b?tag=x&tag=y&q=&single=1",
        [("Host", "127.0.0.1:3000"), ("User-Agent", "pytest"), ("X-Many", "1"), ("X-Many", "2")],
        resource="/notes/{proxy+}",
        path_parameters={"proxy": "a b"},
        source_ip="10.0.0.9",
    )
    assert event["resource"] == "/notes/{proxy+}"
    assert event["path"] == "/notes/a%20b"  # as sent: REST APIs do not decode it
    assert event["httpMethod"] == "GET"
    assert event["queryStringParameters"] == {"tag": "y", "q": "", "single": "1"}
    assert event["multiValueQueryStringParameters"] == {
        "tag": ["x", "y"],
        "q": [""],
        "single": ["1"],
    }
    assert event["headers"]["X-Many"] == "2"
    assert event["multiValueHeaders"]["X-Many"] == ["1", "2"]
    assert event["pathParameters"] == {"proxy": "a b"}
    assert event["stageVariables"] is None
    assert event["body"] is None and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["resourcePath"] == "/notes/{proxy+}"
    assert ctx["httpMethod"] == "GET"
    assert ctx["stage"] == "local"
    assert ctx["path"] == "/notes/a%20b"  # no stage in local URLs, as with a custom domain
    assert ctx["identity"] == {
        "sourceIp": "10.0.0.9",
        "userAgent": "pytest",
        "accountId": None,
        "caller": None,
        "user": None,
        "userArn": None,
    }
    assert ctx["protocol"] == "HTTP/1.1"
    assert ctx["accountId"] and ctx["apiId"]
    assert isinstance(ctx["requestTimeEpoch"], int)
    uuid.UUID(ctx["requestId"])
    json.dumps(event)  # what a real event is: plain JSON


def test_a_semicolon_splits_the_query_as_on_api_gateway() -> None:
    """API Gateway's REST notes: a literal `;` in a query string splits the data there (an
    encoded `%3B` is a semicolon in the value)."""
    event = build_rest_event("GET", "/notes?q=a;b&tag=x%3By", [], resource="/notes")
    assert event["multiValueQueryStringParameters"] == {"q": ["a"], "b": [""], "tag": ["x;y"]}


def test_empty_and_bare_query_keys_are_empty_strings() -> None:
    event = build_rest_event("GET", "/notes?a=&b&c=1", [], resource="/notes")
    assert event["queryStringParameters"] == {"a": "", "b": "", "c": "1"}


def test_empty_maps_are_none_like_aws() -> None:
    event = build_rest_event("GET", "/tags", [], resource="/tags")
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None


def test_json_body_travels_as_text() -> None:
    body = json.dumps({"title": "héllo"}).encode()
    event = build_rest_event(
        "POST",
        "/notes",
        [("Content-Type", "application/json; charset=utf-8")],
        body,
        resource="/notes",
    )
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"title": "héllo"}


def test_binary_body_is_base64() -> None:
    data = bytes(range(256))
    event = build_rest_event("PUT", "/f", [("content-type", "image/png")], data, resource="/f")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == data


def test_text_type_that_is_not_utf8_falls_back_to_base64() -> None:
    event = build_rest_event(
        "POST", "/f", [("Content-Type", "text/plain")], b"\xff\xfe", resource="/f"
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("application/json", True),
        ("text/html; charset=utf-8", True),
        ("application/x-www-form-urlencoded", True),
        ("application/xml", True),
        ("image/svg+xml", True),
        ("application/javascript", True),
        ("application/problem+json", True),
        ("multipart/form-data; boundary=x", False),
        ("application/octet-stream", False),
        ("image/png", False),
        (None, False),
    ],
)
def test_text_content_types(content_type: str | None, text: bool) -> None:
    assert is_text_content_type(content_type) is text


def test_lambda_context() -> None:
    context = LambdaContext(
        function_name="NotesFunction", memory_limit_in_mb=512, timeout_seconds=15
    )
    assert context.function_version == "$LATEST"
    assert context.invoked_function_arn.endswith(":function:NotesFunction")
    assert context.log_group_name == "/aws/lambda/NotesFunction"
    assert context.aws_request_id in context.log_stream_name
    assert 14_000 < context.get_remaining_time_in_millis() <= 15_000


def test_result_round_trip_text_and_multi_value_headers() -> None:
    response = parse_lambda_response(
        {
            "statusCode": 201,
            "headers": {"content-type": "application/json", "x-dup": "single"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"], "X-Dup": ["m1", "m2"]},
            "body": '{"ok": true}',
            "isBase64Encoded": False,
        }
    )
    assert response.status == 201
    assert response.body == b'{"ok": true}'
    assert ("set-cookie", "a=1") in response.headers
    assert ("set-cookie", "b=2") in response.headers
    assert ("content-type", "application/json") in response.headers
    # multiValueHeaders win over headers for the same name.
    assert [v for k, v in response.headers if k.lower() == "x-dup"] == ["m1", "m2"]


def test_result_round_trip_base64_body() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00"
    response = parse_lambda_response(
        {
            "statusCode": 200,
            "headers": {"content-type": "image/png"},
            "body": base64.b64encode(data).decode(),
            "isBase64Encoded": True,
        }
    )
    assert response.body == data
    assert parse_lambda_response({"statusCode": 204}).body == b""


@pytest.mark.parametrize("bad", [None, "x", {"body": "no status"}, {"statusCode": "abc"}])
def test_malformed_results_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidLambdaResponse):
        parse_lambda_response(bad)
