"""HTTP Basic access as pypicloud's config access backend gives it.

Users are ``user.<name> = <hash>`` keys, hashed as pypicloud writes them
(``ppc-gen-password``: sha512_crypt by default; sha256_crypt, pbkdf2 and
bcrypt and argon2 too), verified with libpass, the maintained fork of
passlib. ``pypi.default_read`` and ``pypi.default_write`` name who may read
and upload (``everyone`` or ``authenticated``); ``auth.admins`` may do both.
A verified password is remembered (its hash, not the password) so that
pip's many requests do not each pay a deliberately slow hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading

from passlib.context import CryptContext

from .settings import ServerSettings

__all__ = ["SCHEMES", "Access"]

#: the schemes of pypicloud's config access backend
SCHEMES = ["sha512_crypt", "sha256_crypt", "pbkdf2_sha512", "pbkdf2_sha256", "bcrypt", "argon2"]


class Access:
    """Who a request is, and whether it may read or write."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.context = CryptContext(schemes=SCHEMES)
        self._verified: dict[str, bytes] = {}  # user -> keyed digest of the password that verified
        self._key = os.urandom(32)  # this process's: a memory dump shows no plain fast hash
        self._lock = threading.Lock()

    @staticmethod
    def _credentials(authorization: str | None) -> tuple[str, str] | None:
        """``(name, password)`` of a Basic ``Authorization`` header; None when unreadable."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            name, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (name, password) if sep else None

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    def _remembered(self, name: str, password: str) -> bool:
        digest = self._digest(password)
        with self._lock:
            known = self._verified.get(name)
        return known is not None and hmac.compare_digest(known, digest)

    def needs_hash(self, authorization: str | None) -> bool:
        """Whether :meth:`user` must run the (deliberately slow) password hash for this
        header: the caller then runs it off the event loop."""
        credentials = self._credentials(authorization)
        if credentials is None or credentials[0] not in self.settings.users:
            return False
        return not self._remembered(*credentials)

    def user(self, authorization: str | None) -> str | bool | None:
        """The user name of valid credentials, None when none were sent, False when they are wrong."""
        if not authorization:
            return None
        credentials = self._credentials(authorization)
        if credentials is None:
            return False
        name, password = credentials
        stored = self.settings.users.get(name)
        if stored is None:
            return False
        if self._remembered(name, password):
            return name
        try:
            ok = self.context.verify(password, stored)
        except (ValueError, TypeError):  # a hash of a scheme not known, or malformed
            ok = False
        if not ok:
            return False
        with self._lock:
            self._verified[name] = self._digest(password)
        return name

    def may(self, user: str | None, write: bool) -> bool:
        """Whether ``user`` (None: anonymous) may read, or with ``write`` upload."""
        if user is not None and user in self.settings.admins:
            return True
        allowed = self.settings.default_write if write else self.settings.default_read
        if "everyone" in allowed:
            return True
        return user is not None and ("authenticated" in allowed or user in allowed)
