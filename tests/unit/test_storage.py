"""storage: S3 key layout and deletion by prefix."""

from __future__ import annotations

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
