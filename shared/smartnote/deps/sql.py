"""Dependencies on the SQL database: the request's session, the auth service and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from smartnote.auth import AuthService, Principal
from smartnote.clock import utcnow
from smartnote.concurrency import run_short
from smartnote.config import Settings, jwt_secret
from smartnote.db.sql import Session, session_factory
from smartnote.deps import SettingsDep
from smartnote.errors import AppError, Unauthorized
from smartnote.repositories.login_failures import LoginFailuresRepository
from smartnote.repositories.sessions import SessionsRepository
from smartnote.repositories.users import UsersRepository
from smartnote.repositories.write_limits import WriteLimiter
from smartnote.security import PasswordHasher, TokenService

# Relative tokenUrl: the docs function serves it under the stage (routes/docs.py, _staged).
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="auth/token", auto_error=False)


async def get_sql_session(settings: SettingsDep) -> AsyncIterator[Session]:
    """One transaction per request, committed unless the request failed unexpectedly.

    A client error (4xx) is a decided outcome, and what the request wrote to reach it must
    stand: the failed login that feeds the throttle, the session revoked for refresh-token
    reuse. Anything else (a crash, a 5xx) rolls the whole request back.
    """
    # Connects on first use, not here.
    session = session_factory(settings.database_url, settings.sql_timeout_seconds)()
    try:
        yield session
    except AppError as exc:
        await _finish(session, commit=exc.status_code < 500)
        raise
    except BaseException:
        await _finish(session, commit=False)
        raise
    else:
        await _finish(session, commit=True)


async def _finish(session: Session, *, commit: bool) -> None:
    """End the request's transaction, if one is open.

    With none open (the session was not used, or its work already ended, see
    `_authenticate`), closing it only hands its connection back to the pool, which sends
    nothing to the database: it is done here, without `run_short`.
    """
    if session.in_transaction():
        await run_short(_end, session, commit=commit)
    else:
        session.close()


def _end(session: Session, *, commit: bool) -> None:
    """Commit or roll back, then close: one blocking call."""
    with session:
        if commit:
            session.commit()
        else:
            session.rollback()


# scope="function": the transaction ends before the answer is sent (FastAPI's default for a
# yield dependency ends it after), so a COMMIT that fails is a 503, never a 2xx for lost data.
SqlSession = Annotated[Session, Depends(get_sql_session, scope="function")]


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
    token: Annotated[str | None, Depends(oauth2_scheme)],
    request: Request,
    settings: SettingsDep,
    session: SqlSession,
) -> Principal:
    """The authenticated caller, or a 401 with `WWW-Authenticate: Bearer`.

    Writes are also counted here (429 over the per-user limit): every authenticated route
    goes through this dependency, so a new route cannot forget the limit.
    """
    return await _principal(token, settings, session, counted=request.method not in SAFE_METHODS)


async def get_reclaiming_principal(
    token: Annotated[str | None, Depends(oauth2_scheme)],
    settings: SettingsDep,
    session: SqlSession,
) -> Principal:
    """The caller of a route that takes an account back: ending a session, changing the
    password, deleting the account. Not counted as a write: whoever holds a stolen token
    could otherwise spend the owner's write limit and keep them from these (the two that
    take the password are throttled like a login instead)."""
    return await _principal(token, settings, session, counted=False)


async def _principal(
    token: str | None, settings: Settings, session: Session, *, counted: bool
) -> Principal:
    if not token:
        raise Unauthorized("Not authenticated")
    # Built by plain calls, not as dependencies: every node of FastAPI's graph costs each
    # request its resolution, and every authenticated request comes through here.
    auth = await get_auth_service(settings, session)
    limiter = await get_write_limiter(settings, session) if counted else None
    return await run_short(_authenticate, auth, limiter, session, token)


def _authenticate(
    auth: AuthService, limiter: WriteLimiter | None, session: Session, token: str
) -> Principal:
    """The blocking part of `get_principal`, in one blocking call.

    What is not counted as a write wrote nothing here, so its read-only transaction ends now,
    in this same call: a route that needs no more SQL (all of /notes' reads) then ends the
    request without one. A route that does use the session starts a new transaction.
    """
    principal = auth.authenticate(token)
    if limiter is None:
        session.commit()
    else:
        limiter.hit(principal.user.id, utcnow())
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
ReclaimingPrincipal = Annotated[Principal, Depends(get_reclaiming_principal)]
# On the routes of ReclaimingPrincipal: their OpenAPI operation declares no write-limit 429.
NOT_A_COUNTED_WRITE = {"x-counted-write": False}
