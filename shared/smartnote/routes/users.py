"""`/users/me`: the caller's profile, password and account."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from smartnote import storage
from smartnote.clock import utcnow
from smartnote.concurrency import run_blocking, run_short
from smartnote.db.sql import Session
from smartnote.deps import ClientIp, S3Client, S3HasTime, SettingsDep
from smartnote.deps.sql import (
    NOT_A_COUNTED_WRITE,
    Auth,
    CurrentPrincipal,
    ReclaimingPrincipal,
    SqlSession,
)
from smartnote.models.common import error_responses
from smartnote.models.users import AccountDeletion, PasswordChange, UserOut, UserUpdate
from smartnote.repositories.deleted_accounts import DeletedAccountsRepository
from smartnote.repositories.users import UsersRepository

router = APIRouter(prefix="/users", tags=["users"])

UNAUTHORIZED = error_responses((401, "Not authenticated"))
WRONG_PASSWORD = error_responses(
    (401, "Not authenticated"),
    (403, "The password given to confirm is incorrect"),
    (429, "Too many wrong passwords (counted with failed logins)"),
)


@router.get("/me", responses=UNAUTHORIZED)
async def read_me(principal: CurrentPrincipal) -> UserOut:
    """The caller's profile."""
    return UserOut.model_validate(principal.user, from_attributes=True)


@router.patch("/me", responses=UNAUTHORIZED)
async def update_me(body: UserUpdate, principal: CurrentPrincipal, session: SqlSession) -> UserOut:
    """Change display name, time zone (IANA name) or email reminders."""
    changes = body.model_dump(include=body.model_fields_set)
    user = await run_short(UsersRepository(session).update, principal.user.id, changes)
    return UserOut.model_validate(user, from_attributes=True)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRONG_PASSWORD,
    openapi_extra=NOT_A_COUNTED_WRITE,
)
async def change_password(
    body: PasswordChange, principal: ReclaimingPrincipal, auth: Auth, ip: ClientIp
) -> Response:
    """Change the password; every other session ends."""
    await run_blocking(auth.confirm_password, principal, body.current_password, ip)
    await run_blocking(auth.change_password, principal, body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRONG_PASSWORD,
    openapi_extra=NOT_A_COUNTED_WRITE,
)
async def delete_me(
    body: AccountDeletion,
    principal: ReclaimingPrincipal,
    auth: Auth,
    session: SqlSession,
    settings: SettingsDep,
    s3: S3Client,
    has_time: S3HasTime,
    ip: ClientIp,
) -> Response:
    """Delete the account with its notes, attachments and sessions (confirm with the password).

    S3 objects and notes go first and the user row last, in the request's SQL transaction: if
    anything fails midway, the account still exists and the same call can simply be repeated.
    The row leaves a tombstone: a request that authenticated before, or an upload URL issued
    before, can still write after the notes went, and the cleanup job sweeps that too.
    """
    await run_blocking(auth.confirm_password, principal, body.password, ip)
    prefixes = storage.owner_prefixes(principal.user.id)
    await run_blocking(storage.delete_prefixes, s3, settings.uploads_bucket, prefixes, has_time)
    # Only account deletion needs MongoDB: the users function loads PyMongo here, not at start.
    from smartnote.repositories.notes import notes_repository  # noqa: PLC0415

    notes = await notes_repository(settings)
    await notes.delete_all_of_owner(principal.user.id)
    await run_short(_delete_user, session, principal.user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _delete_user(session: Session, user_id: str) -> None:
    # Gone already: a concurrent deletion of the same account (a client's retry) won, and left
    # the tombstone; a second one would collide with it.
    if UsersRepository(session).delete(user_id):
        DeletedAccountsRepository(session).record(user_id, utcnow())
