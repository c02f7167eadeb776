"""`/health`: is every backing service reachable?

Each check imports its driver when it runs: the docs function, which serves this route,
starts without PyMongo, SQLAlchemy or boto3.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from smartnote import aws
from smartnote.concurrency import run_blocking
from smartnote.config import Settings
from smartnote.deps import SettingsDep
from smartnote.models.common import OutputModel

logger = logging.getLogger(__name__)
router = APIRouter(tags=["service"])
# Also the drivers' own timeouts: a check given up on must not hold on to one of the
# container's few threads (concurrency.CONTAINER_THREADS), or the next checks find none.
CHECK_TIMEOUT_SECONDS = 3.0


class Health(OutputModel):
    status: str
    version: str
    checks: dict[str, str]


async def _mongo(settings: Settings) -> None:
    from smartnote.db import mongo  # noqa: PLC0415

    client = mongo.get_client(settings.mongodb_uri, settings.mongodb_timeout_ms)
    await client.admin.command("ping")


async def _sql(settings: Settings) -> None:
    from sqlalchemy import text  # noqa: PLC0415

    from smartnote.db.sql import get_engine  # noqa: PLC0415

    engine = get_engine(settings.database_url, CHECK_TIMEOUT_SECONDS)

    def ping() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    await run_blocking(ping)


async def _storage(settings: Settings) -> None:
    s3 = aws.client("s3", settings, CHECK_TIMEOUT_SECONDS)
    await run_blocking(s3.head_bucket, Bucket=settings.uploads_bucket)


CHECKS: dict[str, Callable[[Settings], Awaitable[None]]] = {
    "mongo": _mongo,
    "sql": _sql,
    "storage": _storage,
}


async def _run(name: str, settings: Settings) -> str:
    try:
        await asyncio.wait_for(CHECKS[name](settings), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure is "unavailable"; details in our logs
        logger.warning("health check %s failed: %s: %s", name, type(exc).__name__, exc)
        return "unavailable"
    return "ok"


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "A check failed"}},
)
async def health(settings: SettingsDep) -> JSONResponse:
    """Service status with one check per backing service; 503 names the failing one."""
    results = await asyncio.gather(*(_run(name, settings) for name in CHECKS))
    checks = dict(zip(CHECKS, results, strict=True))
    healthy = all(result == "ok" for result in checks.values())
    body = Health(
        status="ok" if healthy else "unavailable", version=settings.version, checks=checks
    )
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)
