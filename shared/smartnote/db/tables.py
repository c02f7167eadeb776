"""SQL tables: users, their sessions (refresh-token families), login failures, write counters,
deleted accounts.

SQLAlchemy Core tables (no ORM: see smartnote.db.sql); the migrations must build exactly
these (tests/integration/db/test_migrations.py compares them).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from smartnote.db.sql import UTCDateTime

EMAIL_LENGTH = 320  # the columns that hold an email
USER_AGENT_LENGTH = 512


def storable(text: str, length: int) -> str:
    """`text` as every backend holds it in a `String(length)` column: cut to `length`, NUL as
    U+FFFD (PostgreSQL text cannot hold NUL; the insert would fail, and a client see a 5xx)."""
    return text[:length].replace("\x00", "\ufffd")


metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(EMAIL_LENGTH), unique=True, nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("display_name", String(100)),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("email_reminders", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# A login: one refresh-token family. Revoking it ends every token of the family.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("user_agent", String(USER_AGENT_LENGTH)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
    Column("revoked_at", UTCDateTime()),
    Column("revoked_reason", String(32)),
)
# A user's sessions in GET /auth/sessions' order (newest first, by id among equals), so that a
# page is one range of it; it serves every other lookup by user too.
Index("ix_sessions_user_created", sessions.c.user_id, sessions.c.created_at.desc(), sessions.c.id)

# A refresh token, stored only as its hash; `spent_at` set once it was exchanged.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "session_id",
        ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("token_hash", String(64), unique=True, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("spent_at", UTCDateTime()),
)

# A failed login, kept for a window to throttle guessing per account and per client.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(EMAIL_LENGTH), nullable=False),
    Column("client_ip", String(64), nullable=False),
    Column("attempted_at", UTCDateTime(), nullable=False),
    Index("ix_login_failures_email_at", "email", "attempted_at"),
    Index("ix_login_failures_client_at", "client_ip", "attempted_at"),
)

# Writes of one user in one fixed window (epoch seconds // window length).
write_counters = Table(
    "write_counters",
    metadata,
    Column("user_id", String(36), primary_key=True),
    Column("window_start", BigInteger, primary_key=True, index=True),
    Column("count", Integer, nullable=False),
)

# An account deleted recently: the cleanup job sweeps its notes and objects again, for what
# requests already in flight (or upload URLs issued) before the deletion wrote after it.
deleted_accounts = Table(
    "deleted_accounts",
    metadata,
    Column("user_id", String(36), primary_key=True),
    Column("deleted_at", UTCDateTime(), nullable=False, index=True),
)
