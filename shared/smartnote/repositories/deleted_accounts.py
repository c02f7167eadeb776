"""The `deleted_accounts` table: tombstones of accounts deleted recently."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select

from smartnote.db.sql import Session
from smartnote.db.tables import deleted_accounts


class DeletedAccountsRepository:
    def __init__(self, session: Session) -> None:
        self._db = session

    def record(self, user_id: str, at: datetime) -> None:
        self._db.execute(insert(deleted_accounts).values(user_id=user_id, deleted_at=at))

    def user_ids(self) -> list[str]:
        return list(self._db.execute(select(deleted_accounts.c.user_id)).scalars())

    def delete_older_than(self, before: datetime) -> int:
        result = self._db.execute(
            delete(deleted_accounts).where(deleted_accounts.c.deleted_at < before)
        )
        return int(result.rowcount)
