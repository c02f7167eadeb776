"""The local stack's S3 objects across restarts: saved within moments of each write and on a
clean stop, put back on start before the buckets notify the image function, so none of them is
processed again."""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smartnote.local.moto_s3 import object_versions
from smartnote.local.s3_autosave import S3Autosave
from smartnote.local.s3_snapshot import BLOBS, MANIFEST, S3Snapshot
from smartnote.local.services import AwsService, free_port
from smartnote.local.stack import S3_DIR, Stack, read_stack_file
from smartnote.local.template import load_template
from tests.utils.local_stack import hang_up, interrupt, kill, start_stack_process, write_project

BUCKET = "snapshot-test-uploads"

TEMPLATE = f"""
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties: {{BucketName: {BUCKET}}}
  RecordFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/record/
      Handler: app.handler
      Events:
        Uploaded:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
            Filter: {{S3Key: {{Rules: [{{Name: prefix, Value: uploads/}}]}}}}
"""

# Stands for the image function: records each S3 event it is invoked with.
RECORD_APP = """
import json, pathlib

def handler(event, context):
    with open(pathlib.Path(__file__).parent / "events.jsonl", "a") as out:
        out.write(json.dumps(event) + "\\n")
    return {"ok": True}
"""

# An upload's bytes (every byte value, not UTF-8), a key with spaces and non-ASCII letters.
PHOTO = bytes(range(256)) * 64 + b"\x00\xff"
PHOTO_KEY = "uploads/own er/note/att/Café menu 日本.png"
EDIT_KEY = "uploads/owner/note/att/edits/e1.json"


def _saved(s3: Any, bucket: str, directory: Path) -> S3Snapshot:
    """A snapshot of `bucket` under `directory`, restored (nothing yet) and then saved."""
    snapshot = S3Snapshot(directory, [bucket])
    snapshot.restore(s3)
    snapshot.save(s3)
    return snapshot


def _put_uploads(s3: Any, bucket: str) -> dict[str, dict[str, Any]]:
    """An upload, an edit request and a derived image, as SmartNote writes them; each
    object's bytes, type and ETag."""
    objects = {
        PHOTO_KEY: (PHOTO, "image/png"),
        EDIT_KEY: (b'{"operations": [{"op": "rotate", "degrees": 90}]}', "application/json"),
        "derived/owner/note/att/processed/r1/thumbnail.jpg": (b"\xff\xd8\xff\xe0thumb", None),
    }
    for key, (data, content_type) in objects.items():
        typed = {"ContentType": content_type} if content_type else {}
        s3.put_object(Bucket=bucket, Key=key, Body=data, **typed)
    return {key: _stored(s3, bucket, key) for key in objects}


def _stored(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    answer = s3.get_object(Bucket=bucket, Key=key)
    return {
        "bytes": answer["Body"].read(),
        "type": answer["ContentType"],
        "etag": answer["ETag"],
        "metadata": answer["Metadata"],
    }


def _keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _wait_for(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, TEMPLATE, {"record": RECORD_APP})


def _events_log(project: Path) -> Path:
    return project / "functions" / "record" / "events.jsonl"


def _delivered_keys(project: Path) -> list[str]:
    """The object keys of the S3 events the function was invoked with (S3's own test event,
    sent when a notification is set up, has no Records)."""
    log = _events_log(project)
    events = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [r["s3"]["object"]["key"] for e in events for r in e.get("Records", [])]


def test_a_restarted_stack_has_its_objects_back_and_processes_none_again(project: Path) -> None:
    """`make run`, uploads, Ctrl-C, `make run` again: every object is back with its bytes,
    type and ETag (an edit reads its original with If-Match on it), and the image function
    sees only what is uploaded after the restart."""
    port = free_port()
    process, info = start_stack_process(project, port)
    try:
        s3 = AwsService(info["aws_endpoint_url"]).client("s3")
        assert _keys(s3, BUCKET) == []  # no snapshot yet: the bucket starts empty
        before = _put_uploads(s3, BUCKET)
        _wait_for(lambda: len(_delivered_keys(project)) == 2)  # the two under uploads/
    finally:
        interrupt(process)
    _events_log(project).unlink()
    # What a stop killed mid-save leaves behind must not keep the next start from working.
    blobs = project / ".local" / S3_DIR / BLOBS
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs.parent / ".tmp-interrupted").write_bytes(b'{"buckets": {')
    (blobs / ".tmp-half-a-blob").write_bytes(PHOTO[:100])

    process, info = start_stack_process(project, port)
    try:
        s3 = AwsService(info["aws_endpoint_url"]).client("s3")
        after = {key: _stored(s3, BUCKET, key) for key in _keys(s3, BUCKET)}
        assert after == before
        assert after[PHOTO_KEY]["etag"] == f'"{hashlib.md5(PHOTO).hexdigest()}"'  # noqa: S324
        # Only once an upload made now has reached the function: the restored ones never did.
        s3.put_object(Bucket=BUCKET, Key="uploads/o/n/a/after-restart.png", Body=b"new")
        _wait_for(lambda: _delivered_keys(project))
        assert _delivered_keys(project) == ["uploads/o/n/a/after-restart.png"]
    finally:
        interrupt(process)
    assert list((project / ".local" / S3_DIR).glob("**/.tmp-*")) == []  # cleaned at the start


