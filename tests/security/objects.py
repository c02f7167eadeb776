"""How to get a real object id for each path parameter of the API, and valid request bodies.

`ID_FACTORIES` is keyed by path parameter name. A route whose parameter has no entry fails
`test_every_path_parameter_has_an_id_factory`, so a new route cannot skip the authorization
matrix or the fuzzing with real ids.
"""

from __future__ import annotations

import re
import struct
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from smartnote import storage
from tests.conftest import ApiUser

Ids = dict[str, str]
# Delivers an uploaded object's S3 event to the image function (the `deliver_upload` fixture).
Deliver = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class IdFactory:
    """Creates an object of `owner` and returns its id; `needs` are ids it is created under."""

    make: Callable[[httpx.Client, ApiUser, Ids, Deliver], str]
    needs: tuple[str, ...] = ()


def _created(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _note(api: httpx.Client, owner: ApiUser, _: Ids, __: Deliver) -> str:
    body = {"title": "matrix", "content": f"owned by {owner.id}", "tags": ["matrix"]}
    return str(_created(api.post("/notes", json=body, headers=owner.headers))["id"])


def _session(api: httpx.Client, owner: ApiUser, _: Ids, __: Deliver) -> str:
    # A second login: revoking it leaves the owner's own session working.
    login = {"username": owner.email, "password": owner.password}
    token = _created(api.post("/auth/token", data=login))["access_token"]
    sessions = _created(api.get("/auth/sessions", headers={"Authorization": f"Bearer {token}"}))
    return str(next(s["id"] for s in sessions["items"] if s["current"]))


def _attachment(api: httpx.Client, owner: ApiUser, ids: Ids, deliver: Deliver) -> str:
    # A processed (`ready`) attachment, so that every route on it - edits included - is one
    # the owner may use: uploaded through the API, then processed by the image function.
    note_id = ids["note_id"]
    created = _created(
        api.post(
            f"/notes/{note_id}/attachments/upload",
            files={"file": ("page.png", TINY_PNG, "image/png")},
            headers=owner.headers,
        )
    )
    attachment_id = str(created["id"])
    deliver(storage.upload_key(owner.id, note_id, attachment_id, "original"))
    return attachment_id


ID_FACTORIES: Mapping[str, IdFactory] = {
    "note_id": IdFactory(_note),
    "session_id": IdFactory(_session),
    "attachment_id": IdFactory(_attachment, needs=("note_id",)),
}

_PARAM = re.compile(r"{([^}]+)}")


def _png(width: int = 1, height: int = 1) -> bytes:
    """A valid grey PNG, built without an image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


TINY_PNG = _png()


def path_parameters(path: str) -> list[str]:
    return _PARAM.findall(path)


def real_ids(api: httpx.Client, owner: ApiUser, path: str, deliver: Deliver) -> Ids:
    """Real ids of `owner` for every parameter of `path` (parents first)."""
    ids: Ids = {}

    def resolve(name: str) -> None:
        if name in ids:
            return
        factory = ID_FACTORIES[name]
        for parent in factory.needs:
            resolve(parent)
        ids[name] = factory.make(api, owner, ids, deliver)

    for name in path_parameters(path):
        resolve(name)
    return ids


def fill(path: str, ids: Mapping[str, str]) -> str:
    return _PARAM.sub(lambda m: ids[m.group(1)], path)


# Values for request fields by name, for a request the owner is entitled to make. Anything
# not named here is built from its schema (default, enum, type).
def field_hints(owner: ApiUser) -> dict[str, Any]:
    return {
        "email": f"fresh-{uuid.uuid4().hex[:10]}@example.com",
        "username": owner.email,
        "password": owner.password,
        "current_password": owner.password,
        "new_password": f"new-orbit-{uuid.uuid4().hex[:8]}",
        "refresh_token": owner.refresh_token,
        "filename": "page.png",
        "content_type": "image/png",
        "size": 1024,
        "operations": [{"op": "grayscale"}],
    }


class BodyBuilder:
    """A minimal valid body (required fields only) for an operation of the OpenAPI document."""

    def __init__(self, document: Mapping[str, Any], hints: Mapping[str, Any]) -> None:
        self._schemas = document.get("components", {}).get("schemas", {})
        self._hints = hints

    def request(self, operation: Mapping[str, Any]) -> dict[str, Any]:
        """httpx keyword arguments (`json` or `data`) for the operation's required body."""
        body = operation.get("requestBody", {})
        if not body.get("required"):
            return {}
        content = body.get("content", {})
        for media_type, keyword in (
            ("application/json", "json"),
            ("application/x-www-form-urlencoded", "data"),
        ):
            if media_type in content:
                return {keyword: self.value(content[media_type]["schema"], None)}
        if "multipart/form-data" in content:  # uploads: every binary field gets a tiny PNG
            schema = self._resolve(content["multipart/form-data"]["schema"])
            properties = schema.get("properties", {})
            files = {
                name: ("page.png", TINY_PNG, "image/png")
                for name in schema.get("required", [])
                if self._resolve(properties.get(name, {})).get("format") in ("binary", None)
            }
            return {"files": files}
        return {}

    def value(self, schema: Mapping[str, Any], name: str | None) -> Any:  # noqa: PLR0911
        schema = self._resolve(schema)
        if name in self._hints:
            return self._hints[name]
        if "default" in schema:
            return schema["default"]
        if "enum" in schema:
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [o for o in schema[key] if self._resolve(o).get("type") != "null"]
                return self.value(options[0], name)
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            return {p: self.value(properties[p], p) for p in schema.get("required", [])}
        if kind == "array":
            return []
        if kind in ("integer", "number"):
            return schema.get("minimum", 1)
        if kind == "boolean":
            return False
        return "matrix"

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            schema = self._schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema
