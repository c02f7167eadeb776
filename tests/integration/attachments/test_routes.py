"""/notes/{id}/attachments through the local gateway, S3 on moto, processing by the real
image handler with real S3 events."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
from pymongo.collection import Collection

from smartnote import aws
from smartnote.config import get_settings
from smartnote.deps import AFTER_S3
from smartnote.domain.attachments import MAX_ATTACHMENTS_PER_NOTE
from smartnote.local.containers import FunctionRuntime
from smartnote.local.events import build_rest_event
from smartnote.local.template import Template
from smartnote.models.attachments import MAX_MULTIPART_BYTES, MAX_UPLOAD_BYTES
from tests.conftest import ApiUser, assert_error
from tests.integration.attachments.conftest import announce, upload, upload_key
from tests.utils.aws_faults import aws_answered, aws_answering
from tests.utils.images import HEIC_START, PAGE_TEXT, character_accuracy, encode, photographed_page
from tests.utils.one_line import INVISIBLE, NOT_ONE_LINE
from tests.utils.openapi_bodies import request_schema_admits

Process = Callable[..., dict[str, Any]]


def _policy(fields: dict[str, str]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
    return decoded


def test_presigned_post_policy_pins_key_type_and_size(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], bucket: str
) -> None:
    response = api.post(
        f"/notes/{note['id']}/attachments",
        json={"filename": "receipt.jpg", "content_type": "image/jpeg", "size": 123_456},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    attachment, upload_ticket = body["attachment"], body["upload"]
    assert attachment["status"] == "pending"
    assert attachment["original_url"] is None
    key = upload_key(user, note["id"], attachment["id"])
    fields = upload_ticket["fields"]
    assert fields["key"] == key
    assert fields["Content-Type"] == "image/jpeg"
    assert upload_ticket["expires_in"] == 900
    conditions = _policy(fields)["conditions"]
    assert {"bucket": bucket} in conditions
    assert {"key": key} in conditions
    assert {"Content-Type": "image/jpeg"} in conditions
    assert ["content-length-range", 1, 123_456] in conditions
    assert "expiration" in _policy(fields)


def test_an_image_of_the_size_limit_may_be_announced(
    api: httpx.Client, user: ApiUser, note: dict[str, Any]
) -> None:
    """API.md: "up to 20 MB": the limit itself is taken, and the presigned POST lets S3 take
    it (a byte more is a 413: test_announcing_a_bad_upload_is_refused)."""
    response = api.post(
        f"/notes/{note['id']}/attachments",
        json={"filename": "scan.tiff", "content_type": "image/tiff", "size": MAX_UPLOAD_BYTES},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    conditions = _policy(response.json()["upload"]["fields"])["conditions"]
    assert ["content-length-range", 1, MAX_UPLOAD_BYTES] in conditions


def test_a_created_attachment_is_located_by_its_own_path(
    api: httpx.Client, user: ApiUser, note: dict[str, Any]
) -> None:
    """A 201 names what it created (RFC 9110 15.3.2), as `POST /notes` does: without
    `Location` the created resource would be the request's target, the note's list."""
    base = f"/notes/{note['id']}/attachments"
    announced = api.post(
        base,
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": 10},
        headers=user.headers,
    )
    image = encode(photographed_page(size=(300, 200)))
    uploaded = api.post(
        f"{base}/upload", files={"file": ("b.jpg", image, "image/jpeg")}, headers=user.headers
    )
    for response, attachment in (
        (announced, announced.json()["attachment"]),
        (uploaded, uploaded.json()),
    ):
        assert response.status_code == 201, response.text
        assert response.headers.get("location") == f"{base}/{attachment['id']}"
        located = api.get(response.headers["location"], headers=user.headers)
        assert located.json()["id"] == attachment["id"]


@pytest.mark.parametrize(
    "declared", ["image/jpg", "image/pjpeg", "IMAGE/JPEG", "image/jpeg; name=page.jpg"]
)
def test_other_names_of_an_accepted_type_are_that_type(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, declared: str
) -> None:
    """What browsers, Windows and hand-written clients send for JPEG: the type it names is
    announced, pinned in the policy and posted with the ticket's fields."""
    data = encode(photographed_page(size=(300, 200)))
    response = api.post(
        f"/notes/{note['id']}/attachments",
        json={"filename": "page.jpg", "content_type": declared, "size": len(data)},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["attachment"]["content_type"] == "image/jpeg"
    ticket = created["upload"]
    assert {"Content-Type": "image/jpeg"} in _policy(ticket["fields"])["conditions"]
    posted = httpx.post(ticket["url"], data=ticket["fields"], files={"file": ("page.jpg", data)})
    assert posted.status_code in (200, 204), posted.text
    stored = s3.head_object(Bucket=bucket, Key=ticket["fields"]["key"])
    assert stored["ContentType"] == "image/jpeg"


def test_presigned_post_upload_lands_and_is_processed(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    data = encode(photographed_page())
    created = api.post(
        f"/notes/{note['id']}/attachments",
        json={"filename": "page.jpg", "content_type": "image/jpeg", "size": len(data)},
        headers=user.headers,
    ).json()
    ticket = created["upload"]
    posted = httpx.post(ticket["url"], data=ticket["fields"], files={"file": ("page.jpg", data)})
    assert posted.status_code in (200, 204), posted.text
    key = ticket["fields"]["key"]
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(data)

    result = process(key)
    assert result["results"][0]["outcome"] == "ready"
    attachment = api.get(
        f"/notes/{note['id']}/attachments/{created['attachment']['id']}", headers=user.headers
    ).json()
    assert attachment["status"] == "ready"
    assert (attachment["width"], attachment["height"]) == (1400, 1000)
    assert character_accuracy("\n".join(PAGE_TEXT), attachment["ocr_text"]) >= 0.9
    assert 0 < attachment["ocr_confidence"] <= 1
    for url_field in ("original_url", "thumbnail_url", "web_url"):
        fetched = httpx.get(attachment[url_field])
        assert fetched.status_code == 200, url_field
    thumbnail = httpx.get(attachment["thumbnail_url"]).content
    assert thumbnail[:3] == b"\xff\xd8\xff"


def test_the_original_is_served_as_what_it_is_under_the_name_it_was_uploaded_with(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], process: Process
) -> None:
    """Declared a PNG, it is a JPEG: S3 keeps the declared type with the object, but the link
    serves the type processing found, and a browser saving it gets the file's name."""
    data = encode(photographed_page(size=(300, 200)))
    name = 'Quittung März "2".png'
    created = api.post(
        f"/notes/{note['id']}/attachments",
        json={"filename": name, "content_type": "image/png", "size": len(data)},
        headers=user.headers,
    ).json()
    ticket = created["upload"]
    posted = httpx.post(ticket["url"], data=ticket["fields"], files={"file": ("x", data)})
    assert posted.status_code in (200, 204), posted.text
    assert process(ticket["fields"]["key"])["results"][0]["outcome"] == "ready"
    path = f"/notes/{note['id']}/attachments/{created['attachment']['id']}"
    attachment = api.get(path, headers=user.headers).json()
    assert attachment["content_type"] == "image/jpeg"
    served = httpx.get(attachment["original_url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["content-disposition"] == (
        'inline; filename="Quittung M_rz _2_.png"; '
        "filename*=UTF-8''Quittung%20M%C3%A4rz%20%222%22.png"
    )
    assert served.content == data


def test_ocr_text_is_searchable(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], process: Process
) -> None:
    attachment = upload(api, user, note["id"], encode(photographed_page()))
    process(upload_key(user, note["id"], attachment["id"]))
    found = api.get("/notes", params={"q": "plumber kitchen"}, headers=user.headers).json()
    assert [n["id"] for n in found["items"]] == [note["id"]]
    summary = found["items"][0]["attachments"][0]
    assert summary["id"] == attachment["id"]
    assert summary["status"] == "ready"
    assert api.get("/notes", params={"q": "zeppelin"}, headers=user.headers).json()["items"] == []


def test_a_notes_etag_changes_when_its_attachment_is_processed(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], process: Process
) -> None:
    """A client revalidating its copy of the note with If-None-Match gets the processed
    attachment (status, OCR text searchable), not a 304 for the copy it holds."""
    attachment = upload(api, user, note["id"], encode(photographed_page()))
    url = f"/notes/{note['id']}"
    held = api.get(url, headers=user.headers)
    assert held.json()["attachments"][0]["status"] == "pending"
    process(upload_key(user, note["id"], attachment["id"]))
    revalidated = api.get(url, headers={**user.headers, "If-None-Match": held.headers["etag"]})
    assert revalidated.status_code == 200
    assert revalidated.json()["attachments"][0]["status"] == "ready"
    assert revalidated.headers["etag"] == f'"{revalidated.json()["version"]}"'
    assert revalidated.headers["etag"] != held.headers["etag"]
    current = {**user.headers, "If-None-Match": revalidated.headers["etag"]}
    assert api.get(url, headers=current).status_code == 304
    found = api.get("/notes", params={"q": "plumber"}, headers=user.headers).json()["items"]
    assert found == [revalidated.json()]


