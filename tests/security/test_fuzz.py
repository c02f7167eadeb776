"""Schemathesis against the merged OpenAPI document, authenticated, through the local gateway.

Every generated request (valid and invalid) must get an answer that is not a 5xx, that the
document declares (status, content type, headers, body schema), with the security headers and
without leaks. Path parameters are real ids of the fuzzing user half of the time (from
`objects.ID_FACTORIES`), so handlers are exercised beyond their 404.

`make test` runs a small seed-fixed slice; `make security` sets FUZZ_EXAMPLES and
FUZZ_MIN_CASES for the full run (>= 2000 cases) and writes the counts to FUZZ_REPORT.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from smartnote.openapi import merged_openapi
from tests.conftest import register_and_login
from tests.security.checks import assert_clean
from tests.security.objects import ID_FACTORIES, Deliver, path_parameters, real_ids

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))  # per operation and generation mode
MIN_CASES = int(os.environ.get("FUZZ_MIN_CASES", "0"))
SEED = int(os.environ.get("FUZZ_SEED", "20261124"))
REPORT = os.environ.get("FUZZ_REPORT")

SCHEMA = schemathesis.openapi.from_dict(merged_openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Calls after which the fuzzing user's session may have ended: log in again.
SESSION_ENDING = {("POST", "/auth/logout"), ("POST", "/users/me/password")}

cases_run: Counter[str] = Counter()

# What a schema of an OpenAPI 3.1 document may say (JSON Schema 2020-12 and OpenAPI's own). A
# word outside it is ignored by every reader: pydantic wrote bounds it could not express as
# `gt`/`ge`/`le`, so the fuzzer (and every generated client) took out-of-range sizes as valid.
SCHEMA_KEYWORDS = frozenset(
    [
        "$ref",
        "$defs",
        "$schema",
        "$id",
        "$comment",
        "$anchor",
        "$dynamicRef",
        "type",
        "enum",
        "const",
        "title",
        "description",
        "default",
        "examples",
        "example",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "uniqueItems",
        "contains",
        "minContains",
        "maxContains",
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "unevaluatedProperties",
        "unevaluatedItems",
        "dependentRequired",
        "dependentSchemas",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "if",
        "then",
        "else",
        "discriminator",
        "xml",
        "externalDocs",
        "contentMediaType",
        "contentEncoding",
        "contentSchema",
    ]
)
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMAS = [
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
]


class Fuzzer:
    """The fuzzing user: a live access token and a supply of real object ids."""

    def __init__(self, api: httpx.Client, deliver: Deliver) -> None:
        self.api = api
        self.deliver = deliver
        self.user = register_and_login(api)
        self.headers = dict(self.user.headers)

    def relogin(self) -> None:
        login = {"username": self.user.email, "password": self.user.password}
        response = self.api.post("/auth/token", data=login)
        assert response.status_code == 200, response.text
        self.user.access_token = response.json()["access_token"]
        self.user.refresh_token = response.json()["refresh_token"]
        self.headers = dict(self.user.headers)

    def ids_for(self, path: str) -> dict[str, str]:
        return real_ids(self.api, self.user, path, self.deliver)


@pytest.fixture(scope="module")
def fuzzer(api_base_url: str, deliver_upload: Deliver) -> Iterator[Fuzzer]:
    with httpx.Client(base_url=api_base_url, timeout=30) as client:
        yield Fuzzer(client, deliver_upload)
    if REPORT:
        Path(REPORT).parent.mkdir(parents=True, exist_ok=True)
        Path(REPORT).write_text(json.dumps({"cases": sum(cases_run.values()), **cases_run}))
    assert sum(cases_run.values()) >= MIN_CASES, f"only {sum(cases_run.values())} cases ran"


def _unknown_keywords(schema: Any, where: str) -> Iterator[str]:
    if not isinstance(schema, dict):
        return
    yield from (f"{where}: {key}" for key in schema if key not in SCHEMA_KEYWORDS)
    for key, value in schema.items():
        if key in _SUBSCHEMA_MAPS:
            for name, sub in value.items():
                yield from _unknown_keywords(sub, f"{where}.{name}")
        elif key in _SUBSCHEMA_LISTS:
            for index, sub in enumerate(value):
                yield from _unknown_keywords(sub, f"{where}.{key}[{index}]")
        elif key in _SUBSCHEMAS:
            yield from _unknown_keywords(value, f"{where}.{key}")


def _document_schemas(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    yield from document["components"]["schemas"].items()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                yield f"{method} {path} {parameter['name']}", parameter["schema"]
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                yield f"{method} {path} body {media}", content.get("schema")


def test_the_document_says_only_what_json_schema_readers_know() -> None:
    unknown = [
        found
        for where, schema in _document_schemas(merged_openapi())
        for found in _unknown_keywords(schema, where)
    ]
    assert unknown == []


def _label(operation: Any) -> str:
    return str(operation.label)


@pytest.mark.parametrize("operation", OPERATIONS, ids=_label)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_fuzz(fuzzer: Fuzzer, api_base_url: str, operation: Any, mode: GenerationMode) -> None:
    assert all(name in ID_FACTORIES for name in path_parameters(operation.path))

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), use_real_ids=st.booleans())
    def run(case: Any, use_real_ids: bool) -> None:
        if use_real_ids and case.path_parameters:
            case.path_parameters = {**case.path_parameters, **fuzzer.ids_for(operation.path)}
        response = case.call(base_url=api_base_url, headers=fuzzer.headers)
        cases_run[f"{mode}:{operation.label}"] += 1
        case.validate_response(response, checks=CHECKS, headers=fuzzer.headers)
        assert_clean(response, secrets=[fuzzer.user.password])
        if (
            operation.method.upper(),
            operation.path,
        ) in SESSION_ENDING or response.status_code == 401:
            fuzzer.relogin()

    try:
        run()
    except Unsatisfiable:
        # Nothing about this operation can be made invalid (no parameters, no body).
        assert cases_run[f"{mode}:{operation.label}"] == 0
        pytest.skip(f"no {mode} input exists for {operation.label}")