def _snapshot_holds(project: Path, objects: dict[str, dict[str, Any]]) -> bool:
    """Whether the stack's snapshot holds just `objects` (key -> `_stored`), with their types."""
    try:
        manifest = json.loads((project / ".local" / S3_DIR / MANIFEST).read_text())
    except FileNotFoundError:
        return False
    saved = {
        o["key"]: (o["etag"], o["headers"].get("ContentType")) for o in manifest["buckets"][BUCKET]
    }
    return saved == {key: (o["etag"], o["type"]) for key, o in objects.items()}


def test_writes_survive_a_stack_killed_without_a_clean_stop(project: Path) -> None:
    """A stack killed (kill -9, a crash) a few seconds after S3 writes comes back with them,
    as Mongo and SQLite come back with theirs: a new object, an object put again with other
    headers, and a deleted object that stays deleted."""
    port = free_port()
    process, info = start_stack_process(project, port)
    try:
        _put_uploads(AwsService(info["aws_endpoint_url"]).client("s3"), BUCKET)
    finally:
        interrupt(process)

    process, info = start_stack_process(project, port)
    try:
        s3 = AwsService(info["aws_endpoint_url"]).client("s3")
        s3.delete_object(Bucket=BUCKET, Key=EDIT_KEY)
        s3.put_object(Bucket=BUCKET, Key=PHOTO_KEY, Body=PHOTO, ContentType="image/webp")
        s3.put_object(Bucket=BUCKET, Key="derived/o/n/a/web.jpg", Body=PHOTO[:999])
        written = {key: _stored(s3, BUCKET, key) for key in _keys(s3, BUCKET)}
        # The stack saves on its own within moments; wait for it rather than for a time.
        deadline = time.monotonic() + 30
        while not _snapshot_holds(project, written) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        kill(process)

    process, info = start_stack_process(project, port)
    try:
        s3 = AwsService(info["aws_endpoint_url"]).client("s3")
        assert {key: _stored(s3, BUCKET, key) for key in _keys(s3, BUCKET)} == written
        assert written[PHOTO_KEY]["type"] == "image/webp"
        assert EDIT_KEY not in written
    finally:
        interrupt(process)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_terminate_or_a_closed_terminal_is_a_clean_stop(project: Path, signum: int) -> None:
    """`kill` (SIGTERM) or closing the terminal `make run` runs in (SIGHUP, and its output
    gone) stop the stack as Ctrl-C does: it exits 0, withdraws stack.json, keeps the objects."""
    port = free_port()
    process, info = start_stack_process(project, port)
    try:
        s3 = AwsService(info["aws_endpoint_url"]).client("s3")
        written = _put_uploads(s3, BUCKET)
    finally:
        if signum == signal.SIGHUP:
            hang_up(process)
        else:
            interrupt(process, signum)
    assert read_stack_file(project / ".local") is None
    assert not (project / ".local" / "stack.json").exists()

    process, info = start_stack_process(project, port)
    try:
        s3 = AwsService(info["aws_endpoint_url"]).client("s3")
        assert {key: _stored(s3, BUCKET, key) for key in _keys(s3, BUCKET)} == written
    finally:
        interrupt(process)


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsService]:
    aws = AwsService()
    aws.start()
    yield aws
    aws.stop()


