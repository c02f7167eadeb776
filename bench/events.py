"""API Gateway events for the benchmarks: light enough for a child process that has only the
functions' runtime on its path (bench/coldstart.py), where bench.common's imports are not."""

from __future__ import annotations

from typing import Any

from smartnote.local.events import build_rest_event


def api_event(
    method: str,
    path: str,
    token: str | None,
    resource: str,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST v1 proxy event as API Gateway sends it (the same builder the gateway uses)."""
    headers = [("Host", "127.0.0.1"), ("Accept", "application/json")]
    if token:
        headers.append(("Authorization", f"Bearer {token}"))
    return build_rest_event(
        method, path, headers, resource=resource, path_parameters=path_parameters
    )