def test_a_failed_upload_over_a_processed_one_keeps_none_of_its_results(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    # The presigned POST may be used again within its lifetime: a second file at the same
    # key that fails must not leave the first one's thumbnail shown and text searchable.
    attachment = upload(api, user, note["id"], encode(photographed_page()))
    key = upload_key(user, note["id"], attachment["id"])
    process(key)
    s3.put_object(Bucket=bucket, Key=key, Body=b"not an image at all")
    process(key)
    got = api.get(f"/notes/{note['id']}/attachments/{attachment['id']}", headers=user.headers)
    failed = got.json()
    assert failed["status"] == "failed" and failed["error"]
    assert failed["ocr_text"] is None and failed["thumbnail_url"] is None
    assert failed["width"] is None and failed["height"] is None
    found = api.get("/notes", params={"q": "plumber kitchen"}, headers=user.headers).json()
    assert found["items"] == []


def test_ocr_text_of_a_long_note_is_searchable(
    api: httpx.Client, user: ApiUser, process: Process
) -> None:
    content = " ".join(f"w{i}" for i in range(12_000))  # past the 5000 words once indexed
    note = api.post("/notes", json={"title": "long", "content": content}, headers=user.headers)
    note_id = note.json()["id"]
    attachment = upload(api, user, note_id, encode(photographed_page()))
    assert process(upload_key(user, note_id, attachment["id"]))["results"][0]["outcome"] == "ready"
    found = api.get("/notes", params={"q": "plumber kitchen"}, headers=user.headers).json()
    assert [n["id"] for n in found["items"]] == [note_id]


def test_duplicate_delivery_does_no_duplicate_work(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], process: Process
) -> None:
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(800, 600))))
    key = upload_key(user, note["id"], attachment["id"])
    assert process(key)["results"][0]["outcome"] == "ready"
    version = api.get(f"/notes/{note['id']}", headers=user.headers).json()["version"]
    again = process(key)["results"][0]["outcome"]
    assert again.startswith("skipped")
    after = api.get(f"/notes/{note['id']}", headers=user.headers).json()
    assert after["version"] == version  # nothing written
    assert len(after["attachments"]) == 1


@pytest.mark.parametrize(
    ("name", "data"),
    [("photo.png", b"hello, I am text"), ("IMG_0001.jpg", HEIC_START)],
    ids=["text-named-png", "iphone-heic-named-jpg"],
)
def test_multipart_upload_refuses_a_file_that_is_not_an_accepted_image(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], name: str, data: bytes
) -> None:
    response = api.post(
        f"/notes/{note['id']}/attachments/upload",
        files={"file": (name, data, "image/jpeg")},
        headers=user.headers,
    )
    assert_error(response, 415, "unsupported_media_type")
    assert api.get(f"/notes/{note['id']}", headers=user.headers).json()["attachments"] == []


