"""Every FastAPI dependency, as `Annotated` aliases so that route signatures read plainly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from pymongo.asynchronous.database import AsyncDatabase
from sqlalchemy.orm import Session

from smartnote.auth import AuthService, Principal
from smartnote.aws import jwt_secret
from smartnote.concurrency import run_blocking
from smartnote.config import Settings, get_settings
from smartnote.db import mongo
from smartnote.db.sql import session_factory
from smartnote.errors import AppError, Unauthorized
from smartnote.repositories import notes as notes_repo
from smartnote.repositories.login_failures import LoginFailuresRepository
from smartnote.repositories.notes import NotesRepository
from smartnote.repositories.sessions import SessionsRepository
from smartnote.repositories.users import UsersRepository
from smartnote.security import PasswordHasher, TokenService

# Every dependency is `async def`, blocking work goes through `run_blocking`: a plain `def`
# dependency would cost a thread hop each, and a new thread per invocation (concurrency.py).


async def current_settings() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]

# Relative tokenUrl: Swagger UI resolves it against the document's URL, stage included.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="auth/token", auto_error=False)


async def get_sql_session(settings: SettingsDep) -> AsyncIterator[Session]:
    """One transaction per request, committed unless the request failed unexpectedly.

    A client error (4xx) is a decided outcome, and what the request wrote to reach it must
    stand: the failed login that feeds the throttle, the session revoked for refresh-token
    reuse. Anything else (a crash, a 5xx) rolls the whole request back.
    """
    session = session_factory(settings.database_url)()  # connects on first use, not here
    try:
        yield session
    except AppError as exc:
        await run_blocking(_end, session, commit=exc.status_code < 500)
        raise
    except BaseException:
        await run_blocking(_end, session, commit=False)
        raise
    else:
        await run_blocking(_end, session, commit=True)


def _end(session: Session, *, commit: bool) -> None:
    """Commit or roll back, then close: one trip off the loop."""
    with session:
        if commit:
            session.commit()
        else:
            session.rollback()


SqlSession = Annotated[Session, Depends(get_sql_session)]


async def get_mongo_database(settings: SettingsDep) -> AsyncDatabase[mongo.Document]:
    return await mongo.get_database(
        settings.mongodb_uri,
        settings.mongodb_db,
        prepare=notes_repo.ensure_indexes,
        timeout_ms=settings.mongodb_timeout_ms,
    )


MongoDatabase = Annotated[AsyncDatabase[mongo.Document], Depends(get_mongo_database)]


async def get_notes_repository(database: MongoDatabase) -> NotesRepository:
    return NotesRepository(database[notes_repo.COLLECTION])


Notes = Annotated[NotesRepository, Depends(get_notes_repository)]


def get_token_service(settings: SettingsDep) -> TokenService:
    return TokenService(settings, jwt_secret(settings))


async def get_auth_service(settings: SettingsDep, session: SqlSession) -> AuthService:
    # Construction only; the JWT key is read from Secrets Manager once per container (cached).
    return AuthService(
        settings,
        UsersRepository(session),
        SessionsRepository(session),
        LoginFailuresRepository(session),
        PasswordHasher(settings),
        get_token_service(settings),
    )


Auth = Annotated[AuthService, Depends(get_auth_service)]


async def get_principal(
    auth: Auth, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The authenticated caller, or a 401 with `WWW-Authenticate: Bearer`."""
    if not token:
        raise Unauthorized("Not authenticated")
    return await run_blocking(auth.authenticate, token)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientIp = Annotated[str, Depends(client_ip)]