@pytest.fixture
def bucket(aws: AwsService, request: pytest.FixtureRequest) -> str:
    """A bucket of this test's own: moto's state outlives its server within the process."""
    name = f"snap-{hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:20]}"
    aws.client("s3").create_bucket(Bucket=name)
    return name


def _empty(s3: Any, bucket: str) -> None:
    """What a new moto server has: none of the objects."""
    for key in _keys(s3, bucket):
        s3.delete_object(Bucket=bucket, Key=key)


def test_no_snapshot_restores_nothing(aws: AwsService, bucket: str, tmp_path: Path) -> None:
    s3 = aws.client("s3")
    assert S3Snapshot(tmp_path / "s3", [bucket]).restore(s3) == 0
    assert _keys(s3, bucket) == []
    assert not (tmp_path / "s3").exists()


def test_saved_objects_come_back_with_their_headers(
    aws: AwsService, bucket: str, tmp_path: Path
) -> None:
    s3 = aws.client("s3")
    before = _put_uploads(s3, bucket)
    s3.put_object(
        Bucket=bucket,
        Key="empty",
        Body=b"",
        ContentType="text/plain",
        ContentDisposition='inline; filename="a.txt"',
        Metadata={"owner": "me"},
    )
    before["empty"] = _stored(s3, bucket, "empty")
    snapshot = S3Snapshot(tmp_path / "s3", [bucket])
    snapshot.restore(s3)
    assert snapshot.save(s3) == 4
    _empty(s3, bucket)

    assert S3Snapshot(tmp_path / "s3", [bucket]).restore(s3) == 4
    assert {key: _stored(s3, bucket, key) for key in _keys(s3, bucket)} == before
    assert before["empty"]["metadata"] == {"owner": "me"}
    disposition = s3.head_object(Bucket=bucket, Key="empty")["ContentDisposition"]
    assert disposition == 'inline; filename="a.txt"'


def test_a_stack_that_never_restored_does_not_replace_the_snapshot(
    aws: AwsService, bucket: str, tmp_path: Path
) -> None:
    """A start that failed before the objects were back must not save its empty buckets."""
    s3 = aws.client("s3")
    _put_uploads(s3, bucket)
    saved = S3Snapshot(tmp_path / "s3", [bucket])
    saved.restore(s3)
    saved.save(s3)
    _empty(s3, bucket)

    assert S3Snapshot(tmp_path / "s3", [bucket]).save(s3) == 0
    assert S3Snapshot(tmp_path / "s3", [bucket]).restore(s3) == 3


def test_a_save_that_fails_midway_keeps_the_previous_snapshot(
    aws: AwsService, bucket: str, tmp_path: Path
) -> None:
    s3 = aws.client("s3")
    before = _put_uploads(s3, bucket)
    snapshot = _saved(s3, bucket, tmp_path / "s3")
    s3.put_object(Bucket=bucket, Key=PHOTO_KEY, Body=b"replaced", ContentType="image/png")
    s3.put_object(Bucket=bucket, Key="uploads/o/n/a/new.png", Body=b"new")

    def moto_gone(**_: Any) -> None:  # the endpoint goes away while the save reads
        raise ConnectionError("moto stopped")

    s3.meta.events.register("before-call.s3.GetObject", moto_gone)
    with pytest.raises(ConnectionError):
        snapshot.save(s3)
    s3.meta.events.unregister("before-call.s3.GetObject", moto_gone)
    _empty(s3, bucket)

    S3Snapshot(tmp_path / "s3", [bucket]).restore(s3)
    assert {key: _stored(s3, bucket, key) for key in _keys(s3, bucket)} == before