@pytest.mark.parametrize(
    ("ext", "content_type"),
    [
        (".jpg", "image/jpeg"),
        (".png", "image/png"),
        (".webp", "image/webp"),
        (".tiff", "image/tiff"),
        (".bmp", "image/bmp"),
    ],
)
def test_each_accepted_format_is_taken_and_processed(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    process: Process,
    ext: str,
    content_type: str,
) -> None:
    """API.md: "Accepted: JPEG, PNG, WebP, TIFF, BMP". Each, uploaded under a name and a
    declared type that say nothing of it, is recorded as what its bytes are and ends `ready`
    with its size."""
    data = encode(photographed_page(size=(300, 200)), ext)
    attachment = upload(api, user, note["id"], data, "scan")
    assert attachment["content_type"] == content_type
    result = process(upload_key(user, note["id"], attachment["id"]))
    assert result["results"][0]["outcome"] == "ready", result
    url = f"/notes/{note['id']}/attachments/{attachment['id']}"
    processed = api.get(url, headers=user.headers).json()
    assert (processed["status"], processed["width"], processed["height"]) == ("ready", 300, 200)
    assert processed["content_type"] == content_type


def test_download_urls_are_short_lived(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], process: Process
) -> None:
    """API.md: "URLs are short-lived presigned GETs": each expires after the configured
    lifetime (SigV4's X-Amz-Expires), minutes, not the week SigV4 allows."""
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(300, 200))))
    process(upload_key(user, note["id"], attachment["id"]))
    url = f"/notes/{note['id']}/attachments/{attachment['id']}"
    processed = api.get(url, headers=user.headers).json()
    lifetime = get_settings().download_url_ttl_seconds
    assert lifetime <= 15 * 60
    for field in ("original_url", "thumbnail_url", "web_url"):
        query = parse_qs(urlsplit(processed[field]).query)
        assert query["X-Amz-Expires"] == [str(lifetime)], field


def test_multipart_upload_over_the_limit_is_413(
    api: httpx.Client, user: ApiUser, note: dict[str, Any]
) -> None:
    data = b"\xff\xd8\xff" + b"\x00" * MAX_MULTIPART_BYTES
    response = api.post(
        f"/notes/{note['id']}/attachments/upload",
        files={"file": ("big.jpg", data, "image/jpeg")},
        headers=user.headers,
    )
    assert_error(response, 413, "payload_too_large")
    assert api.get(f"/notes/{note['id']}", headers=user.headers).json()["attachments"] == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"filename": "a.gif", "content_type": "image/gif", "size": 10},
            415,
            "unsupported_media_type",
        ),
        (
            {"filename": "IMG_0001.HEIC", "content_type": "image/heic", "size": 10},
            415,
            "unsupported_media_type",
        ),
        (
            {"filename": "a.txt", "content_type": "text/plain", "size": 10},
            415,
            "unsupported_media_type",
        ),
        (
            {"filename": "a.jpg", "content_type": "image/jpeg", "size": 20 * 1024 * 1024 + 1},
            413,
            "payload_too_large",
        ),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 0}, 422, "validation_error"),
        # A size is a JSON integer, as an edit's numbers are (lax, true was 1 byte).
        (
            {"filename": "a.jpg", "content_type": "image/jpeg", "size": True},
            422,
            "validation_error",
        ),
        (
            {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10.0},
            422,
            "validation_error",
        ),
        (
            {"filename": "a.jpg", "content_type": "image/jpeg", "size": "10"},
            422,
            "validation_error",
        ),
        ({"filename": "", "content_type": "image/jpeg", "size": 10}, 422, "validation_error"),
        (
            {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10, "key": "x"},
            422,
            "validation_error",
        ),
    ],
)
def test_announcing_a_bad_upload_is_refused(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = api.post(f"/notes/{note['id']}/attachments", json=body, headers=user.headers)
    assert_error(response, status, code)
    assert api.get(f"/notes/{note['id']}", headers=user.headers).json()["attachments"] == []


def test_another_users_note_and_attachment_are_404(
    api: httpx.Client, user: ApiUser, other_user: ApiUser, note: dict[str, Any]
) -> None:
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(400, 300))))
    base = f"/notes/{note['id']}/attachments"
    for method, path in (
        ("GET", base),
        ("GET", f"{base}/{attachment['id']}"),
        ("DELETE", f"{base}/{attachment['id']}"),
    ):
        assert_error(api.request(method, path, headers=other_user.headers), 404, "not_found")
    announce = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10}
    assert_error(api.post(base, json=announce, headers=other_user.headers), 404, "not_found")
    assert_error(api.get(f"{base}/nope", headers=user.headers), 404, "not_found")
    assert len(api.get(base, headers=user.headers).json()) == 1


def test_trashed_note_takes_no_new_attachment(
    api: httpx.Client, user: ApiUser, note: dict[str, Any]
) -> None:
    assert api.delete(f"/notes/{note['id']}", headers=user.headers).status_code == 204
    response = api.post(
        f"/notes/{note['id']}/attachments",
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": 10},
        headers=user.headers,
    )
    assert_error(response, 409, "conflict")


def test_a_trashed_notes_attachments_are_kept_until_it_is_restored(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    """The trash keeps a note as it was (its edits and new attachments are refused): deleting
    one of its attachments is a 409 too, and its objects stay."""
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(400, 300))))
    process(upload_key(user, note["id"], attachment["id"]))
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    assert api.delete(f"/notes/{note['id']}", headers=user.headers).status_code == 204
    trashed = api.get(f"/notes/{note['id']}", headers=user.headers).json()

    assert_error(api.delete(path, headers=user.headers), 409, "conflict")
    after = api.get(f"/notes/{note['id']}", headers=user.headers).json()
    assert (after["version"], after["attachments"]) == (trashed["version"], trashed["attachments"])
    prefix = f"derived/{user.id}/{note['id']}/{attachment['id']}/"
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 2
    assert api.post(f"/notes/{note['id']}/restore", headers=user.headers).status_code == 200
    assert api.delete(path, headers=user.headers).status_code == 204


