"""Keeping secrets out of every output: URL passwords masked whatever they hold.

A password in a URL should be percent-encoded, but people paste raw ones and
some drivers (SQLAlchemy) accept them: ``postgresql://u:pa/ss#1@host/db``.
The mask therefore does not parse the URL the way a driver would; it takes
everything between ``scheme://user:`` and the *last* ``@`` as the password,
so a raw ``/``, ``#``, ``?`` or ``@`` in it is masked too. When in doubt it
masks more than the password, never less.

Drivers also take secrets from the query string
(``postgresql://u@h/db?password=...``, ``redis://h?password=...``,
presigned ``X-Amz-Signature=...``): the value of every parameter whose name
says it holds one (:data:`SECRET_PARAMETER`) is masked as well.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus

from pydantic import SecretStr

__all__ = ["PERCENT_ENCODING_ADVICE", "SECRET_PARAMETER", "SecretUrl", "mask_url", "scrub", "url_secrets"]

#: query parameter names whose values are secrets (``password``, ``sslpassword``,
#: ``passwd``, ``pwd``, ``secret``, ``token``, ``X-Amz-Signature``, ``X-Amz-Credential``,
#: ``X-Amz-Security-Token``, ``api_key``, ``access_key``...), any case
SECRET_PARAMETER = re.compile(
    r"pass|pwd|secret|token|signature|credential|auth|api[-_]?key|access[-_]?key|private", re.IGNORECASE
)
#: ``name=value`` pairs of a query string (also after ``;``); the value stops at ``&``, ``;`` or ``#``
_PARAMETER = re.compile(r"(?P<lead>^|[?&;])(?P<name>[^=&;#]+)=(?P<value>[^&;#]*)")

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


def _mask_query(rest: str) -> str:
    """``rest`` (what follows the authority) with secret query values as ``***``."""
    path, mark, query = rest.partition("?")
    if not mark:
        return rest

    def masked(match: re.Match[str]) -> str:
        if not match["value"] or not SECRET_PARAMETER.search(unquote_plus(match["name"])):
            return match.group()
        return f"{match['lead']}{match['name']}=***"

    return path + mark + _PARAMETER.sub(masked, query)


def mask_url(url: str) -> str:
    """Replace the password of ``scheme://user:password@host...`` with ``***``, and the
    value of every secret query parameter (``?password=...``) too.

    URLs without a secret (``sqlite:///x.db``, ``redis://host``) come back
    unchanged.
    """
    parts = _userinfo(url)
    if parts is None:
        return _mask_query(url)
    scheme, userinfo, host = parts
    if ":" in userinfo:
        userinfo = userinfo.partition(":")[0] + ":***"
    return f"{scheme}{userinfo}@{_mask_query(host)}"


def url_secrets(url: str) -> list[str]:
    """The secret values ``url`` holds (its password, its secret query values), as
    written and decoded, longest first: what :func:`scrub` removes from a driver's
    message, which may quote them either way."""
    found: set[str] = set()
    parts = _userinfo(url)
    if parts is not None and ":" in parts[1]:
        found.add(parts[1].partition(":")[2])
    rest = parts[2] if parts is not None else url
    for match in _PARAMETER.finditer(rest.partition("?")[2]):
        if match["value"] and SECRET_PARAMETER.search(unquote_plus(match["name"])):
            found.add(match["value"])
    decoded = {unquote(v) for v in found} | {unquote_plus(v) for v in found}
    return sorted((v for v in found | decoded if v), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with each of ``secrets`` replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


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
