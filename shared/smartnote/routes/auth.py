"""`/auth`: OAuth2 password flow, refresh-token rotation, logout and sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from smartnote.deps import ClientIp
from smartnote.deps.sql import Auth, CurrentPrincipal
from smartnote.models.common import error_responses
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
def register(body: UserRegister, auth: Auth) -> UserOut:
    """Create an account (password: at least 10 characters, not a common one)."""
    return UserOut.model_validate(auth.register(body), from_attributes=True)


@router.post(
    "/token",
    responses={**UNAUTHORIZED, **error_responses((429, "Too many failed logins"))},
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    auth: Auth,
    ip: ClientIp,
    user_agent: Annotated[str | None, Header()] = None,
) -> TokenPair:
    """Log in with `username` (your email) and `password`: an access and a refresh token."""
    return auth.login(form.username, form.password, ip, user_agent)


@router.post("/refresh", responses=UNAUTHORIZED)
def refresh(body: RefreshRequest, auth: Auth) -> TokenPair:
    """Exchange a refresh token for a new pair; the old one is spent (reuse ends the session)."""
    return auth.refresh(body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=UNAUTHORIZED)
def logout(principal: CurrentPrincipal, auth: Auth, body: LogoutRequest | None = None) -> Response:
    """End a session: the one of `refresh_token` if given, else the caller's."""
    auth.logout(principal, body.refresh_token if body else None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions", responses=UNAUTHORIZED)
def list_sessions(principal: CurrentPrincipal, auth: Auth) -> list[SessionOut]:
    """The caller's live sessions."""
    return [
        SessionOut(
            id=s.id,
            created_at=s.created_at,
            last_used_at=s.last_used_at,
            user_agent=s.user_agent,
            current=s.id == principal.session_id,
        )
        for s in auth.live_sessions(principal)
    ]


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**UNAUTHORIZED, **error_responses((404, "No such session"))},
)
def revoke_session(session_id: str, principal: CurrentPrincipal, auth: Auth) -> Response:
    """End one of the caller's sessions: its refresh token stops working."""
    auth.revoke_session(principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