def test_a_multi_file_upload_announces_every_file(
    api_base_url: str, api: httpx.Client, user: ApiUser, note: dict[str, Any]
) -> None:
    """A client announces its photos at once, far under the cap: none is refused (409)."""
    from concurrent.futures import ThreadPoolExecutor

    files, rounds = 8, 5
    start = threading.Barrier(files)

    def announce(number: int) -> httpx.Response:
        with httpx.Client(base_url=api_base_url, timeout=60) as client:
            start.wait()
            return client.post(
                f"/notes/{note['id']}/attachments",
                json={"filename": f"p{number}.jpg", "content_type": "image/jpeg", "size": 10},
                headers=user.headers,
            )

    with ThreadPoolExecutor(files) as pool:
        for _ in range(rounds):
            answers = list(pool.map(announce, range(files)))
            assert [r.status_code for r in answers] == [201] * files, [r.text for r in answers]
    listed = api.get(f"/notes/{note['id']}/attachments", headers=user.headers).json()
    assert len(listed) == files * rounds


def test_the_51st_attachment_of_a_note_is_a_409_and_changes_nothing(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str
) -> None:
    """A note holds at most 50 attachments (`MAX_ATTACHMENTS_PER_NOTE`), by either route."""
    for _ in range(MAX_ATTACHMENTS_PER_NOTE):
        announce(api, user, note["id"])
    url = f"/notes/{note['id']}"
    full = api.get(url, headers=user.headers).json()
    prefix = f"uploads/{user.id}/{note['id']}/"
    objects = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"]

    announced = api.post(
        f"{url}/attachments",
        json={"filename": "51.jpg", "content_type": "image/jpeg", "size": 10},
        headers=user.headers,
    )
    assert (
        f"at most {MAX_ATTACHMENTS_PER_NOTE}" in assert_error(announced, 409, "conflict")["message"]
    )
    image = encode(np.full((20, 20, 3), 128, np.uint8))
    uploaded = api.post(
        f"{url}/attachments/upload",
        files={"file": ("51.jpg", image, "image/jpeg")},
        headers=user.headers,
    )
    assert_error(uploaded, 409, "conflict")
    assert api.get(url, headers=user.headers).json() == full
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == objects

    # The limit counts what the note holds: one deleted, one more fits.
    gone = api.delete(f"{url}/attachments/{full['attachments'][0]['id']}", headers=user.headers)
    assert gone.status_code == 204
    assert upload(api, user, note["id"], image, name="51.jpg")["filename"] == "51.jpg"
    assert len(api.get(url, headers=user.headers).json()["attachments"]) == MAX_ATTACHMENTS_PER_NOTE


def test_attachment_writes_document_the_409_of_lasting_contention(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    base = "/notes/{note_id}/attachments"
    for operation in (
        paths[base]["post"],
        paths[f"{base}/upload"]["post"],
        paths[f"{base}/{{attachment_id}}/edits"]["post"],
        paths[f"{base}/{{attachment_id}}"]["delete"],
    ):
        assert "other writes" in operation["responses"]["409"]["description"]


def test_delete_attachment_removes_its_objects(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(600, 400))))
    process(upload_key(user, note["id"], attachment["id"]))
    prefix_parts = (user.id, note["id"], attachment["id"])
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="derived/" + "/".join(prefix_parts))
    assert listed["KeyCount"] == 2  # thumbnail and web copy
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    assert api.delete(path, headers=user.headers).status_code == 204
    for root in ("uploads/", "derived/"):
        assert (
            s3.list_objects_v2(Bucket=bucket, Prefix=root + "/".join(prefix_parts))["KeyCount"] == 0
        )
    assert_error(api.get(path, headers=user.headers), 404, "not_found")


def test_permanent_note_delete_removes_attachment_objects(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(600, 400))))
    process(upload_key(user, note["id"], attachment["id"]))
    response = api.delete(
        f"/notes/{note['id']}", params={"permanent": "true"}, headers=user.headers
    )
    assert response.status_code == 204
    for root in ("uploads/", "derived/"):
        prefix = f"{root}{user.id}/{note['id']}/"
        assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0


@pytest.mark.parametrize("deleted", ["attachment", "note"])
def test_outputs_written_while_a_delete_runs_are_not_left_behind(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    s3: Any,
    bucket: str,
    process: Process,
    deleted: str,
) -> None:
    """The image run writes its thumbnail and web copy after the API listed the objects to
    delete but before the API's request is over: nothing may stay (no record points at it)."""
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(600, 400))))
    path = f"/notes/{note['id']}" + (
        f"/attachments/{attachment['id']}" if deleted == "attachment" else "?permanent=true"
    )
    delete_started, api_listed_outputs, image_done = (threading.Event() for _ in range(3))
    answers: list[int] = []
    delete = threading.Thread(
        target=lambda: answers.append(api.delete(path, headers=user.headers).status_code)
    )

    def api_listed(parsed: dict[str, Any]) -> None:
        if str(parsed.get("Prefix", "")).startswith("derived/"):  # the API's last listing
            api_listed_outputs.set()
            image_done.wait(30)  # the rest of the API's request comes after the image run

    def image_writing(params: dict[str, Any]) -> None:
        if "/derived/" in params["url_path"] and not delete_started.is_set():
            delete_started.set()
            delete.start()
            assert api_listed_outputs.wait(30)  # outputs are written now, after the listing

    with (
        aws_answered("s3", "ListObjectsV2", api_listed, aws.S3_CALLS),
        aws_answering("s3", "PutObject", image_writing, aws.S3_CALLS),
    ):
        try:
            process(upload_key(user, note["id"], attachment["id"]))
        finally:
            image_done.set()
            delete.join(30)
    assert answers == [204]
    for root in ("uploads/", "derived/"):
        prefix = f"{root}{user.id}/{note['id']}/"
        assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0


