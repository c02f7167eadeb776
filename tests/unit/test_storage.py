"""storage: S3 key layout and deletion by prefix."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from smartnote import storage
from smartnote.errors import is_unavailable


def test_objects_s3_refused_to_delete_are_an_error_not_a_count() -> None:
    # DeleteObjects answers 200 with the keys it could not delete under "Errors"; ignoring
    # them reported an account or a note's files gone while they stayed.
    s3 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
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


@pytest.mark.parametrize(
    ("name", "output"),
    [
        (storage.run_output_name("0123456789abcdef", storage.THUMBNAIL), True),
        (storage.run_output_name("0123456789abcdef", storage.WEB), True),
        (storage.edit_output_name("0123456789abcdef", "webp"), True),
        (storage.WEB, True),  # written right under the attachment before runs
        ("original", False),
        ("photo.jpg", False),
        ("processed/0123456789abcdef/other.jpg", False),
    ],
)
def test_image_outputs_are_what_the_image_function_writes_and_nothing_else(
    name: str, output: bool
) -> None:
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    derived = storage.derived_key("owner", "note", "attachment", name)
    assert (storage.image_output(derived, moment) is not None) is output
    uploaded = storage.upload_key("owner", "note", "attachment", name)
    assert storage.image_output(uploaded, moment) is None  # never under uploads/
