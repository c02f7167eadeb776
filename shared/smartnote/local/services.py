"""Embedded stand-ins for the stack's services: SecantusDB (MongoDB), SQLite/SQL and moto (AWS)."""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartnote.local.template import BucketSpec, Template

logger = logging.getLogger("smartnote.local.services")

LOCALHOST = "127.0.0.1"
DUMMY_AWS_KEY = "testing"
DEFAULT_REGION = "us-east-1"
DEFAULT_SES_SENDER = "noreply@smartnote.local"


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that is free right now on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """Whether `host:port` can be bound (a listener there makes it busy); the OSError of a
    host that cannot be listened on at all (unknown, no interface of this machine's, IPv6)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server does
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
        return True


# A CloudFormation CorsRule's property names, and S3 PutBucketCors's names for them.
_CORS_RULE_KEYS = {
    "AllowedHeaders": "AllowedHeaders",
    "AllowedMethods": "AllowedMethods",
    "AllowedOrigins": "AllowedOrigins",
    "ExposedHeaders": "ExposeHeaders",
    "Id": "ID",
    "MaxAge": "MaxAgeSeconds",
}


def apply_bucket_cors(
    s3: Any, bucket: BucketSpec, template: Template, environ: Mapping[str, str]
) -> None:
    """Give the bucket the template's CorsConfiguration, resolved with the local parameter
    values (CorsAllowOrigins from CORS_ALLOW_ORIGINS, as the API's own CORS), or none."""
    configuration = bucket.cors_configuration
    if configuration is not None:
        configuration = template.resolver(environ).resolve(configuration)
    rules = configuration.get("CorsRules", []) if isinstance(configuration, Mapping) else []
    if not rules:
        s3.delete_bucket_cors(Bucket=bucket.bucket_name)
        return
    s3_rules = [{_CORS_RULE_KEYS[key]: value for key, value in rule.items()} for rule in rules]
    for rule in s3_rules:
        if "MaxAgeSeconds" in rule:  # a Number parameter would come as a string
            rule["MaxAgeSeconds"] = int(rule["MaxAgeSeconds"])
    s3.put_bucket_cors(Bucket=bucket.bucket_name, CORSConfiguration={"CORSRules": s3_rules})


class MongoService:
    """SecantusDB on 127.0.0.1 (`storage_path` a folder, or ":memory:"), or an external URI."""

    def __init__(self, storage_path: str | Path = ":memory:", *, uri: str | None = None) -> None:
        self.storage_path = str(storage_path)
        self.external_uri = uri
        self._server: Any = None

    @classmethod
    def from_env(
        cls, storage_path: str | Path = ":memory:", environ: Mapping[str, str] = os.environ
    ) -> MongoService:
        """Use MONGODB_URI when set (start nothing), else embed SecantusDB."""
        return cls(storage_path, uri=environ.get("MONGODB_URI") or None)

    @property
    def external(self) -> bool:
        return self.external_uri is not None

    @property
    def url(self) -> str:
        if self.external_uri is not None:
            return self.external_uri
        if self._server is None:
            raise RuntimeError("MongoService is not started")
        host, port = self._server.address
        return f"mongodb://{host}:{port}/?directConnection=true"

    def start(self) -> None:
        if self.external or self._server is not None:
            return
        from secantus import SecantusDBServer

        if self.storage_path != ":memory:":
            Path(self.storage_path).mkdir(parents=True, exist_ok=True)
        # No replica set: a plain standalone, which is what directConnection expects.
        try:
            server = SecantusDBServer(
                host=LOCALHOST, port=0, storage_path=self.storage_path, replica_set_name=None
            )
        except Exception as exc:  # WiredTiger's own error type, its message strerror's or its own
            reason = str(exc)
            if "busy" in reason.lower():  # EBUSY: its lock is held
                hint = ": in use by another process? (another `make run`, or one still stopping)"
            elif "corruption" in reason.lower():
                hint = (
                    f"; the files are damaged: move {self.storage_path} away to keep them, then"
                    " start again with no notes (or `make clean-data`, which deletes all the"
                    " local data)"
                )
            else:  # full or read-only disk, permissions: the reason says it
                hint = ""
            raise OSError(
                f"the MongoDB data in {self.storage_path} could not be opened ({reason}){hint}"
            ) from exc
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


class SqlService:
    """The SQL database: DATABASE_URL if given, else SQLite at `sqlite_path`; migrated on start."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        sqlite_path: str | Path | None = None,
        migrate: bool = True,
    ) -> None:
        if database_url is None:
            if sqlite_path is None:
                raise ValueError("give a database_url or a sqlite_path")
            database_url = f"sqlite:///{Path(sqlite_path).resolve()}"
        self.database_url = database_url
        self.migrate = migrate
        self.migrated = False

    @classmethod
    def from_env(
        cls,
        sqlite_path: str | Path,
        environ: Mapping[str, str] = os.environ,
        *,
        migrate: bool = True,
    ) -> SqlService:
        return cls(environ.get("DATABASE_URL") or None, sqlite_path=sqlite_path, migrate=migrate)

    @property
    def url(self) -> str:
        return self.database_url

    def start(self) -> None:
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and self.database_url != f"{prefix}:memory:":
            Path(self.database_url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
        if self.migrate:
            from smartnote.db.migrate import upgrade_to_head  # lazy: written separately

            upgrade_to_head(self.database_url)
            self.migrated = True

    def stop(self) -> None:
        """Nothing to stop: SQLite is a file, an external server is not ours."""


class AwsService:
    """moto's server on 127.0.0.1, or an external endpoint (LocalStack) if `endpoint_url` is set."""

    def __init__(
        self, endpoint_url: str | None = None, *, region: str = DEFAULT_REGION, port: int = 0
    ) -> None:
        self.external_url = endpoint_url
        self.region = region
        self.port = port
        self._server: Any = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AwsService:
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        return cls(environ.get("AWS_ENDPOINT_URL") or None, region=region)

    @property
    def external(self) -> bool:
        return self.external_url is not None

    @property
    def url(self) -> str:
        if self.external_url is not None:
            return self.external_url
        if self._server is None:
            raise RuntimeError("AwsService is not started")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def running(self) -> bool:
        """Whether this endpoint answers: an external one always, ours between start and stop."""
        return self.external or self._server is not None

    def start(self) -> None:
        if self.external or self._server is not None:
            return
        # moto's server answers every origin's CORS (flask-cors on each service) unless told
        # not to before moto is first imported; S3 must answer a browser by the bucket's own
        # CORS rule, as on AWS (`provision`).
        os.environ.setdefault("MOTO_DISABLE_GLOBAL_CORS", "true")
        from moto import settings as moto_settings
        from moto.server import ThreadedMotoServer

        if not moto_settings.DISABLE_GLOBAL_CORS:
            logger.warning(
                "moto was imported before its server started: S3 answers every origin's CORS,"
                " not the buckets' rules"
            )

        from smartnote.local.emails import stamp_sent_times

        stamp_sent_times()  # so that GET /_local/emails can say when each email went out
        # werkzeug logs every request at INFO; the gateway's own log line is enough.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=LOCALHOST, port=self.port, verbose=False)
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self, service: str) -> Any:
        """A boto3 client of this endpoint with dummy credentials."""
        import boto3

        # Typed as Any: the stubs' overloads want a literal service name.
        factory: Any = boto3.client
        return factory(
            service,
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", DUMMY_AWS_KEY),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", DUMMY_AWS_KEY),
        )

    def provision(
        self,
        template: Template,
        ses_sender: str | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> dict[str, str]:
        """Create the template's buckets (with their CORS rules, the template's parameters
        taking their values from `environ`) and queues, and verify the SES sender; idempotent."""
        created: dict[str, str] = {}
        if template.buckets:
            s3 = self.client("s3")
            existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
            for bucket in template.buckets:
                if bucket.bucket_name not in existing:
                    kwargs: dict[str, Any] = {"Bucket": bucket.bucket_name}
                    if self.region != "us-east-1":  # us-east-1 refuses an explicit constraint
                        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
                    s3.create_bucket(**kwargs)
                apply_bucket_cors(s3, bucket, template, environ)
                created[bucket.logical_id] = bucket.bucket_name
        if template.queues:
            sqs = self.client("sqs")
            for queue in template.queues:
                attributes = {"FifoQueue": "true"} if queue.fifo else {}
                created[queue.logical_id] = sqs.create_queue(
                    QueueName=queue.queue_name, Attributes=attributes
                )["QueueUrl"]
        sender = ses_sender or os.environ.get("SES_SENDER") or DEFAULT_SES_SENDER
        self.client("ses").verify_email_identity(EmailAddress=sender)
        created["SesSender"] = sender
        return created
