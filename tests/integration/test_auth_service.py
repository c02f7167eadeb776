"""AuthService against real SQL (SQLite and PostgreSQL): throttling that survives restarts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from smartnote.auth import AuthService
from smartnote.clock import utcnow
from smartnote.config import Settings
from smartnote.db.sql import Session, session_factory
from smartnote.db.tables import sessions
from smartnote.errors import NotFound, TooManyRequests, Unauthorized
from smartnote.models.users import UserRegister
from smartnote.repositories.login_failures import LoginFailuresRepository
from smartnote.repositories.sessions import SessionsRepository
from smartnote.repositories.users import UsersRepository
from smartnote.security import PasswordHasher, TokenService


@pytest.fixture
def session(sql_url: str) -> Iterator[Session]:
    with session_factory(sql_url)() as db:
        yield db


TOKEN_SECRET = "s" * 40


def service(db: Session, **overrides: object) -> AuthService:
    settings = Settings(argon2_time_cost=1, argon2_memory_cost_kib=1024, **overrides)  # type: ignore[arg-type]
    return AuthService(
        settings,
        UsersRepository(db),
        SessionsRepository(db),
        LoginFailuresRepository(db),
        PasswordHasher(settings),
        TokenService(settings, TOKEN_SECRET),
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


def test_an_ipv6_client_is_throttled_by_its_64_bit_network(session: Session) -> None:
    """The per-client limit counted each IPv6 address alone, and a client holds a whole /64
    at least (2^64 addresses): by changing address at each guess, it sprayed passwords over
    any number of accounts without ever reaching the limit."""
    network = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    another = f"another-{uuid.uuid4().hex}@example.com"
    for host in ("::1", "::2", ":abcd:ef01:2345:6789"):
        with pytest.raises(Unauthorized):
            service(session, login_max_failures_per_client=3).login(
                f"victim-{uuid.uuid4().hex}@example.com",
                "guess-guess-1",
                network + host,
                None,
            )
        session.commit()
    with pytest.raises(TooManyRequests):
        service(session, login_max_failures_per_client=3).login(
            another, "guess-guess-1", f"{network.upper()}:0:0:0:ffff", None
        )
    # Another network is not affected.
    with pytest.raises(Unauthorized):
        service(session, login_max_failures_per_client=3).login(
            another, "guess-guess-1", f"2001:db9:{network[9:]}::1", None
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


def test_an_account_counts_only_its_own_failures_and_registering_lifts_no_clients_count(
    session: Session,
) -> None:
    """Failures at an email before its account existed do not lock the account out, and
    registering it takes nothing off the count of the client that made them."""
    client_ip = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1"
    email = f"later-{uuid.uuid4().hex}@example.com"
    auth = service(session, login_max_failures_per_account=3, login_max_failures_per_client=3)
    for _ in range(3):
        with pytest.raises(Unauthorized):
            auth.login(email, "guess-guess-1", client_ip, None)
        session.commit()
    auth.register(UserRegister(email=email, password="tulip-orbit-7-canyon"))
    session.commit()
    with pytest.raises(TooManyRequests):
        auth.login(email, "tulip-orbit-7-canyon", client_ip, None)
    auth.login(email, "tulip-orbit-7-canyon", "192.0.2.20", None)
    session.rollback()


def _new_session(db: Session) -> tuple[str, str]:
    """(user id, session id) of a freshly registered user's new session."""
    email = f"a-{uuid.uuid4().hex}@example.com"
    user = UsersRepository(db).create(email, "not-a-real-hash", None, "UTC")
    issued = SessionsRepository(db).start(user.id, None, timedelta(days=1))
    db.commit()
    return user.id, issued.session.id


def _token(user_id: str, session_id: str) -> str:
    return TokenService(Settings(), TOKEN_SECRET).create_access_token(user_id, session_id)


def _revoke(db: Session, user_id: str, session_id: str) -> None:
    SessionsRepository(db).revoke(session_id, "logout")


def _expire(db: Session, user_id: str, session_id: str) -> None:
    expired = db.execute(
        update(sessions)
        .where(sessions.c.id == session_id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    assert expired.rowcount == 1


def _delete_user(db: Session, user_id: str, session_id: str) -> None:
    UsersRepository(db).delete(user_id)


def test_authenticate_accepts_a_live_session_of_the_tokens_user(session: Session) -> None:
    user_id, session_id = _new_session(session)
    principal = service(session).authenticate(_token(user_id, session_id))
    assert (principal.user.id, principal.session_id) == (user_id, session_id)
    assert principal.user.timezone == "UTC" and principal.user.created_at.tzinfo is not None
    session.rollback()


def test_changing_the_password_of_a_user_deleted_meanwhile_is_not_found(
    session: Session,
) -> None:
    user_id, session_id = _new_session(session)
    auth = service(session)
    principal = auth.authenticate(_token(user_id, session_id))
    UsersRepository(session).delete(user_id)
    with pytest.raises(NotFound):
        auth.change_password(principal, "tulip-orbit-8-canyon")
    session.rollback()


@pytest.mark.parametrize("end", [_revoke, _expire, _delete_user])
def test_authenticate_refuses_an_ended_session_or_a_deleted_user(
    session: Session, end: Callable[[Session, str, str], None]
) -> None:
    user_id, session_id = _new_session(session)
    token = _token(user_id, session_id)
    end(session, user_id, session_id)
    session.commit()
    with pytest.raises(Unauthorized):
        service(session).authenticate(token)
    session.rollback()


def test_authenticate_refuses_a_token_naming_another_users_session(session: Session) -> None:
    user_id, _ = _new_session(session)
    _, others_session_id = _new_session(session)
    with pytest.raises(Unauthorized):
        service(session).authenticate(_token(user_id, others_session_id))
    session.rollback()
