"""The web app's session: a signed cookie holding the signed-in key's public id and a CSRF token.

The cookie (``mooc_risk_session``) is signed with itsdangerous (HMAC-SHA1 over the content and
a timestamp), so it cannot be forged or extended; it is ``HttpOnly`` (no script reads it),
``SameSite=Strict`` (no other site's page sends it) and ``Secure`` when
``MOOC_RISK_COOKIE_SECURE`` is set. It never holds the key itself: each request looks the key
id up in the key ring, so a revoked or expired key ends its sessions at once.

Every form carries the session's CSRF token (the synchroniser-token pattern of the OWASP CSRF
cheat sheet); a POST without it, or with another, is refused with 403 before anything is done.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from mooc_risk.files import write_text
from mooc_risk.settings import WebSettings

COOKIE = "mooc_risk_session"
PATH = "/app"


def session_secret(settings: WebSettings) -> str:
    """``MOOC_RISK_SESSION_SECRET``, else the secret file's content, created (mode 0600, 48
    random bytes) when missing, so sessions survive a restart."""
    if settings.session_secret:
        return settings.session_secret
    path = settings.session_secret_file
    if not path.exists():
        write_text(path, secrets.token_urlsafe(48), mode=0o600)
    return path.read_text().strip()


@dataclass(frozen=True)
class Session:
    """``key_id``: the signed-in key's public id (None before sign-in); ``csrf``: the token the
    forms carry."""

    key_id: str | None
    csrf: str

    @classmethod
    def fresh(cls, key_id: str | None = None) -> Session:
        return cls(key_id, secrets.token_urlsafe(24))

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, str(token))


class Sessions:
    """Reads and writes the session cookie."""

    def __init__(self, settings: WebSettings):
        self.settings = settings
        self._serializer = URLSafeTimedSerializer(session_secret(settings), salt="mooc-risk-session")

    @property
    def max_age(self) -> int:
        return self.settings.session_hours * 3600

    def read(self, cookie: str | None) -> Session | None:
        """The session in a cookie value; None when absent, tampered with or older than
        ``session_hours``."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        key_id = data.get("k")
        return Session(key_id if isinstance(key_id, str) else None, data["c"])

    def write(self, response, session: Session) -> None:
        """Set the cookie on a Starlette response."""
        response.set_cookie(COOKIE, self._serializer.dumps({"k": session.key_id, "c": session.csrf}),
                            max_age=self.max_age, path=PATH, httponly=True, samesite="strict",
                            secure=self.settings.cookie_secure)

    def clear(self, response) -> None:
        response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict",
                               secure=self.settings.cookie_secure)
