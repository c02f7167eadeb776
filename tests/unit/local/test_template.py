"""The SAM template parser and API Gateway REST v1 route precedence."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from smartnote.local.gateway_responses import FALLBACK, GatewayResponse, gateway_responses
from smartnote.local.template import (
    ApiRoute,
    FunctionSpec,
    Template,
    load_template,
    load_yaml,
    match_route,
)
from smartnote.middleware import SECURITY_HEADERS

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(REPO / "template.yaml")


def _fn(name: str, *routes: tuple[str, str]) -> FunctionSpec:
    return FunctionSpec(
        logical_id=name.title() + "Function",
        name=name,
        code_uri=Path("functions") / name,
        handler="app.handler",
        environment={},
        api_routes=[ApiRoute(path, method) for path, method in routes],
    )


def test_all_functions_with_their_routes(template: Template) -> None:
    expected = {"auth", "users", "notes", "attachments", "image", "docs", "reminders", "cleanup"}
    assert expected | {"migrate"} <= set(template.functions)
    assert template.functions["migrate"].api_routes == []  # a custom resource, no routes
    notes = template.functions["notes"]
    assert notes.logical_id == "NotesFunction"
    assert notes.code_uri == REPO / "functions" / "notes"
    assert notes.module_path == REPO / "functions" / "notes" / "app.py"
    assert notes.handler_attr == "handler"
    assert notes.timeout == 15
    assert notes.memory_size == 1024  # its own, over the Globals' 512
    assert template.functions["users"].memory_size == 512  # the Globals'
    assert notes.api_routes == [
        ApiRoute("/notes", "ANY"),
        ApiRoute("/notes/{note_id}", "ANY"),
        ApiRoute("/notes/{note_id}/restore", "ANY"),
        ApiRoute("/tags", "ANY"),  # GET, HEAD and the CORS preflight reach the app
    ]
    assert template.functions["auth"].api_routes == [ApiRoute("/auth/{proxy+}", "ANY")]
    assert template.functions["users"].api_routes == [ApiRoute("/users/{proxy+}", "ANY")]
    docs_paths = {route.path for route in template.functions["docs"].api_routes}
    assert {"/docs", "/redoc", "/openapi.json", "/health", "/static/{proxy+}"} <= docs_paths
    assert template.functions["reminders"].api_routes == []
    assert template.functions["reminders"].handler == "handler.handler"
    assert template.function("NotesFunction") is notes
    with pytest.raises(KeyError):
        template.function("nope")


def test_environment_keeps_only_literals(template: Template) -> None:
    env = template.functions["notes"].environment
    assert env["POWERTOOLS_SERVICE_NAME"] == "smartnote"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "SmartNote"
    # !Ref / !If of parameters have no local value; the stack supplies them.
    assert "LOG_LEVEL" not in env
    assert "MONGODB_URI" not in env
    assert "ENVIRONMENT" not in env


def test_short_tags_become_long_form(template: Template) -> None:
    raw = template.raw
    assert raw["Conditions"]["HasJwtSecretArn"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "JwtSecretArn"}, ""]}]
    }
    assert raw["Resources"]["NotesFunction"]["Properties"]["Layers"] == [{"Ref": "SharedLayer"}]
    assert raw["Outputs"]["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/${Environment}"
    }
    cors = raw["Resources"]["UploadsBucket"]["Properties"]["CorsConfiguration"]
    assert list(cors) == ["Fn::If"]
    assert cors["Fn::If"][2] == {"Ref": "AWS::NoValue"}


def test_every_short_tag_form() -> None:
    doc = load_yaml(
        """
        a: !GetAtt Queue.Arn
        b: !GetAtt [Bucket, Arn]
        c: !Sub ["${X}-y", {X: !Ref Z}]
        d: !Join [",", [a, b]]
        e: !Select [0, !GetAZs ""]
        f: !Condition IsProd
        g: !Base64 hello
        h: !FindInMap [M, K, V]
        i: !ImportValue other
        j: !Split [",", "a,b"]
        """
    )
    assert doc["a"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert doc["b"] == {"Fn::GetAtt": ["Bucket", "Arn"]}
    assert doc["c"] == {"Fn::Sub": ["${X}-y", {"X": {"Ref": "Z"}}]}
    assert doc["d"] == {"Fn::Join": [",", ["a", "b"]]}
    assert doc["e"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    assert doc["f"] == {"Condition": "IsProd"}
    assert doc["g"] == {"Fn::Base64": "hello"}
    assert doc["h"] == {"Fn::FindInMap": ["M", "K", "V"]}
    assert doc["i"] == {"Fn::ImportValue": "other"}
    assert doc["j"] == {"Fn::Split": [",", "a,b"]}


def test_buckets_queues_and_event_sources(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        """
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: my-uploads
  Derived:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-derived"
  Jobs:
    Type: AWS::SQS::Queue
  Ordered:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Handler: app.handler
      Environment:
        Variables:
          BUCKET: !Ref Uploads
          QUEUE_ARN: !GetAtt Jobs.Arn
          COUNT: 3
      Events:
        Nightly:
          Type: Schedule
          Properties:
            Schedule: rate(1 day)
        Uploaded:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
