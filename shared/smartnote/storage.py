"""Where attachment objects live in S3, and deleting them by owner or note.

Layout (the image function is triggered on `uploads/` only):
    uploads/{owner_id}/{note_id}/{attachment_id}/{name}   what clients upload
    derived/{owner_id}/{note_id}/{attachment_id}/{name}   what the image function makes
"""

from __future__ import annotations

from typing import Any

UPLOADS = "uploads"
DERIVED = "derived"
_DELETE_BATCH = 1000  # S3 DeleteObjects takes at most 1000 keys


def upload_key(owner_id: str, note_id: str, attachment_id: str, name: str) -> str:
    return f"{UPLOADS}/{owner_id}/{note_id}/{attachment_id}/{name}"


def derived_key(owner_id: str, note_id: str, attachment_id: str, name: str) -> str:
    return f"{DERIVED}/{owner_id}/{note_id}/{attachment_id}/{name}"


def owner_prefixes(owner_id: str) -> list[str]:
    return [f"{UPLOADS}/{owner_id}/", f"{DERIVED}/{owner_id}/"]


def note_prefixes(owner_id: str, note_id: str) -> list[str]:
    return [f"{UPLOADS}/{owner_id}/{note_id}/", f"{DERIVED}/{owner_id}/{note_id}/"]


def attachment_prefixes(owner_id: str, note_id: str, attachment_id: str) -> list[str]:
    return [f"{prefix}{attachment_id}/" for prefix in note_prefixes(owner_id, note_id)]


def delete_prefixes(s3: Any, bucket: str, prefixes: list[str]) -> int:
    """Delete every object under `prefixes` (idempotent); returns how many were deleted."""
    deleted = 0
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                deleted += len(batch)
    return deleted
