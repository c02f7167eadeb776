"""Authentication use cases: register, log in (throttled), refresh, log out, sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from smartnote.clock import utcnow
from smartnote.config import Settings
from smartnote.errors import Forbidden, NotFound, TooManyRequests, Unauthorized
from smartnote.models.users import TokenPair, UserRegister
from smartnote.repositories.login_failures import LoginFailuresRepository
from smartnote.repositories.sessions import RefreshRejected, SessionRecord, SessionsRepository
from smartnote.repositories.users import UserRecord, UsersRepository, normalise_email
from smartnote.security import PasswordHasher, PasswordMatch, TokenService

# One message for unknown user and wrong password: no account enumeration.
BAD_CREDENTIALS = "Incorrect email or password"


@dataclass(frozen=True)
class Principal:
    """The caller: a user (as read when authenticating) and their token's session."""

    user: UserRecord
    session_id: str


class AuthService:
    def __init__(
        self,
        settings: Settings,
        users: UsersRepository,
        sessions: SessionsRepository,
        failures: LoginFailuresRepository,
        hasher: PasswordHasher,
        tokens: TokenService,
    ) -> None:
        self._settings = settings
        self._users = users
        self._sessions = sessions
        self._failures = failures
        self._hasher = hasher
        self._tokens = tokens

    def register(self, body: UserRegister) -> UserRecord:
        return self._users.create(
            email=body.email,
            password_hash=self._hasher.hash(body.password),
            display_name=body.display_name,
            timezone=body.timezone,
        )

    def login(self, email: str, password: str, client_ip: str, user_agent: str | None) -> TokenPair:
        """Exchange credentials for tokens; repeated failures answer 429 before any check."""
        email = normalise_email(email)
        user = self._users.by_email(email)
        match = self._verify_throttled(email, client_ip, password, user)
        if not match or user is None:
            raise Unauthorized(BAD_CREDENTIALS)
        if not self._hold_password(user, password, match):
            raise Unauthorized(BAD_CREDENTIALS)
        issued = self._sessions.start(user.id, user_agent, self._refresh_ttl)
        return self._pair(user.id, issued.session.id, issued.token)

    def _hold_password(self, user: UserRecord, password: str, match: PasswordMatch) -> bool:
        """Keep the password just checked as the account's until the session starts (its row
        stays locked), rehashed if the hash's parameters are outdated or it is of the password
        unprepared (`match`); False if it is no longer the account's password.

        The password checked must still be the account's: a change that committed meanwhile
        ended every other session, this one included, and a rehash must not undo it. A hash
        replaced meanwhile may be another login's rehash of this same password, though: it is
        checked too (one more verification, only in that race), else the right password
        would be a 401.
        """
        new_hash = user.password_hash
        if match is PasswordMatch.UNPREPARED or self._hasher.needs_rehash(user.password_hash):
            new_hash = self._hasher.hash(password)
        if self._users.replace_password_hash(user.id, user.password_hash, new_hash):
            return True
        current = self._users.by_id(user.id)
        return (
            current is not None
            and self._hasher.verify(password, current.password_hash) is not PasswordMatch.NONE
            and self._users.replace_password_hash(
                user.id, current.password_hash, current.password_hash
            )
        )

    def refresh(self, refresh_token: str) -> TokenPair:
        try:
            issued = self._sessions.rotate(refresh_token)
        except RefreshRejected as exc:
            raise Unauthorized("Invalid refresh token") from exc
        return self._pair(issued.session.user_id, issued.session.id, issued.token)

    def logout(self, principal: Principal, refresh_token: str | None) -> None:
        """End the session of `refresh_token` if it is a live one of the caller's (another
        device's), else the caller's current one.

        A token of no live session of the caller's (another user's, an ended session's, none
        at all) ends the current session: the caller asked to be logged out, and a client
        holding a stale or wrong token must not stay logged in. Another user's session is never
        ended. Every case answers the same 204, so whether a token is live is not told.
        """
        session_id = principal.session_id
        if refresh_token is not None:
            found = self._sessions.find_live_by_token(refresh_token)
            if found is not None and found.user_id == principal.user.id:
                session_id = found.id
        self._sessions.revoke(session_id, reason="logout")

    def live_sessions(
        self, principal: Principal, limit: int, cursor: str | None
    ) -> tuple[list[SessionRecord], str | None]:
        """A page of the caller's live sessions, newest first, and the next page's cursor."""
        return self._sessions.page_live(principal.user.id, limit, cursor)

    def revoke_session(self, principal: Principal, session_id: str) -> None:
        found = self._sessions.get_live(session_id)
        if found is None or found.user_id != principal.user.id:
            raise NotFound("Session not found")
        self._sessions.revoke(session_id, reason="revoked")

    def authenticate(self, access_token: str) -> Principal:
        """The caller of an access token; its user and session must still exist."""
        claims = self._tokens.decode_access_token(access_token)
        user = self._sessions.live_user(claims.session_id, claims.user_id)
        if user is None:
            raise Unauthorized("Invalid or expired access token")
        return Principal(user=user, session_id=claims.session_id)

    def confirm_password(self, principal: Principal, password: str, client_ip: str) -> None:
        """The caller's password, confirming a change of password or the account's deletion:
        403 when wrong, throttled like a login (429), so that a stolen access token cannot be
        used to guess it."""
        user = principal.user
        if not self._verify_throttled(user.email, client_ip, password, user):
            raise Forbidden("The password is incorrect")
        # A hash of the password unprepared is not replaced here: a change replaces it anyway
        # and a deletion removes it; the next login does.

    def change_password(self, principal: Principal, new_password: str) -> None:
        """Replace the password `confirm_password` checked: 403 if another change replaced it
        since (its author may be a thief who knew the old one), 404 if the user is gone."""
        user = principal.user
        new_hash = self._hasher.hash(new_password)
        if not self._users.replace_password_hash(user.id, user.password_hash, new_hash):
            if self._users.by_id(user.id) is None:
                raise NotFound("User not found")
            raise Forbidden("The password is incorrect")
        self._sessions.revoke_all_except(
            principal.user.id, principal.session_id, "password_changed"
        )

    @property
    def _refresh_ttl(self) -> timedelta:
        return timedelta(days=self._settings.refresh_token_ttl_days)

    def _pair(self, user_id: str, session_id: str, refresh_token: str) -> TokenPair:
        return TokenPair(
            access_token=self._tokens.create_access_token(user_id, session_id),
            expires_in=int(self._tokens.access_ttl.total_seconds()),
            refresh_token=refresh_token,
        )

    def _verify_throttled(
        self, email: str, client_ip: str, password: str, user: UserRecord | None
    ) -> PasswordMatch:
        """Check a password of `user` (None: no account has `email`) under the failed-login
        limits (per account, per client).

        The attempt is recorded as a failure and committed *before* the check, then counted
        with every attempt of the window: of any number of guesses at once, from as many
        containers, at most the limit get their password checked (counting first and
        recording after let each of them pass). A right password clears the failures.
        """
        now = utcnow()
        # An account counts the failures of its email since it was created: those before were
        # at no password of it (the email had no account, or one since deleted). Nothing is
        # deleted for that, so no one lifts a lockout, nor a client's count, by registering.
        account_since = user.created_at if user else None
        self._refuse_if_throttled(email, client_ip, now, account_since)  # over: record no more
        self._failures.record_now(email, client_ip, now)
        self._refuse_if_throttled(email, client_ip, now, account_since, counting_this_attempt=True)
        match = self._hasher.verify(password, user.password_hash if user else None)
        if match:
            self._failures.clear(email)
        return match

    def _refuse_if_throttled(
        self,
        email: str,
        client_ip: str,
        now: datetime,
        account_since: datetime | None,
        *,
        counting_this_attempt: bool = False,
    ) -> None:
        window = self._settings.login_failure_window_seconds
        since = now - timedelta(seconds=window)
        for count, oldest, limit in (
            (
                *self._failures.recent(email=email, since=max(since, account_since or since)),
                self._settings.login_max_failures_per_account,
            ),
            (
                *self._failures.recent(client_ip=client_ip, since=since),
                self._settings.login_max_failures_per_client,
            ),
        ):
            if count >= limit + counting_this_attempt and oldest is not None:
                retry_after = int((oldest + timedelta(seconds=window) - now).total_seconds()) + 1
                raise TooManyRequests(
                    "Too many failed logins; try again later", retry_after=retry_after
                )
