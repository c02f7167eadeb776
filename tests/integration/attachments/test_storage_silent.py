"""S3 that never answers behind the routes that write or delete attachment objects: each is a
503 (API.md's error shape, Retry-After) within the function's own timeout, through the local
gateway (which stops a function at its template `Timeout` with a 502, as Lambda and API
Gateway do), and leaves nothing stored that the same call, repeated, does not set right."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from smartnote import aws, storage
from smartnote.local.containers import FunctionRuntime
from smartnote.local.template import Template
from smartnote.models.attachments import MAX_MULTIPART_BYTES
from tests.conftest import ApiUser, assert_error, object_event
from tests.integration.attachments.conftest import upload, upload_key
from tests.utils.aws_faults import aws_silent
from tests.utils.images import encode, photographed_page

Process = Callable[..., dict[str, Any]]
SilentS3 = Callable[[], Any]  # a context manager: S3 behind the routes never answers


@pytest.fixture
def s3_silent(monkeypatch: pytest.MonkeyPatch) -> SilentS3:
    """For a block, every S3 call of the functions goes to an endpoint that accepts
    connections and never answers (a VPC that lost its route to S3, a stalled endpoint)."""
    return lambda: aws_silent(monkeypatch)


@pytest.fixture
def processed(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], process: Process
) -> dict[str, Any]:
    """A processed attachment of `note`: an original, its thumbnail and web copy in S3."""
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(300, 200))))
    process(upload_key(user, note["id"], attachment["id"]))
    return attachment


def assert_503(response: httpx.Response) -> None:
    """The function's own 503 (not the gateway's 502 for a function stopped at its timeout)."""
    assert_error(response, 503, "service_unavailable")
    assert int(response.headers["retry-after"]) > 0


def objects(s3: Any, bucket: str, prefixes: list[str]) -> list[str]:
    return [
        item["Key"]
        for prefix in prefixes
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    ]


@pytest.fixture
def largest_upload() -> bytes:
    """A JPEG of the largest size the multipart route takes (its PutObject body is largest)."""
    image = encode(photographed_page(size=(300, 200)))
    return image + b"\0" * (MAX_MULTIPART_BYTES - len(image))


def test_a_multipart_upload_s3_never_answers_is_a_503_and_leaves_no_attachment(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    s3_silent: SilentS3,
    largest_upload: bytes,
) -> None:
    with s3_silent():
        response = api.post(
            f"/notes/{note['id']}/attachments/upload",
            files={"file": ("page.jpg", largest_upload, "image/jpeg")},
            headers=user.headers,
        )
    assert_503(response)
    assert api.get(f"/notes/{note['id']}", headers=user.headers).json()["attachments"] == []


def test_an_edit_s3_never_answers_is_a_503_and_queues_nothing(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    processed: dict[str, Any],
    s3_silent: SilentS3,
) -> None:
    path = f"/notes/{note['id']}/attachments/{processed['id']}"
    with s3_silent():
        response = api.post(
            f"{path}/edits", json={"operations": [{"op": "grayscale"}]}, headers=user.headers
        )
    assert_503(response)
    assert api.get(path, headers=user.headers).json()["derived"] == []


@pytest.mark.parametrize("deleted", ["attachment", "note"])
def test_a_delete_s3_never_answers_is_a_503_and_its_repeat_removes_the_objects(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    processed: dict[str, Any],
    s3: Any,
    bucket: str,
    s3_silent: SilentS3,
    deleted: str,
) -> None:
    """The record goes first, then S3 does not answer: the repeat (a 404, the record being
    gone) still deletes the objects, as after any other S3 failure."""
    prefixes = storage.note_prefixes(user.id, note["id"])
    assert len(objects(s3, bucket, prefixes)) == 3  # original, thumbnail, web copy
    path = f"/notes/{note['id']}" + (
        f"/attachments/{processed['id']}" if deleted == "attachment" else "?permanent=true"
    )
    with s3_silent():
        response = api.delete(path, headers=user.headers)
    assert_503(response)
    assert_error(api.delete(path, headers=user.headers), 404, "not_found")
    assert objects(s3, bucket, prefixes) == []


def test_an_account_deletion_s3_never_answers_is_a_503_and_its_repeat_deletes_it(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    processed: dict[str, Any],
    s3: Any,
    bucket: str,
    s3_silent: SilentS3,
) -> None:
    """Objects first, the notes and the user row after: a 503 leaves the account as it was,
    usable, and the same call repeated deletes all of it."""
    prefixes = storage.owner_prefixes(user.id)
    password = {"password": user.password}
    with s3_silent():
        response = api.request("DELETE", "/users/me", json=password, headers=user.headers)
    assert_503(response)
    assert api.get(f"/notes/{note['id']}", headers=user.headers).status_code == 200
    assert len(objects(s3, bucket, prefixes)) == 3

    again = api.request("DELETE", "/users/me", json=password, headers=user.headers)
    assert again.status_code == 204
    assert objects(s3, bucket, prefixes) == []
    login = api.post("/auth/token", data={"username": user.email, "password": user.password})
    assert_error(login, 401)


def test_an_image_run_s3_never_answers_gives_its_claim_back_before_its_timeout(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    s3: Any,
    bucket: str,
    template: Template,
    process: Process,
    s3_silent: SilentS3,
) -> None:
    """With botocore's own timeouts (60 s a try, several tries) the run's read of the upload
    outlasted the image function's Timeout: Lambda stopped it with the attachment claimed.
    Now the run fails first (Lambda retries it), the claim given back, so the next delivery
    does the work at once."""
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(300, 200))))
    key = upload_key(user, note["id"], attachment["id"])
    event = object_event(s3, bucket, key)
    container = FunctionRuntime(template.function("image"), pool_size=1)  # its own Timeout
    try:
        with s3_silent(), pytest.raises(Exception) as raised:
            container.invoke(event)
    finally:
        container.shutdown()
    assert aws.unavailable(raised.value), repr(raised.value)  # not FunctionTimedOut
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    assert api.get(path, headers=user.headers).json()["status"] == "pending"
    assert process(key)["results"][0]["outcome"] == "ready"  # another request id
