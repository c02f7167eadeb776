"""Smoke-test the built artifacts: each zip function imported from .aws-sam/build and invoked.

Container-image functions cannot be built without Docker: their code (the Dockerfile's folder)
runs natively instead, on this Python with the development venv's packages and Debian's
tesseract, and gets a real upload's S3 event (the upload made through the API).

`python -m deploy.smoke --python <python3.12> --sam <sam> [--build-dir .aws-sam/build]`, in the
development venv (it hosts the embedded services). Every function runs in its own
`python3.12 -I -S` process (deploy/smoke_runner.py) whose sys.path is only what Lambda gives
it: its folder, its layers and the runtime's boto3. Events are `sam local generate-event`
fixtures, adapted to each route or event source of the template. The services are the
embedded ones of `make run` (SecantusDB, SQLite, moto), and the connection strings and the
JWT key are handed over as Secrets Manager ARNs, as on AWS.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import json
import site
import struct
import subprocess
import sys
import tempfile
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3

from deploy.artifacts import BuiltFunction, built_functions, is_image_function
from smartnote import storage
from smartnote.local.events import parse_lambda_response
from smartnote.local.stack import ephemeral_services
from smartnote.local.template import EventSpec, Template, load_template, match_route

RUNNER = Path(__file__).resolve().parent / "smoke_runner.py"
ROOT = Path(__file__).resolve().parents[1]
SMOKE_EMAIL = f"smoke-{uuid.uuid4().hex[:12]}@example.com"  # new each run: reruns never clash
SMOKE_PASSWORD = "smoke-test-orbit-42"  # noqa: S105 - a throwaway account in throwaway services


class SmokeFailure(Exception):
    """A built function did not behave."""


# --- events -----------------------------------------------------------------------------------


class EventFactory:
    """`sam local generate-event` fixtures, generated once each and adapted per request."""

    def __init__(self, sam: str) -> None:
        self.sam = sam
        self._cache: dict[tuple[str, ...], dict[str, Any]] = {}

    def fixture(self, *args: str) -> dict[str, Any]:
        if args not in self._cache:
            output = subprocess.run(
                [self.sam, "local", "generate-event", *args],
                check=True,
                capture_output=True,
                text=True,
                env={"SAM_CLI_TELEMETRY": "0", "PATH": "/usr/bin:/bin"},
            ).stdout
            self._cache[args] = json.loads(output)
        return copy.deepcopy(self._cache[args])

    def api(
        self,
        method: str,
        path: str,
        resource: str,
        path_parameters: Mapping[str, str],
        *,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        query: Mapping[str, str] | None = None,
        binary: bytes | None = None,
    ) -> dict[str, Any]:
        """A REST (v1) proxy event for one request (`binary`: a base64-encoded body)."""
        event = self.fixture("apigateway", "aws-proxy")
        sent = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", **(headers or {})}
        event.update(
            httpMethod=method,
            path=path,
            resource=resource,
            pathParameters=dict(path_parameters) or None,
            queryStringParameters=dict(query) if query else None,
            multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
            headers=sent,
            multiValueHeaders={k: [v] for k, v in sent.items()},
            body=base64.b64encode(binary).decode() if binary is not None else body,
            isBase64Encoded=binary is not None,
            stageVariables=None,
        )
        context = event["requestContext"]
        context.update(httpMethod=method, resourcePath=resource, path=f"/{context['stage']}{path}")
        return event

    def for_source(self, spec: EventSpec, buckets: Mapping[str, str]) -> dict[str, Any] | None:
        """A generated event for a non-API event source, or None for kinds not covered."""
        if spec.type in ("Schedule", "ScheduleV2"):
            return self.fixture("cloudwatch", "scheduled-event")
        if spec.type == "SQS":
            return self.fixture("sqs", "receive-message")
        if spec.type == "SNS":
            return self.fixture("sns", "notification")
        if spec.type == "S3":
            bucket_ref = spec.properties.get("Bucket")
            ref = bucket_ref.get("Ref") if isinstance(bucket_ref, Mapping) else None
            bucket = buckets.get(str(ref), "smartnote-uploads")
            return self.fixture("s3", "put", "--bucket", bucket, "--key", "smoke/object.bin")
        return None


def concrete_path(resource: str) -> tuple[str, dict[str, str]]:
    """A request path for an API resource (`/notes/{proxy+}` -> `/notes/smoke`), and its params."""
    params: dict[str, str] = {}
    segments = []
    for segment in resource.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1].removesuffix("+")
            params[name] = "smoke"
            segments.append("smoke")
        else:
            segments.append(segment)
    return "/" + "/".join(s for s in segments if s), params


def native_image_functions(template: Template) -> list[BuiltFunction]:
    """Image functions as folders of this checkout: their Dockerfile's folder holds the code."""
    functions = []
    for logical_id, resource in (template.raw.get("Resources") or {}).items():
        if not is_image_function(resource):
            continue
        properties = resource.get("Properties") or {}
        dockerfile = (resource.get("Metadata") or {}).get("Dockerfile")
        command = (properties.get("ImageConfig") or {}).get("Command") or []
        if not isinstance(dockerfile, str) or not command:
            continue
        functions.append(
            BuiltFunction(
                logical_id=str(logical_id),
                handler=str(command[0]),
                code_dir=(template.root / dockerfile).parent,
                layer_dirs=(),
                unresolved_layers=(),
                timeout=int(properties.get("Timeout", 3)),
                memory=int(properties.get("MemorySize", 128)),
            )
        )
    return functions


