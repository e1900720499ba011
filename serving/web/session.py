"""The web app's session: a signed cookie holding the signed-in key's public id and a CSRF token.

The cookie (``mooc_risk_session``) is signed with itsdangerous (HMAC-SHA1 over the content and
the time of sign-in), so it cannot be forged or extended: it is written once, at sign-in, and
refused ``session_hours`` later. It is ``HttpOnly`` (no script reads it), ``SameSite=Strict``
(no other site's page sends it) and ``Secure`` when ``MOOC_RISK_COOKIE_SECURE`` is set. It
never holds the key itself: each request looks the key id up in the key ring, so a revoked or
expired key ends its sessions at once; signing out ends the session on the server too.

Every form carries the session's CSRF token (the synchroniser-token pattern of the OWASP CSRF
cheat sheet); a POST without it, or with another, is refused with 403 before anything is done.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from cachetools import TTLCache
from itsdangerous import BadSignature, URLSafeTimedSerializer

from mooc_risk.files import write_text
from mooc_risk.settings import WebSettings

COOKIE = "mooc_risk_session"
SIGN_IN_COOKIE = "mooc_risk_signin"
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
    """``key_id``: the signed-in key's public id (None on the sign-in form's own cookie);
    ``csrf``: the token the forms carry; ``sid``: the session's random id (ended at sign-out)."""

    key_id: str | None
    csrf: str
    sid: str

    @classmethod
    def fresh(cls, key_id: str | None = None) -> Session:
        return cls(key_id, secrets.token_urlsafe(24), secrets.token_urlsafe(12))

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, str(token))


class Sessions:
    """Reads and writes the two cookies: ``mooc_risk_session`` (a sign-in, written once, when
    the key is accepted, so it lasts ``session_hours`` from then, however busy) and
    ``mooc_risk_signin`` (the sign-in form's CSRF token, before anyone is signed in). Sessions
    ended by signing out are remembered until they would have expired anyway (in memory: a
    restart forgets them, but the cookie's own time limit still holds)."""

    def __init__(self, settings: WebSettings):
        self.settings = settings
        self._serializer = URLSafeTimedSerializer(session_secret(settings), salt="mooc-risk-session")
        self._ended: TTLCache = TTLCache(maxsize=100_000, ttl=self.max_age)

    @property
    def max_age(self) -> int:
        return self.settings.session_hours * 3600

    def read(self, cookie: str | None) -> Session | None:
        """The session in a cookie value; None when absent, tampered with, older than
        ``session_hours`` or signed out."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("c", "s")):
            return None
        if data["s"] in self._ended:
            return None
        key_id = data.get("k")
        return Session(key_id if isinstance(key_id, str) else None, data["c"], data["s"])

    def write(self, response, session: Session) -> None:
        """Set the session's cookie on a Starlette response: the sign-in cookie for a session
        with a key, the sign-in form's cookie for one without."""
        name = COOKIE if session.key_id else SIGN_IN_COOKIE
        value = self._serializer.dumps({"k": session.key_id, "c": session.csrf, "s": session.sid})
        response.set_cookie(name, value, max_age=self.max_age, path=PATH, httponly=True,
                            samesite="strict", secure=self.settings.cookie_secure)

    def end(self, response, session: Session) -> None:
        """Sign out: the session id is refused from now on, and the cookie is deleted."""
        self._ended[session.sid] = True
        response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict",
                               secure=self.settings.cookie_secure)
