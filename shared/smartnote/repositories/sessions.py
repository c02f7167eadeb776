"""The `sessions` and `refresh_tokens` tables: rotating refresh tokens with reuse detection."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)

from smartnote.clock import utcnow
from smartnote.cursors import decode_cursor, encode_cursor, fingerprint, invalid_cursor
from smartnote.db.sql import Session
from smartnote.db.tables import USER_AGENT_LENGTH, refresh_tokens, sessions, storable, users
from smartnote.repositories.users import UserRecord
from smartnote.security import hash_token, new_refresh_token


def _live_at(now: datetime | BindParameter[Any]) -> ColumnElement[bool]:
    """`SessionRecord.is_live`, in SQL."""
    return and_(sessions.c.revoked_at.is_(None), sessions.c.expires_at > now)


# Every authenticated request runs this, so it is built once (building a statement and its
# cache key cost more than running it): ~470 -> ~200 -> ~130 us per lookup on SQLite, bench
# notes.
_LIVE_SESSION_USER = (
    select(users)
    .join(sessions, sessions.c.user_id == users.c.id)
    .where(
        sessions.c.id == bindparam("session_id"),
        users.c.id == bindparam("user_id"),
        _live_at(bindparam("now")),
    )
)


@dataclass(frozen=True)
class SessionRecord:
    """A `sessions` row as read (a login: one refresh-token family)."""

    id: str
    user_id: str
    user_agent: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_reason: str | None = None

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


@dataclass(frozen=True)
class IssuedRefresh:
    session: SessionRecord
    token: str


class RefreshRejected(Exception):
    """The refresh token is unknown, spent, expired or of an ended session."""


class SessionsRepository:
    def __init__(self, session: Session) -> None:
        self._db = session

    def start(self, user_id: str, user_agent: str | None, ttl: timedelta) -> IssuedRefresh:
        now = utcnow()
        auth_session = SessionRecord(
            id=str(uuid.uuid4()),
            user_id=user_id,
            user_agent=storable(user_agent or "", USER_AGENT_LENGTH) or None,
            created_at=now,
            last_used_at=now,
            expires_at=now + ttl,
        )
        self._db.execute(insert(sessions).values(**asdict(auth_session)))
        return IssuedRefresh(auth_session, self._issue(auth_session.id, now))

    def _issue(self, session_id: str, now: datetime) -> str:
        token = new_refresh_token()
        self._db.execute(
            insert(refresh_tokens).values(
                session_id=session_id, token_hash=hash_token(token), created_at=now
            )
        )
        return token

    def rotate(self, token: str) -> IssuedRefresh:
        """Spend `token` and issue its successor; a spent token revokes its whole session."""
        now = utcnow()
        stored = self._db.execute(
            select(refresh_tokens.c.id, refresh_tokens.c.session_id).where(
                refresh_tokens.c.token_hash == hash_token(token)
            )
        ).first()
        if stored is None:
            raise RefreshRejected("unknown refresh token")
        auth_session = self._by_id(stored.session_id)
        if auth_session is None or not auth_session.is_live(now):
            raise RefreshRejected("session ended")
        # Still live when touched: a logout or a password change that committed since the
        # session was read ended it (on PostgreSQL one in progress is waited for), and a pair
        # of an ended session would be a 200 whose tokens are refused at their first use.
        # The session is locked (touched) before its token, in the order an account's
        # deletion locks them (user, sessions, then their tokens): the other way round, a
        # refresh and a deletion at once could each hold what the other waits for.
        touched = self._db.execute(
            update(sessions)
            .where(sessions.c.id == auth_session.id, _live_at(now))
            .values(last_used_at=now)
        )
        if touched.rowcount != 1:
            raise RefreshRejected("session ended")
        # The conditional UPDATE makes "spend" atomic: of two racing refreshes, one wins.
        spent = self._db.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.id == stored.id, refresh_tokens.c.spent_at.is_(None))
            .values(spent_at=now)
        )
        if spent.rowcount != 1:
            self.revoke(auth_session.id, reason="reuse")
            raise RefreshRejected("refresh token reused")
        auth_session = replace(auth_session, last_used_at=now)
        return IssuedRefresh(auth_session, self._issue(auth_session.id, now))

    def find_live_by_token(self, token: str) -> SessionRecord | None:
        found = self._db.first(
            select(sessions)
            .join(refresh_tokens, refresh_tokens.c.session_id == sessions.c.id)
            .where(refresh_tokens.c.token_hash == hash_token(token)),
            SessionRecord,
        )
        return found if found and found.is_live(utcnow()) else None

    def get_live(self, session_id: str) -> SessionRecord | None:
        if not _is_uuid(session_id):  # no session's id (and PostgreSQL refuses a NUL in one)
            return None
        found = self._by_id(session_id)
        return found if found and found.is_live(utcnow()) else None

    def live_user(self, session_id: str, user_id: str) -> UserRecord | None:
        """The user of a live session of theirs, in one statement; None if either is gone."""
        if not (_is_uuid(session_id) and _is_uuid(user_id)):  # no ids of ours; nor a NUL
            return None
        params = {"session_id": session_id, "user_id": user_id, "now": utcnow()}
        return self._db.first(_LIVE_SESSION_USER, UserRecord, params)

    def page_live(
        self, user_id: str, limit: int, cursor: str | None
    ) -> tuple[list[SessionRecord], str | None]:
        """A page of the user's live sessions, newest first (by id among equal creation
        times), after `cursor`; and the cursor of the next page, if there is one."""
        found = self._db.all(_live_page_query(user_id, limit + 1, cursor), SessionRecord)
        page = found[:limit]
        next_cursor = None
        if len(found) > limit:
            last = page[-1]
            next_cursor = encode_cursor([last.created_at, last.id], _listing_of(user_id))
        return page, next_cursor

    def revoke(self, session_id: str, reason: str) -> None:
        self._db.execute(
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason)
        )

    def revoke_all_except(self, user_id: str, keep_session_id: str | None, reason: str) -> None:
        statement = update(sessions).where(
            sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)
        )
        if keep_session_id is not None:
            statement = statement.where(sessions.c.id != keep_session_id)
        self._db.execute(statement.values(revoked_at=utcnow(), revoked_reason=reason))

    def delete_ended(self, before: datetime) -> int:
        """Remove sessions that expired or were revoked before `before` (cleanup job)."""
        result = self._db.execute(
            delete(sessions).where(
                (sessions.c.expires_at < before) | (sessions.c.revoked_at < before)
            )
        )
        return int(result.rowcount)

    def _by_id(self, session_id: str) -> SessionRecord | None:
        return self._db.first(select(sessions).where(sessions.c.id == session_id), SessionRecord)


def _listing_of(user_id: str) -> str:
    """What a cursor of the sessions listing is bound to: its user (another's is a 422)."""
    return fingerprint("sessions", user_id)


def _live_page_query(user_id: str, limit: int, cursor: str | None) -> Select[Any]:
    """Up to `limit` live sessions of the user after `cursor`'s, in the listing's order: a
    range of `ix_sessions_user_created`, read in its order (no sort, no offset)."""
    statement = select(sessions).where(sessions.c.user_id == user_id, _live_at(utcnow()))
    if cursor is not None:
        created_at, session_id = decode_cursor(cursor, _listing_of(user_id), [datetime, str])
        if not isinstance(session_id, str) or not _is_uuid(session_id):
            # No session's id: a forged cursor (and PostgreSQL refuses a NUL in one).
            raise invalid_cursor("malformed cursor")
        # `created_at <=` bounds the index range; the rest skips the ties already listed.
        statement = statement.where(
            sessions.c.created_at <= created_at,
            or_(sessions.c.created_at < created_at, sessions.c.id > session_id),
        )
    return statement.order_by(sessions.c.created_at.desc(), sessions.c.id).limit(limit)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
