"""Users, roles, bearer tokens and per-case grants.

Passwords are hashed with argon2; a bearer token is an opaque random string that is
stored only as its SHA-256, expires, and can be revoked. Access is granted per case:
without a grant a user sees nothing of a case (auditors and admins see every case).
Tables are created by migration 0014.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.db.schema import Base, UTCDateTime
from storage.services import Services

ROLES = ("technician", "case_officer", "reviewer", "disclosure_officer", "auditor", "admin")
ALL_CASES_ROLES = frozenset({"auditor", "admin"})  # see every case without a grant
TOKEN_TTL = timedelta(hours=8)

_hasher = PasswordHasher()


class UserError(ValueError):
    """A user command cannot be carried out (unknown user, bad role, ...)."""


class NoSuchUser(UserError, LookupError):
    """No user has this name."""


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))


class TokenRow(Base):
    __tablename__ = "user_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class GrantRow(Base):
    __tablename__ = "case_grants"
    __table_args__ = (UniqueConstraint("user_id", "case_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    case_no: Mapped[str] = mapped_column(String(128), index=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    granted_by: Mapped[str] = mapped_column(String(128))


@dataclass(frozen=True)
class User:
    """An authenticated caller: name, role and the cases granted to them."""

    name: str
    role: str
    cases: frozenset[str]
    disabled: bool = False

    @property
    def all_cases(self) -> bool:
        return self.role in ALL_CASES_ROLES

    def can_read_case(self, case_no: str | None) -> bool:
        return self.all_cases or (case_no is not None and case_no in self.cases)


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


def _now() -> datetime:
    return datetime.now(UTC)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _row(session: Session, name: str) -> UserRow:
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    if row is None:
        raise NoSuchUser(f"no user {name!r}")
    return row


def _to_user(session: Session, row: UserRow) -> User:
    cases = session.scalars(select(GrantRow.case_no).where(GrantRow.user_id == row.id))
    return User(row.name, row.role, frozenset(cases), row.disabled)


def add_user(svc: Services, name: str, role: str, password: str) -> User:
    name = name.strip()
    if not name:
        raise UserError("a user needs a name")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise UserError("a password needs at least 8 characters")
    hashed = _hasher.hash(password)

    def run(session: Session) -> User:
        if session.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
            raise UserError(f"user {name!r} exists already")
        row = UserRow(
            name=name,
            role=role,
            password_hash=hashed,
            disabled=False,
            created_at=_now(),
            created_by=svc.actor,
        )
        session.add(row)
        session.flush()
        svc.ledger.append(
            session, actor=svc.actor, action="user.added", subject=name, details={"role": role}
        )
        return User(name, role, frozenset())

    return svc.db.run(run)


def grant(svc: Services, name: str, case_no: str) -> User:
    def run(session: Session) -> User:
        row = _row(session, name)
        exists = session.scalar(
            select(GrantRow.id).where(GrantRow.user_id == row.id, GrantRow.case_no == case_no)
        )
        if exists is None:
            session.add(
                GrantRow(user_id=row.id, case_no=case_no, granted_at=_now(), granted_by=svc.actor)
            )
            session.flush()
            svc.ledger.append(
                session,
                actor=svc.actor,
                action="user.granted",
                subject=name,
                details={"case": case_no},
            )
        return _to_user(session, row)

    return svc.db.run(run)


def revoke(svc: Services, name: str, case_no: str | None = None) -> User:
    """Withdraw one case grant, or (no case) disable the user and revoke every token."""

    def run(session: Session) -> User:
        row = _row(session, name)
        if case_no is not None:
            grants = list(
                session.scalars(
                    select(GrantRow).where(GrantRow.user_id == row.id, GrantRow.case_no == case_no)
                )
            )
            if not grants:
                raise UserError(f"user {name!r} has no grant for case {case_no!r}")
            for g in grants:
                session.delete(g)
            details: dict[str, object] = {"case": case_no}
        else:
            row.disabled = True
            for token in session.scalars(select(TokenRow).where(TokenRow.user_id == row.id)):
                token.revoked = True
            details = {"disabled": True}
        session.flush()
        svc.ledger.append(
            session, actor=svc.actor, action="user.revoked", subject=name, details=details
        )
        return _to_user(session, row)

    return svc.db.run(run)


def list_users(svc: Services) -> list[User]:
    with svc.db.session() as session:
        rows = list(session.scalars(select(UserRow).order_by(UserRow.name)))
        return [_to_user(session, r) for r in rows]


def check_password(svc: Services, name: str, password: str) -> User | None:
    """The user, if the name exists, is enabled and the password is right."""
    with svc.db.session() as session:
        row = session.scalar(select(UserRow).where(UserRow.name == name))
        if row is None:
            _hasher.hash(password)  # the same time whether or not the name exists
            return None
        try:
            _hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if row.disabled:
            return None
        return _to_user(session, row)


def issue_token(svc: Services, name: str, ttl: timedelta = TOKEN_TTL) -> IssuedToken:
    token = secrets.token_urlsafe(32)
    now = _now()

    def run(session: Session) -> None:
        row = _row(session, name)
        session.add(
            TokenRow(
                token_sha256=token_digest(token),
                user_id=row.id,
                created_at=now,
                expires_at=now + ttl,
                revoked=False,
            )
        )

    svc.db.run(run)
    return IssuedToken(token, int(ttl.total_seconds()))


def user_for_token(svc: Services, token: str) -> User | None:
    """The enabled user a live (unexpired, unrevoked) token belongs to."""
    with svc.db.session() as session:
        found = session.get(TokenRow, token_digest(token))
        if found is None or found.revoked or found.expires_at <= _now():
            return None
        row = session.get(UserRow, found.user_id)
        if row is None or row.disabled:
            return None
        return _to_user(session, row)


def revoke_token(svc: Services, token: str) -> bool:
    """Revoke one token (a bearer token or a web session); False when it was not live."""

    def run(session: Session) -> bool:
        found = session.get(TokenRow, token_digest(token))
        if found is None or found.revoked:
            return False
        found.revoked = True
        return True

    return svc.db.run(run)


class LoginThrottle:
    """At most `max_failures` failed logins per (user, address) in `window_s` seconds."""

    def __init__(self, max_failures: int = 5, window_s: float = 300.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def retry_after(self, name: str, address: str) -> int | None:
        """Seconds to wait when the pair is locked out, else None."""
        now = time.monotonic()
        with self._lock:
            times = self._recent((name, address), now)
            if len(times) < self.max_failures:
                return None
            return max(1, int(self.window_s - (now - times[0])) + 1)

    def failed(self, name: str, address: str) -> None:
        with self._lock:
            self._recent((name, address), time.monotonic()).append(time.monotonic())

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop((name, address), None)
