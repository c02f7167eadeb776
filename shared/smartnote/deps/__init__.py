"""Every FastAPI dependency, as `Annotated` aliases so that route signatures read plainly.

Split by what each one loads, so that a function imports only the drivers its routes use:
this module needs neither database, `deps.sql` loads SQLAlchemy and the auth service (every
authenticated route), `deps.mongo` loads PyMongo (the notes repository).
Every dependency is `async def`, blocking work goes through `run_blocking` (or `run_short`,
inline during a Lambda invocation): a plain `def` dependency would cost a thread hop each,
and a new thread per invocation (concurrency.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from smartnote import aws
from smartnote.config import Settings, get_settings


async def current_settings() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]


async def get_s3_client(settings: SettingsDep) -> Any:
    """The container's S3 client, built (and boto3 imported) when a route first calls it."""
    return aws.LazyClient("s3", settings)


S3Client = Annotated[Any, Depends(get_s3_client)]


async def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientIp = Annotated[str, Depends(client_ip)]


PageLimit = Annotated[int, Query(ge=1, le=100)]
"""`?limit=` of a cursor-paged list: 1..100 items (API.md; the route gives the default, 20)."""
