"""The `deleted_accounts` table: tombstones of accounts deleted recently."""

from __future__ import annotations

from collections.abc import Collection
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

    def delete_older_than(self, before: datetime, keep: Collection[str] = ()) -> int:
        """Forget the accounts deleted before `before`, but those of `keep`."""
        query = delete(deleted_accounts).where(deleted_accounts.c.deleted_at < before)
        if keep:
            query = query.where(deleted_accounts.c.user_id.not_in(list(keep)))
        return int(self._db.execute(query).rowcount)