@pytest.mark.parametrize(
    ("upload_bytes", "reason"),
    [
        (b"just some text, not a picture", "not a supported image"),
        (encode(photographed_page(size=(600, 400)))[:2000], "corrupt or truncated"),
    ],
    ids=["text", "truncated-jpeg"],
)
def test_bad_bytes_end_as_failed_with_a_reason(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    s3: Any,
    bucket: str,
    process: Process,
    upload_bytes: bytes,
    reason: str,
) -> None:
    # Straight to S3, as a presigned POST would (the API's sniffing is bypassed).
    created = api.post(
        f"/notes/{note['id']}/attachments",
        json={"filename": "x.jpg", "content_type": "image/jpeg", "size": len(upload_bytes)},
        headers=user.headers,
    ).json()
    key = created["upload"]["fields"]["key"]
    s3.put_object(Bucket=bucket, Key=key, Body=upload_bytes)
    assert process(key)["results"][0]["outcome"].startswith("failed")
    attachment = api.get(
        f"/notes/{note['id']}/attachments/{created['attachment']['id']}", headers=user.headers
    ).json()
    assert attachment["status"] == "failed"
    assert reason in attachment["error"]
    assert attachment["thumbnail_url"] is None


def test_edits_make_a_derived_image(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], bucket: str, process: Process
) -> None:
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(800, 600))))
    process(upload_key(user, note["id"], attachment["id"]))
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    operations = [
        {"op": "rotate", "degrees": 90},
        {"op": "crop", "x": 0, "y": 0, "width": 300, "height": 400},
        {"op": "resize", "width": 150},
        {"op": "grayscale"},
        {"op": "auto_enhance"},
        {"op": "convert", "format": "png"},
    ]
    accepted = api.post(f"{path}/edits", json={"operations": operations}, headers=user.headers)
    assert accepted.status_code == 202, accepted.text
    derived_id = accepted.json()["derived"]["id"]
    assert accepted.json()["derived"]["status"] == "pending"

    request_key = f"uploads/{user.id}/{note['id']}/{attachment['id']}/edits/{derived_id}.json"
    assert process(request_key)["results"][0]["outcome"] == "ready"
    derived = api.get(path, headers=user.headers).json()["derived"]
    assert len(derived) == 1
    assert derived[0]["status"] == "ready"
    assert (derived[0]["width"], derived[0]["height"]) == (150, 200)
    assert derived[0]["content_type"] == "image/png"
    assert httpx.get(derived[0]["url"]).content[:8] == b"\x89PNG\r\n\x1a\n"


def test_concurrent_edits_each_get_their_result(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], process: Process
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    attachment = upload(api, user, note["id"], encode(photographed_page(size=(400, 300))))
    process(upload_key(user, note["id"], attachment["id"]))
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    ids = [
        api.post(
            f"{path}/edits",
            json={"operations": [{"op": "rotate", "degrees": d}]},
            headers=user.headers,
        ).json()["derived"]["id"]
        for d in (90, 180, 270)
    ]
    keys = [f"uploads/{user.id}/{note['id']}/{attachment['id']}/edits/{i}.json" for i in ids]
    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(lambda k: process(k)["results"][0]["outcome"], keys))
    assert outcomes == ["ready"] * 3
    derived = {d["id"]: d for d in api.get(path, headers=user.headers).json()["derived"]}
    assert {i: (derived[i]["width"], derived[i]["height"]) for i in ids} == {
        ids[0]: (300, 400),
        ids[1]: (400, 300),
        ids[2]: (300, 400),
    }


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "sharpen"}],
        [{"op": "grayscale"}] * 11,
        [],
        [{"op": "crop", "x": 350, "y": 0, "width": 100, "height": 100}],
        [
            {"op": "rotate", "degrees": 90},
            {"op": "crop", "x": 0, "y": 0, "width": 400, "height": 300},
        ],
        [{"op": "resize"}],
        [{"op": "rotate", "degrees": 45}],
        [{"op": "convert", "format": "gif"}],
        [
            {"op": "resize", "width": 100},  # 100x75
            {"op": "crop", "x": 0, "y": 0, "width": 100, "height": 76},
        ],
        [{"op": "resize", "width": 20_000}],  # 20000x15000: 300 megapixels
        [{"op": "grayscale"}, {"op": "rotate", "degrees": 90}, {"op": "resize", "height": 7304}],
    ],
    ids=[
        "unknown-op",
        "too-many",
        "none",
        "crop-outside",
        "crop-outside-after-rotate",
        "resize-no-size",
        "rotate-45",
        "convert-gif",
        "crop-outside-after-resize",
        "resize-past-40-megapixels",
        "resize-past-40-megapixels-after-rotate",
    ],
)
def test_bad_edits_are_422_and_queue_nothing(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], process: Process, operations: list[Any]
) -> None:
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(400, 300))))
    process(upload_key(user, note["id"], attachment["id"]))
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    response = api.post(f"{path}/edits", json={"operations": operations}, headers=user.headers)
    assert_error(response, 422, "validation_error")
    assert api.get(path, headers=user.headers).json()["derived"] == []


# Sizes and offsets out of range, which the document's Crop and Resize must declare (it
# once carried pydantic's `gt`/`ge`/`le`, which no JSON Schema reader knows).
OUT_OF_RANGE_EDITS: list[dict[str, Any]] = [
    {"op": "resize", "height": 0},
    {"op": "resize", "width": 20_001},
    {"op": "crop", "x": -1, "y": 0, "width": 10, "height": 10},
    {"op": "crop", "x": 0, "y": 20_001, "width": 10, "height": 10},
    {"op": "crop", "x": 0, "y": 0, "width": 0, "height": 10},
    {"op": "crop", "x": 0, "y": 0, "width": 10, "height": 20_001},
]