def tiny_png(width: int = 48, height: int = 32) -> bytes:
    """A valid grey RGB PNG, written by hand (no imaging library in the orchestrator)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xc8\xc8\xc8" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def multipart(field_name: str, filename: str, content_type: str, data: bytes) -> tuple[str, bytes]:
    """A multipart/form-data body with one file part, and its Content-Type."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", body


# --- processes --------------------------------------------------------------------------------


@dataclass
class RunningFunction:
    """A built function in its own Lambda-like process, kept warm across invocations."""

    built: BuiltFunction
    process: subprocess.Popen[str]
    stderr_path: Path
    import_ms: float = 0.0
    invocations: int = 0

    def invoke(self, event: Mapping[str, Any]) -> Any:
        if self.process.stdin is None:
            raise SmokeFailure(f"{self.built.logical_id} has no stdin")
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        reply = self._read()
        self.invocations += 1
        if reply.get("foreign_modules"):
            raise SmokeFailure(
                f"{self.built.logical_id} loaded modules from outside its artifact: "
                + ", ".join(reply["foreign_modules"][:10])
            )
        if "error" in reply:
            raise SmokeFailure(
                f"{self.built.logical_id} raised {reply['error']}\n{reply['traceback']}"
            )
        return reply["result"]

    def _read(self) -> dict[str, Any]:
        if self.process.stdout is None:
            raise SmokeFailure(f"{self.built.logical_id} has no stdout")
        line = self.process.stdout.readline()
        if not line:
            tail = self.stderr_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise SmokeFailure(f"{self.built.logical_id} exited; its stderr ends with:\n{tail}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def lambda_environ(
    built: BuiltFunction, template_env: Mapping[str, str], services: Mapping[str, str]
) -> dict[str, str]:
    """A clean environment as Lambda sets it: the function's variables, nothing from here."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(built.code_dir),
        "AWS_LAMBDA_FUNCTION_NAME": built.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(built.memory),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        **template_env,
        **services,
    }


def start_function(
    built: BuiltFunction,
    python: str,
    extra_paths: Sequence[Path],
    env: Mapping[str, str],
    logs: Path,
) -> RunningFunction:
    spec = {
        "name": built.logical_id,
        "handler": built.handler,
        "paths": [str(p) for p in (*built.python_paths, *extra_paths)],
        "timeout": built.timeout,
        "memory": built.memory,
    }
    stderr_path = logs / f"{built.logical_id}.log"
    with stderr_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [python, "-I", "-S", str(RUNNER), json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=dict(env),
            cwd=built.code_dir,
        )
    running = RunningFunction(built, process, stderr_path)
    ready = running._read()
    if not ready.get("ready"):
        running.stop()
        raise SmokeFailure(
            f"{built.logical_id} failed to import {built.handler}:\n{ready['error']}"
        )
    running.import_ms = float(ready["import_ms"])
    return running


# --- custom resources -------------------------------------------------------------------------


class ResponseCatcher:
    """Stands in for CloudFormation's pre-signed response URL: keeps each PUT body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                catcher.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cfn-response"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def custom_resources(template: Mapping[str, Any]) -> dict[str, list[tuple[str, Mapping[str, Any]]]]:
    """Function logical id -> the custom resources it serves (ServiceToken: !GetAtt Fn.Arn)."""
    served: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        kind = str(resource.get("Type", ""))
        if not (kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource"):
            continue
        token = (resource.get("Properties") or {}).get("ServiceToken")
        target = token.get("Fn::GetAtt") if isinstance(token, Mapping) else None
        if isinstance(target, list) and target:
            served.setdefault(str(target[0]), []).append((str(logical_id), resource))
    return served


# --- the checks -------------------------------------------------------------------------------


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)

    def ok(self, message: str) -> None:
        self.lines.append(f"  ok    {message}")
        print(self.lines[-1], flush=True)

    def note(self, message: str) -> None:
        self.lines.append(f"  note  {message}")
        print(self.lines[-1], flush=True)


