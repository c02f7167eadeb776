"""`/auth`: OAuth2 password flow, refresh-token rotation, logout and sessions.

The routes are `async def` and hand their blocking work over explicitly: password hashing to
the loop's pool (`run_blocking`), short SQL inline in a Lambda invocation (`run_short`). A
plain `def` route runs on one of anyio's threads, which Mangum's new root task per invocation
started afresh each time (~0.7 ms of a warm invocation, GET /users/me 1.38 -> 0.73 ms).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from smartnote.concurrency import run_blocking, run_short
from smartnote.cursors import MAX_CURSOR_LENGTH
from smartnote.deps import ClientIp, PageLimit
from smartnote.deps.sql import NOT_A_COUNTED_WRITE, Auth, CurrentPrincipal, ReclaimingPrincipal
from smartnote.models.common import Page, error_responses
from smartnote.models.users import (
    LogoutRequest,
    RefreshRequest,
    SessionOut,
    TokenPair,
    UserOut,
    UserRegister,
)

router = APIRouter(prefix="/auth", tags=["auth"])

UNAUTHORIZED = error_responses((401, "Not authenticated"))


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses((409, "Email already registered")),
)
async def register(body: UserRegister, auth: Auth) -> UserOut:
    """Create an account (password: at least 10 characters, not a common one)."""
    user = await run_blocking(auth.register, body)
    return UserOut.model_validate(user, from_attributes=True)


@router.post(
    "/token",
    responses={**UNAUTHORIZED, **error_responses((429, "Too many failed logins"))},
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    auth: Auth,
    ip: ClientIp,
    user_agent: Annotated[str | None, Header(alias="User-Agent")] = None,
) -> TokenPair:
    """Log in with `username` (your email) and `password`: an access and a refresh token."""
    return await run_blocking(auth.login, form.username, form.password, ip, user_agent)


@router.post("/refresh", responses=UNAUTHORIZED)
async def refresh(body: RefreshRequest, auth: Auth) -> TokenPair:
    """Exchange a refresh token for a new pair; the old one is spent (reuse ends the session)."""
    return await run_short(auth.refresh, body.refresh_token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=UNAUTHORIZED,
    openapi_extra=NOT_A_COUNTED_WRITE,
)
async def logout(
    principal: ReclaimingPrincipal, auth: Auth, body: LogoutRequest | None = None
) -> Response:
    """End a session: the one of `refresh_token` if given, else the caller's.

    A `refresh_token` of no live session of the caller's ends the caller's own session, never
    another user's; the answer is the same 204.
    """
    await run_short(auth.logout, principal, body.refresh_token if body else None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions", responses=UNAUTHORIZED)
async def list_sessions(
    principal: CurrentPrincipal,
    auth: Auth,
    limit: PageLimit = 20,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description="`next_cursor` of the previous page (of this caller's sessions, else"
            " 422). A session ended meanwhile is not listed; one started meanwhile is newer"
            " than the pages after the first.",
        ),
    ] = None,
) -> Page[SessionOut]:
    """The caller's live sessions, newest first, a page at a time."""
    live, next_cursor = await run_short(auth.live_sessions, principal, limit, cursor)
    items = [
        SessionOut(
            id=s.id,
            created_at=s.created_at,
            last_used_at=s.last_used_at,
            user_agent=s.user_agent,
            current=s.id == principal.session_id,
        )
        for s in live
    ]
    return Page[SessionOut](items=items, next_cursor=next_cursor)


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**UNAUTHORIZED, **error_responses((404, "No such session"))},
    openapi_extra=NOT_A_COUNTED_WRITE,
)
async def revoke_session(session_id: str, principal: ReclaimingPrincipal, auth: Auth) -> Response:
    """End one of the caller's sessions: its refresh token stops working."""
    await run_short(auth.revoke_session, principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
