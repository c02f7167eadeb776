"""The `login_failures` table: throttling of password guessing, kept in SQL so that it
holds across Lambda containers and cold starts."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select

from smartnote.db.sql import Session
from smartnote.db.tables import EMAIL_LENGTH, login_failures, storable


def _email_key(email: str) -> str:
    """The username as the column holds it: a longer one (no account has one) counts under
    its first EMAIL_LENGTH characters."""
    return storable(email, EMAIL_LENGTH)


def _client_key(client_ip: str) -> str:
    """The client as counted: an IPv4 address, or the /64 network of an IPv6 one (the least
    a client is given: counted by address, it could change address at each guess)."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:  # no address ("unknown"): as given
        return storable(client_ip, 64)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address.packed, 64), strict=False))
    return str(address)


class LoginFailuresRepository:
    def __init__(self, session: Session) -> None:
        self._db = session

    def record_now(self, email: str, client_ip: str, at: datetime) -> None:
        """Record a failure and commit it at once (with the request's work so far), so that
        concurrent logins in other containers count it before checking their password."""
        self._db.execute(
            insert(login_failures).values(
                email=_email_key(email), client_ip=_client_key(client_ip), attempted_at=at
            )
        )
        self._db.commit()

    def recent(
        self, *, email: str | None = None, client_ip: str | None = None, since: datetime
    ) -> tuple[int, datetime | None]:
        """How many failures since `since` for the email or the client, and the oldest one."""
        if email is not None:
            condition = login_failures.c.email == _email_key(email)
        elif client_ip is not None:
            condition = login_failures.c.client_ip == _client_key(client_ip)
        else:
            raise TypeError("recent() needs an email or a client_ip")
        count, oldest = self._db.execute(
            select(func.count(), func.min(login_failures.c.attempted_at)).where(
                condition, login_failures.c.attempted_at >= since
            )
        ).one()
        return int(count), oldest

    def clear(self, email: str) -> None:
        self._db.execute(delete(login_failures).where(login_failures.c.email == _email_key(email)))

    def delete_older_than(self, before: datetime) -> int:
        result = self._db.execute(
            delete(login_failures).where(login_failures.c.attempted_at < before)
        )
        return int(result.rowcount)

    @staticmethod
    def window_start(now: datetime, window_seconds: int) -> datetime:
        return now - timedelta(seconds=window_seconds)