@dataclass(frozen=True)
class FlowStep:
    """One request of the end-to-end flow; `check` may read the parsed JSON body."""

    name: str
    method: str
    path: str
    expect: int
    json_body: Mapping[str, Any] | None = None
    form: Mapping[str, str] | None = None
    query: Mapping[str, str] | None = None
    authenticated: bool = False
    check: Callable[[Any], bool] | None = None


FLOW = (
    FlowStep(
        "register",
        "POST",
        "/auth/register",
        201,
        json_body={"email": SMOKE_EMAIL, "password": SMOKE_PASSWORD},
    ),
    FlowStep(
        "log in",
        "POST",
        "/auth/token",
        200,
        form={"username": SMOKE_EMAIL, "password": SMOKE_PASSWORD},
        check=lambda body: bool(body.get("access_token")),
    ),
    FlowStep(
        "create a note",
        "POST",
        "/notes",
        201,
        authenticated=True,
        json_body={"title": "Smoke test", "content": "built artifact", "tags": ["deploy"]},
    ),
    FlowStep(
        "search notes",
        "GET",
        "/notes",
        200,
        authenticated=True,
        query={"q": "artifact"},
        check=lambda body: len(body.get("items", [])) == 1,
    ),
    FlowStep(
        "profile",
        "GET",
        "/users/me",
        200,
        authenticated=True,
        check=lambda body: body.get("email") == SMOKE_EMAIL,
    ),
    FlowStep("health", "GET", "/health", 200),
    FlowStep("openapi", "GET", "/openapi.json", 200, check=lambda body: "paths" in body),
)


