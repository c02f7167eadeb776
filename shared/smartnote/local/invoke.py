"""`python -m smartnote.local.invoke <fn> [event.json]`: one invocation, like `sam local invoke`."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smartnote.local.containers import lambda_error
from smartnote.local.gateway import Gateway
from smartnote.local.stack import (
    DATA_DIR,
    apply_environ,
    ephemeral_services,
    local_environ,
    read_stack_file,
)
from smartnote.local.template import Template, load_template

EVENTS_DIR = Path("tests/events")
# What the events of tests/events/ carry in place of an access token (tests put a real one).
TOKEN_PLACEHOLDER = "REPLACE_WITH_ACCESS_TOKEN"  # noqa: S105 - a marker, not a secret


class UsageError(Exception):
    """A problem with the command line, reported without a traceback."""


def find_event(function: str, event_path: str | None, events_dir: Path = EVENTS_DIR) -> Path:
    """The event file to use: the one given, else `tests/events/<fn>.json`."""
    if event_path:
        path = Path(event_path)
        if path.is_dir():
            raise UsageError(f"event file {path} is a directory, not a JSON file")
        if not path.is_file():
            raise UsageError(f"event file {path} does not exist")
        return path
    path = events_dir / f"{function}.json"
    if path.is_file():
        return path
    available = sorted(p.name for p in events_dir.glob("*.json")) if events_dir.is_dir() else []
    listing = ", ".join(available) if available else "none"
    raise UsageError(
        f"no event given and {path} does not exist; pass one "
        f"(make invoke FN={function} EVENT=<file>). Events in {events_dir}/: {listing}"
    )


@contextlib.contextmanager
def environment(template: Template, data_dir: Path = DATA_DIR) -> Iterator[str]:
    """Point the handlers at the running stack, else at ephemeral services; yields a label."""
    info = read_stack_file(data_dir)
    if info is not None:
        secret = Path(info["jwt_secret_file"]).read_text(encoding="utf-8").strip()
        env = local_environ(
            mongodb_uri=info["mongodb_uri"],
            database_url=info["database_url"],
            aws_endpoint_url=info["aws_endpoint_url"],
            jwt_secret=secret,
        )
        apply_environ(template, env)
        yield f"the running stack (pid {info['pid']})"
        return
    with (
        tempfile.TemporaryDirectory(prefix="smartnote-invoke-") as tmp,
        ephemeral_services(tmp, template) as env,
    ):
        apply_environ(template, env)
        yield "ephemeral services"


def read_event(path: Path) -> Any:
    """The JSON event in `path`; a `UsageError` naming the file if it is not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"event file {path} is not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"event file {path} is not valid JSON: {exc}") from None


def put_token(event: Any, token: str | None) -> bool:
    """Put `token` in place of the placeholder in the event's headers (a REST proxy event's
    `headers` and `multiValueHeaders`); whether the event still carries the placeholder."""
    if not isinstance(event, dict):
        return False
    left = False
    for field in ("headers", "multiValueHeaders"):
        headers = event.get(field)
        if not isinstance(headers, dict):
            continue
        for name, value in headers.items():
            values = value if isinstance(value, list) else [value]
            if not any(isinstance(v, str) and TOKEN_PLACEHOLDER in v for v in values):
                continue
            if token is None:
                left = True
                continue
            replaced = [
                v.replace(TOKEN_PLACEHOLDER, token) if isinstance(v, str) else v for v in values
            ]
            headers[name] = replaced if isinstance(value, list) else replaced[0]
    return left


def invoke(template: Template, function: str, event: dict[str, Any]) -> Any:
    """Run one function once in a container of its own and return its result."""
    gateway = Gateway(template, pool_size=1)
    try:
        return gateway.invoke(function, event)
    finally:
        gateway.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smartnote.local.invoke", description=__doc__)
    parser.add_argument("function", help="function folder name (e.g. notes) or logical id")
    parser.add_argument(
        "event", nargs="?", help="event JSON file (default: tests/events/<fn>.json)"
    )
    parser.add_argument(
        "--template", default="template.yaml", help="SAM template (default: %(default)s)"
    )
    parser.add_argument(
        "--token",
        help=f"access token to put in place of the event's {TOKEN_PLACEHOLDER}"
        " (one of the running stack's: POST /auth/token)",
    )
    args = parser.parse_args(argv)
    try:
        template = load_template(args.template)
        spec = template.function(args.function)
        event_file = find_event(spec.name, args.event)
        event = read_event(event_file)
    except (UsageError, KeyError, OSError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    # Whatever the function or the services print goes to stderr: stdout is the result only.
    with contextlib.redirect_stdout(sys.stderr), environment(template) as where:
        print(f"invoking {spec.logical_id} with {event_file} against {where}", file=sys.stderr)
        if put_token(event, args.token or None):
            print(
                f"note: the event's Authorization is the placeholder {TOKEN_PLACEHOLDER}, so"
                " the function answers 401; pass an access token of the running stack"
                f" (make invoke FN={args.function} TOKEN=<token>, see README.md's curl"
                " example for getting one)",
                file=sys.stderr,
            )
        try:
            result, failed = invoke(template, spec.name, event), False
        except Exception as exc:  # noqa: BLE001 - reported like Lambda reports it
            traceback.print_exc(file=sys.stderr)
            result, failed = lambda_error(exc), True
    print(json.dumps(result, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
