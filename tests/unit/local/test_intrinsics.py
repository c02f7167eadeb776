"""Template intrinsics resolved with the local parameter values (the uploads bucket's CORS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartnote.local.intrinsics import NO_VALUE, Unresolvable
from smartnote.local.template import Template, load_template

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(REPO / "template.yaml")


def _cors(template: Template, origins: str) -> object:
    configuration = template.bucket("UploadsBucket").cors_configuration
    return template.resolver({"CORS_ALLOW_ORIGINS": origins}).resolve(configuration)


def test_the_bucket_cors_takes_the_origins_the_api_reads(template: Template) -> None:
    resolved = _cors(template, "https://a.example,http://localhost:5173")
    assert resolved == {
        "CorsRules": [
            {
                "AllowedMethods": ["GET", "HEAD", "POST"],
                "AllowedOrigins": ["https://a.example", "http://localhost:5173"],
                "ExposedHeaders": ["ETag"],
                "MaxAge": 3600,
            }
        ]
    }
    assert _cors(template, "") is NO_VALUE  # HasCorsOrigins is false: no rule at all


@pytest.mark.parametrize("origins", ["*", "https://a.example, https://b.example"])
def test_origins_the_deploy_would_refuse_are_refused_locally(
    template: Template, origins: str
) -> None:
    with pytest.raises(ValueError, match="CorsAllowOrigins \\(from CORS_ALLOW_ORIGINS\\)"):
        _cors(template, origins)


def test_what_has_no_local_value_is_said_not_guessed(template: Template) -> None:
    resolver = template.resolver({})
    with pytest.raises(Unresolvable):
        resolver.resolve({"Fn::GetAZs": ""})
    with pytest.raises(Unresolvable):
        resolver.resolve({"Ref": "NoSuchParameter"})
    # Parameters nobody uses are not checked: ENVIRONMENT=local is no AllowedValue of it.
    assert template.resolver({"ENVIRONMENT": "local"}).resolve({"Ref": "LogLevel"}) == "INFO"


def test_one_origin_or_several_as_cloudformation_tells_them_apart(template: Template) -> None:
    """The conditions the API's own answers' CORS headers depend on (GatewayResponses)."""
    several = template.resolver({"CORS_ALLOW_ORIGINS": "https://a.example,https://b.example"})
    assert several.condition("HasSeveralCorsOrigins")
    assert not several.condition("HasOneCorsOrigin")
    one = template.resolver({"CORS_ALLOW_ORIGINS": "https://a.example"})
    assert one.condition("HasOneCorsOrigin") and not one.condition("HasSeveralCorsOrigins")
    none = template.resolver({"CORS_ALLOW_ORIGINS": ""})
    assert not none.condition("HasOneCorsOrigin") and not none.condition("HasSeveralCorsOrigins")
    split = {"Fn::Split": [",", {"Ref": "CorsAllowOrigins"}]}
    assert several.resolve({"Fn::Select": [1, split]}) == "https://b.example"
    sub = {"Fn::Sub": "'${CorsAllowOrigins}' ${!Kept}"}
    assert one.resolve(sub) == "'https://a.example' ${Kept}"


def test_a_sub_of_what_has_no_local_value_is_said_not_guessed(template: Template) -> None:
    resolver = template.resolver({})
    with pytest.raises(Unresolvable):
        resolver.resolve({"Fn::Sub": "${AWS::StackName}-api"})
    with pytest.raises(Unresolvable):
        resolver.resolve({"Fn::Sub": ["${Name}", {"Name": "x"}]})
