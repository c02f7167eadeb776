"""Errors every route shares are declared on each operation of the OpenAPI document."""

from smartnote.app import document_edge_errors
from smartnote.openapi import merged_openapi


def test_secured_operations_declare_401_and_writes_429() -> None:
    for item in merged_openapi()["paths"].values():
        for method, operation in item.items():
            if operation.get("security"):
                assert "401" in operation["responses"]
                responses = operation["responses"]
                if method == "get":
                    assert "429" not in responses
                elif operation.get("x-counted-write", True):
                    assert "429" in responses  # the per-user write limit
                else:  # takes an account back (deps.sql.ReclaimingPrincipal): not limited
                    assert "per-user" not in responses.get("429", {}).get("description", "")
            if "requestBody" in operation:
                assert {"400", "413"} <= set(operation["responses"])


def test_route_specific_descriptions_are_kept() -> None:
    document = {"paths": {"/x": {"post": {"security": [{}], "responses": {"401": {"d": 1}}}}}}
    responses = document_edge_errors(document)["paths"]["/x"]["post"]["responses"]
    assert responses["401"]["d"] == 1 and "429" in responses


def test_the_contracts_headers_are_declared() -> None:
    """API.md's headers: X-Request-ID on every answer, Retry-After on 429, WWW-Authenticate
    on 401, ETag on every note (and its 304), Location on a created one."""
    paths = merged_openapi()["paths"]
    for item in paths.values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                headers = response["headers"]
                assert "X-Request-ID" in headers
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                is_error = schema == {"$ref": "#/components/schemas/ErrorResponse"}
                sends_retry_after = status == "429" or (status == "503" and is_error)
                assert ("Retry-After" in headers) == sends_retry_after
                assert ("WWW-Authenticate" in headers) == (status == "401")
    created = paths["/notes"]["post"]["responses"]["201"]["headers"]
    assert {"Location", "ETag"} <= set(created)
    note = paths["/notes/{note_id}"]
    for method in ("get", "patch", "put"):
        assert "ETag" in note[method]["responses"]["200"]["headers"]
    assert "ETag" in note["get"]["responses"]["304"]["headers"]
    assert "Location" not in note["put"]["responses"]["200"]["headers"]
    assert "ETag" not in paths["/notes"]["get"]["responses"]["200"]["headers"]


def test_retry_after_is_declared_only_where_it_is_sent() -> None:
    """/health's 503 is its own report (`Health`), sent without Retry-After; every 503 in the
    error shape carries it (`errors.ServiceUnavailable`)."""
    health = merged_openapi()["paths"]["/health"]["get"]["responses"]["503"]
    assert health["content"]["application/json"]["schema"] != {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    assert "Retry-After" not in health["headers"]


def test_no_operation_that_takes_no_input_declares_a_422() -> None:
    """Nothing can be invalid where there is no parameter and no body (GET /tags, /health)."""
    bare = [
        (method, path)
        for path, item in merged_openapi()["paths"].items()
        for method, operation in item.items()
        if not operation.get("parameters") and "requestBody" not in operation
    ]
    assert ("get", "/tags") in bare
    for method, path in bare:
        assert "422" not in merged_openapi()["paths"][path][method]["responses"], (method, path)


def test_header_parameters_are_named_as_rfc_9110_spells_them() -> None:
    names = {
        parameter["name"]
        for item in merged_openapi()["paths"].values()
        for operation in item.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "header"
    }
    assert names == {"If-Match", "If-None-Match", "User-Agent"}


def test_created_attachments_declare_their_location() -> None:
    paths = merged_openapi()["paths"]
    for path in ("/notes/{note_id}/attachments", "/notes/{note_id}/attachments/upload"):
        assert "Location" in paths[path]["post"]["responses"]["201"]["headers"], path
