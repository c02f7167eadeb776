"""The local stack's S3 objects kept across restarts (moto holds them in memory only).

While it runs, the stack saves the objects of the template's buckets every second or so when
one changed (`s3_autosave`), and once more on a clean stop; on the next start it puts them
back before the buckets notify anyone, so no restored object reaches the image function again.
A single-part PUT of the same bytes gives the same ETag (their MD5), so an edit still reads its
original with If-Match on the ETag the image function recorded.

    <directory>/manifest.json   each bucket's objects: key, blob, ETag and the headers put back
    <directory>/blobs/<md5>     the bytes, one file per content, named by their MD5

The manifest is the commit point: it is replaced in one rename once every blob it names is
written, and a blob is deleted only once no manifest names it. A save killed midway (kill -9,
a crash) leaves the previous snapshot whole, plus temporary files the next start removes.

A save reads only the objects written since the previous one (moto's own objects tell which,
`moto_s3.object_versions`), and writes only the blobs it lacks: one that finds nothing changed
sends no request and writes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, ValidationError

from smartnote.local.moto_s3 import object_versions

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


# A bucket's objects and their current versions: a version is a new object at each write.
Versions = Callable[[str], Mapping[str, object]]


@dataclass(frozen=True)
class _Entry:
    """An object as the snapshot holds it: what was saved, read from `version`."""

    version: object
    saved: SavedObject
    # Read twice: moto sets an object's headers just after it shows in the bucket, so a save
    # may read it in between; the next save reads it again, by when the write is long done.
    settled: bool


class S3Snapshot:
    """The objects of `buckets`, saved under `directory` and put back from it."""

    def __init__(
        self, directory: Path, buckets: Sequence[str], versions: Versions = object_versions
    ) -> None:
        self.directory = directory
        self.buckets = list(buckets)
        self.restored = False
        self._versions = versions
        self._lock = threading.Lock()  # one save at a time
        self._others: dict[str, list[SavedObject]] = {}  # other templates' buckets
        self._held: dict[str, dict[str, _Entry]] = {}  # what the manifest on disk holds

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
        # Another template's buckets (a renamed stack) stay as they were, to come back with it.
        self._others = {b: saved for b, saved in manifest.buckets.items() if b not in self.buckets}
        count = 0
        for bucket in self.buckets:
            as_saved: dict[str, SavedObject] = {}
            for saved in manifest.buckets.get(bucket, []):
                etag = self._put(s3, bucket, saved)
                count += etag is not None
                if etag == saved.etag:
                    as_saved[saved.key] = saved
            # What came back as it was saved is saved already: the first save reads none of it.
            self._held[bucket] = {
                key: _Entry(version, as_saved[key], settled=True)
                for key, version in self._versions(bucket).items()
                if key in as_saved
            }
        if self._blobs.is_dir():  # what a save killed or failed midway left behind
            self._remove_all_but({o.blob for objects in manifest.buckets.values() for o in objects})
        # Only now may a save replace the snapshot: a stack that failed before this point
        # would replace it with its empty buckets.
        self.restored = True
        if count:
            logger.info("restored %d S3 object(s) from %s", count, self.directory)
        return count

    def save(self, s3: Any) -> int:
        """Bring the snapshot up to date with the buckets (nothing before `restore`), reading
        only the objects written since the previous save; how many objects it holds. Safe
        while the buckets are written: a write it misses is seen by the next save."""
        if not self.restored:
            return 0
        with self._lock:
            # The versions first: whatever is written after this, the next save sees.
            current = {bucket: self._versions(bucket) for bucket in self.buckets}
            held, changed = self._updated(s3, current)
            if changed or not self._manifest.exists():
                self._write(held)
            self._held = held
            count = sum(len(entries) for entries in held.values())
            if changed:
                logger.debug("saved %d S3 object(s) to %s", count, self.directory)
            return count

    def _updated(
        self, s3: Any, current: Mapping[str, Mapping[str, object]]
    ) -> tuple[dict[str, dict[str, _Entry]], bool]:
        """Each bucket's entries for its `current` versions, reading the objects that are new
        or unsettled; and whether any saved object differs from the held ones."""
        held: dict[str, dict[str, _Entry]] = {}
        changed = False
        for bucket, versions in current.items():
            before = self._held.get(bucket, {})
            entries: dict[str, _Entry] = {}
            for key, version in versions.items():
                entry = before.get(key)
                if entry is None or entry.version is not version or not entry.settled:
                    again = entry is not None and entry.version is version
                    saved = self._read_object(s3, bucket, key, again=again)
                    if saved is None:  # deleted since the versions were taken
                        continue
                    changed = changed or entry is None or entry.saved != saved
                    entry = _Entry(version, saved, settled=again)
                entries[key] = entry
            changed = changed or not before.keys() <= entries.keys()
            held[bucket] = entries
        return held, changed

    def _write(self, held: Mapping[str, Mapping[str, _Entry]]) -> None:
        """Replace the manifest with `held` (and the other templates' buckets), then drop the
        blobs the previous one named and this one does not."""
        self._blobs.mkdir(parents=True, exist_ok=True)
        ours = {bucket: [e.saved for e in entries.values()] for bucket, entries in held.items()}
        manifest = Manifest(buckets=self._others | ours)
        with _temporary(self.directory) as (handle, tmp):
            handle.write(manifest.model_dump_json(indent=1).encode())
            _commit(handle, tmp, self._manifest)
        named = {saved.blob for objects in manifest.buckets.values() for saved in objects}
        for blob in _blobs_of(self._held) - named:
            (self._blobs / blob).unlink(missing_ok=True)

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

    def _put(self, s3: Any, bucket: str, saved: SavedObject) -> str | None:
        """Put `saved` back; its ETag now, or None if its bytes are missing."""
        try:
            body = (self._blobs / saved.blob).open("rb")
        except FileNotFoundError:
            logger.warning(
                "%s/%s: its bytes are missing from %s, not restored", bucket, saved.key, self._blobs
            )
            return None
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
        return str(answer["ETag"])

    def _read_object(self, s3: Any, bucket: str, key: str, *, again: bool) -> SavedObject | None:
        """The object as it is now, its bytes written to a blob unless one holds them already;
        None once it is gone. A version read `again` has its bytes saved: a HEAD is enough."""
        try:
            answer = (s3.head_object if again else s3.get_object)(Bucket=bucket, Key=key)
            with contextlib.closing(answer.get("Body") or io.BytesIO()):
                blob = str(answer["ETag"]).strip('"')  # a single-part ETag is its bytes' MD5
                if not (self._blobs / blob).is_file():
                    if "Body" not in answer:
                        answer = s3.get_object(Bucket=bucket, Key=key)
                    with contextlib.closing(answer["Body"]) as body:
                        blob = self._write_blob(body)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return None
            raise
        return SavedObject(
            key=key,
            blob=blob,
            etag=str(answer["ETag"]),
            headers={name: answer[name] for name in _KEPT_HEADERS if answer.get(name)},
            metadata=answer.get("Metadata") or {},
        )

    def _write_blob(self, body: Any) -> str:
        """`body`'s bytes in the blob named by their MD5; that name."""
        self._blobs.mkdir(parents=True, exist_ok=True)
        digest = hashlib.md5(usedforsecurity=False)
        with _temporary(self._blobs) as (handle, tmp):
            while chunk := body.read(_CHUNK):
                digest.update(chunk)
                handle.write(chunk)
            md5 = digest.hexdigest()
            _commit(handle, tmp, self._blobs / md5)
        return md5

    def _remove_all_but(self, kept: set[str]) -> None:
        """Blobs the manifest does not name, and temporary files: what saves killed or failed
        midway left behind."""
        for path in self._blobs.iterdir():
            if path.name not in kept:
                path.unlink(missing_ok=True)
        for path in self.directory.glob(f"{_TMP_PREFIX}*"):
            path.unlink(missing_ok=True)


def _blobs_of(held: Mapping[str, Mapping[str, _Entry]]) -> set[str]:
    return {entry.saved.blob for entries in held.values() for entry in entries.values()}


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
