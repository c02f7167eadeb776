"""The local API gateway, with real Mangum-wrapped FastAPI functions in container threads."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from smartnote.local.events import build_rest_event
from smartnote.local.gateway import Gateway
from smartnote.local.template import load_template
from tests.utils.local_stack import write_project

REPO = Path(__file__).resolve().parents[3]

TEMPLATE = """
Globals:
  Function:
    Timeout: 5
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/hello/
      Handler: app.handler
      Events:
        Hello:
          Type: Api
          Properties: {Path: "/hello/{name}", Method: GET}
        Echo:
          Type: Api
          Properties: {Path: /echo, Method: POST}
        Slow:
          Type: Api
          Properties: {Path: /slow, Method: ANY}
        Method:
          Type: Api
          Properties: {Path: /method, Method: ANY}
        Bodiless:
          Type: Api
          Properties: {Path: "/bodiless/{status}", Method: GET}
  BoomFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/boom/
      Handler: app.handler
      Events:
        Boom:
          Type: Api
          Properties: {Path: "/boom/{proxy+}", Method: ANY}
  StuckFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/stuck/
      Handler: app.handler
      Timeout: 1
      Events:
        Stuck:
          Type: Api
          Properties: {Path: /stuck, Method: ANY}
  LongFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/long/
      Handler: app.handler
      Timeout: 60
      Events:
        Long:
          Type: Api
          Properties: {Path: /long, Method: ANY}
"""

HELLO_APP = """
import asyncio
import threading

from fastapi import FastAPI, Request, Response
from mangum import Mangum

app = FastAPI()


def _runtime() -> dict[str, int]:
    return {"loop": id(asyncio.get_event_loop()), "thread": threading.get_ident()}


@app.get("/hello/{name}")
async def hello(name: str, request: Request, q: str | None = None) -> dict[str, object]:
    event = request.scope["aws.event"]
    return {
        "path": request.url.path,
        "name": name,
        "q": q,
        "tags": request.query_params.getlist("tag"),
        "resource": event["resource"],
        "pathParameters": event["pathParameters"],
        "requestId": event["requestContext"]["requestId"],
        **_runtime(),
    }


@app.post("/echo")
async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body, media_type=request.headers.get("content-type"))


@app.api_route("/method", methods=["GET", "HEAD"])
async def method(request: Request) -> Response:
    return Response("body", headers={"X-Method": request.method})


@app.get("/bodiless/{status}")
async def bodiless(status: int) -> Response:
    return Response(status_code=status, headers={"ETag": '"v1"'})


@app.api_route("/slow", methods=["GET", "POST"])
async def slow() -> dict[str, int]:
    await asyncio.sleep(0.2)
    return _runtime()


handler = Mangum(app, lifespan="off")
"""

BOOM_APP = """
def handler(event, context):
    if event["path"].endswith("/malformed"):
        return {"no": "statusCode"}
    raise RuntimeError("kaboom")
"""

STUCK_APP = """
import time

def handler(event, context):
    if (event.get("queryStringParameters") or {}).get("fast"):
        return {"statusCode": 200, "body": "fast"}
    time.sleep(6)  # longer than the function's 1 s Timeout
    return {"statusCode": 200, "body": "finished"}
"""

LONG_APP = """
import time

def handler(event, context):
    time.sleep(32)  # under the function's 60 s Timeout, over API Gateway's 29 s
    return {"statusCode": 200, "body": "finished"}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    apps = {"hello": HELLO_APP, "boom": BOOM_APP, "stuck": STUCK_APP, "long": LONG_APP}
    return write_project(tmp_path_factory.mktemp("project"), TEMPLATE, apps)


@pytest.fixture(scope="module")
def gateway(project: Path) -> Iterator[Gateway]:
    with Gateway(load_template(project / "template.yaml"), port=0, quiet=True) as running:
        yield running


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        yield http


def test_routes_to_the_function_with_a_rest_v1_event(client: httpx.Client) -> None:
    response = client.get("/hello/world", params=[("q", "x"), ("tag", "a"), ("tag", "b")])
    assert response.status_code == 200
    data = response.json()
    assert data["path"] == "/hello/world"
    assert data["name"] == "world"
    assert data["q"] == "x"
    assert data["tags"] == ["a", "b"]
    assert data["resource"] == "/hello/{name}"
    assert data["pathParameters"] == {"name": "world"}
    # API Gateway's id of the request, as the function saw it in requestContext.
    assert response.headers["x-amzn-requestid"] == data["requestId"]


