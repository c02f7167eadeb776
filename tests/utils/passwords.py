"""Accounts as releases before password preparation stored them: the password hashed exactly
as the client sent it (NFD from many macOS input paths, NFC elsewhere, non-ASCII spaces kept)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from passlib.hash import argon2
from sqlalchemy import select

from smartnote.config import Settings, get_settings, jwt_secret
from smartnote.db.sql import session_factory
from smartnote.db.tables import users
from smartnote.repositories.sessions import SessionsRepository
from smartnote.repositories.users import UsersRepository
from smartnote.security import TokenService
from tests.conftest import ApiUser


def unprepared_hash(password: str, settings: Settings) -> str:
    """An argon2 hash of `password` as given, at the cost `settings` asks for (so that only
    its form, not its parameters, is outdated)."""
    hasher = argon2.using(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost_kib,
        parallelism=settings.argon2_parallelism,
    )
    return str(hasher.hash(password))


def is_hash_of(password: str, password_hash: str) -> bool:
    """Whether `password_hash` was made from exactly this string (no preparation)."""
    return bool(argon2.verify(password, password_hash))


def legacy_account(sql_url: str, password: str) -> ApiUser:
    """A user whose hash is of `password` unprepared, with a session started before the
    upgrade (its tokens minted as the auth function mints them)."""
    settings = get_settings()
    email = f"legacy-{uuid.uuid4().hex[:10]}@example.com"
    with session_factory(sql_url)() as db:
        user = UsersRepository(db).create(
            email, unprepared_hash(password, settings), display_name=None, timezone="UTC"
        )
        issued = SessionsRepository(db).start(user.id, "before-the-upgrade", timedelta(days=1))
        db.commit()
    tokens = TokenService(settings, jwt_secret(settings))
    access_token = tokens.create_access_token(user.id, issued.session.id)
    return ApiUser(email, password, user.id, access_token, issued.token)


def stored_hash(sql_url: str, user_id: str) -> str:
    """The password hash the account has now."""
    with session_factory(sql_url)() as db:
        return str(
            db.execute(select(users.c.password_hash).where(users.c.id == user_id)).scalar_one()
        )