"""
    )
    template = load_template(tmp_path / "template.yaml")
    assert [(b.logical_id, b.bucket_name) for b in template.buckets] == [
        ("Uploads", "my-uploads"),
        ("Derived", "smartnote-derived"),
    ]
    assert [(q.queue_name, q.fifo) for q in template.queues] == [
        ("smartnote-jobs", False),
        ("smartnote-ordered.fifo", True),
    ]
    worker = template.functions["worker"]
    assert worker.api_routes == []
    assert [(e.name, e.type) for e in worker.events] == [
        ("Nightly", "Schedule"),
        ("Uploaded", "S3"),
    ]
    assert (
        worker.events_of_type("Schedule", "ScheduleV2")[0].properties["Schedule"] == "rate(1 day)"
    )
    assert worker.environment == {
        "BUCKET": "my-uploads",
        "QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:smartnote-jobs",
        "COUNT": "3",
    }


def test_real_template_routing(template: Template) -> None:
    routes = template.routes

    def target(method: str, path: str) -> tuple[str, str, dict[str, str]] | None:
        match = match_route(routes, method, path)
        return (
            None if match is None else (match.function.name, match.resource, match.path_parameters)
        )

    assert target("GET", "/notes") == ("notes", "/notes", {})
    assert target("POST", "/notes") == ("notes", "/notes", {})
    assert target("DELETE", "/notes/abc") == ("notes", "/notes/{note_id}", {"note_id": "abc"})
    assert target("POST", "/notes/abc/restore") == (
        "notes",
        "/notes/{note_id}/restore",
        {"note_id": "abc"},
    )
    assert target("POST", "/notes/abc/attachments") == (
        "attachments",
        "/notes/{note_id}/attachments",
        {"note_id": "abc"},
    )
    assert target("POST", "/notes/abc/attachments/d1/edits") == (
        "attachments",
        "/notes/{note_id}/attachments/{proxy+}",
        {"note_id": "abc", "proxy": "d1/edits"},
    )
    assert target("DELETE", "/notes/abc/trash") is None
    assert target("GET", "/tags") == ("notes", "/tags", {})
    assert target("HEAD", "/tags") == ("notes", "/tags", {})  # the app answers, 405 included
    # ANY: HEAD reaches the docs function (RFC 9110: HEAD with GET), which answers it.
    assert target("HEAD", "/health") == ("docs", "/health", {})
    assert target("POST", "/auth/token") == ("auth", "/auth/{proxy+}", {"proxy": "token"})
    assert target("GET", "/docs") == ("docs", "/docs", {})
    assert target("GET", "/docs/oauth2-redirect") == ("docs", "/docs/oauth2-redirect", {})
    # {proxy+} needs at least one segment: /auth itself has no resource.
    assert target("GET", "/auth") is None
    assert target("GET", "/nowhere") is None


def test_precedence_exact_over_param_over_greedy() -> None:
    fn_exact, fn_param, fn_greedy = _fn("exact"), _fn("param"), _fn("greedy")
    routes = [
        (fn_greedy, ApiRoute("/notes/{proxy+}", "ANY")),
        (fn_param, ApiRoute("/notes/{id}", "ANY")),
        (fn_exact, ApiRoute("/notes/search", "GET")),
        (fn_param, ApiRoute("/notes/{id}/tags", "GET")),
    ]
    exact = match_route(routes, "GET", "/notes/search")
    assert exact is not None and exact.function is fn_exact and exact.path_parameters == {}
    param = match_route(routes, "GET", "/notes/42")
    assert param is not None and param.resource == "/notes/{id}"
    assert param.path_parameters == {"id": "42"}
    nested = match_route(routes, "GET", "/notes/42/tags")
    assert nested is not None and nested.function is fn_param
    greedy = match_route(routes, "GET", "/notes/42/tags/x")
    assert greedy is not None and greedy.function is fn_greedy
    assert greedy.path_parameters == {"proxy": "42/tags/x"}
    # The most specific resource wins even when it lacks the method: no fallback, like AWS.
    assert match_route(routes, "POST", "/notes/search") is None


def test_path_parameters_are_decoded_after_routing_on_the_raw_path() -> None:
    """A `%2F` does not split a segment, and API Gateway hands the parameters decoded."""
    fn_param, fn_greedy = _fn("param"), _fn("greedy")
    routes = [
        (fn_param, ApiRoute("/notes/{id}", "GET")),
        (fn_greedy, ApiRoute("/notes/{id}/{proxy+}", "GET")),
    ]
    param = match_route(routes, "GET", "/notes/a%2Fb%20%C3%A9")
    assert param is not None and param.function is fn_param
    assert param.path_parameters == {"id": "a/b é"}
    greedy = match_route(routes, "GET", "/notes/1/x%25y/z")
    assert greedy is not None and greedy.path_parameters == {"id": "1", "proxy": "x%y/z"}


def test_exact_method_beats_any() -> None:
    fn_any, fn_get = _fn("anything"), _fn("getter")
    routes = [(fn_any, ApiRoute("/items", "ANY")), (fn_get, ApiRoute("/items", "GET"))]
    got = match_route(routes, "get", "/items")
    assert got is not None and got.function is fn_get
    posted = match_route(routes, "POST", "/items")
    assert posted is not None and posted.function is fn_any


def test_trailing_slash_and_root() -> None:
    fn = _fn("root")
    routes = [(fn, ApiRoute("/", "GET")), (fn, ApiRoute("/notes", "GET"))]
    root = match_route(routes, "GET", "/")
    assert root is not None and root.resource == "/"
    slash = match_route(routes, "GET", "/notes/")
    assert slash is not None and slash.resource == "/notes"


def test_image_function_is_a_container_image_found_by_its_dockerfile(template: Template) -> None:
    image = template.functions["image"]
    props = template.raw["Resources"]["ImageFunction"]["Properties"]
    assert props["PackageType"] == "Image"
    # SAM refuses Runtime, Handler and Layers on an image function, globals included.
    assert not {"Runtime", "Handler", "Layers"} & set(props)
    assert not {"Runtime", "Handler", "Layers"} & set(template.raw["Globals"]["Function"])
    assert image.module_path == REPO / "functions" / "image" / "handler.py"
    assert (REPO / "functions" / "image" / "Dockerfile").is_file()
    assert [event.type for event in image.events] == ["S3"]
    assert image.api_routes == []


def test_bucket_named_by_its_expression_resolves_locally(template: Template) -> None:
    bucket = template.buckets[0].bucket_name
    # Every function, the S3-triggered one included, sees the bucket's local name.
    assert {fn.environment["UPLOADS_BUCKET"] for fn in template.functions.values()} == {bucket}


def test_every_zip_function_has_the_runtime_and_the_shared_layer(template: Template) -> None:
    # Runtime and Layers are per function (SAM refuses them on the image function in Globals):
    # a function added without them would deploy without the smartnote package.
    for resource in template.resources.values():
        if resource.type != "AWS::Serverless::Function":
            continue
        properties = resource.properties
        if properties.get("PackageType") == "Image":
            continue
        assert properties.get("Runtime") == "python3.12", resource.logical_id
        assert {"Ref": "SharedLayer"} in properties.get("Layers", []), resource.logical_id


# Routes a browser reaches without credentials: simple GETs that need no CORS preflight.
PUBLIC_PATHS = {
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/static/{proxy+}",
    "/health",
}


def test_every_authenticated_api_path_accepts_the_cors_preflight(template: Template) -> None:
    # API Gateway answers 403 to an OPTIONS it has no method for, which breaks every browser
    # call that carries Authorization: each such path must send OPTIONS to its function.
    methods: dict[str, set[str]] = {}
    for _, route in template.routes:
        methods.setdefault(route.path, set()).add(route.method)
    missing = [
        path
        for path, declared in methods.items()
        if path not in PUBLIC_PATHS and not declared & {"ANY", "OPTIONS"}
    ]
    assert missing == []


def test_api_gateways_own_answers_follow_the_contract(template: Template) -> None:
    """Unknown routes are 404 (not API Gateway's 403 "Missing Authentication Token") and its
    throttle's and quota's 429s say when to retry, in the error shape."""
    responses = template.raw["Resources"]["Api"]["Properties"]["GatewayResponses"]
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == "404"
    assert '"code": "not_found"' in missing["ResponseTemplates"]["application/json"]
    throttled = responses["THROTTLED"]
    assert throttled["StatusCode"] == "429"
    assert throttled["ResponseParameters"]["Headers"]["Retry-After"] == "'1'"
    assert '"code": "rate_limited"' in throttled["ResponseTemplates"]["application/json"]
    # An API-key client's daily quota: a 429 too, so it says when to retry as well.
    quota = responses["QUOTA_EXCEEDED"]
    assert quota["StatusCode"] == "429"
    assert int(quota["ResponseParameters"]["Headers"]["Retry-After"].strip("'")) > 0
    assert '"code": "quota_exceeded"' in quota["ResponseTemplates"]["application/json"]


def test_the_local_gateway_reads_its_own_answers_from_the_templates_gateway_responses(
    template: Template, tmp_path: Path
) -> None:
    """The codes a client sees from API Gateway itself, so the local gateway sends the same."""
    responses = gateway_responses(template, {})
    # Every one echoes the client's X-Request-ID (method.request.header.X-Request-ID).
    declared = {
        "DEFAULT_4XX": responses.default_4xx,
        "DEFAULT_5XX": responses.default_5xx,
        "MISSING_AUTHENTICATION_TOKEN": responses.missing_route,
    }
    assert {kind: replace(r, headers=(), message=None) for kind, r in declared.items()} == FALLBACK
    # A literal message is answered as written; $context.error.messageString is the error's.
    assert responses.missing_route.message == "No such route"
    assert responses.default_4xx.message is None and responses.default_5xx.message is None
    assert FALLBACK["DEFAULT_4XX"] == GatewayResponse(None, "gateway_error", True)
    assert FALLBACK["MISSING_AUTHENTICATION_TOKEN"] == GatewayResponse(404, "not_found", True)
    # Their other headers, as the template maps them: no CORS without CorsAllowOrigins.
    assert dict(responses.missing_route.headers)["X-Frame-Options"] == "'DENY'"
    # A literal is what lies between its outer quotes, so the policy keeps its own.
    answered = dict(responses.missing_route.headers_for([]))
    assert answered["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert not [name for name, _ in responses.missing_route.headers if "Access-Control" in name]
    several = gateway_responses(template, {"CORS_ALLOW_ORIGINS": "http://a.test,http://b.test"})
    echoed = several.missing_route.headers_for([("origin", "http://b.test")])
    assert ("Access-Control-Allow-Origin", "http://b.test") in echoed
    assert ("Vary", "Origin") in echoed
    assert "Access-Control-Allow-Origin" not in dict(several.missing_route.headers_for([]))
    (tmp_path / "template.yaml").write_text(
        "Resources:\n"
        "  Api:\n"
        "    Type: AWS::Serverless::Api\n"
        "    Properties:\n"
        "      GatewayResponses:\n"
        "        DEFAULT_5XX:\n"
        "          ResponseParameters:\n"
        "            Headers: {X-Request-ID: context.requestId}\n"
        "          ResponseTemplates:\n"
        '            application/json: \'{"error": {"code": "upstream", "message": 1}}\'\n'
    )
    own = gateway_responses(load_template(tmp_path / "template.yaml"), {})
    # API Gateway's own id, not the client's.
    assert own.for_status(504) == GatewayResponse(None, "upstream", echoes_request_id=False)
    assert own.for_status(413) == FALLBACK["DEFAULT_4XX"]  # not declared: the project's


def test_api_gateways_own_answers_send_every_security_header_the_functions_send(
    template: Template,
) -> None:
    """Each of the template's GatewayResponses declares the middleware's security headers as
    literals of the same value: API Gateway's own answers carry what the functions' carry, and
    the local gateway, which adds any the template lacks, adds nothing AWS would not send."""
    sent = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}
    responses = template.raw["Resources"]["Api"]["Properties"]["GatewayResponses"]
    for kind, response in template.resolver({}).resolve(responses).items():
        headers = response["ResponseParameters"]["Headers"].items()
        literals = {name.lower(): value[1:-1] for name, value in headers if value[:1] == "'"}
        assert {name: literals.get(name) for name in sent} == sent, kind


def test_every_scheduled_or_s3_triggered_function_parks_its_failures(template: Template) -> None:
    """Async deliveries (schedules, S3) are retried, then land in a queue the alarms watch:
    a scheduled run that raises is never silently dropped."""
    resources = template.raw["Resources"]
    async_kinds = {"Schedule", "ScheduleV2", "S3"}
    checked = []
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        events = resource["Properties"].get("Events", {}).values()
        kinds = {event["Type"] for event in events} & async_kinds
        if not kinds:
            continue
        invoke = resource["Properties"]["EventInvokeConfig"]
        assert invoke["MaximumRetryAttempts"] == 2, name
        failure = invoke["DestinationConfig"]["OnFailure"]
        assert failure["Type"] == "SQS", name
        queue = failure["Destination"]["Fn::GetAtt"][0]
        assert resources[queue]["Type"] == "AWS::SQS::Queue", name
        # SAM gives the role sqs:SendMessage on the destination (its OnFailureSQSPolicy); the
        # code itself sends nothing, so no policy of its own may add sends (or batches).
        assert "SQSSendMessagePolicy" not in str(resource["Properties"].get("Policies")), name
        for event in events:
            if event["Type"] in {"Schedule", "ScheduleV2"}:  # EventBridge's own delivery
                assert event["Properties"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] == queue
        checked.append(name)
    assert sorted(checked) == ["CleanupFunction", "ImageFunction", "RemindersFunction"]


def test_every_scheduler_schedule_is_named_per_stack(template: Template) -> None:
    """SAM names a ScheduleV2 `<Function><Event>` unless it has `OmitName: true` or a `Name`;
    names are unique per schedule group, so such a fixed name allows one stack per account
    and region (tests/integration/deploy/test_translate.py checks what SAM generates)."""
    checked = []
    for fn in template.functions.values():
        for event in fn.events_of_type("ScheduleV2"):
            name = event.properties.get("Name")
            assert event.properties.get("OmitName") is True or "AWS::StackName" in str(name)
            checked.append(f"{fn.logical_id}{event.name}")
    assert checked == ["CleanupFunctionDaily"]


def _statements(template: Template, logical_id: str) -> list[dict[str, Any]]:
    policies = template.raw["Resources"][logical_id]["Properties"]["Policies"]
    return [s for p in policies if isinstance(p, dict) for s in p.get("Statement", [])]


def test_the_image_function_may_list_its_uploads_so_a_missing_one_is_a_404(
    template: Template,
) -> None:
    """S3 answers a GetObject of a missing key with 404 NoSuchKey only to a caller allowed to
    list the bucket (with the key as s3:prefix), else 403: the image job's "upload is gone"
    branch catches NoSuchKey."""
    statements = _statements(template, "ImageFunction")
    reads = [s["Resource"]["Fn::Sub"] for s in statements if s["Action"] == "s3:GetObject"]
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucket"]
    bucket = listing["Resource"]["Fn::Sub"]
    assert bucket == "arn:aws:s3:::${AWS::StackName}-uploads-${AWS::AccountId}"
    prefixes = listing["Condition"]["StringLike"]["s3:prefix"]
    assert prefixes == ["uploads/*"]  # listing no further than what it reads
    assert reads and all(read == f"{bucket}/{prefix}" for read in reads for prefix in prefixes)


def test_reminders_send_through_any_identity_but_only_from_the_sender(template: Template) -> None:
    """SES checks the identity it picks for the From address (address or domain) and, in
    the sandbox, the recipient's: one identity ARN refused sends; the From condition is what
    limits the function."""
    (send,) = [
        s for s in _statements(template, "RemindersFunction") if s["Action"] == "ses:SendEmail"
    ]
    assert send["Resource"] == {
        "Fn::Sub": "arn:aws:ses:${AWS::Region}:${AWS::AccountId}:identity/*"
    }
    assert send["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "SesSender"}}}


def test_every_queue_policy_for_a_service_names_its_source(template: Template) -> None:
    """A service principal acts for every account: without aws:SourceArn/SourceAccount another
    account's rule could send to the queue (confused deputy)."""
    checked = []
    for logical_id, resource in template.raw["Resources"].items():
        if resource["Type"] != "AWS::SQS::QueuePolicy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if "Service" not in statement.get("Principal", {}):
                continue
            keys = {key for test in statement.get("Condition", {}).values() for key in test}
            assert keys & {"aws:SourceArn", "aws:SourceAccount"}, logical_id
            checked.append(logical_id)
    assert checked == ["SchedulesDeadLetterQueuePolicy"]


def test_the_rds_proxy_requires_the_tls_the_functions_verify(template: Template) -> None:
    from smartnote.db.sql import postgres_tls

    proxy = template.raw["Resources"]["RdsProxy"]["Properties"]
    assert proxy["RequireTLS"] is True
    endpoint = "postgresql+pg8000://u:p@x.proxy-abc.eu-central-1.rds.amazonaws.com:5432/db"
    assert postgres_tls(endpoint)[1] is not False


def test_custom_resources_give_up_soon_after_their_function_could_answer(
    template: Template,
) -> None:
    """A function killed by its timeout sends CloudFormation nothing, which then waits the
    default hour before failing the deployment: ServiceTimeout ends that wait a minute after
    the function's own timeout (plenty to PUT the answer, see custom_resource.py)."""
    resources = template.raw["Resources"]
    function_timeout = template.raw.get("Globals", {}).get("Function", {}).get("Timeout")
    checked = []
    for logical_id, resource in resources.items():
        if not resource["Type"].startswith("Custom::"):
            continue
        function_id = resource["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
        timeout = resources[function_id]["Properties"].get("Timeout", function_timeout)
        service_timeout = resource["Properties"].get("ServiceTimeout")
        assert isinstance(service_timeout, int), f"{logical_id}: no ServiceTimeout (an hour)"
        assert timeout < service_timeout <= min(timeout + 120, 3600), logical_id
        checked.append(logical_id)
    assert checked == ["SchemaMigration"]


def test_every_log_group_expires_after_the_retention_parameter(template: Template) -> None:
    """Lambda creates a function's default log group with no expiry: each function logs to a
    group of the stack's own (LoggingConfig), kept LogRetentionDays like the access logs; the
    migration's too. A group named per stack, so two stacks in a region never share one."""
    resources = template.raw["Resources"]
    groups = {
        logical_id: resource["Properties"]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Logs::LogGroup"
    }
    for logical_id, properties in groups.items():
        assert properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}, logical_id
        assert "${AWS::StackName}" in properties["LogGroupName"]["Fn::Sub"], logical_id
    logged_to = []
    for fn in template.functions.values():
        config = resources[fn.logical_id]["Properties"].get("LoggingConfig", {})
        group = config.get("LogGroup", {}).get("Ref")
        assert group in groups, f"{fn.logical_id} logs to a group with no expiry"
        logged_to.append(group)
    assert len(set(logged_to)) == len(logged_to) == len(template.functions)
    assert {"migrate", "image", "cleanup"} <= set(template.functions)
