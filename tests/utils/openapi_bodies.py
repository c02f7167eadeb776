"""What the merged OpenAPI document says of a JSON request body: whether its schema admits it.

A body the API refuses with a 422 must be one the document refuses too, or generated clients
and schemathesis (positive data) send it as valid.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from smartnote.openapi import merged_openapi


def request_schema_admits(method: str, path: str, body: Any) -> bool:
    """Whether `body` is valid for the JSON request body of `method path` in the document."""
    document = merged_openapi()
    operation = document["paths"][path][method.lower()]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    return bool(validator.is_valid(body))
