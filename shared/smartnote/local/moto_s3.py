"""What the moto server of this process holds in an S3 bucket, read in its memory: cheap enough
(about a millisecond for 10,000 objects, no request) to look every second for a change.

moto makes a new object for every write (PUT, POST, CopyObject, CompleteMultipartUpload) and
drops it on delete or overwrite, so the object itself is the version: a save keeps the ones
it read, and compares them by identity. moto is imported here only when called: it must not be
imported before its server starts (`AwsService.start`).
"""

from __future__ import annotations


def object_versions(bucket: str) -> dict[str, object]:
    """Each object of `bucket` (none if there is no such bucket) and its current version;
    delete markers are left out, as a listing leaves them out."""
    from moto.s3.models import FakeKey, s3_backends

    located = s3_backends.bucket_accounts.get(bucket)
    if located is None:
        return {}
    partition, account_id = located
    found = s3_backends[account_id][partition].buckets.get(bucket)
    if found is None:
        return {}
    # One C-level copy of the key -> versions mapping, which moto's request threads change
    # meanwhile (moto's own listing copies it the same way).
    stored: dict[str, list[object]] = dict.copy(found.keys)
    versions: dict[str, object] = {}
    for key, history in stored.items():
        latest = history[-1] if history else None
        if isinstance(latest, FakeKey):
            versions[key] = latest
    return versions
