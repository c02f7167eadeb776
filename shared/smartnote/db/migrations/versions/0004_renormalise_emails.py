"""users.email in today's normal form: lower-cased before NFC as well as after

Before 2026-12-02 an address whose lower-casing decomposes a letter (a capital J with a
caron) was stored as the single normalisation gave it (`j` + combining caron), while the
login looked it up normalised twice (the composed `ǰ`): such an account could register but
never log in, and the same address could register again. This brings every stored address
to `normalise_email`'s form. An address whose normal form another account already holds is
left as it is and logged: which account is the person's is for an operator to decide.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from smartnote.repositories.users import normalise_email

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")

BATCH = 1000
users = sa.table("users", sa.column("id", sa.String), sa.column("email", sa.String))


def upgrade() -> None:
    connection = op.get_bind()
    after = ""
    while rows := connection.execute(
        sa.select(users.c.id, users.c.email)
        .where(users.c.id > after)
        .order_by(users.c.id)
        .limit(BATCH)
    ).all():
        after = rows[-1].id
        for user_id, email in rows:
            # An ASCII address was stored in its final form already.
            if not email.isascii():
                _renormalise(connection, user_id, email)


def _renormalise(connection: sa.Connection, user_id: str, email: str) -> None:
    normal = normalise_email(email)
    if normal == email:
        return
    holder = connection.execute(sa.select(users.c.id).where(users.c.email == normal)).first()
    if holder is not None:
        logger.warning(
            "user %s: email not renormalised, user %s holds its normal form", user_id, holder.id
        )
        return
    connection.execute(users.update().where(users.c.id == user_id).values(email=normal))


def downgrade() -> None:
    """Nothing to undo: the old form was never looked up successfully."""
