"""deploy.smoke: isolated function processes, leak detection, events, custom resources."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from deploy.artifacts import BuiltFunction
from deploy.smoke import (
    ResponseCatcher,
    RunningFunction,
    SmokeFailure,
    concrete_path,
    custom_resources,
    lambda_environ,
    start_function,
)


def _function(tmp_path: Path, source: str, handler: str = "app.handler") -> BuiltFunction:
    code = tmp_path / "Fn"
    code.mkdir()
    (code / "app.py").write_text(textwrap.dedent(source), encoding="utf-8")
    layer = tmp_path / "Layer"
    (layer / "python").mkdir(parents=True)
    (layer / "python" / "helper.py").write_text("VALUE = 'from the layer'\n", encoding="utf-8")
    return BuiltFunction("Fn", handler, code, (layer,), (), 3, 128)


def _start(fn: BuiltFunction, tmp_path: Path) -> RunningFunction:
    runtime = tmp_path / "runtime"
    runtime.mkdir(exist_ok=True)
    env = lambda_environ(fn, {"GREETING": "hi"}, {"SERVICE_URL": "http://127.0.0.1:1"})
    return start_function(fn, sys.executable, [runtime], env, tmp_path)


def test_a_handler_runs_with_only_its_folder_and_layers(tmp_path: Path) -> None:
    fn = _function(
        tmp_path,
        """
        import os, sys
        import helper

        def handler(event, context):
            print("handler output goes to stderr")
            return {"echo": event["n"], "layer": helper.VALUE, "greeting": os.environ["GREETING"],
                    "home": os.environ.get("HOME"), "site": "site" in sys.modules,
                    "remaining": context.get_remaining_time_in_millis() > 0}
        """,
    )
    running = _start(fn, tmp_path)
    try:
        result = running.invoke({"n": 1})
        again = running.invoke({"n": 2})
    finally:
        running.stop()
    assert result == {
        "echo": 1,
        "layer": "from the layer",
        "greeting": "hi",
        "home": None,  # nothing of this shell's environment reaches the function
        "site": False,  # no site-packages: no development venv
        "remaining": True,
    }
    assert again["echo"] == 2
    assert "handler output goes to stderr" in (tmp_path / "Fn.log").read_text()


def test_a_module_from_outside_the_artifact_fails_the_check(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "stray.py").write_text("X = 1\n", encoding="utf-8")
    fn = _function(
        tmp_path,
        f"""
        import sys

        def handler(event, context):
            sys.path.append({str(outside)!r})
            import stray
            return stray.X
        """,
    )
    running = _start(fn, tmp_path)
    try:
        with pytest.raises(SmokeFailure, match="loaded modules from outside its artifact: stray"):
            running.invoke({})
    finally:
        running.stop()


def test_a_handler_that_raises_fails_with_its_traceback(tmp_path: Path) -> None:
    fn = _function(tmp_path, "def handler(event, context):\n    raise KeyError('boom')\n")
    running = _start(fn, tmp_path)
    try:
        with pytest.raises(SmokeFailure, match=r"Fn raised KeyError: 'boom'"):
            running.invoke({})
    finally:
        running.stop()


def test_an_artifact_missing_a_dependency_fails_at_import(tmp_path: Path) -> None:
    # What a layer built without a requirement looks like: the import fails, as on Lambda.
    fn = _function(tmp_path, "import pydantic\n\ndef handler(event, context):\n    return 1\n")
    with pytest.raises(SmokeFailure, match="ModuleNotFoundError: No module named 'pydantic'"):
        _start(fn, tmp_path)


def test_concrete_paths_fill_parameters() -> None:
    assert concrete_path("/notes/{proxy+}") == ("/notes/smoke", {"proxy": "smoke"})
    assert concrete_path("/notes/{id}/restore") == ("/notes/smoke/restore", {"id": "smoke"})
    assert concrete_path("/health") == ("/health", {})


def test_custom_resources_are_found_by_service_token() -> None:
    template = {
        "Resources": {
            "Migration": {
                "Type": "Custom::SchemaMigration",
                "Properties": {"ServiceToken": {"Fn::GetAtt": ["MigrateFunction", "Arn"]}},
            },
            "Other": {
                "Type": "AWS::CloudFormation::CustomResource",
                "Properties": {"ServiceToken": {"Fn::GetAtt": ["MigrateFunction", "Arn"]}},
            },
            "Queue": {"Type": "AWS::SQS::Queue"},
        }
    }
    served = custom_resources(template)
    assert [name for name, _ in served["MigrateFunction"]] == ["Migration", "Other"]


def test_response_catcher_records_puts() -> None:
    import urllib.request

    catcher = ResponseCatcher()
    try:
        request = urllib.request.Request(catcher.url, data=b'{"Status": "SUCCESS"}', method="PUT")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    finally:
        catcher.close()
    assert catcher.bodies == [{"Status": "SUCCESS"}]


SAM = Path(__file__).resolve().parents[3] / ".venv-deploy" / "bin" / "sam"
needs_sam = pytest.mark.skipif(not SAM.exists(), reason="deployment tools: make deploy-tools")


@needs_sam
def test_api_events_are_sam_fixtures_adapted_to_the_route() -> None:
    from deploy.smoke import EventFactory

    events = EventFactory(str(SAM))
    event = events.api(
        "POST",
        "/notes/abc/restore",
        "/notes/{proxy+}",
        {"proxy": "abc/restore"},
        headers={"Authorization": "Bearer t"},
        body='{"a": 1}',
        query={"q": "x"},
    )
    assert (event["httpMethod"], event["path"], event["resource"]) == (
        "POST",
        "/notes/abc/restore",
        "/notes/{proxy+}",
    )
    assert event["pathParameters"] == {"proxy": "abc/restore"}
    assert event["multiValueQueryStringParameters"] == {"q": ["x"]}
    assert event["headers"]["Authorization"] == "Bearer t"
    assert event["multiValueHeaders"]["Authorization"] == ["Bearer t"]
    assert (event["body"], event["isBase64Encoded"]) == ('{"a": 1}', False)
    context = event["requestContext"]
    assert context["resourcePath"] == "/notes/{proxy+}"
    assert context["path"] == f"/{context['stage']}/notes/abc/restore"


@needs_sam
@pytest.mark.parametrize(
    ("kind", "key"),
    [("Schedule", "detail-type"), ("ScheduleV2", "detail-type"), ("SQS", "Records")],
)
def test_other_event_sources_get_generated_events(kind: str, key: str) -> None:
    from deploy.smoke import EventFactory
    from smartnote.local.template import EventSpec

    event = EventFactory(str(SAM)).for_source(EventSpec("E", kind, {}), {})
    assert event is not None and key in event


@needs_sam
def test_s3_events_name_the_template_bucket() -> None:
    from deploy.smoke import EventFactory
    from smartnote.local.template import EventSpec

    spec = EventSpec("Upload", "S3", {"Bucket": {"Ref": "UploadsBucket"}, "Events": "s3:*"})
    event = EventFactory(str(SAM)).for_source(spec, {"UploadsBucket": "my-uploads"})
    assert event is not None
    assert event["Records"][0]["s3"]["bucket"]["name"] == "my-uploads"
    assert EventFactory(str(SAM)).for_source(EventSpec("K", "Kinesis", {}), {}) is None


def test_tiny_png_decodes_and_multipart_bodies_are_well_formed() -> None:
    import cv2
    import numpy as np

    from deploy.smoke import multipart, tiny_png

    image = cv2.imdecode(np.frombuffer(tiny_png(40, 20), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (20, 40, 3)
    content_type, body = multipart("file", "a.png", "image/png", b"\x89PNG")
    boundary = content_type.split("boundary=")[1]
    assert body.startswith(f"--{boundary}\r\n".encode())
    assert b'name="file"; filename="a.png"' in body
    assert body.endswith(f"\r\n--{boundary}--\r\n".encode())


def test_image_functions_run_from_their_dockerfile_folder(tmp_path: Path) -> None:
    from deploy.smoke import native_image_functions
    from smartnote.local.template import load_template

    template = load_template(Path(__file__).resolve().parents[3] / "template.yaml")
    (image,) = native_image_functions(template)
    assert image.logical_id == "ImageFunction"
    assert (image.code_dir / image.handler.split(".")[0]).with_suffix(".py").is_file()
    assert image.layer_dirs == ()
