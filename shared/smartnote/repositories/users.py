"""The `users` table."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smartnote.clock import utcnow
from smartnote.db.tables import User
from smartnote.errors import Conflict, NotFound


def normalise_email(email: str) -> str:
    """Emails are unique case-insensitively: store and look them up lower-cased."""
    return email.strip().lower()


@dataclass(frozen=True)
class UserRecord:
    """A `users` row as read, detached from any session (the authenticated caller)."""

    id: str
    email: str
    password_hash: str
    display_name: str | None
    timezone: str
    email_reminders: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> UserRecord:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


class UsersRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def create(
        self, email: str, password_hash: str, display_name: str | None, timezone: str
    ) -> User:
        now = utcnow()
        user = User(
            id=str(uuid.uuid4()),
            email=normalise_email(email),
            password_hash=password_hash,
            display_name=display_name,
            timezone=timezone,
            email_reminders=True,
            created_at=now,
            updated_at=now,
        )
        if self.by_email(user.email) is not None:
            raise Conflict("An account with this email already exists")
        try:
            # A savepoint: losing a concurrent registration race must not poison the transaction.
            with self._session.begin_nested():
                self._session.add(user)
        except IntegrityError as exc:
            raise Conflict("An account with this email already exists") from exc
        return user

    def by_email(self, email: str) -> User | None:
        if "\x00" in email:  # in no email; PostgreSQL would refuse the query
            return None
        return self._session.scalar(select(User).where(User.email == normalise_email(email)))

    def by_id(self, user_id: str) -> User | None:
        return self._session.get(User, user_id)

    def by_ids(self, user_ids: Collection[str]) -> dict[str, User]:
        """Many users in one query (the reminder job loads the owners of a batch at once)."""
        if not user_ids:
            return {}
        found = self._session.scalars(select(User).where(User.id.in_(set(user_ids))))
        return {user.id: user for user in found}

    def update(self, user_id: str, changes: dict[str, Any]) -> User:
        """Change a user's fields, read in this transaction (404 if deleted meanwhile)."""
        user = self.by_id(user_id)
        if user is None:
            raise NotFound("User not found")
        for name, value in changes.items():
            setattr(user, name, value)
        user.updated_at = utcnow()
        self._session.flush()
        return user

    def delete(self, user_id: str) -> None:
        self._session.execute(delete(User).where(User.id == user_id))
