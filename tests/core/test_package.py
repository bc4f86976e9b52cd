"""The Package model and the version sort key."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from pkgcache import InvalidPackage, Package
from pkgcache._versionkey import version_key


def test_normalization_and_identity() -> None:
    a = Package("Foo_Bar.baz", "1.0", "f.tar.gz", summary="")
    b = Package("other", "2", "f.tar.gz", summary="x")
    assert a.name == "foo-bar-baz"
    assert a.summary is None
    assert a == b and hash(a) == hash(b)
    assert a != Package("foo-bar-baz", "1.0", "g.tar.gz")


def test_time_is_aware_utc() -> None:
    assert Package("a", "1", "a", datetime(2020, 1, 1)).last_modified.tzinfo == timezone.utc
    moved = Package("a", "1", "a", datetime(2020, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))))
    assert moved.last_modified == datetime(2020, 1, 1, tzinfo=timezone.utc)
    assert moved.last_modified.utcoffset() == timedelta(0)
    assert (datetime.now(timezone.utc) - Package("a", "1", "a").last_modified) < timedelta(minutes=1)


def test_empty_data_dropped_and_dict_round_trip() -> None:
    p = Package("a", "1", "a-1.whl", summary="s", requires_python="", uploader=None, tags=[], extra={"x": 1})
    assert p.data == {"extra": {"x": 1}}
    assert Package.from_dict(p.to_dict()).same_as(p)


@pytest.mark.parametrize(
    ("field", "args"),
    [("name", ("", "1", "f")), ("version", ("a", " ", "f")), ("filename", ("a", "1", "../etc/passwd"))],
)
def test_invalid_fields_are_named(field: str, args: tuple[str, str, str]) -> None:
    with pytest.raises(InvalidPackage, match=field):
        Package(*args)


#: numbers from the whole domain: small ones (so that equal parts occur), any size, and
#: round numbers around the 25-digit border where the key switches its length prefix
NUMBERS = (
    st.integers(0, 12)
    | st.integers(0, 10**60)
    | st.builds(lambda digit, zeros: digit * 10**zeros, st.integers(1, 9), st.integers(20, 40))
)

VERSIONS = st.builds(
    lambda epoch, release, pre, post, dev, local: (
        (f"{epoch}!" if epoch else "")
        + ".".join(map(str, release))
        + (f"{pre[0]}{pre[1]}" if pre else "")
        + (f".post{post}" if post is not None else "")
        + (f".dev{dev}" if dev is not None else "")
        + (f"+{'.'.join(local)}" if local else "")
    ),
    NUMBERS,
    st.lists(NUMBERS, min_size=1, max_size=4),
    st.none() | st.tuples(st.sampled_from(["a", "b", "rc"]), NUMBERS),
    st.none() | NUMBERS,
    st.none() | NUMBERS,
    st.lists(st.sampled_from(["0", "7", "12", "abc", "z", "ubuntu"]) | NUMBERS.map(str), max_size=3),
)


def test_release_numbers_past_25_digits_keep_their_order() -> None:
    low, high = "9" + "0" * 25, "1" + "0" * 26
    assert Version(high) > Version(low)
    assert version_key(high) > version_key(low)


@given(VERSIONS, VERSIONS)
def test_version_key_order_is_pep440_order(a: str, b: str) -> None:
    va, vb = Version(a), Version(b)
    ka, kb = version_key(a), version_key(b)
    assert (ka < kb) == (va < vb)
    assert (ka == kb) == (va == vb)


@given(st.text(min_size=1).filter(lambda s: not _valid(s)), VERSIONS)
def test_invalid_versions_sort_below_valid_ones(invalid: str, valid: str) -> None:
    assert version_key(invalid) < version_key(valid)


def _valid(text: str) -> bool:
    try:
        Version(text)
    except ValueError:
        return False
    return True


def test_version_key_alphabet_is_collation_safe() -> None:
    key = version_key("1!2.0rc3.post4.dev5+ubuntu.12")
    assert set(key) <= set("0123456789abcdefghijklmnopqrstuvwxyz.")
