"""`python -m smartnote.local.stack`: the whole backend on this machine, without Docker."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from smartnote.config import get_settings
from smartnote.local.async_invoke import AsyncInvoker
from smartnote.local.gateway import Gateway
from smartnote.local.s3_autosave import S3Autosave
from smartnote.local.s3_events import S3EventDelivery
from smartnote.local.s3_snapshot import S3Snapshot
from smartnote.local.scheduler import Scheduler
from smartnote.local.services import (
    DEFAULT_REGION,
    DUMMY_AWS_KEY,
    AwsService,
    MongoService,
    SqlService,
    port_is_free,
)
from smartnote.local.template import Template, load_template

logger = logging.getLogger("smartnote.local.stack")

DATA_DIR = Path(".local")
STACK_FILE = "stack.json"
# Held (flock) by the running stack: the kernel lets go of it when the stack dies, kill -9 too,
# so a stack.json left behind is never taken for a running stack, whoever has its pid now.
LOCK_FILE = "stack.lock"
JWT_SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name, not a secret
S3_DIR = "s3"


def jwt_secret(data_dir: Path) -> str:
    """The stack's JWT secret: generated once, kept in `<data_dir>/jwt_secret` (mode 0600)."""
    path = data_dir / JWT_SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        secret = secrets.token_urlsafe(48)
        handle.write(secret + "\n")
    return secret


def local_environ(
    *, mongodb_uri: str, database_url: str, aws_endpoint_url: str, jwt_secret: str
) -> dict[str, str]:
    """The environment the in-process handlers read their settings from."""
    return {
        "ENVIRONMENT": "local",
        "MONGODB_URI": mongodb_uri,
        "DATABASE_URL": database_url,
        "AWS_ENDPOINT_URL": aws_endpoint_url,
        "AWS_REGION": os.environ.get("AWS_REGION") or DEFAULT_REGION,
        "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION") or DEFAULT_REGION,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID") or DUMMY_AWS_KEY,
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY") or DUMMY_AWS_KEY,
        "JWT_SECRET": jwt_secret,
    }


def apply_environ(template: Template, values: Mapping[str, str]) -> None:
    """Set `values` in os.environ, plus the template's literal function env where unset."""
    # All functions share this process, so per-function variables can only be defaults.
    for fn in template.functions.values():
        for key, value in fn.environment.items():
            os.environ.setdefault(key, value)
    os.environ.update(values)
    # Settings read before (migrating PostgreSQL reads its statement timeout) are stale now.
    get_settings.cache_clear()


@contextlib.contextmanager
def ephemeral_services(
    work_dir: str | Path, template: Template | None = None
) -> Iterator[dict[str, str]]:
    """In-memory Mongo, a migrated SQLite in `work_dir` and moto, for one test or invocation.

    Yields the environment the handlers need (see `local_environ`); external services named
    by MONGODB_URI / DATABASE_URL / AWS_ENDPOINT_URL are used instead when those are set.
    """
    mongo = MongoService.from_env(":memory:")
    sql = SqlService.from_env(Path(work_dir) / "smartnote.db")
    aws = AwsService.from_env()
    try:
        mongo.start()
        sql.start()
        aws.start()
        if template is not None:
            aws.provision(template)
        yield local_environ(
            mongodb_uri=mongo.url,
            database_url=sql.url,
            aws_endpoint_url=aws.url,
            jwt_secret=secrets.token_urlsafe(48),
        )
    finally:
        aws.stop()
        mongo.stop()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stack_running(data_dir: Path = DATA_DIR) -> bool:
    """Whether a stack holds `data_dir` (its lock file is locked), in any process."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # lets go of the shared lock just taken, if it was
    return False


def lock_data_dir(data_dir: Path, wait: float = 1.0) -> int:
    """The descriptor holding `data_dir`'s lock for this stack's life; an OSError if another
    stack holds it. `wait` lets a passing `stack_running` check (a shared lock) finish."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                break
        time.sleep(0.05)
    os.close(fd)
    running = read_stack_file(data_dir)
    which = f"a stack (pid {running['pid']})" if running else "another stack (starting)"
    raise OSError(f"{which} already runs with the data in {data_dir}; stop it first")


def read_stack_file(data_dir: Path = DATA_DIR) -> dict[str, Any] | None:
    """The running stack's description, or None when no live stack wrote one."""
    path = data_dir / STACK_FILE
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pid = info.get("pid")
    alive = isinstance(pid, int) and pid_alive(pid)
    return info if alive and stack_running(data_dir) else None