def _aws_client(services: Mapping[str, str], service: str) -> Any:
    """A boto3 client of the smoke's own AWS services (moto server)."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        region_name=services["AWS_REGION"],
        endpoint_url=services["AWS_ENDPOINT_URL"],
        aws_access_key_id=services["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=services["AWS_SECRET_ACCESS_KEY"],
    )


class Smoke:
    def __init__(
        self, template: Template, build_dir: Path, python: str, sam: str, runtime_dir: Path
    ) -> None:
        self.template = template
        self.build_dir = build_dir
        self.python = python
        self.events = EventFactory(sam)
        self.runtime_dir = runtime_dir
        self.report = Report()
        self.running: dict[str, RunningFunction] = {}
        self.native: set[str] = set()
        self.token = ""

    def run(self) -> Report:
        built = {fn.logical_id: fn for fn in built_functions(self.build_dir)}
        for logical_id, resource in (self.template.raw.get("Resources") or {}).items():
            if is_image_function(resource):
                self.report.note(
                    f"{logical_id}: PackageType Image - validated, not built (needs Docker);"
                    " its code runs natively below"
                )
        with (
            tempfile.TemporaryDirectory(prefix="smartnote-smoke-") as tmp,
            ephemeral_services(tmp, self.template) as services,
            self._processes(built, services, Path(tmp)),
        ):
            for fn in self.running.values():
                if fn.built.logical_id in self.native:
                    self.report.ok(
                        f"{fn.built.logical_id}: imported natively in {fn.import_ms:.0f} ms"
                    )
                    continue
                self.report.ok(
                    f"{fn.built.logical_id}: imported {fn.built.handler} in {fn.import_ms:.0f} ms"
                )
            self._flow()
            self._image_pipeline(services)
            self._every_route()
            self._other_sources(services)
        return self.report

    @contextlib.contextmanager
    def _processes(
        self, built: Mapping[str, BuiltFunction], services: Mapping[str, str], logs: Path
    ) -> Iterator[None]:
        env = self._secret_backed(services)
        try:
            for logical_id, fn in built.items():
                spec = self.template.function(logical_id)
                self.running[logical_id] = start_function(
                    fn,
                    self.python,
                    [self.runtime_dir],
                    lambda_environ(fn, spec.environment, env),
                    logs,
                )
            for fn in native_image_functions(self.template):
                # Its container is not built here: its code runs on this machine's Python with
                # the development venv's packages (OpenCV, pytesseract) and Debian's tesseract.
                spec = self.template.function(fn.logical_id)
                self.running[fn.logical_id] = start_function(
                    fn,
                    sys.executable,
                    [ROOT / "shared", *(Path(p) for p in site.getsitepackages())],
                    lambda_environ(fn, spec.environment, env),
                    logs,
                )
                self.native.add(fn.logical_id)
            yield
        finally:
            for running in self.running.values():
                running.stop()

    def _secret_backed(self, services: Mapping[str, str]) -> dict[str, str]:
        """The services' settings with the secrets moved into Secrets Manager, as on AWS."""
        env = dict(services)
        client = _aws_client(env, "secretsmanager")
        for variable, arn_variable in (
            ("MONGODB_URI", "MONGODB_URI_SECRET_ARN"),
            ("DATABASE_URL", "DATABASE_URL_SECRET_ARN"),
            ("JWT_SECRET", "JWT_SECRET_ARN"),
        ):
            secret = client.create_secret(
                Name=f"smoke/{variable.lower()}-{uuid.uuid4().hex[:8]}",
                SecretString=env.pop(variable),
            )
            env[arn_variable] = secret["ARN"]
        env["ENVIRONMENT"] = "prod"  # production settings: a strong JWT key is required
        return env

    def _function_for(
        self, method: str, path: str
    ) -> tuple[RunningFunction, str, dict[str, str]] | None:
        match = match_route(self.template.routes, method, path)
        if match is None or match.function.logical_id not in self.running:
            return None
        return self.running[match.function.logical_id], match.resource, match.path_parameters

    def _call(
        self, method: str, path: str, **request: Any
    ) -> tuple[int, bytes, RunningFunction] | None:
        target = self._function_for(method, path)
        if target is None:
            return None
        running, resource, params = target
        event = self.events.api(method, path, resource, params, **request)
        response = parse_lambda_response(running.invoke(event))
        return response.status, response.body, running

    def _flow(self) -> None:
        for step in FLOW:
            headers = {"Accept": "application/json"}
            body = None
            if step.json_body is not None:
                headers["Content-Type"] = "application/json"
                body = json.dumps(step.json_body)
            if step.form is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                body = urlencode(step.form)
            if step.authenticated:
                headers["Authorization"] = f"Bearer {self.token}"
            called = self._call(
                step.method, step.path, headers=headers, body=body, query=step.query
            )
            if called is None:
                self.report.note(f"flow: {step.method} {step.path} has no built function; skipped")
                continue
            status, raw, running = called
            parsed = json.loads(raw) if raw.strip().startswith((b"{", b"[")) else None
            if status != step.expect or (step.check and not step.check(parsed or {})):
                raise SmokeFailure(
                    f"flow step {step.name!r}: {step.method} {step.path} -> {status} "
                    f"(expected {step.expect}): {raw[:500]!r}"
                )
            if step.name == "log in" and parsed:
                self.token = parsed["access_token"]
            where = running.built.logical_id
            self.report.ok(f"flow: {step.name}: {step.method} {step.path} -> {status} ({where})")

    def _json(self, step: str, method: str, path: str, expect: int, **request: Any) -> Any:
        headers = {"Accept": "application/json", "Authorization": f"Bearer {self.token}"}
        headers.update(request.pop("headers", {}))
        called = self._call(method, path, headers=headers, **request)
        if called is None:
            raise SmokeFailure(f"{step}: {method} {path} routes to no function")
        status, raw, _running = called
        if status != expect:
            raise SmokeFailure(
                f"{step}: {method} {path} -> {status} (expected {expect}): {raw[:500]!r}"
            )
        return json.loads(raw)

    def _image_pipeline(self, services: Mapping[str, str]) -> None:
        """Upload through the API, run the image function on the S3 event, see it ready."""
        if not self.native:
            return
        image = self.running[sorted(self.native)[0]]
        note = self._json(
            "image note",
            "POST",
            "/notes",
            201,
            headers={"Content-Type": "application/json"},
            body=json.dumps({"title": "Image smoke"}),
        )
        upload_path = f"/notes/{note['id']}/attachments/upload"
        if self._function_for("POST", upload_path) is None:
            self.report.note(f"image: no function serves POST {upload_path}; pipeline skipped")
            return
        content_type, body = multipart("file", "smoke.png", "image/png", tiny_png())
        attachment = self._json(
            "upload", "POST", upload_path, 201, headers={"Content-Type": content_type}, binary=body
        )
        owner = self._json("owner", "GET", "/users/me", 200)["id"]
        key = storage.upload_key(owner, note["id"], attachment["id"], storage.ORIGINAL)
        bucket = self._uploads_bucket()
        event = self.events.fixture("s3", "put", "--bucket", bucket, "--key", key)
        # As S3 sends it: the object's own ETag and size (the job reads with If-Match on it),
        # not the fixture's made-up ones.
        stored = _aws_client(services, "s3").head_object(Bucket=bucket, Key=key)
        for record in event["Records"]:
            record["s3"]["object"].update(
                eTag=stored["ETag"].strip('"'), size=stored["ContentLength"]
            )
        outcome = image.invoke(event)
        path = f"/notes/{note['id']}/attachments/{attachment['id']}"
        result = self._json("attachment", "GET", path, 200)
        if result.get("status") != "ready":
            raise SmokeFailure(f"image: attachment is {result.get('status')!r} after {outcome!r}")
        where = image.built.logical_id
        self.report.ok(f"image: upload -> S3 event -> {where} (native) -> attachment ready")

    def _uploads_bucket(self) -> str:
        for fn in self.template.functions.values():
            if "UPLOADS_BUCKET" in fn.environment:
                return fn.environment["UPLOADS_BUCKET"]
        return self.template.buckets[0].bucket_name

    def _every_route(self) -> None:
        """Each API route once, unauthenticated: an answer below 500 in API Gateway's format."""
        for fn, route in self.template.routes:
            if fn.logical_id not in self.running:
                continue
            method = "GET" if route.method == "ANY" else route.method
            path, _params = concrete_path(route.path)
            called = self._call(method, path, headers={"Accept": "application/json"})
            if called is None:
                raise SmokeFailure(f"{method} {path} routes to no function")
            status, raw, running = called
            if status >= 500:
                raise SmokeFailure(f"{method} {path} -> {status}: {raw[:500]!r}")
            self.report.ok(f"route: {method} {route.path} -> {status} ({running.built.logical_id})")

    def _other_sources(self, services: Mapping[str, str]) -> None:
        buckets = {bucket.logical_id: bucket.bucket_name for bucket in self.template.buckets}
        served = custom_resources(self.template.raw)
        for logical_id, running in self.running.items():
            spec = self.template.function(logical_id)
            sources = [e for e in spec.events if e.type != "Api"]
            for source in sources:
                event = self.events.for_source(source, buckets)
                if event is None:
                    self.report.note(
                        f"{logical_id}: no generated event for {source.type} {source.name}"
                    )
                    continue
                running.invoke(event)
                self.report.ok(f"{logical_id}: {source.type} event {source.name} handled")
            for resource_id, resource in served.get(logical_id, []):
                self._custom_resource(running, resource_id, resource)
            if not sources and not spec.api_routes and logical_id not in served:
                self.report.note(f"{logical_id}: no event source in the template; imported only")

    def _custom_resource(
        self, running: RunningFunction, resource_id: str, resource: Mapping[str, Any]
    ) -> None:
        catcher = ResponseCatcher()
        try:
            event = self.events.fixture("cloudformation", "create-request")
            properties = {
                key: value
                for key, value in (resource.get("Properties") or {}).items()
                if isinstance(value, str | int | float | bool)
            }
            event.update(
                ResponseURL=catcher.url,
                ResourceType=resource["Type"],
                LogicalResourceId=resource_id,
                ResourceProperties=properties,
            )
            running.invoke(event)
            if len(catcher.bodies) != 1 or catcher.bodies[0].get("Status") != "SUCCESS":
                raise SmokeFailure(f"custom resource {resource_id} answered {catcher.bodies!r}")
            data = catcher.bodies[0].get("Data") or {}
            where = running.built.logical_id
            self.report.ok(f"{where}: custom resource {resource_id} Create -> SUCCESS {data}")
        finally:
            catcher.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.smoke", description=__doc__)
    parser.add_argument("--python", required=True, help="the python3.12 the artifacts target")
    parser.add_argument("--sam", required=True, help="the sam executable (for generate-event)")
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument(
        "--runtime-dir", type=Path, required=True, help="boto3 as the Lambda runtime has it"
    )
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    args = parser.parse_args(argv)
    smoke = Smoke(
        load_template(args.template),
        args.build_dir.resolve(),
        args.python,
        args.sam,
        args.runtime_dir.resolve(),
    )
    try:
        smoke.run()
    except SmokeFailure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
