"""Dependencies on the SQL database: the request's session, the auth service and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from smartnote.auth import AuthService, Principal
from smartnote.aws import jwt_secret
from smartnote.clock import utcnow
from smartnote.concurrency import run_blocking
from smartnote.db.sql import session_factory
from smartnote.deps import SettingsDep
from smartnote.errors import AppError, Unauthorized
from smartnote.repositories.login_failures import LoginFailuresRepository
from smartnote.repositories.sessions import SessionsRepository
from smartnote.repositories.users import UsersRepository
from smartnote.repositories.write_limits import WriteLimiter
from smartnote.security import PasswordHasher, TokenService

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


async def get_write_limiter(settings: SettingsDep, session: SqlSession) -> WriteLimiter:
    return WriteLimiter(session, settings.write_rate_limit, settings.write_rate_window_seconds)


# Methods that change nothing; every other authenticated request counts as a write.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_principal(
    auth: Auth,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    request: Request,
    limiter: Annotated[WriteLimiter, Depends(get_write_limiter)],
) -> Principal:
    """The authenticated caller, or a 401 with `WWW-Authenticate: Bearer`.

    Writes are also counted here (429 over the per-user limit): every authenticated route
    goes through this dependency, so a new route cannot forget the limit.
    """
    if not token:
        raise Unauthorized("Not authenticated")
    return await run_blocking(_authenticate, auth, limiter, token, request.method)


def _authenticate(auth: AuthService, limiter: WriteLimiter, token: str, method: str) -> Principal:
    """The blocking part of `get_principal`, in one trip off the loop."""
    principal = auth.authenticate(token)
    if method not in SAFE_METHODS:
        limiter.hit(principal.user.id, utcnow())
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
