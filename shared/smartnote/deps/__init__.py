"""Every FastAPI dependency, as `Annotated` aliases so that route signatures read plainly.

Split by what each one loads, so that a function imports only the drivers its routes use:
this module needs neither database, `deps.sql` loads SQLAlchemy and the auth service (every
authenticated route), `deps.mongo` loads PyMongo (the notes repository).
Every dependency is `async def`, blocking work goes through `run_blocking` (or `run_short`,
inline during a Lambda invocation): a plain `def` dependency would cost a thread hop each,
and a new thread per invocation (concurrency.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request

from smartnote import aws, storage
from smartnote.config import Settings, get_settings
from smartnote.etags import Precondition, precondition
from smartnote.invocation import Invocation


async def current_settings() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]


async def get_s3_client(settings: SettingsDep) -> Any:
    """The container's S3 client, built (and boto3 imported) when a route first calls it;
    each call within `aws.S3_CALLS`."""
    return aws.LazyClient("s3", settings, aws.S3_CALLS)


S3Client = Annotated[Any, Depends(get_s3_client)]

# What a route still does after its last S3 call (MongoDB and SQL writes, the answer).
AFTER_S3 = timedelta(seconds=2)


async def s3_has_time(request: Request) -> storage.HasTime:
    """Whether one more S3 call (at worst `aws.S3_CALLS.worst_case`) and the rest of the
    route end before Lambda stops the invocation; always, off Lambda (no deadline)."""
    invocation = Invocation.of(request.scope.get("aws.context"))
    reserve = aws.S3_CALLS.worst_case + AFTER_S3
    return lambda: invocation.time_left() > reserve


S3HasTime = Annotated[storage.HasTime, Depends(s3_has_time)]


async def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientIp = Annotated[str, Depends(client_ip)]


PageLimit = Annotated[int, Query(ge=1, le=100)]
"""`?limit=` of a cursor-paged list: 1..100 items (API.md; the route gives the default, 20)."""


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='`"<version>"` from the note\'s ETag, a list of them (any may be current) or'
        " `*`; strong comparison: a stale, weak (`W/`) or malformed one answers 412.",
    ),
]
IfNoneMatchOnWrite = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description='`*` or `"<version>"` (a list of them): write only if the note is not at'
        " one of them, else 412 (RFC 9110; `*`: the note exists, always 412).",
    ),
]


async def write_precondition(
    if_match: IfMatch = None, if_none_match: IfNoneMatchOnWrite = None
) -> Precondition | None:
    """What a write of a note, or of one of its attachments (each a new version of the note),
    asks of the note's current version (RFC 9110 §13.1.1-2)."""
    return precondition(if_match, if_none_match)


WritePrecondition = Annotated[Precondition | None, Depends(write_precondition)]