def test_a_save_writes_only_new_bytes_and_drops_unused_ones(
    aws: AwsService, bucket: str, tmp_path: Path
) -> None:
    s3 = aws.client("s3")
    _put_uploads(s3, bucket)
    blobs = tmp_path / "s3" / BLOBS
    snapshot = _saved(s3, bucket, tmp_path / "s3")
    photo_blob = blobs / hashlib.md5(PHOTO).hexdigest()  # noqa: S324
    written = photo_blob.stat().st_mtime_ns
    s3.delete_object(Bucket=bucket, Key=EDIT_KEY)
    s3.put_object(Bucket=bucket, Key="uploads/copy.png", Body=PHOTO)  # the same bytes again

    snapshot.save(s3)
    assert photo_blob.stat().st_mtime_ns == written  # not written again
    assert len(list(blobs.iterdir())) == 2  # the photo and the thumbnail; the edit's is gone
    manifest = json.loads((tmp_path / "s3" / MANIFEST).read_text())
    assert sorted(o["key"] for o in manifest["buckets"][bucket]) == sorted(
        [PHOTO_KEY, "uploads/copy.png", "derived/owner/note/att/processed/r1/thumbnail.jpg"]
    )


def _requests(s3: Any) -> list[tuple[str, str]]:
    """Every S3 request `s3` makes from now on: its operation and key, in order."""
    made: list[tuple[str, str]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        made.append((model.name, params.get("Key", "")))

    s3.meta.events.register("before-parameter-build.s3", record)
    return made


def test_a_save_with_nothing_changed_sends_no_request_and_writes_nothing(
    aws: AwsService, bucket: str, tmp_path: Path
) -> None:
    """What the stack does every second while nobody writes: it must cost next to nothing."""
    s3 = aws.client("s3")
    _put_uploads(s3, bucket)
    snapshot = _saved(s3, bucket, tmp_path / "s3")
    snapshot.save(s3)  # a first upload is read twice (below); from now on it is settled
    manifest = tmp_path / "s3" / MANIFEST
    written = manifest.stat().st_mtime_ns
    requests = _requests(s3)

    assert snapshot.save(s3) == 3
    assert requests == []
    assert manifest.stat().st_mtime_ns == written


def test_a_save_reads_only_the_objects_written_since_the_previous_one(
    aws: AwsService, bucket: str, tmp_path: Path
) -> None:
    s3 = aws.client("s3")
    before = _put_uploads(s3, bucket)
    snapshot = _saved(s3, bucket, tmp_path / "s3")
    snapshot.save(s3)
    s3.put_object(Bucket=bucket, Key=PHOTO_KEY, Body=PHOTO, ContentType="image/webp")
    s3.delete_object(Bucket=bucket, Key=EDIT_KEY)
    requests = _requests(s3)

    assert snapshot.save(s3) == 2
    assert {key for _operation, key in requests} == {PHOTO_KEY}
    _empty(s3, bucket)
    S3Snapshot(tmp_path / "s3", [bucket]).restore(s3)
    after = {key: _stored(s3, bucket, key) for key in _keys(s3, bucket)}
    assert after == {
        PHOTO_KEY: before[PHOTO_KEY] | {"type": "image/webp"},
        "derived/owner/note/att/processed/r1/thumbnail.jpg": before[
            "derived/owner/note/att/processed/r1/thumbnail.jpg"
        ],
    }


def test_a_new_object_is_read_again_at_the_next_save(
    aws: AwsService, bucket: str, tmp_path: Path
) -> None:
    """moto shows a new object in its bucket a moment before it sets the object's headers, and
    a save may read it in between: the next save reads each new object once more. Here the
    headers come late by a PUT that the versions given to the snapshot do not tell apart."""
    s3 = aws.client("s3")
    same = object()
    snapshot = S3Snapshot(
        tmp_path / "s3", [bucket], lambda b: dict.fromkeys(object_versions(b), same)
    )
    snapshot.restore(s3)
    s3.put_object(Bucket=bucket, Key=PHOTO_KEY, Body=PHOTO)
    snapshot.save(s3)
    s3.put_object(Bucket=bucket, Key=PHOTO_KEY, Body=PHOTO, ContentType="image/png")
    snapshot.save(s3)
    _empty(s3, bucket)

    S3Snapshot(tmp_path / "s3", [bucket]).restore(s3)
    assert s3.head_object(Bucket=bucket, Key=PHOTO_KEY)["ContentType"] == "image/png"


def test_the_autosave_tries_again_after_a_failed_save(
    aws: AwsService, bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A save that fails (moto or the disk) is logged once, and the next ones try again."""
    caplog.set_level(logging.INFO, logger="smartnote.local.s3_autosave")
    s3 = aws.client("s3")
    snapshot = S3Snapshot(tmp_path / "s3", [bucket])
    snapshot.restore(s3)
    failures: list[str] = []

    def moto_gone(model: Any, **_: Any) -> None:
        failures.append(model.name)
        raise ConnectionError("moto is away")

    saver = aws.client("s3")  # the autosave's own client; only its requests fail
    saver.meta.events.register("before-call.s3", moto_gone)
    autosave = S3Autosave(snapshot, saver, period=0.05)
    autosave.start()
    try:
        s3.put_object(Bucket=bucket, Key=PHOTO_KEY, Body=PHOTO, ContentType="image/png")
        _wait_for(lambda: len(failures) >= 3)
        saver.meta.events.unregister("before-call.s3", moto_gone)
        manifest = tmp_path / "s3" / MANIFEST
        _wait_for(lambda: manifest.exists() and PHOTO_KEY in manifest.read_text())
    finally:
        autosave.stop()
    logged = [r.getMessage() for r in caplog.records if r.name == "smartnote.local.s3_autosave"]
    assert logged[0].startswith("could not save the S3 objects")
    assert logged[1:] == [f"the S3 objects are saved to {tmp_path / 's3'} again"]


def test_the_objects_of_a_bucket_the_template_no_longer_has_stay_in_the_snapshot(
    aws: AwsService, bucket: str, tmp_path: Path
) -> None:
    """A stack run once under another name must not drop the first name's objects."""
    s3 = aws.client("s3")
    before = _put_uploads(s3, bucket)
    _saved(s3, bucket, tmp_path / "s3")
    _empty(s3, bucket)
    other = f"{bucket}-other"
    s3.create_bucket(Bucket=other)
    renamed = S3Snapshot(tmp_path / "s3", [other])
    assert renamed.restore(s3) == 0
    assert renamed.save(s3) == 0

    assert S3Snapshot(tmp_path / "s3", [bucket]).restore(s3) == 3
    assert {key: _stored(s3, bucket, key) for key in _keys(s3, bucket)} == before


@pytest.mark.parametrize(
    "manifest",
    [
        '{"buckets": {"x": [{"key": "k", "blob": "0123',  # cut short
        '{"buckets": {"x": [{"key": "k", "blob": "../../../etc/passwd", "etag": "1"}]}}',
    ],
)
def test_an_unreadable_snapshot_is_a_clear_error(
    aws: AwsService, bucket: str, tmp_path: Path, manifest: str
) -> None:
    """Not an empty start: its next stop would replace the snapshot with nothing."""
    (tmp_path / "s3").mkdir()
    (tmp_path / "s3" / MANIFEST).write_text(manifest)
    with pytest.raises(OSError, match=r"S3 snapshot .* is unreadable"):
        S3Snapshot(tmp_path / "s3", [bucket]).restore(aws.client("s3"))


@pytest.mark.usefixtures("restore_environ")
def test_an_external_endpoint_keeps_its_own_objects(
    project: Path, aws: AwsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_ENDPOINT_URL (LocalStack, here another moto) persists by itself: nothing saved."""
    for key in ("MONGODB_URI", "DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
    stack = Stack(load_template(project / "template.yaml"), project / ".local", port=0, quiet=True)
    stack.start()
    try:
        assert stack.s3_snapshot is None
        aws.client("s3").put_object(Bucket=BUCKET, Key="derived/kept-there", Body=b"1")
    finally:
        stack.stop()
    assert not (project / ".local" / S3_DIR).exists()
