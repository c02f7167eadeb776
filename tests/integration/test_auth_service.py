"""AuthService against real SQL (SQLite and PostgreSQL): throttling that survives restarts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from smartnote.auth import AuthService
from smartnote.config import Settings
from smartnote.db.sql import session_factory
from smartnote.errors import TooManyRequests, Unauthorized
from smartnote.models.users import UserRegister
from smartnote.repositories.login_failures import LoginFailuresRepository
from smartnote.repositories.sessions import SessionsRepository
from smartnote.repositories.users import UsersRepository
from smartnote.security import PasswordHasher, TokenService


@pytest.fixture
def session(sql_url: str) -> Iterator[Session]:
    with session_factory(sql_url)() as db:
        yield db


def service(db: Session, **overrides: object) -> AuthService:
    settings = Settings(argon2_time_cost=1, argon2_memory_cost_kib=1024, **overrides)  # type: ignore[arg-type]
    return AuthService(
        settings,
        UsersRepository(db),
        SessionsRepository(db),
        LoginFailuresRepository(db),
        PasswordHasher(settings),
        TokenService(settings, "s" * 40),
    )


def test_per_client_throttle_spans_accounts_and_new_service_instances(session: Session) -> None:
    client_ip = f"198.51.100.{uuid.uuid4().int % 250}"
    for attempt in range(3):
        # A new service each time, as after a cold start: the state is in SQL.
        auth = service(session, login_max_failures_per_client=3)
        with pytest.raises(Unauthorized):
            auth.login(
                f"victim{attempt}-{uuid.uuid4().hex}@example.com", "guess-guess-1", client_ip, None
            )
        session.commit()
    with pytest.raises(TooManyRequests) as caught:
        service(session, login_max_failures_per_client=3).login(
            "another@example.com", "guess-guess-1", client_ip, None
        )
    assert 1 <= caught.value.retry_after <= 900
    # Another client is not affected.
    with pytest.raises(Unauthorized):
        service(session, login_max_failures_per_client=3).login(
            "another@example.com", "guess-guess-1", "192.0.2.1", None
        )


def test_success_clears_the_account_failures(session: Session) -> None:
    auth = service(session, login_max_failures_per_account=3)
    email = f"u-{uuid.uuid4().hex}@example.com"
    auth.register(UserRegister(email=email, password="tulip-orbit-7-canyon"))
    for _ in range(2):
        with pytest.raises(Unauthorized):
            auth.login(email, "wrong-password-1", "192.0.2.10", None)
    auth.login(email, "tulip-orbit-7-canyon", "192.0.2.10", None)
    for _ in range(2):  # the counter started again
        with pytest.raises(Unauthorized):
            auth.login(email, "wrong-password-1", "192.0.2.10", None)
    auth.login(email, "tulip-orbit-7-canyon", "192.0.2.10", None)
    session.rollback()
