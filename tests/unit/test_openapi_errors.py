"""Errors every route shares are declared on each operation of the OpenAPI document."""

from smartnote.app import document_edge_errors
from smartnote.openapi import merged_openapi


def test_secured_operations_declare_401_and_writes_429() -> None:
    for item in merged_openapi()["paths"].values():
        for method, operation in item.items():
            if operation.get("security"):
                assert "401" in operation["responses"]
                assert ("429" in operation["responses"]) == (method != "get")
            if "requestBody" in operation:
                assert {"400", "413"} <= set(operation["responses"])


def test_route_specific_descriptions_are_kept() -> None:
    document = {"paths": {"/x": {"post": {"security": [{}], "responses": {"401": {"d": 1}}}}}}
    responses = document_edge_errors(document)["paths"]["/x"]["post"]["responses"]
    assert responses["401"] == {"d": 1} and "429" in responses
