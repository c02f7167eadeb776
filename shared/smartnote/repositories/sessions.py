"""The `sessions` and `refresh_tokens` tables: rotating refresh tokens with reuse detection."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from smartnote.clock import utcnow
from smartnote.db.tables import AuthSession, RefreshToken, User
from smartnote.repositories.users import UserRecord
from smartnote.security import hash_token, new_refresh_token

# Every authenticated request runs this, so it is built once (building a statement and its
# cache key cost more than running it) and on the tables, not the ORM classes (loading ORM
# objects costs more again): ~470 -> ~200 -> ~130 us per lookup on SQLite, bench notes.
_USERS, _SESSIONS = User.__table__, AuthSession.__table__
_LIVE_SESSION_USER = (
    select(_USERS)
    .join(_SESSIONS, _SESSIONS.c.user_id == _USERS.c.id)
    .where(
        _SESSIONS.c.id == bindparam("session_id"),
        _USERS.c.id == bindparam("user_id"),
        _SESSIONS.c.revoked_at.is_(None),
        _SESSIONS.c.expires_at > bindparam("now"),
    )
)


@dataclass(frozen=True)
class IssuedRefresh:
    session: AuthSession
    token: str


class RefreshRejected(Exception):
    """The refresh token is unknown, spent, expired or of an ended session."""


class SessionsRepository:
    def __init__(self, session: Session) -> None:
        self._db = session

    def start(self, user_id: str, user_agent: str | None, ttl: timedelta) -> IssuedRefresh:
        now = utcnow()
        auth_session = AuthSession(
            id=str(uuid.uuid4()),
            user_id=user_id,
            user_agent=(user_agent or "")[:512] or None,
            created_at=now,
            last_used_at=now,
            expires_at=now + ttl,
        )
        self._db.add(auth_session)
        self._db.flush()
        return IssuedRefresh(auth_session, self._issue(auth_session.id, now))

    def _issue(self, session_id: str, now: datetime) -> str:
        token = new_refresh_token()
        self._db.add(
            RefreshToken(session_id=session_id, token_hash=hash_token(token), created_at=now)
        )
        self._db.flush()
        return token

    def rotate(self, token: str) -> IssuedRefresh:
        """Spend `token` and issue its successor; a spent token revokes its whole session."""
        now = utcnow()
        stored = self._db.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(token))
        )
        if stored is None:
            raise RefreshRejected("unknown refresh token")
        auth_session = self._db.get(AuthSession, stored.session_id)
        if auth_session is None or not self._is_live(auth_session, now):
            raise RefreshRejected("session ended")
        # The conditional UPDATE makes "spend" atomic: of two racing refreshes, one wins.
        spent = self._db.execute(
            update(RefreshToken)
            .where(RefreshToken.id == stored.id, RefreshToken.spent_at.is_(None))
            .values(spent_at=now)
        )
        if spent.rowcount != 1:  # type: ignore[attr-defined]
            self.revoke(auth_session.id, reason="reuse")
            raise RefreshRejected("refresh token reused")
        auth_session.last_used_at = now
        return IssuedRefresh(auth_session, self._issue(auth_session.id, now))

    def find_live_by_token(self, token: str) -> AuthSession | None:
        stored = self._db.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(token))
        )
        if stored is None:
            return None
        auth_session = self._db.get(AuthSession, stored.session_id)
        return auth_session if auth_session and self._is_live(auth_session, utcnow()) else None

    def get_live(self, session_id: str) -> AuthSession | None:
        if not _is_uuid(session_id):  # no session's id (and PostgreSQL refuses a NUL in one)
            return None
        auth_session = self._db.get(AuthSession, session_id)
        return auth_session if auth_session and self._is_live(auth_session, utcnow()) else None

    def live_user(self, session_id: str, user_id: str) -> UserRecord | None:
        """The user of a live session of theirs, in one statement; None if either is gone."""
        params = {"session_id": session_id, "user_id": user_id, "now": utcnow()}
        row = self._db.connection().execute(_LIVE_SESSION_USER, params).first()
        return UserRecord.from_row(row._mapping) if row is not None else None

    def list_live(self, user_id: str) -> Sequence[AuthSession]:
        now = utcnow()
        return self._db.scalars(
            select(AuthSession)
            .where(
                AuthSession.user_id == user_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
            )
            .order_by(AuthSession.created_at.desc(), AuthSession.id)
        ).all()

    def revoke(self, session_id: str, reason: str) -> None:
        self._db.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason)
        )

    def revoke_all_except(self, user_id: str, keep_session_id: str | None, reason: str) -> None:
        statement = update(AuthSession).where(
            AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
        )
        if keep_session_id is not None:
            statement = statement.where(AuthSession.id != keep_session_id)
        self._db.execute(statement.values(revoked_at=utcnow(), revoked_reason=reason))

    def delete_ended(self, before: datetime) -> int:
        """Remove sessions that expired or were revoked before `before` (cleanup job)."""
        result = self._db.execute(
            delete(AuthSession).where(
                (AuthSession.expires_at < before) | (AuthSession.revoked_at < before)
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    def _is_live(auth_session: AuthSession, now: datetime) -> bool:
        return auth_session.revoked_at is None and auth_session.expires_at > now


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