@pytest.mark.parametrize("operation", OUT_OF_RANGE_EDITS, ids=json.dumps)
def test_the_document_declares_the_range_of_edit_sizes(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], operation: dict[str, Any]
) -> None:
    attachment = announce(api, user, note["id"])
    path = f"/notes/{note['id']}/attachments/{attachment['id']}/edits"
    body = {"operations": [operation]}
    assert_error(api.post(path, json=body, headers=user.headers), 422, "validation_error")
    assert not request_schema_admits(
        "POST", "/notes/{note_id}/attachments/{attachment_id}/edits", body
    )


# Numbers that are not JSON integers, where an edit wants one: pydantic's lax mode read
# them as 1, 1000, 10 and 90.
NOT_JSON_INTEGERS = [
    '{"op": "crop", "x": true, "y": 0, "width": 10, "height": 10}',
    '{"op": "crop", "x": 0, "y": 0, "width": 1e2, "height": 10}',
    '{"op": "crop", "x": 0, "y": 0, "width": 10.0, "height": 10}',
    '{"op": "crop", "x": 0, "y": "5", "width": 10, "height": 10}',
    '{"op": "resize", "width": true}',
    '{"op": "resize", "height": 1E2}',
    '{"op": "rotate", "degrees": 90.0}',
]


def test_edit_sizes_are_json_integers_or_422_and_queue_nothing(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], process: Process
) -> None:
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(400, 300))))
    process(upload_key(user, note["id"], attachment["id"]))
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    headers = {**user.headers, "Content-Type": "application/json"}
    for operation in NOT_JSON_INTEGERS:
        body = f'{{"operations": [{operation}]}}'
        response = api.post(f"{path}/edits", content=body, headers=headers)
        (detail,) = assert_error(response, 422, "validation_error")["details"]
        assert detail["loc"][:3] == ["body", "operations", 0], detail
        assert "JSON integer" in detail["msg"], (operation, detail)
    assert api.get(path, headers=user.headers).json()["derived"] == []


def test_edit_before_processing_is_409(
    api: httpx.Client, user: ApiUser, note: dict[str, Any]
) -> None:
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(400, 300))))
    response = api.post(
        f"/notes/{note['id']}/attachments/{attachment['id']}/edits",
        json={"operations": [{"op": "grayscale"}]},
        headers=user.headers,
    )
    assert_error(response, 409, "conflict")


def test_edit_of_an_image_that_failed_says_so_not_that_it_is_still_processing(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], process: Process
) -> None:
    """A failed image never becomes ready: telling the client to wait for it would have it
    wait forever."""
    damaged = encode(photographed_page(size=(400, 300)))[:300]
    attachment = upload(api, user, note["id"], damaged)
    process(upload_key(user, note["id"], attachment["id"]))
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    assert api.get(path, headers=user.headers).json()["status"] == "failed"
    response = api.post(
        f"{path}/edits", json={"operations": [{"op": "grayscale"}]}, headers=user.headers
    )
    assert_error(response, 409, "conflict")
    message = response.json()["error"]["message"]
    assert "could not be processed" in message
    assert "once its status is ready" not in message


def test_account_deletion_removes_attachment_objects(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(600, 400))))
    process(upload_key(user, note["id"], attachment["id"]))
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"derived/{user.id}/")["KeyCount"] == 2
    response = api.request(
        "DELETE", "/users/me", json={"password": user.password}, headers=user.headers
    )
    assert response.status_code == 204
    for root in ("uploads/", "derived/"):
        assert s3.list_objects_v2(Bucket=bucket, Prefix=f"{root}{user.id}/")["KeyCount"] == 0


def test_requests_that_sign_nothing_build_no_s3_client(
    api: httpx.Client, user: ApiUser, note: dict[str, Any]
) -> None:
    # The S3 client (boto3 import + build, the bulk of a cold first call) comes on first use.
    aws._client.cache_clear()
    assert api.get(f"/notes/{note['id']}/attachments", headers=user.headers).json() == []
    missing = api.get(f"/notes/{note['id']}/attachments/nope", headers=user.headers)
    assert_error(missing, 404, "not_found")
    assert aws._client.cache_info().currsize == 0


def _throttled(params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """S3 throttling a call (it answers 503 SlowDown under load, on every retry here)."""
    return 503, {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}


def _partly_refused(params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """DeleteObjects succeeding as a call and listing the keys it could not delete."""
    error = {"Key": "k", "Code": "InternalError", "Message": "We encountered an error"}
    return 200, {"Deleted": [], "Errors": [error]}


@pytest.mark.parametrize("refusal", [_partly_refused, _throttled], ids=["partly", "throttled"])
@pytest.mark.parametrize("deleted", ["attachment", "note"])
def test_a_delete_repeated_after_a_503_removes_the_objects(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    s3: Any,
    bucket: str,
    process: Process,
    deleted: str,
    refusal: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]],
) -> None:
    """S3 refusing the object deletion (some keys, or the whole call) is a 503 whose
    repetition finishes the deletion: the record is already gone then, and the repeated call,
    a 404, must still remove the objects (nothing else ever would)."""
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(600, 400))))
    process(upload_key(user, note["id"], attachment["id"]))
    path = f"/notes/{note['id']}" + (
        f"/attachments/{attachment['id']}" if deleted == "attachment" else "?permanent=true"
    )
    with aws_answering("s3", "DeleteObjects", refusal, aws.S3_CALLS):
        response = api.delete(path, headers=user.headers)
    assert_error(response, 503, "service_unavailable")
    assert int(response.headers["retry-after"]) > 0
    assert_error(api.delete(path, headers=user.headers), 404, "not_found")
    for root in ("uploads/", "derived/"):
        prefix = f"{root}{user.id}/{note['id']}/"
        assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0, root
    # Ids we never make still answer 404 (they reach no S3 call).
    for odd in ("/notes/%00?permanent=true", f"/notes/{note['id']}/attachments/a%0Ab"):
        assert_error(api.delete(odd, headers=user.headers), 404, "not_found")


