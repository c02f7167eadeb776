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
                assert ("Retry-After" in headers) == (status in ("429", "503"))
                assert ("WWW-Authenticate" in headers) == (status == "401")
    created = paths["/notes"]["post"]["responses"]["201"]["headers"]
    assert {"Location", "ETag"} <= set(created)
    note = paths["/notes/{note_id}"]
    for method in ("get", "patch", "put"):
        assert "ETag" in note[method]["responses"]["200"]["headers"]
    assert "ETag" in note["get"]["responses"]["304"]["headers"]
    assert "Location" not in note["put"]["responses"]["200"]["headers"]
    assert "ETag" not in paths["/notes"]["get"]["responses"]["200"]["headers"]
