"""A text key whose plain byte order is PEP 440 order.

Backends store it next to each file so that a database can sort versions with
``ORDER BY`` (binary collation) instead of parsing every version in Python on
the hot path. ``version_key(a) < version_key(b)`` exactly when
``Version(a) < Version(b)``; versions that are not PEP 440 sort below every
valid one, then by their text.

The alphabet is ASCII digits, lowercase letters and ``.`` so that any binary
or "C" collation sorts it the same way. The encoding mirrors the tuple that
``packaging`` compares (epoch, release without trailing zeros, pre, post, dev,
local), each field written so that concatenation keeps tuple order:

* a number ``n`` is one letter giving its digit count (``a`` = 1 digit) then
  its digits, so ``b10`` > ``a9``; past 25 digits, ``z`` then the digit count
  written the same way, then the digits;
* "minus infinity" is ``1``, "plus infinity" is ``9`` and a present value
  starts with ``5``; the end of a variable-length part is ``0``.
"""

from __future__ import annotations

from functools import lru_cache

from packaging.version import InvalidVersion, Version

_PRE_LETTER = {"a": "a", "b": "b", "rc": "c"}
_MAX_DIGITS = 25  # "a" to "y": 1 to 25 digits; "z" marks longer numbers


def _num(n: int) -> str:
    digits = str(n)
    if len(digits) > _MAX_DIGITS:
        # "z", then the digit count written the same way, so that a longer number
        # still sorts higher: z b26 1000... > z b26 9000... is wrong, z b27 > z b26 is right
        return "z" + _num(len(digits)) + digits
    return chr(ord("a") + len(digits) - 1) + digits


def _local(local: str) -> str:
    # packaging: numeric parts sort above alphanumeric ones; shorter sorts first.
    out = []
    for part in local.split("."):
        if part.isdigit():
            out.append("3" + _num(int(part)))
        else:
            out.append("2" + part + ".")
    return "5" + "".join(out) + "1"


@lru_cache(maxsize=65536)
def version_key(version: str) -> str:
    """Return the sortable key of ``version`` (see the module docstring)."""
    try:
        v = Version(version)
    except InvalidVersion:
        return "0" + version
    release = list(v.release)
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    parts = ["1", _num(v.epoch), *(_num(x) for x in release), "0"]
    if v.pre is None and v.post is None and v.dev is not None:
        parts.append("1")  # 1.0.dev0 sorts before 1.0a0
    elif v.pre is None:
        parts.append("9")
    else:
        parts.append("5" + _PRE_LETTER[v.pre[0]] + _num(v.pre[1]))
    parts.append("1" if v.post is None else "5" + _num(v.post))
    parts.append("9" if v.dev is None else "5" + _num(v.dev))
    parts.append("1" if v.local is None else _local(v.local))
    return "".join(parts)