def test_a_purge_without_time_for_an_s3_call_is_a_503_and_its_repeat_removes_the_objects(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    s3: Any,
    bucket: str,
    process: Process,
    template: Template,
) -> None:
    """A route starts no S3 call that could outlast its invocation (`deps.s3_has_time`,
    from the Lambda context's remaining time): in a function whose Timeout is shorter than
    one call's worst case and what follows it, the purge answers 503 before any call, and
    the repeat, with the time, deletes the objects."""
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(300, 200))))
    process(upload_key(user, note["id"], attachment["id"]))
    prefix = f"uploads/{user.id}/{note['id']}/"
    too_short = int((aws.S3_CALLS.worst_case + AFTER_S3).total_seconds()) - 1
    container = FunctionRuntime(replace(template.function("notes"), timeout=too_short), 1)
    headers = [("Host", "127.0.0.1"), ("Authorization", f"Bearer {user.access_token}")]
    event = build_rest_event(
        "DELETE",
        f"/notes/{note['id']}?permanent=true",
        headers,
        resource="/notes/{note_id}",
        path_parameters={"note_id": note["id"]},
    )
    try:
        answer = container.invoke(event)
    finally:
        container.shutdown()
    assert answer["statusCode"] == 503, answer
    assert json.loads(answer["body"])["error"]["code"] == "service_unavailable"
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 1  # not started
    path = f"/notes/{note['id']}?permanent=true"
    assert_error(api.delete(path, headers=user.headers), 404, "not_found")
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0


@pytest.mark.parametrize(
    ("size", "operations"),
    [
        ((17_000, 100), [{"op": "convert", "format": "webp"}]),  # WebP: 16383 a side
        ((8_500, 100), [{"op": "resize", "width": 17_000}, {"op": "convert", "format": "webp"}]),
        ((100, 8_500), [{"op": "convert", "format": "webp"}, {"op": "resize", "height": 17_000}]),
    ],
    ids=["convert", "resize-then-convert", "convert-then-resize"],
)
def test_an_edit_too_long_for_its_output_format_is_422(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    process: Process,
    size: tuple[int, int],
    operations: list[Any],
) -> None:
    """The processor cannot write such an image (transform.encode refuses it): the API, which
    knows the size, refuses the edit at once instead of a 202 whose result always fails."""
    width, height = size
    image = np.full((height, width, 3), 200, np.uint8)
    attachment = upload(api, user, note["id"], encode(image, ".png"), "strip.png")
    outcome = process(upload_key(user, note["id"], attachment["id"]))["results"][0]["outcome"]
    assert outcome == "ready"
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    response = api.post(f"{path}/edits", json={"operations": operations}, headers=user.headers)
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["type"] == "edge_too_long"
    assert api.get(path, headers=user.headers).json()["derived"] == []


NOT_IN_A_NAME = [f"{text}.jpg" for text in NOT_ONE_LINE]


@pytest.mark.parametrize("filename", NOT_IN_A_NAME)
def test_announcing_a_filename_with_control_characters_is_422(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], filename: str
) -> None:
    response = api.post(
        f"/notes/{note['id']}/attachments",
        json={"filename": filename, "content_type": "image/jpeg", "size": 10},
        headers=user.headers,
    )
    assert_error(response, 422, "validation_error")
    assert api.get(f"/notes/{note['id']}", headers=user.headers).json()["attachments"] == []


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("C:\\fakepath\\photo.jpg", "photo.jpg"),  # what some browsers send
        ("../../etc/receipt.jpg", "receipt.jpg"),
        ("scan\x00\x1b.jpg", "scan.jpg"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("two\x85lines\u2028here.jpg", "two lines here.jpg"),  # a break parts words
        ("קבלה.jpg", "קבלה.jpg"),  # a right-to-left name needs no bidi control
        ("dir/", "image"),
        ("\x01\x02", "image"),
        *((invisible, "image") for invisible in INVISIBLE),
        (".", "image"),
        ("..", "image"),
        ("photos/..", "image"),
    ],
)
def test_a_multipart_filename_is_kept_as_a_plain_name(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], sent: str, stored: str
) -> None:
    """A file's name is one line of text without directories (RFC 7578 section 4.2: the
    path a sender adds is not to be trusted), as through the presigned POST."""
    image = encode(np.full((20, 20, 3), 128, np.uint8))
    boundary = "smartnote-test-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + sent.encode()
        + b'"\r\nContent-Type: image/jpeg\r\n\r\n'
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = api.post(
        f"/notes/{note['id']}/attachments/upload",
        content=body,
        headers={**user.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == stored


def test_announcing_keeps_the_name_without_its_directories(
    api: httpx.Client, user: ApiUser, note: dict[str, Any]
) -> None:
    for sent, stored in (("C:\\Users\\me\\a.jpg", "a.jpg"), ("x/../b.png", "b.png")):
        response = api.post(
            f"/notes/{note['id']}/attachments",
            json={"filename": sent, "content_type": "image/jpeg", "size": 10},
            headers=user.headers,
        )
        assert response.status_code == 201, response.text
        assert response.json()["attachment"]["filename"] == stored
    response = api.post(
        f"/notes/{note['id']}/attachments",
        json={"filename": "dir/", "content_type": "image/jpeg", "size": 10},
        headers=user.headers,
    )
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("filename", ["dir/", *INVISIBLE, ".", "..", "photos/..", " .. "])
def test_announcing_a_filename_that_names_no_file_is_422(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], filename: str
) -> None:
    """Nothing a reader can see (a zero-width space), or a directory ("." and ".." too)."""
    response = api.post(
        f"/notes/{note['id']}/attachments",
        json={"filename": filename, "content_type": "image/jpeg", "size": 10},
        headers=user.headers,
    )
    (detail,) = assert_error(response, 422, "validation_error")["details"]
    assert detail["loc"] == ["body", "filename"], detail
    assert "invisible" in detail["msg"] or "directory" in detail["msg"], detail
    assert api.get(f"/notes/{note['id']}", headers=user.headers).json()["attachments"] == []


def test_a_direct_upload_s3_does_not_take_is_a_503_and_leaves_no_attachment(
    api: httpx.Client, user: ApiUser, note: dict[str, Any]
) -> None:
    """A client told to retry must not find a `pending` ghost of the upload that failed in
    its note (it would stay for a day, counted against the note's 50)."""
    with aws_answering("s3", "PutObject", _throttled, aws.S3_CALLS):
        response = api.post(
            f"/notes/{note['id']}/attachments/upload",
            files={"file": ("page.jpg", encode(photographed_page(size=(300, 200))), "image/jpeg")},
            headers=user.headers,
        )
    assert_error(response, 503, "service_unavailable")
    assert int(response.headers["retry-after"]) > 0
    assert api.get(f"/notes/{note['id']}", headers=user.headers).json()["attachments"] == []


def test_an_edit_s3_does_not_take_is_a_503_and_queues_nothing(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], process: Process
) -> None:
    """An edit whose request object S3 refused never runs: it must not stay `pending`."""
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(300, 200))))
    process(upload_key(user, note["id"], attachment["id"]))
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    with aws_answering("s3", "PutObject", _throttled, aws.S3_CALLS):
        response = api.post(
            f"{path}/edits", json={"operations": [{"op": "grayscale"}]}, headers=user.headers
        )
    assert_error(response, 503, "service_unavailable")
    assert int(response.headers["retry-after"]) > 0
    assert api.get(path, headers=user.headers).json()["derived"] == []