def test_the_path_reaches_the_function_encoded_as_sent(client: httpx.Client) -> None:
    """API Gateway REST gives `path` percent-encoded as the client sent it (Mangum decodes it,
    once) and `pathParameters` decoded: `%2541` is the three characters `%41`, never `A`."""
    response = client.get("/hello/50%2541")
    assert response.status_code == 200
    data = response.json()
    assert data["name"] == "50%41"
    assert data["path"] == "/hello/50%41"
    assert data["pathParameters"] == {"name": "50%41"}


def test_head_reaches_the_function_as_head(client: httpx.Client) -> None:
    response = client.head("/method")
    assert response.status_code == 200
    assert response.headers["x-method"] == "HEAD"  # as API Gateway passes it through ANY
    assert response.content == b""


def test_head_on_a_get_only_resource_is_refused_as_api_gateway_does(client: httpx.Client) -> None:
    response = client.head("/hello/world")
    assert response.status_code == 404  # the template's MISSING_AUTHENTICATION_TOKEN


def test_unknown_path_is_404_json(client: httpx.Client) -> None:
    response = client.get("/x")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No route for GET /x", "details": []}
    }


def test_a_method_the_resource_lacks_is_404_like_an_unknown_path(client: httpx.Client) -> None:
    """API Gateway answers a method no resource has like a path none has (its 403 "Missing
    Authentication Token", the template's 404 `not_found`); it never says 405."""
    response = client.delete("/echo")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No route for DELETE /echo", "details": []}
    }


def test_own_errors_echo_the_clients_request_id_as_sent(gateway: Gateway) -> None:
    """As the template's GatewayResponses map it (`method.request.header.X-Request-ID`): API
    Gateway copies the header, unchecked (the functions replace an id they find unsafe)."""
    sent = {"X-Request-ID": "client id 7"}
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        answers = {
            "unknown path": http.get("/x", headers=sent),
            "method the resource lacks": http.delete("/echo", headers=sent),
            "crash": http.post("/boom/now", headers=sent),
            "past its Timeout": http.get("/stuck", headers=sent),
        }
    assert {name: a.status_code for name, a in answers.items()} == {
        "unknown path": 404,
        "method the resource lacks": 404,
        "crash": 502,
        "past its Timeout": 502,
    }
    # API Gateway's 413 is its own: REQUEST_TOO_LARGE cannot be customized, so no X-Request-ID.
    too_large = b"POST /echo HTTP/1.1\r\nHost: x\r\nX-Request-ID: client id 7\r\n"
    status, headers, body = _raw(gateway, too_large + b"Content-Length: 20000000\r\n\r\n")
    assert (status, json.loads(body)) == (413, {"message": "Request Too Long"})
    assert "x-request-id" not in headers
    for answer in answers.values():
        assert answer.headers["x-request-id"] == "client id 7"
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        unsent = http.get("/x")
    # None sent: the gateway's own id, which it also sends as API Gateway does.
    assert unsent.headers["x-request-id"] == unsent.headers["x-amzn-requestid"]


def test_own_errors_carry_the_gateways_id_where_the_template_says_so(tmp_path: Path) -> None:
    """A template whose GatewayResponses map `context.requestId`: API Gateway's id, whatever
    the client sent."""
    (tmp_path / "template.yaml").write_text(
        TEMPLATE.replace(
            "Resources:\n",
            "Resources:\n"
            "  Api:\n"
            "    Type: AWS::Serverless::Api\n"
            "    Properties:\n"
            "      GatewayResponses:\n"
            "        MISSING_AUTHENTICATION_TOKEN:\n"
            "          StatusCode: '404'\n"
            "          ResponseParameters:\n"
            "            Headers: {X-Request-ID: context.requestId}\n",
            1,
        )
    )
    with Gateway(load_template(tmp_path / "template.yaml"), port=0, quiet=True) as running:
        answer = httpx.get(f"{running.url}/x", headers={"X-Request-ID": "abc-123"}, timeout=10)
    assert answer.status_code == 404
    assert answer.headers["x-request-id"] not in ("", "abc-123")


