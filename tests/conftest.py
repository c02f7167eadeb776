"""Fixtures shared by every test: real embedded services and the local gateway.

Everything runs for real: SecantusDB (MongoDB wire protocol), moto server (S3/SES/...),
and SQL on SQLite *and* on PostgreSQL when one answers on 127.0.0.1:5432 (always on CI,
where its absence is an error). Tests that need the SQL side run once per backend.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Cheap hashing for tests (production uses the defaults); set before any Settings is read.
os.environ.update(
    ENVIRONMENT="test",
    ARGON2_TIME_COST="1",
    ARGON2_MEMORY_COST_KIB="1024",
    # Every test client is 127.0.0.1: the per-client login throttle is tested on its own.
    LOGIN_MAX_FAILURES_PER_CLIENT="100000",
    # The fuzzer writes thousands of times as one user: the write limit is tested on its own.
    WRITE_RATE_LIMIT="1000000",
    JWT_SECRET="test-secret-" + uuid.uuid4().hex,
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_REGION="us-east-1",
    AWS_DEFAULT_REGION="us-east-1",
)
for _external in ("MONGODB_URI", "AWS_ENDPOINT_URL"):
    os.environ.pop(_external, None)
POSTGRES_ADMIN_URL = os.environ.pop(
    "DATABASE_URL", "postgresql+pg8000://postgres@127.0.0.1:5432/test"
)

# First of our modules, before any test module imports cv2: sets OpenCV's pixel cap.
import smartnote.images  # noqa: E402, F401
from smartnote.config import get_settings  # noqa: E402
from smartnote.db.migrate import upgrade_to_head  # noqa: E402
from smartnote.db.sql import dispose_engines  # noqa: E402
from smartnote.local.gateway import Gateway  # noqa: E402
from smartnote.local.services import AwsService, MongoService  # noqa: E402
from smartnote.local.template import Template, load_template  # noqa: E402


def _postgres_available() -> bool:
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_ADMIN_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means "not available here"
        return False
    finally:
        engine.dispose()
    return True


def _sql_backends() -> list[str]:
    if _postgres_available():
        return ["sqlite", "postgres"]
    if os.environ.get("CI"):
        raise RuntimeError(f"CI must test PostgreSQL but {POSTGRES_ADMIN_URL} does not answer")
    return ["sqlite"]


SQL_BACKENDS = _sql_backends()


@pytest.fixture(scope="session")
def template() -> Template:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    service = MongoService(":memory:")
    service.start()
    yield service.url
    service.stop()


@pytest.fixture(scope="session")
def aws(template: Template) -> Iterator[AwsService]:
    service = AwsService()
    service.start()
    service.provision(template)
    yield service
    service.stop()


def _run_as_admin(statement: str) -> None:
    """Run one statement on the admin connection, outside a transaction (CREATE DATABASE)."""
    import pg8000.native
    from sqlalchemy.engine import make_url

    admin = make_url(POSTGRES_ADMIN_URL)
    connection = pg8000.native.Connection(
        user=admin.username or "postgres",
        password=admin.password,
        host=admin.host or "127.0.0.1",
        port=admin.port or 5432,
        database=admin.database or "postgres",
    )
    try:
        connection.run(statement)
    finally:
        connection.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    from sqlalchemy.engine import make_url

    name = f"smartnote_test_{uuid.uuid4().hex[:12]}"
    _run_as_admin(f"CREATE DATABASE {name}")
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_engines()
        _run_as_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session", params=SQL_BACKENDS)
def sql_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated SQL database: SQLite, then (where it runs) PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sql') / 'smartnote.db'}"
        upgrade_to_head(url)
        yield url
        dispose_engines()
        return
    with postgres_database() as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture
def empty_sql_url(sql_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of `sql_url`'s backend with no tables: code deployed before its migration."""
    if sql_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def stack_env(mongo_uri: str, aws: AwsService, sql_url: str, template: Template) -> Iterator[None]:
    """The environment the in-process functions read, as the local stack sets it."""
    bucket = template.buckets[0].bucket_name
    os.environ.update(
        MONGODB_URI=mongo_uri,
        MONGODB_DB="smartnote_test",
        DATABASE_URL=sql_url,
        AWS_ENDPOINT_URL=aws.url,
        UPLOADS_BUCKET=bucket,
    )
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def gateway(stack_env: None, template: Template) -> Iterator[Gateway]:
    with Gateway(template, port=0, quiet=True) as running:
        yield running


@pytest.fixture(scope="session")
def api_base_url(gateway: Gateway) -> str:
    return gateway.url


@pytest.fixture
def api(api_base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_base_url, timeout=30) as client:
        yield client


@dataclass
class ApiUser:
    """A registered, logged-in user."""

    email: str
    password: str
    id: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def register_and_login(
    api: httpx.Client, *, email: str | None = None, password: str | None = None, **profile: Any
) -> ApiUser:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    password = password or f"tulip-orbit-{uuid.uuid4().hex[:8]}"
    created = api.post("/auth/register", json={"email": email, "password": password, **profile})
    assert created.status_code == 201, created.text
    tokens = api.post("/auth/token", data={"username": email, "password": password})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return ApiUser(
        email, password, created.json()["id"], body["access_token"], body["refresh_token"]
    )


@pytest.fixture
def user(api: httpx.Client) -> ApiUser:
    return register_and_login(api)


@pytest.fixture
def other_user(api: httpx.Client) -> ApiUser:
    return register_and_login(api)


@pytest.fixture
def registered_user(user: ApiUser) -> dict[str, str]:
    """Credentials of a registered user (for browser tests that log in themselves)."""
    return {"email": user.email, "password": user.password}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an error of API.md's one shape, with a request id."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    assert response.headers.get("x-request-id")
    text = response.text.lower()
    for leak in ("traceback", "sqlalchemy", "pymongo", "pg8000", 'file "/'):
        assert leak not in text
    error: dict[str, Any] = body["error"]
    return error


EVENTS = ROOT / "tests" / "events"


def s3_event(
    key: str,
    size: int,
    etag: str = "0123456789abcdef",
    bucket: str = "",
    sequencer: str | None = None,
) -> dict[str, Any]:
    """The real S3 event of tests/events/ for one object, encoded the way S3 encodes keys;
    `sequencer` orders the events of one key (the file's own when not given)."""
    event: dict[str, Any] = json.loads((EVENTS / "s3-object-created.json").read_text())
    record = copy.deepcopy(event["Records"][0])
    record["s3"]["object"].update(key=quote_plus(key, safe="/"), size=size, eTag=etag)
    if sequencer is not None:
        record["s3"]["object"]["sequencer"] = sequencer
    if bucket:
        record["s3"]["bucket"]["name"] = bucket
        record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    event["Records"] = [record]
    return event


def object_event(s3: Any, bucket: str, key: str, sequencer: str | None = None) -> dict[str, Any]:
    """The S3 event of the object now at `key` (its size and ETag), as S3 sends it."""
    head = s3.head_object(Bucket=bucket, Key=key)
    return s3_event(key, head["ContentLength"], head["ETag"].strip('"'), bucket, sequencer)


@pytest.fixture(scope="session")
def deliver_upload(gateway: Gateway, aws: AwsService) -> Callable[[str], dict[str, Any]]:
    """Deliver the S3 event of an uploaded object to the image function, as S3 would."""
    s3 = aws.client("s3")

    def deliver(key: str) -> dict[str, Any]:
        event = object_event(s3, get_settings().uploads_bucket, key)
        result: dict[str, Any] = gateway.invoke("image", event)
        return result

    return deliver
