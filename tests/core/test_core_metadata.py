"""PEP 658: an index serves a wheel's exact ``METADATA`` bytes and their sha256, so
both must come from the archive untouched, bounded, and only for wheels."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

import pkgcache._metadata as metadata
from pkgcache import read_core_metadata
from pkgcache.exceptions import InvalidPackage
from pkgcache.testing import write_sdist, write_wheel


def test_bytes_are_exact_even_with_crlf_and_trailing_blank_lines(tmp_path: Path) -> None:
    """pip compares the hash of what it downloads; any normalisation would break it."""
    raw = b"Metadata-Version: 2.1\r\nName: crlf\r\nVersion: 1.0\r\nSummary: Odd\r\n\r\n\r\n"
    wheel = tmp_path / "crlf-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("crlf-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n")
        z.writestr("crlf-1.0.dist-info/METADATA", raw)
    with wheel.open("rb") as handle:
        assert read_core_metadata(handle, wheel.name) == raw
    with wheel.open("rb") as handle:
        found = metadata.read_archive_metadata(handle, wheel.name)
    assert found["core_metadata_sha256"] == hashlib.sha256(raw).hexdigest()
    assert found["summary"] == "Odd"


def test_sdists_have_no_core_metadata(tmp_path: Path) -> None:
    sdist = write_sdist(tmp_path, "plain", "1.0", summary="Plain")
    with sdist.open("rb") as handle:
        assert "core_metadata_sha256" not in metadata.read_archive_metadata(handle, sdist.name)
    with sdist.open("rb") as handle:
        assert read_core_metadata(handle, sdist.name) is None


def test_a_wheel_without_metadata_gives_none(tmp_path: Path) -> None:
    wheel = tmp_path / "bare-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("bare/__init__.py", b"")
    with wheel.open("rb") as handle:
        assert read_core_metadata(handle, wheel.name) is None


def test_oversized_metadata_is_refused_not_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "MAX_METADATA_BYTES", 1 << 16)
    wheel = tmp_path / "huge-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("huge-1.0.dist-info/METADATA", b"Name: huge\n" + b" " * (1 << 20))
    with wheel.open("rb") as handle, pytest.raises(InvalidPackage, match=r"'huge-1\.0-py3-none-any\.whl'.*over"):
        read_core_metadata(handle, wheel.name)


def test_a_corrupt_wheel_is_an_invalid_package(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "cut", "1.0")
    wheel.write_bytes(wheel.read_bytes()[:40])
    with wheel.open("rb") as handle, pytest.raises(InvalidPackage, match="cannot read the archive"):
        read_core_metadata(handle, wheel.name)