def test_attachment_writes_honour_the_notes_if_match(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    """An attachment is part of its note and each write of one is a new version of the note:
    a client that sends the note's ETag in If-Match, as it does for PATCH, must not have its
    write applied over a version it has not seen (RFC 9110 13.1.1), but get a 412."""
    image = encode(photographed_page(size=(300, 200)))
    attachment = upload(api, user, note["id"], image)
    process(upload_key(user, note["id"], attachment["id"]))
    url = f"/notes/{note['id']}"
    before = api.get(url, headers=user.headers)
    stale = {**user.headers, "If-Match": f'"{before.json()["version"] - 1}"'}
    base = f"{url}/attachments"
    announce_body = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10}
    writes = (
        lambda headers: api.post(base, json=announce_body, headers=headers),
        lambda headers: api.post(
            f"{base}/upload", files={"file": ("b.jpg", image, "image/jpeg")}, headers=headers
        ),
        lambda headers: api.post(
            f"{base}/{attachment['id']}/edits",
            json={"operations": [{"op": "grayscale"}]},
            headers=headers,
        ),
        lambda headers: api.delete(f"{base}/{attachment['id']}", headers=headers),
    )
    for write in writes:
        assert_error(write(stale), 412, "precondition_failed")
    assert api.get(url, headers=user.headers).json() == before.json()
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"uploads/{user.id}/")["KeyCount"] == 1
    for write in writes:
        current = api.get(url, headers=user.headers).headers["etag"]
        assert write({**user.headers, "If-Match": current}).status_code in (201, 202, 204)
    paths = api.get("/openapi.json").json()["paths"]
    for method, path in (
        ("post", "/notes/{note_id}/attachments"),
        ("post", "/notes/{note_id}/attachments/upload"),
        ("post", "/notes/{note_id}/attachments/{attachment_id}/edits"),
        ("delete", "/notes/{note_id}/attachments/{attachment_id}"),
    ):
        assert "412" in paths[path][method]["responses"], (method, path)


def test_a_delete_with_if_match_repeated_after_a_503_removes_the_objects(
    api: httpx.Client, user: ApiUser, note: dict[str, Any], s3: Any, bucket: str, process: Process
) -> None:
    """The repeat of a deletion S3 failed, with the same If-Match: the record went with the
    first call (a new version of the note), so the repeat finds no attachment, a 404 whatever
    the header says, and removes the objects, where a 412 would leave them behind."""
    attachment = upload(api, user, note["id"], encode(photographed_page(size=(600, 400))))
    process(upload_key(user, note["id"], attachment["id"]))
    etag = api.get(f"/notes/{note['id']}", headers=user.headers).headers["etag"]
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    headers = {**user.headers, "If-Match": etag}
    with aws_answering("s3", "DeleteObjects", _throttled, aws.S3_CALLS):
        assert_error(api.delete(path, headers=headers), 503, "service_unavailable")
    assert_error(api.delete(path, headers=headers), 404, "not_found")
    for root in ("uploads/", "derived/"):
        prefix = f"{root}{user.id}/{note['id']}/"
        assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0, root


def test_a_name_stored_before_names_were_checked_is_shown_and_served_as_one_plain_line(
    api: httpx.Client,
    user: ApiUser,
    note: dict[str, Any],
    notes_collection: Collection[dict[str, Any]],
) -> None:
    """Filenames stored before they were checked (no migration rewrote them, as it did titles)
    are shown, and named to a browser, as one line without directories or bidi overrides:
    the name `in<RLO>gpj.exe` reads `inexe.jpg` in a save dialog."""
    attachment = upload(api, user, note["id"], encode(np.full((20, 20, 3), 128, np.uint8)))
    notes_collection.update_one(
        {"_id": note["id"], "attachments.id": attachment["id"]},
        {
            "$set": {
                "attachments.$.filename": "C:\\tmp\\in\u202egpj.exe\r\nX: y",
                "attachments.$.status": "failed",  # an upload is there to download
            }
        },
    )
    shown = "ingpj.exe X: y"
    path = f"/notes/{note['id']}/attachments/{attachment['id']}"
    view = api.get(path, headers=user.headers).json()
    assert view["filename"] == shown
    listed = api.get(f"/notes/{note['id']}", headers=user.headers).json()["attachments"]
    assert [a["filename"] for a in listed] == [shown]
    served = httpx.get(view["original_url"])
    assert served.status_code == 200
    assert served.headers["content-disposition"] == (
        "inline; filename=\"ingpj.exe X: y\"; filename*=UTF-8''ingpj.exe%20X%3A%20y"
    )
