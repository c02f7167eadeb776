"""/health through the docs function: every backing service checked."""

import httpx


def test_health_reports_each_service(api: httpx.Client) -> None:
    response = api.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"mongo": "ok", "sql": "ok", "storage": "ok"}
    assert body["version"]


def test_openapi_is_merged_over_every_function(api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    paths = set(document["paths"])
    assert {
        "/auth/register",
        "/auth/token",
        "/auth/refresh",
        "/auth/logout",
        "/auth/sessions",
        "/auth/sessions/{session_id}",
        "/users/me",
        "/users/me/password",
        "/notes",
        "/notes/{note_id}",
        "/notes/{note_id}/restore",
        "/tags",
        "/health",
    } <= paths
    schemes = document["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "auth/token"


def test_head_health_is_its_get_without_a_body(api: httpx.Client) -> None:
    # HEAD reaches the docs function (ANY in the template) and is answered as a GET.
    response = api.head("/health")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-request-id"]
