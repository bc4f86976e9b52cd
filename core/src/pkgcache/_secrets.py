"""Keeping secrets out of every output: URL passwords masked whatever they hold.

A password in a URL should be percent-encoded, but people paste raw ones and
some drivers (SQLAlchemy) accept them: ``postgresql://u:pa/ss#1@host/db``.
The mask therefore does not parse the URL the way a driver would; it takes
everything between ``scheme://user:`` and the *last* ``@`` as the password,
so a raw ``/``, ``#``, ``?`` or ``@`` in it is masked too. When in doubt it
masks more than the password, never less.
"""

from __future__ import annotations

import re

from pydantic import SecretStr

__all__ = ["PERCENT_ENCODING_ADVICE", "SecretUrl", "mask_url"]

_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://")

#: what to tell someone whose URL password holds a character URLs reserve
PERCENT_ENCODING_ADVICE = (
    "percent-encode the password's reserved characters (/ as %2F, # as %23, ? as %3F, @ as %40, : as %3A, "
    "% as %25; python -c \"import urllib.parse,getpass; print(urllib.parse.quote(getpass.getpass(), safe=''))\"), "
    "and in an INI file double every % (%%40)"
)


def _userinfo(url: str) -> tuple[str, str, str] | None:
    """``(scheme://, user:password, host...)`` split at the last ``@``; None without one."""
    match = _SCHEME.match(url)
    if not match:
        return None
    rest = url[match.end() :]
    at = rest.rfind("@")
    if at < 0 or rest.startswith("/"):  # no authority (sqlite:///path@x.db)
        return None
    return match.group(), rest[:at], rest[at + 1 :]


def mask_url(url: str) -> str:
    """Replace the password of ``scheme://user:password@host...`` with ``***``.

    URLs without a password (``sqlite:///x.db``, ``redis://host``) come back
    unchanged.
    """
    parts = _userinfo(url)
    if parts is None or ":" not in parts[1]:
        return url
    scheme, userinfo, host = parts
    return f"{scheme}{userinfo.partition(':')[0]}:***@{host}"


def password_needs_encoding(url: str, reserved: str = "/?#@") -> bool:
    """True when the user:password part holds one of ``reserved``, which URL parsers split on."""
    parts = _userinfo(url)
    return parts is not None and any(c in parts[1] for c in reserved)


class SecretUrl(SecretStr):
    """A URL that may hold a password: shown with the password masked.

    ``str()``, ``repr()`` and JSON output mask the password; the real value
    is only available from :meth:`get_secret_value`, so it cannot slip into
    an f-string or a log line by accident.
    """

    def _display(self) -> str:  # type: ignore[override]
        return mask_url(self.get_secret_value())

    def __str__(self) -> str:
        return self._display()

    @property
    def masked(self) -> str:
        return self._display()