@dataclass
class Stack:
    """Mongo + SQL + AWS + the gateway, started and stopped together."""

    template: Template
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 3000
    pool_size: int = 4
    quiet: bool = False
    schedules: bool = True  # fire the template's Schedule/ScheduleV2 events

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.mongo = MongoService.from_env(self.data_dir / "mongo")
        self.sql = SqlService.from_env(self.data_dir / "smartnote.db")
        self.aws = AwsService.from_env()
        self.gateway = Gateway(
            self.template, self.host, self.port, self.pool_size, quiet=self.quiet
        )
        self.provisioned: dict[str, str] = {}
        self.scheduler: Scheduler | None = None
        # EventBridge invokes the scheduled functions asynchronously, as S3 the image one.
        self.scheduled_runs = AsyncInvoker(self.template, self.gateway.invoke, self.aws)
        self.s3_events = S3EventDelivery(self.template, self.aws, self.gateway)
        # moto keeps objects in memory only; an external endpoint (LocalStack) has its own
        # persistence.
        self.s3_snapshot = (
            None
            if self.aws.external
            else S3Snapshot(self.data_dir / S3_DIR, [b.bucket_name for b in self.template.buckets])
        )
        self.s3_autosave: S3Autosave | None = None
        self._lock_fd: int | None = None

    @property
    def stack_file(self) -> Path:
        return self.data_dir / STACK_FILE

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = lock_data_dir(self.data_dir)
        self.stack_file.unlink(missing_ok=True)  # a killed stack's, naming services long gone
        self.mongo.start()
        try:
            self.sql.start()
            self.aws.start()
            self.provisioned = self.aws.provision(self.template)
            if self.s3_snapshot is not None:  # before any notification: none of them fires
                self.s3_snapshot.restore(self.aws.client("s3"))
                # From now on every write is on disk within a second, not only at a clean stop.
                self.s3_autosave = S3Autosave(self.s3_snapshot, self.aws.client("s3"))
                self.s3_autosave.start()
            env = local_environ(
                mongodb_uri=self.mongo.url,
                database_url=self.sql.url,
                aws_endpoint_url=self.aws.url,
                jwt_secret=jwt_secret(self.data_dir),
            )
            apply_environ(self.template, env)
            self.gateway.start()
            if self.schedules:
                self.scheduler = Scheduler(self.template, self.scheduled_runs.invoke)
                self.scheduler.start()
            self.s3_events.start()  # uploads reach the image function like on AWS
        except BaseException:
            self.stop()
            raise
        self._write_stack_file()

    def _write_stack_file(self) -> None:
        info = {
            "pid": os.getpid(),
            "api_url": self.gateway.url,
            "mongodb_uri": self.mongo.url,
            "database_url": self.sql.url,
            "aws_endpoint_url": self.aws.url,
            "jwt_secret_file": str(self.data_dir / JWT_SECRET_FILE),
        }
        tmp = self.stack_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.stack_file)

    def stop(self) -> None:
        """Stop everything that runs; safe to call twice."""
        # Withdraw stack.json first so `invoke` stops targeting a stack that is going away.
        if self._lock_fd is not None:
            self.stack_file.unlink(missing_ok=True)
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        self.scheduled_runs.stop()
        self.s3_events.stop()
        self.gateway.stop()
        self._save_s3()  # nothing writes to S3 any more, and moto still holds it all
        self.aws.stop()
        self.mongo.stop()
        self.sql.stop()
        if self._lock_fd is not None:  # the data is free for another stack now
            os.close(self._lock_fd)
            self._lock_fd = None

    def _save_s3(self) -> None:
        if self.s3_autosave is not None:
            self.s3_autosave.stop()
            self.s3_autosave = None
        if self.s3_snapshot is None or not self.aws.running:
            return
        try:
            count = self.s3_snapshot.save(self.aws.client("s3"))
            if self.s3_snapshot.restored:
                logger.info("saved %d S3 object(s) to %s", count, self.s3_snapshot.directory)
        except Exception:  # stop the rest all the same; the previous snapshot stays whole
            logger.exception("could not save the S3 objects to %s", self.s3_snapshot.directory)

    def _event_sources(self, function_name: str) -> str:
        return ", ".join(
            f"S3 {sub.bucket}/{''.join(r['Value'] for r in sub.filter_rules)}* (via SQS poller)"
            for sub in self.s3_events.subscriptions
            if sub.function.name == function_name
        )

    def summary(self) -> str:
        """The table of what runs where."""
        api = self.gateway.url
        mongo_kind = (
            "external" if self.mongo.external else f"SecantusDB, data in {self.mongo.storage_path}"
        )
        aws_kind = "external" if self.aws.external else f"moto, S3 objects saved to {S3_DIR}/"
        rows = [
            ("API", api, "API Gateway REST v1 emulation"),
            ("Swagger UI", f"{api}/docs", ""),
            ("ReDoc", f"{api}/redoc", ""),
            ("MongoDB", self.mongo.url, mongo_kind),
            ("SQL", self.sql.url, "migrated to head"),
            ("AWS endpoint", self.aws.url, aws_kind),
            ("Sent emails", f"{api}/_local/emails", "what SES (moto) accepted"),
            ("Data dir", str(self.data_dir), "JWT secret in jwt_secret, state in stack.json"),
        ]
        width = max(len(url) for _name, url, _note in rows)
        lines = ["", "SmartNote local stack is running (Ctrl-C to stop)", ""]
        lines += [f"  {name:<13} {url:<{width}}  {note}".rstrip() for name, url, note in rows]
        lines += ["", "  Functions"]
        for fn in self.template.functions.values():
            routes = ", ".join(f"{r.method} {r.path}" for r in fn.api_routes)
            routes = routes or self._event_sources(fn.name) or "(no API routes)"
            lines.append(f"    {fn.name:<11} {routes}")
        if self.scheduler is not None and self.scheduler.schedules:
            lines += ["", "  Schedules (make invoke FN=<function> fires one now)"]
            for schedule, at in self.scheduler.next_fire.items():
                when = f"{at:%Y-%m-%d %H:%M:%S} UTC"
                lines.append(f"    {schedule.function:<11} {schedule.expression:<22} next {when}")
        if self.provisioned:
            lines += ["", "  AWS resources"]
            lines += [f"    {key:<20} {value}" for key, value in self.provisioned.items()]
        return "\n".join(lines) + "\n"


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (0..65535)")
    return port


