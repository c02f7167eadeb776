"""The `users` table."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from smartnote.clock import utcnow
from smartnote.db.sql import Session
from smartnote.db.tables import users
from smartnote.errors import Conflict, NotFound


def normalise_email(email: str) -> str:
    """The form an email is stored and looked up in, unique case-insensitively: the address
    as registration's validation (EmailStr) normalises it, lower-cased.

    The login form is not validated, so the same normalisation is applied here: else an
    address registered as `u@xn--bcher-kva.example` (stored `u@bücher.example`) or with
    full-width letters could not log in as typed. What is no valid address (a typo) is only
    trimmed and lower-cased; it matches no account.

    Lower-cased before the normalisation (NFC) too: lower-casing can decompose a letter (`J̌`
    gives `j` and a combining caron), which only lower-casing after made the result depend on
    how often it was normalised; the login normalises twice, and found no such account.
    """
    # Imported here: FastAPI has it loaded already; the scheduled jobs never normalise.
    from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415

    email = email.strip().lower()
    with contextlib.suppress(EmailNotValidError):
        email = validate_email(email, check_deliverability=False).normalized
    return email.lower()


@dataclass(frozen=True)
class UserRecord:
    """A `users` row as read."""

    id: str
    email: str
    password_hash: str
    display_name: str | None
    timezone: str
    email_reminders: bool
    created_at: datetime
    updated_at: datetime


class UsersRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def create(
        self, email: str, password_hash: str, display_name: str | None, timezone: str
    ) -> UserRecord:
        now = utcnow()
        user = UserRecord(
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
                self._session.execute(insert(users).values(**asdict(user)))
        except IntegrityError as exc:
            raise Conflict("An account with this email already exists") from exc
        return user

    def by_email(self, email: str) -> UserRecord | None:
        if "\x00" in email:  # in no email; PostgreSQL would refuse the query
            return None
        return self._session.first(
            select(users).where(users.c.email == normalise_email(email)), UserRecord
        )

    def by_id(self, user_id: str) -> UserRecord | None:
        return self._session.first(select(users).where(users.c.id == user_id), UserRecord)

    def by_ids(self, user_ids: Collection[str]) -> dict[str, UserRecord]:
        """Many users in one query (the reminder job loads the owners of a batch at once)."""
        if not user_ids:
            return {}
        found = self._session.all(select(users).where(users.c.id.in_(set(user_ids))), UserRecord)
        return {user.id: user for user in found}

    def update(self, user_id: str, changes: dict[str, Any]) -> UserRecord:
        """Change a user's fields in this transaction (404 if deleted meanwhile)."""
        changed = self._session.first(
            update(users)
            .where(users.c.id == user_id)
            .values(**changes, updated_at=utcnow())
            .returning(*users.c),
            UserRecord,
        )
        if changed is None:
            raise NotFound("User not found")
        return changed

    def replace_password_hash(self, user_id: str, verified: str, new: str) -> bool:
        """Set `new` as the user's password hash if it still is `verified`, the one a password
        was just checked against; False if it changed (or the user went) since it was read.

        Also with `new == verified` (a login): the row stays locked until the transaction
        ends, so a concurrent change of password waits for it, then ends what it started.
        """
        changes = {"password_hash": new} | ({"updated_at": utcnow()} if new != verified else {})
        replaced = self._session.execute(
            update(users)
            .where(users.c.id == user_id, users.c.password_hash == verified)
            .values(**changes)
        )
        return bool(replaced.rowcount)

    def delete(self, user_id: str) -> bool:
        """Delete a user (sessions cascade); False if it was gone already."""
        deleted = self._session.execute(delete(users).where(users.c.id == user_id))
        return bool(deleted.rowcount)
