"""The local stack's S3 objects kept across restarts (moto holds them in memory only).

On a clean stop the stack saves every object of the template's buckets; on the next start it
puts them back before the buckets notify anyone, so no restored object reaches the image
function again. A single-part PUT of the same bytes gives the same ETag (their MD5), so an
edit still reads its original with If-Match on the ETag the image function recorded.

    <directory>/manifest.json   each bucket's objects: key, blob, ETag and the headers put back
    <directory>/blobs/<md5>     the bytes, one file per content, named by their MD5

The manifest is the commit point: it is replaced in one rename once every blob it names is
written, and a blob is deleted only once no manifest names it. A save killed midway (a crash,
a second Ctrl-C) leaves the previous snapshot whole, plus temporary files the next save
removes; and a save writes only the blobs it lacks, so a restart with many attachments is quick.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, Field, ValidationError

logger = logging.getLogger("smartnote.local.s3_snapshot")

MANIFEST = "manifest.json"
BLOBS = "blobs"
_TMP_PREFIX = ".tmp-"
_CHUNK = 1 << 20
# What GetObject answers and PutObject takes under the same names; the code reads ContentType.
_KEPT_HEADERS = (
    "ContentType",
    "ContentDisposition",
    "ContentEncoding",
    "ContentLanguage",
    "CacheControl",
)


class SavedObject(BaseModel):
    key: str
    blob: str = Field(pattern=r"^[0-9a-f]{32}$")  # never a path out of blobs/
    etag: str  # as S3 gave it, quotes included
    headers: dict[str, str] = {}
    metadata: dict[str, str] = {}


class Manifest(BaseModel):
    buckets: dict[str, list[SavedObject]] = {}


class S3Snapshot:
    """The objects of `buckets`, saved under `directory` and put back from it."""

    def __init__(self, directory: Path, buckets: Sequence[str]) -> None:
        self.directory = directory
        self.buckets = list(buckets)
        self.restored = False

    @property
    def _manifest(self) -> Path:
        return self.directory / MANIFEST

    @property
    def _blobs(self) -> Path:
        return self.directory / BLOBS

    def restore(self, s3: Any) -> int:
        """Put the saved objects back (none without a snapshot); how many were put."""
        manifest = self._read()
        for bucket in set(manifest.buckets) - set(self.buckets):
            logger.warning(
                "%s: bucket %s is not in the template, not restored (kept in the snapshot)",
                self.directory,
                bucket,
            )
        count = 0
        for bucket in self.buckets:
            for saved in manifest.buckets.get(bucket, []):
                count += self._put(s3, bucket, saved)
        # Only now may a stop replace the snapshot: a stack that failed before this point
        # would replace it with its empty buckets.
        self.restored = True
        if count:
            logger.info("restored %d S3 object(s) from %s", count, self.directory)
        return count

    def save(self, s3: Any) -> int:
        """Replace the snapshot with the buckets' objects now (nothing before `restore`);
        how many were saved. Nothing may write to the buckets meanwhile."""
        if not self.restored:
            return 0
        self._blobs.mkdir(parents=True, exist_ok=True)
        # Another template's buckets (a renamed stack) stay as they were, to come back with it.
        others = {b: saved for b, saved in self._read().buckets.items() if b not in self.buckets}
        ours = {bucket: list(self._listed(s3, bucket)) for bucket in self.buckets}
        manifest = Manifest(buckets=others | ours)
        with _temporary(self.directory) as (handle, tmp):
            handle.write(manifest.model_dump_json(indent=1).encode())
            _commit(handle, tmp, self._manifest)
        kept = {saved.blob for objects in manifest.buckets.values() for saved in objects}
        self._remove_all_but(kept)
        count = sum(len(objects) for objects in ours.values())
        logger.info("saved %d S3 object(s) to %s", count, self.directory)
        return count

    def _read(self) -> Manifest:
        try:
            return Manifest.model_validate_json(self._manifest.read_bytes())
        except FileNotFoundError:
            return Manifest()
        except ValidationError as exc:
            raise OSError(
                f"the S3 snapshot {self._manifest} is unreadable ({exc.errors()[0]['msg']});"
                f" move {self.directory} away, or `make clean-data` to start with no data"
            ) from exc

    def _put(self, s3: Any, bucket: str, saved: SavedObject) -> int:
        try:
            body = (self._blobs / saved.blob).open("rb")
        except FileNotFoundError:
            logger.warning(
                "%s/%s: its bytes are missing from %s, not restored", bucket, saved.key, self._blobs
            )
            return 0
        with body:
            answer = s3.put_object(
                Bucket=bucket, Key=saved.key, Body=body, Metadata=saved.metadata, **saved.headers
            )
        if answer["ETag"] != saved.etag:  # a multipart upload's: never one of SmartNote's
            logger.warning(
                "%s/%s: restored with ETag %s, was %s",
                bucket,
                saved.key,
                answer["ETag"],
                saved.etag,
            )
        return 1

    def _listed(self, s3: Any, bucket: str) -> Iterator[SavedObject]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                key = item["Key"]
                etag = str(item["ETag"])
                md5 = etag.strip('"')
                if (self._blobs / md5).is_file():  # a single-part ETag is its bytes' MD5
                    answer = s3.head_object(Bucket=bucket, Key=key, IfMatch=etag)
                else:
                    answer = s3.get_object(Bucket=bucket, Key=key, IfMatch=etag)
                    md5 = self._write_blob(answer["Body"])
                yield SavedObject(
                    key=key,
                    blob=md5,
                    etag=etag,
                    headers={name: answer[name] for name in _KEPT_HEADERS if answer.get(name)},
                    metadata=answer.get("Metadata") or {},
                )

    def _write_blob(self, body: Any) -> str:
        digest = hashlib.md5(usedforsecurity=False)
        with _temporary(self._blobs) as (handle, tmp):
            while chunk := body.read(_CHUNK):
                digest.update(chunk)
                handle.write(chunk)
            md5 = digest.hexdigest()
            _commit(handle, tmp, self._blobs / md5)
        return md5

    def _remove_all_but(self, kept: set[str]) -> None:
        """Blobs no manifest names any more, and what saves killed midway left behind."""
        for path in self._blobs.iterdir():
            if path.name not in kept:
                path.unlink(missing_ok=True)
        for path in self.directory.glob(f"{_TMP_PREFIX}*"):
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def _temporary(directory: Path) -> Iterator[tuple[IO[bytes], Path]]:
    """A new file in `directory` (its own file system, so a rename commits it), removed
    unless `_commit` renamed it."""
    fd, name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle, path
    finally:
        path.unlink(missing_ok=True)


def _commit(handle: IO[bytes], tmp: Path, target: Path) -> None:
    """`tmp`'s bytes on disk, then under `target`, in one rename."""
    handle.flush()
    os.fsync(handle.fileno())
    os.replace(tmp, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
