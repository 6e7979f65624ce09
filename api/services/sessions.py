"""Web sessions: an opaque cookie stored like a bearer token, and double-submit CSRF tokens.

The session cookie holds a random token of which only the SHA-256 is stored (the
`user_tokens` table, like API tokens): it expires, and logout or `revoke` ends it. The
cookie is HttpOnly and SameSite=Strict. A state-changing request that authenticates by the
cookie must also carry the CSRF token: the value of the (script-readable) CSRF cookie,
repeated in the form field `csrf` or the `X-CSRF-Token` header.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from api.services.users import IssuedToken, User, issue_token, revoke_token, user_for_token
from storage.services import Services

SESSION_COOKIE = "custos_session"
CSRF_COOKIE = "custos_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL = timedelta(hours=8)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_matches(cookie: str | None, submitted: str | None) -> bool:
    """The double-submit check: both present, equal (compared in constant time)."""
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())


def start_session(svc: Services, name: str, ttl: timedelta = SESSION_TTL) -> IssuedToken:
    return issue_token(svc, name, ttl)


def session_user(svc: Services, cookie: str | None) -> User | None:
    return user_for_token(svc, cookie) if cookie else None


def end_session(svc: Services, cookie: str | None) -> bool:
    return revoke_token(svc, cookie) if cookie else False