def _raw(gateway: Gateway, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes no HTTP client would; read the answer to the end (the gateway closes)."""
    with socket.create_connection((gateway.host, gateway.port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"FOO /echo HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        (b"GET /hello/" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /hello/a HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /hello/a HTTP/1.1\r\n" + b"X-H: 1\r\n" * 120 + b"\r\n", 431),
        (b"garbage\r\n\r\n", 400),
    ],
    ids=["unknown-method", "uri-too-long", "header-too-long", "too-many-headers", "bad-line"],
)
def test_protocol_errors_are_the_error_shape(
    gateway: Gateway, request_bytes: bytes, status: int
) -> None:
    answered, headers, body = _raw(gateway, request_bytes)
    assert answered == status
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] and headers["x-content-type-options"] == "nosniff"
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "details"} and error["message"]


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: abc\r\n\r\n",
        b"Content-Length: -1\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n-1\r\nab\r\n0\r\n\r\n",
    ],
    ids=["content-length", "negative-length", "chunk-size", "negative-chunk-size"],
)
def test_malformed_framing_is_400_not_413(gateway: Gateway, framing: bytes) -> None:
    status, _, body = _raw(gateway, b"POST /echo HTTP/1.1\r\nHost: x\r\n" + framing)
    assert status == 400
    assert json.loads(body)["error"]["code"] == "gateway_error"  # DEFAULT_4XX's


def test_crash_is_502_json_and_logged(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("ERROR", logger="smartnote.local.gateway"):
        response = client.post("/boom/now")
    assert response.status_code == 502
    assert response.json() == {  # the code of the template's DEFAULT_5XX, AWS's message
        "error": {"code": "gateway_error", "message": "Internal server error", "details": []}
    }
    assert "kaboom" not in response.text
    assert any("kaboom" in (record.exc_text or "") for record in caplog.records)
    assert client.get("/boom/malformed").status_code == 502


def test_a_function_past_its_timeout_is_a_502_like_api_gateway(gateway: Gateway) -> None:
    """Lambda stops the function at its Timeout (1 s here, 15 s for the API functions), before
    API Gateway's 29 s: the invocation failed, and API Gateway answers 502, not 504."""
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        started = time.monotonic()
        response = http.get("/stuck")
        elapsed = time.monotonic() - started
    assert elapsed < 2.5  # stopped at its timeout (plus the cold start)
    assert response.status_code == 502, (response.status_code, response.text)


def test_a_timed_out_invocation_does_not_keep_its_container(gateway: Gateway) -> None:
    """Lambda kills an invocation at its Timeout and the container is free again. A thread
    cannot be killed: the gateway abandons its container and starts a fresh one, so with
    `pool_size` invocations timed out a request still runs at once."""

    def call(path: str) -> int:
        with httpx.Client(base_url=gateway.url, timeout=30) as http:
            return http.get(path).status_code

    with ThreadPoolExecutor(max_workers=gateway.pool_size + 1) as pool:
        stuck = [pool.submit(call, "/stuck") for _ in range(gateway.pool_size)]
        time.sleep(1.6)  # every one of them has reached its 1 s Timeout
        assert pool.submit(call, "/stuck?fast=1").result() == 200
        assert [future.result() for future in stuck] == [502] * gateway.pool_size


def test_the_gateway_gives_up_at_api_gateways_29_s(gateway: Gateway) -> None:
    """A function whose Timeout is over 29 s: API Gateway REST stops waiting at 29 s (504),
    the function runs on."""
    with httpx.Client(base_url=gateway.url, timeout=60) as http:
        started = time.monotonic()
        response = http.get("/long", headers={"X-Request-ID": "client id 8"})
        elapsed = time.monotonic() - started
    assert response.status_code == 504, (response.status_code, response.text, elapsed)
    assert elapsed < 30.5
    assert response.headers["x-request-id"] == "client id 8"  # DEFAULT_5XX echoes it


def test_gateway_errors_carry_the_codes_of_the_templates_gateway_responses(
    client: httpx.Client,
) -> None:
    """A client branches on `error.code`: the gateway's own errors carry the codes API Gateway
    sends with template.yaml's GatewayResponses (DEFAULT_5XX, MISSING_AUTHENTICATION_TOKEN)."""
    declared = load_template(REPO / "template.yaml").raw["Resources"]["Api"]["Properties"]

    def code(kind: str) -> str:
        body = declared["GatewayResponses"][kind]["ResponseTemplates"]["application/json"]
        parsed: str = json.loads(body.replace("$context.error.messageString", '"x"'))["error"][
            "code"
        ]
        return parsed

    assert client.get("/stuck").json()["error"]["code"] == code("DEFAULT_5XX")
    assert client.post("/boom/now").json()["error"]["code"] == code("DEFAULT_5XX")
    assert client.get("/nowhere").json()["error"]["code"] == code("MISSING_AUTHENTICATION_TOKEN")


def test_an_unknown_route_answers_the_templates_literal_message(tmp_path: Path) -> None:
    """template.yaml's MISSING_AUTHENTICATION_TOKEN body is a literal: the deployed API
    answers its message (`No such route`) whatever the method and path."""
    real = load_template(REPO / "template.yaml").raw
    declared = real["Resources"]["Api"]["Properties"]["GatewayResponses"]
    body = declared["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"]
    with Gateway(load_template(_with_the_real_api(tmp_path)), port=0, quiet=True) as running:
        answer = httpx.delete(f"{running.url}/nowhere/at/all", timeout=10)
    assert answer.status_code == 404
    assert answer.json() == json.loads(body)


def _with_the_real_api(tmp_path: Path) -> Path:
    """This file's template with template.yaml's Api (its GatewayResponses), written out."""
    real = load_template(REPO / "template.yaml").raw
    template = yaml.safe_load(TEMPLATE)
    template["Parameters"], template["Conditions"] = real["Parameters"], real["Conditions"]
    template["Resources"]["Api"] = real["Resources"]["Api"]
    (tmp_path / "template.yaml").write_text(yaml.safe_dump(template))
    return tmp_path / "template.yaml"


def test_own_answers_carry_the_templates_security_headers_as_api_gateway_sends_them(
    tmp_path: Path,
) -> None:
    """What API Gateway sends with template.yaml's GatewayResponses: each literal header as
    written between its outer quotes (the Content-Security-Policy's own quotes kept)."""
    declared = load_template(REPO / "template.yaml").raw["Resources"]["Api"]["Properties"]
    responses = declared["GatewayResponses"]

    def literals(kind: str) -> dict[str, str]:
        headers = responses[kind]["ResponseParameters"]["Headers"]
        quoted = {k.lower(): v for k, v in headers.items() if isinstance(v, str)}
        return {k: v[1:-1] for k, v in quoted.items() if v[:1] == v[-1:] == "'"}

    with Gateway(load_template(_with_the_real_api(tmp_path)), port=0, quiet=True) as running:
        unknown = httpx.get(f"{running.url}/nowhere", timeout=10)
        refused = _raw(running, b"GET /hello/a HTTP/1.1\r\nContent-Length: x\r\n\r\n")
    answers = {
        "MISSING_AUTHENTICATION_TOKEN": (unknown.status_code, dict(unknown.headers)),
        "DEFAULT_4XX": refused[:2],
    }
    assert {kind: status for kind, (status, _) in answers.items()} == {
        "MISSING_AUTHENTICATION_TOKEN": 404,
        "DEFAULT_4XX": 400,
    }
    for kind, (_, headers) in answers.items():
        expected = literals(kind)
        assert "content-security-policy" in expected, kind
        assert {name: headers.get(name) for name in expected} == expected, kind
        assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_no_content_length_on_204(client: httpx.Client) -> None:
    """RFC 9110 8.6: a server MUST NOT send Content-Length in a 204 (No Content)."""
    response = client.get("/bodiless/204")
    assert response.status_code == 204
    assert "content-length" not in response.headers
    assert client.get("/hello/next").status_code == 200  # the connection still frames well


def test_no_content_length_on_304(client: httpx.Client) -> None:
    """RFC 9110 8.6: in a 304 only the length the 200 would have had, which the gateway does
    not know: none."""
    response = client.get("/bodiless/304")
    assert response.status_code == 304
    assert response.headers["etag"] == '"v1"'
    assert "content-length" not in response.headers
    assert client.get("/hello/next").status_code == 200


def test_binary_body_round_trip(client: httpx.Client) -> None:
    data = bytes(range(256)) * 64
    response = client.post("/echo", content=data, headers={"Content-Type": "image/png"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == data


def test_a_request_over_lambdas_6_mb_once_in_its_event_is_413_as_api_gateway_answers(
    client: httpx.Client,
) -> None:
    """5 MiB of image is under API Gateway's 10 MB, but base64 in the event it is over what
    Lambda takes per invocation (6 MiB): Lambda refuses it, the function never runs, and API
    Gateway answers its own 413 (one its GatewayResponses cannot shape)."""
    data = b"\x89PNG" + b"\x00" * (5 * 1024 * 1024)
    response = client.post("/echo", content=data, headers={"Content-Type": "image/png"})
    assert response.status_code == 413
    assert response.json() == {"message": "Request Too Long"}
    assert "x-request-id" not in response.headers


def test_json_body_round_trip(client: httpx.Client) -> None:
    payload = {"title": "héllo", "n": 1}
    response = client.post("/echo", json=payload)
    assert response.status_code == 200
    assert response.json() == payload


def test_parallel_requests_in_containers_that_keep_their_loop(gateway: Gateway) -> None:
    def call(index: int) -> dict[str, int]:
        with httpx.Client(base_url=gateway.url, timeout=10) as http:
            response = http.get("/slow") if index % 2 else http.post("/slow")
            assert response.status_code == 200
            result: dict[str, int] = response.json()
            return result

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, range(16)))
    loops_by_thread: dict[int, set[int]] = defaultdict(set)
    for result in results:
        loops_by_thread[result["thread"]].add(result["loop"])
    assert len(results) == 16
    assert 1 < len(loops_by_thread) <= gateway.pool_size  # a pool of warm containers
    # Each container thread keeps its one event loop across invocations.
    assert all(len(loops) == 1 for loops in loops_by_thread.values())
    assert len({loop for loops in loops_by_thread.values() for loop in loops}) == len(
        loops_by_thread
    )


def test_keep_alive_connection_is_reused(client: httpx.Client) -> None:
    first = client.get("/hello/a")
    second = client.get("/hello/b")
    assert first.status_code == second.status_code == 200
    assert first.headers.get("connection", "").lower() != "close"


def test_invoke_runs_the_handler_in_its_pool(gateway: Gateway) -> None:
    event = build_rest_event(
        "GET",
        "/hello/direct?q=1",
        [("Host", "local")],
        resource="/hello/{name}",
        path_parameters={"name": "direct"},
    )
    result = gateway.invoke("hello", event)
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["name"] == "direct"
    with pytest.raises(RuntimeError, match="kaboom"):
        gateway.invoke("BoomFunction", build_rest_event("GET", "/boom/x", [], resource="/boom"))


def test_listens_with_a_backlog_for_bursts_of_clients(gateway: Gateway) -> None:
    """A burst of new connections (a load test ramping up) must queue, not be reset."""
    import shutil
    import subprocess

    if shutil.which("ss") is None:
        pytest.skip("needs `ss` (iproute2) to read the listen backlog")
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{gateway.port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    # For a listening socket, ss shows the backlog as Send-Q (the third column).
    assert int(out[2]) >= 128, out


COUNT_TEMPLATE = """
Resources:
  CountFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/count/
      Handler: app.handler
      Events:
        Count:
          Type: Api
          Properties: {Path: /count, Method: POST}
"""

# Writes down each body it gets, next to its code.
COUNT_APP = """
import base64
from pathlib import Path


def handler(event, context):
    body = event["body"] or ""
    if event["isBase64Encoded"]:
        body = base64.b64decode(body).decode()
    with (Path(__file__).parent / "seen").open("a") as seen:
        seen.write(body + "\\n")
    return {"statusCode": 200, "body": "ok"}
"""


@pytest.mark.parametrize(
    "cut_short",
    [
        b"Content-Length: 100\r\n\r\nabc",
        b"Transfer-Encoding: chunked\r\n\r\n64\r\nabc",
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
    ],
    ids=["content-length", "chunk", "no-last-chunk"],
)
def test_a_body_cut_short_by_its_client_never_reaches_the_function(
    tmp_path: Path, cut_short: bytes
) -> None:
    """A client gone before the end of its body (a dropped connection, curl stopped): API
    Gateway never invokes a function with part of a body, nor should the local one."""
    project = write_project(tmp_path, COUNT_TEMPLATE, {"count": COUNT_APP})
    with Gateway(load_template(project / "template.yaml"), port=0, quiet=True) as running:
        with socket.create_connection((running.host, running.port), timeout=10) as connection:
            connection.sendall(b"POST /count HTTP/1.1\r\nHost: x\r\n" + cut_short)
            connection.shutdown(socket.SHUT_WR)  # the client is done: no more bytes come
            assert connection.recv(65536) == b""  # no answer, nobody to read it
        assert httpx.post(f"{running.url}/count", content=b"whole", timeout=10).text == "ok"
    assert (project / "functions" / "count" / "seen").read_text() == "whole\n"


def test_a_client_gone_before_its_answer_is_no_traceback(
    gateway: Gateway, capfd: pytest.CaptureFixture[str]
) -> None:
    """A browser that navigates away, curl stopped with Ctrl-C: the stack's console shows no
    traceback as if the gateway had crashed."""
    for _ in range(3):
        connection = socket.create_connection((gateway.host, gateway.port), timeout=10)
        connection.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        # Close with a reset (SO_LINGER 0), as a client killed mid-request does.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
    time.sleep(1)  # /slow answers after 0.2 s, to no one
    assert httpx.get(f"{gateway.url}/hello/still", timeout=10).status_code == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert "Exception occurred during processing" not in err
