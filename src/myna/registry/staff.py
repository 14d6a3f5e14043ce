"""A municipality's staff accounts and their sessions.

Passwords are kept as scrypt hashes (:mod:`myna.registry.auth`).  Five wrong
passwords in a row lock an account for 15 minutes; an administrator can also
suspend an account.  Every sign-in is a server-side session — a random token
whose SHA-256 alone is stored — so that signing out, a lockout, a suspension or
a change of role ends it at once, wherever a copy of the cookie or the bearer
token may be.  A session also ends after :data:`IDLE_TIMEOUT` without use and,
in any case, :data:`MAX_AGE` after sign-in.

A failed sign-in says the same thing whether the staff ID does not exist, the
password is wrong or the account is locked, so that nobody can learn which IDs
exist by trying.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, select, update

from myna.clock import aware, utcnow
from myna.errors import Conflict, NotFound, PermissionDenied, ValidationError
from myna.registry import auth
from myna.registry import storage as t
from myna.registry.domain import Role, Staff, check_name

LOCK_AFTER = 5
LOCK_FOR = dt.timedelta(minutes=15)
#: A session unused for this long has ended (the next request must sign in again).
IDLE_TIMEOUT = dt.timedelta(minutes=30)
#: No session outlives one working day.
MAX_AGE = dt.timedelta(hours=8)
#: ``last_seen_at`` is written at most this often (a write per page would be waste).
TOUCH_EVERY = dt.timedelta(seconds=60)

_STAFF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")

#: The one message of every failed sign-in.
SIGN_IN_FAILED_JA = ("職員IDまたはパスワードが違うか、アカウントが利用できません。"
                     "続けて失敗するとしばらく利用できなくなります")
SIGN_IN_FAILED_EN = "sign-in failed: wrong staff id or password, or the account is not available"

#: Verified for unknown staff ids, so that a wrong id costs as much time as a wrong password.
_DUMMY_HASH = auth.hash_password("not-a-real-password-0")


class SessionKind(StrEnum):
    WEB = "web"
    API = "api"


class EndReason(StrEnum):
    SIGNED_OUT = "サインアウト"
    IDLE = "一定時間操作がなかった"
    EXPIRED = "有効期間（8時間）の終了"
    LOCKED = "アカウントのロック"
    SUSPENDED = "アカウントの利用停止"
    ROLE_CHANGED = "役割の変更"


@dataclass(frozen=True)
class StaffAccount:
    """An account as an administrator sees it (never its password hash)."""

    staff: Staff
    active: bool
    failed_attempts: int
    locked_until: dt.datetime | None
    created_at: dt.datetime

    def is_locked(self, now: dt.datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def state(self, now: dt.datetime) -> str:
        if not self.active:
            return "利用停止"
        if self.is_locked(now):
            return "ロック中"
        return "有効"


def check_staff_id(value: str) -> str:
    """Half-width letters, digits and ``._-``, up to 50, starting with a letter or digit.

    >>> check_staff_id("clerk1")
    'clerk1'
    >>> check_staff_id("窓口")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    myna.errors.ValidationError: 職員IDは半角英数字...
    """
    if not _STAFF_ID.match(value):
        raise ValidationError(
            "職員IDは半角英数字（と . _ -）で、50文字までです",
            "a staff id is 1-50 ASCII letters, digits, '.', '_' or '-'",
        )
    return value


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _no_session() -> PermissionDenied:
    return PermissionDenied("サインインが必要です（セッションが終了しています）",
                            "the session has ended: sign in again")


class StaffAccounts:
    """Staff accounts and sessions of one municipality (its own tables)."""

    def __init__(self, engine: Engine, now: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self.now = now

    # -- accounts ------------------------------------------------------------------------

    def create(self, staff_id: str, name: str, role: Role | str, password: str) -> Staff:
        staff_id = check_staff_id(staff_id)
        name = check_name(name, "職員の氏名", "staff_name")
        role = _role(role)
        password_hash = auth.hash_password(password)
        with self.engine.begin() as conn:
            taken = select(t.staff.c.staff_id).where(t.staff.c.staff_id == staff_id)
            if conn.execute(taken).first():
                raise Conflict(f"職員ID {staff_id} は既に使われています",
                               f"staff {staff_id} exists")
            conn.execute(insert(t.staff).values(
                staff_id=staff_id, name=name, role=role.value, password_hash=password_hash,
                active=True, failed_attempts=0, created_at=self.now(),
            ))
        return Staff(staff_id, name, role)

    def get(self, staff_id: str) -> Staff:
        """An active member of staff (suspended accounts are not found)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.staff).where(t.staff.c.staff_id == staff_id)).first()
        if row is None or not row.active:
            raise NotFound(f"職員 {staff_id} はいません", f"no staff {staff_id}")
        return Staff(row.staff_id, row.name, Role(row.role))

    def active(self) -> list[Staff]:
        return [a.staff for a in self.accounts() if a.active]

    def accounts(self) -> list[StaffAccount]:
        """Every account, suspended ones included, with its lock state."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.staff).order_by(t.staff.c.staff_id)).all()
        return [StaffAccount(Staff(r.staff_id, r.name, Role(r.role)), bool(r.active),
                             int(r.failed_attempts or 0),
                             aware(r.locked_until) if r.locked_until else None,
                             aware(r.created_at)) for r in rows]

    def set_role(self, staff_id: str, role: Role | str, by: str) -> Staff:
        """Change a role; the account's sessions end (its rights change with it)."""
        role = _role(role)
        with self.engine.begin() as conn:
            row = self._row(conn, staff_id)
            conn.execute(update(t.staff).where(t.staff.c.staff_id == staff_id)
                         .values(role=role.value))
            self._end_all(conn, staff_id, EndReason.ROLE_CHANGED)
            self._log(conn, by, "staff_role", {"staff_id": staff_id, "from": row.role,
                                               "to": role.value})
        return Staff(staff_id, row.name, role)

    def suspend(self, staff_id: str, by: str) -> None:
        """利用停止: the account can no longer sign in, and its sessions end now."""
        with self.engine.begin() as conn:
            self._row(conn, staff_id)
            conn.execute(update(t.staff).where(t.staff.c.staff_id == staff_id)
                         .values(active=False))
            self._end_all(conn, staff_id, EndReason.SUSPENDED)
            self._log(conn, by, "staff_suspend", {"staff_id": staff_id})

    def reinstate(self, staff_id: str, by: str) -> None:
        """Lift a suspension or a lockout (the failure count starts again at 0)."""
        with self.engine.begin() as conn:
            self._row(conn, staff_id)
            conn.execute(update(t.staff).where(t.staff.c.staff_id == staff_id)
                         .values(active=True, failed_attempts=0, locked_until=None))
            self._log(conn, by, "staff_reinstate", {"staff_id": staff_id})

    # -- signing in --------------------------------------------------------------------------

    def authenticate(self, staff_id: str, password: str) -> Staff:
        """Check a password; five wrong ones in a row lock the account for 15 minutes.

        Every failure raises the same :class:`PermissionDenied`, whatever went wrong.
        """
        now = self.now()
        known = bool(_STAFF_ID.match(staff_id))
        with self.engine.begin() as conn:
            row = conn.execute(
                select(t.staff).where(t.staff.c.staff_id == staff_id)
            ).first() if known else None
            locked = (row is not None and row.locked_until is not None
                      and aware(row.locked_until) > now)
            matches = auth.verify_password(password, row.password_hash if row is not None
                                           else _DUMMY_HASH)
            ok = row is not None and row.active and not locked and matches
            if row is not None and not locked:
                failures = 0 if ok else row.failed_attempts + 1
                lock_now = failures >= LOCK_AFTER
                conn.execute(update(t.staff).where(t.staff.c.staff_id == staff_id).values(
                    failed_attempts=0 if lock_now else failures,
                    locked_until=now + LOCK_FOR if lock_now else None,
                ))
                if lock_now:
                    self._end_all(conn, staff_id, EndReason.LOCKED)
            action = "sign_in" if ok else ("sign_in_locked" if locked else "sign_in_failed")
            if known:
                self._log(conn, staff_id, action, {})
        if not ok or row is None:
            raise PermissionDenied(SIGN_IN_FAILED_JA, SIGN_IN_FAILED_EN)
        return Staff(row.staff_id, row.name, Role(row.role))

    # -- sessions ----------------------------------------------------------------------------

    def start_session(self, staff: Staff, kind: SessionKind) -> str:
        """A new session for a member of staff who has just signed in; returns its token."""
        token = secrets.token_urlsafe(32)
        now = self.now()
        with self.engine.begin() as conn:
            conn.execute(insert(t.staff_sessions).values(
                session_hash=_hash(token), staff_id=staff.staff_id, kind=SessionKind(kind).value,
                role=staff.role.value, created_at=now, last_seen_at=now,
                expires_at=now + MAX_AGE,
            ))
        return token

    def session(self, token: str, kind: SessionKind) -> Staff:
        """The member of staff of a live session (raises when it has ended, for any reason)."""
        now = self.now()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.staff_sessions, t.staff.c.name, t.staff.c.active,
                       t.staff.c.role.label("current_role"), t.staff.c.locked_until)
                .join(t.staff, t.staff.c.staff_id == t.staff_sessions.c.staff_id)
                .where(t.staff_sessions.c.session_hash == _hash(token))
            ).first()
        if row is None or row.ended_at is not None or row.kind != SessionKind(kind).value:
            raise _no_session()
        ended = None
        if aware(row.expires_at) <= now:
            ended = EndReason.EXPIRED
        elif aware(row.last_seen_at) + IDLE_TIMEOUT <= now:
            ended = EndReason.IDLE
        elif not row.active:
            ended = EndReason.SUSPENDED
        elif row.locked_until is not None and aware(row.locked_until) > now:
            ended = EndReason.LOCKED
        elif row.current_role != row.role:
            ended = EndReason.ROLE_CHANGED
        if ended is not None:
            self._end(row.session_hash, ended)
            raise _no_session()
        if aware(row.last_seen_at) + TOUCH_EVERY <= now:
            with self.engine.begin() as conn:
                conn.execute(update(t.staff_sessions)
                             .where(t.staff_sessions.c.session_hash == row.session_hash)
                             .values(last_seen_at=now))
        return Staff(row.staff_id, row.name, Role(row.role))

    def end_session(self, token: str) -> None:
        """Sign out: the session ends on the server (copies of the token open nothing)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(t.staff_sessions.c.staff_id).where(
                t.staff_sessions.c.session_hash == _hash(token),
                t.staff_sessions.c.ended_at.is_(None))).first()
            if row is None:
                return
            self._end_where(conn, t.staff_sessions.c.session_hash == _hash(token),
                            EndReason.SIGNED_OUT)
            self._log(conn, row.staff_id, "sign_out", {})

    def live_sessions(self, staff_id: str) -> int:
        """How many sessions of a member of staff have not ended (by sign-out or expiry)."""
        now = self.now()
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.staff_sessions.c.last_seen_at,
                                       t.staff_sessions.c.expires_at).where(
                t.staff_sessions.c.staff_id == staff_id,
                t.staff_sessions.c.ended_at.is_(None))).all()
        return sum(1 for r in rows if aware(r.expires_at) > now
                   and aware(r.last_seen_at) + IDLE_TIMEOUT > now)

    # -- internals ---------------------------------------------------------------------------

    def _row(self, conn: Connection, staff_id: str) -> Row[Any]:
        row = conn.execute(select(t.staff).where(t.staff.c.staff_id == staff_id)).first()
        if row is None:
            raise NotFound(f"職員 {staff_id} はいません", f"no staff {staff_id}")
        return row

    def _end(self, session_hash: str, reason: EndReason) -> None:
        with self.engine.begin() as conn:
            self._end_where(conn, t.staff_sessions.c.session_hash == session_hash, reason)

    def _end_all(self, conn: Connection, staff_id: str, reason: EndReason) -> None:
        self._end_where(conn, t.staff_sessions.c.staff_id == staff_id, reason)

    def _end_where(self, conn: Connection, clause: object, reason: EndReason) -> None:
        conn.execute(update(t.staff_sessions)
                     .where(clause, t.staff_sessions.c.ended_at.is_(None))  # type: ignore[arg-type]
                     .values(ended_at=self.now(), end_reason=reason.value))

    def _log(self, conn: Connection, staff_id: str, action: str,
             detail: dict[str, object]) -> None:
        conn.execute(insert(t.access_log).values(
            staff_id=staff_id[:50], resident_id=None, action=action, purpose="認証・職員管理",
            detail=detail, at=self.now(),
        ))


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationError(
            f"役割は clerk（担当者）/ supervisor（監督者）/ administrator（管理者）です: {value}",
            f"role must be clerk, supervisor or administrator, not {value!r}",
        ) from None


__all__ = ["StaffAccounts", "StaffAccount", "SessionKind", "EndReason"]
