"""The stage prefix seen by API Gateway becomes the app's root_path."""

from smartnote.middleware import stage_prefix


def _scope(path: str, context_path: str) -> dict[str, object]:
    return {"aws.event": {"path": path, "requestContext": {"path": context_path}}}


def test_execute_api_url_has_stage_prefix() -> None:
    assert stage_prefix(_scope("/notes/abc", "/dev/notes/abc")) == "/dev"
    assert stage_prefix(_scope("/docs", "/prod/docs")) == "/prod"


def test_custom_domain_or_local_gateway_has_none() -> None:
    assert stage_prefix(_scope("/notes", "/notes")) == ""
    assert stage_prefix({}) == ""
