"""The answers' schemas in the OpenAPI document say what the answers carry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from smartnote.openapi import merged_openapi

_PREFIX = "#/components/schemas/"


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(_PREFIX):
            yield ref.removeprefix(_PREFIX)
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _answer_schemas(document: dict[str, Any]) -> set[str]:
    """The names of every component schema an answer's body is made of."""
    schemas = document["components"]["schemas"]
    pending = [
        name
        for item in document["paths"].values()
        for operation in item.values()
        for response in operation["responses"].values()
        for name in _refs(response.get("content", {}))
    ]
    found: set[str] = set()
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending += _refs(schemas[name])
    return found


def test_every_field_an_answer_carries_is_required_in_its_schema() -> None:
    """Every answer carries each field of its model, `null` included (API.md: `next_cursor`
    is a string or null, an error has `details`, a token pair its `token_type`). A schema
    that left them optional had client generators type them `field?: T | null`, so clients
    handled an absence that never happens (`response_schema_conformance` in the fuzzer then
    also checks that they are sent)."""
    document = merged_openapi()
    schemas = document["components"]["schemas"]
    answers = _answer_schemas(document)
    assert {"Page_Note_", "ErrorBody", "TokenPair", "Note", "Attachment"} <= answers
    for name in sorted(answers):
        schema = schemas[name]
        optional = set(schema.get("properties", {})) - set(schema.get("required", []))
        assert not optional, (name, sorted(optional))


def test_download_urls_say_how_long_they_work() -> None:
    """A download URL stops working after DOWNLOAD_URL_TTL_SECONDS; the answer gives no
    expiry of its own, so a client learns from the schema to read the attachment again rather
    than keep the URL (`test_download_urls_are_short_lived` checks the expiry itself)."""
    schemas = merged_openapi()["components"]["schemas"]
    urls = [
        ("Attachment", "original_url"),
        ("Attachment", "thumbnail_url"),
        ("Attachment", "web_url"),
        ("DerivedImage", "url"),
    ]
    for name, field in urls:
        description = schemas[name]["properties"][field].get("description", "")
        assert "DOWNLOAD_URL_TTL_SECONDS" in description and "300 s" in description, (name, field)