def _pool_size(value: str) -> int:
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of containers (1 or more)")
    return size


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m smartnote.local.stack", description=__doc__)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address of the API (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=_port, default=3000, help="port of the API (default: %(default)s)"
    )
    parser.add_argument(
        "--template", default="template.yaml", help="SAM template (default: %(default)s)"
    )
    parser.add_argument(
        "--pool-size", type=_pool_size, default=4, help="warm containers per function"
    )
    parser.add_argument("--quiet", action="store_true", help="no access log")
    parser.add_argument(
        "--no-schedules", action="store_true", help="do not fire the template's schedules"
    )
    return parser.parse_args(argv)


def _refusal(args: argparse.Namespace) -> str | None:
    """Why a stack cannot start with these arguments, before anything starts; None if it can."""
    running = read_stack_file(DATA_DIR)
    if running is not None:
        return (
            f"a stack (pid {running['pid']}) already runs at {running.get('api_url')} "
            f"with the data in {DATA_DIR.resolve()}; stop it first."
        )
    try:
        free = port_is_free(args.host, args.port)
    except OSError as exc:  # socket.gaierror (an unknown name) has no filename, only strerror
        return (
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
            "HOST must be an IPv4 address of this machine or a name of one (e.g. 127.0.0.1)."
        )
    if not free:
        return (
            f"port {args.port} on {args.host} is already in use; stop what uses it "
            f"or choose another with --port (e.g. make run PORT={args.port + 1})."
        )
    return None


def _stack(args: argparse.Namespace) -> Stack | str:
    """The stack of these arguments, or why there is none."""
    try:
        return Stack(
            load_template(args.template),
            DATA_DIR,
            args.host,
            args.port,
            args.pool_size,
            quiet=args.quiet,
            schedules=not args.no_schedules,
        )
    except FileNotFoundError as exc:
        return (
            f"no template at {exc.filename}; run this in the project's folder (make run does)"
            " or name one with --template"
        )
    except (OSError, ValueError) as exc:  # a template that is not one, or that we cannot run
        return str(exc)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # The gateway writes one access line per request; these would repeat it or add noise.
    for noisy in ("mangum", "botocore", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stack = _refusal(args) or _stack(args)
    if isinstance(stack, str):
        print(f"error: {stack}", file=sys.stderr)
        return 1
    stop = threading.Event()
    stopping = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():  # a second Ctrl-C: a clean stop may wait for a long invocation
            with contextlib.suppress(OSError):
                print(
                    "Stopping now, without waiting for the functions still running; as after"
                    " kill -9, the S3 writes of the last second or so may be lost.",
                    file=sys.stderr,
                    flush=True,
                )
            os._exit(128 + signum)
        stop.set()

    # Ctrl-C, `kill`, and the terminal closing (SIGHUP) all stop the stack cleanly.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    try:
        stack.start()
    except (OSError, ValueError) as exc:  # ValueError: a template parameter's local value
        print(f"error: could not start the stack: {exc}", file=sys.stderr)
        return 1
    print(stack.summary(), flush=True)
    try:
        while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        stopping.set()
        with contextlib.suppress(OSError):  # its terminal may be gone (SIGHUP)
            print(
                "Stopping the local stack (Ctrl-C again to stop without waiting)...",
                file=sys.stderr,
                flush=True,
            )
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
