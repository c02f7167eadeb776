"""storage: S3 key layout and deletion by prefix."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from smartnote import storage
from smartnote.errors import is_unavailable

MOMENT = datetime(2030, 1, 1, tzinfo=UTC)


def _s3() -> Any:
    """A client that never reaches AWS: each test stubs its calls (`Stubber`)."""
    return boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_objects_s3_refused_to_delete_are_an_error_not_a_count() -> None:
    # DeleteObjects answers 200 with the keys it could not delete under "Errors"; ignoring
    # them reported an account or a note's files gone while they stayed.
    s3 = _s3()
    key = "uploads/owner/note/attachment/photo.jpg"
    with Stubber(s3) as stub:
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": key}], "IsTruncated": False},
            {"Bucket": "bucket", "Prefix": "uploads/owner/"},
        )
        stub.add_response(
            "delete_objects",
            {"Errors": [{"Key": key, "Code": "AccessDenied", "Message": "Access Denied"}]},
            {"Bucket": "bucket", "Delete": {"Objects": [{"Key": key}], "Quiet": True}},
        )
        with pytest.raises(storage.ObjectsNotDeleted, match="AccessDenied") as raised:
            storage.delete_prefixes(s3, "bucket", ["uploads/owner/"])
    assert is_unavailable(raised.value)  # answered 503: repeating the call finishes it


def test_a_deletion_out_of_time_stops_before_its_next_call_and_its_repeat_goes_on() -> None:
    """A route deletes page after page while one more S3 call fits before its invocation's
    deadline (`has_time`), then answers 503: what it deleted stays deleted, the repeat lists
    what is left. The stub fails any call it was not told of: none is made out of time."""
    s3 = _s3()
    first, rest = "uploads/owner/n/a/original", "uploads/owner/n/b/original"
    listing = {"Bucket": "bucket", "Prefix": "uploads/owner/"}
    page = {"IsTruncated": True, "NextContinuationToken": "next", "Contents": [{"Key": first}]}
    calls = iter([True, True, False])  # time for a page and its deletion, no more
    with Stubber(s3) as stub:
        stub.add_response("list_objects_v2", page, listing)
        stub.add_response("delete_objects", {}, _deletion(first))
        with pytest.raises(storage.DeletionUnfinished) as raised:
            storage.delete_prefixes(s3, "bucket", ["uploads/owner/"], lambda: next(calls))
        stub.assert_no_pending_responses()
    assert is_unavailable(raised.value)  # a 503 with Retry-After

    with Stubber(s3) as stub:  # the repeat, in time
        stub.add_response("list_objects_v2", {"Contents": [{"Key": rest}]}, listing)
        stub.add_response("delete_objects", {}, _deletion(rest))
        assert storage.delete_prefixes(s3, "bucket", ["uploads/owner/"], lambda: True) == 1
        stub.assert_no_pending_responses()


def _deletion(key: str) -> dict[str, object]:
    return {"Bucket": "bucket", "Delete": {"Objects": [{"Key": key}], "Quiet": True}}


@pytest.mark.parametrize(
    ("name", "output"),
    [
        (storage.run_output_name("0123456789abcdef", storage.THUMBNAIL), True),
        (storage.run_output_name("0123456789abcdef", storage.WEB), True),
        (storage.edit_output_name("0123456789abcdef", "webp"), True),
        (storage.WEB, True),  # written right under the attachment before runs
        (storage.ORIGINAL, False),
        ("photo.jpg", False),
        ("processed/0123456789abcdef/other.jpg", False),
    ],
)
def test_image_outputs_are_what_the_image_function_writes_and_nothing_else(
    name: str, output: bool
) -> None:
    derived = storage.derived_key("owner", "note", "attachment", name)
    assert (storage.attachment_object(derived, MOMENT) is not None) is output


@pytest.mark.parametrize(
    ("name", "ours"),
    [
        (storage.ORIGINAL, True),
        ("edits/0123456789abcdef.json", True),  # storage.edit_request_key's
        (storage.WEB, False),
        ("photo.jpg", False),  # a client's name is metadata, never the object's
        ("edits/0123456789abcdef.png", False),
        ("original/more", False),
    ],
)
def test_uploads_are_originals_and_edit_requests_and_nothing_else(name: str, ours: bool) -> None:
    uploaded = storage.upload_key("owner", "note", "attachment", name)
    found = storage.attachment_object(uploaded, MOMENT)
    assert (found is not None) is ours
    assert found is None or (found.note_id, found.attachment_id) == ("note", "attachment")


def test_a_listing_goes_on_after_a_key_and_tells_each_pages_last_key_of_any_layout() -> None:
    """The cleanup's sweep lists after the last key of the last page it handled: a key of
    no attachment's layout ends a page too, or a page of such keys was listed at each turn."""
    ours = storage.derived_key("owner", "note", "attachment", storage.WEB)
    other = storage.derived_key("owner", "note", "attachment", "photo.jpg")
    contents = [{"Key": key, "LastModified": MOMENT} for key in (ours, other)]
    listing = {"Bucket": "bucket", "Prefix": "derived/", "StartAfter": "derived/o", "MaxKeys": 2}
    with Stubber(s3 := _s3()) as stub:
        stub.add_response("list_objects_v2", {"Contents": contents}, listing)
        (page,) = storage.attachment_objects(s3, "bucket", storage.DERIVED, "derived/o", 2)
        stub.assert_no_pending_responses()
    assert ([found.key for found in page.objects], page.last_key) == ([ours], other)


def test_only_the_attachment_layouts_are_attachment_objects() -> None:
    for key in ("other/owner/note/attachment/original", "uploads/owner/note/original"):
        assert storage.attachment_object(key, MOMENT) is None


@pytest.mark.parametrize(
    ("name", "fallback", "exact"),
    [
        ('a"b\\c.jpg', "a_b_c.jpg", "a%22b%5Cc.jpg"),  # no quoted-pair: some agents ignore it
        ("x;y,z.jpg", "x;y,z.jpg", "x%3By%2Cz.jpg"),  # safe inside the quotes
        ("Quittung März.png", "Quittung M_rz.png", "Quittung%20M%C3%A4rz.png"),
        ("קבלה.jpg", "____.jpg", "%D7%A7%D7%91%D7%9C%D7%94.jpg"),
        # RFC 6266 appendix D: some agents decode %XX in `filename` (into a quote, here).
        ("100%22off.jpg", "100_22off.jpg", "100%2522off.jpg"),
    ],
)
def test_a_download_names_the_file_exactly_and_safely_for_old_clients(
    name: str, fallback: str, exact: str
) -> None:
    assert storage.inline_disposition(name) == (
        f"inline; filename=\"{fallback}\"; filename*=UTF-8''{exact}"
    )
