"""pypicloud's layout and metadata rules, both ways, without a server; and the settings."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkgcache import ConfigError, Package, load_settings
from pkgcache._plugin_settings import public_dump
from pkgcache.registry import describe_drivers
from pkgcache_s3 import S3Settings, S3Storage
from pkgcache_s3.layout import decode_value, encode_value, object_key, package_from_metadata, package_metadata


def pypicloud_normalize(metadata: dict[str, str]) -> dict[str, str]:
    """pypicloud 1.3.12's ``normalize_metadata``, copied: what it writes to S3."""

    def value(v: str) -> str:
        v = "".join(c for c in unicodedata.normalize("NFKD", v) if ord(c) < 128)
        return re.sub(r"\s+", " ", v)

    return {k.replace("_", "-"): value(v) for k, v in metadata.items()}


def pypicloud_read(metadata: dict[str, str]) -> dict[str, str]:
    """pypicloud 1.3.12's ``Package.read_metadata`` plus name and version: what it reads from S3."""
    out = {"name": metadata["name"], "version": metadata["version"]}
    for field in ["requires_python", "summary", "hash_sha256", "hash_md5", "uploader"]:
        value = metadata.get(field) or metadata.get(field.replace("_", "-"))
        if value:
            out[field] = value
    return out


def test_key_layout_is_pypicloud_s() -> None:
    digest = hashlib.md5(b"Foo_Bar-1.0.tar.gz").hexdigest()[:4]
    assert object_key("pkgs/", True, "foo-bar", "Foo_Bar-1.0.tar.gz") == f"pkgs/{digest}/foo-bar/Foo_Bar-1.0.tar.gz"
    assert object_key("", False, "foo-bar", "Foo_Bar-1.0.tar.gz") == "foo-bar/Foo_Bar-1.0.tar.gz"


@pytest.mark.parametrize(
    "text",
    ["Café au lait — 日本語 ✓", " leading space", "trailing ", "two\nlines\tand tab", "=?utf-8?b?QQ==?=", ""],
)
def test_values_that_s3_would_mangle_are_encoded_and_read_back_exactly(text: str) -> None:
    encoded = encode_value(text)
    assert encoded.isascii() and "\n" not in encoded
    assert decode_value(encoded) == text


def test_plain_ascii_is_written_and_read_as_it_is() -> None:
    for text in ["A tool: does x, y & z (fast)!", "sha256=abc", "a  b"]:
        assert encode_value(text) == text
        assert decode_value(text) == text
    assert decode_value("=?utf-8?b?not base64!?=") == "=?utf-8?b?not base64!?="


@given(st.text(min_size=1, max_size=200))
def test_every_text_round_trips(text: str) -> None:
    assert decode_value(encode_value(text)) == text


def test_metadata_pypicloud_reads_as_text_with_its_own_keys() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    package = Package(
        "Foo_Bar",
        "1.0",
        "foo_bar-1.0.tar.gz",
        when,
        "Plain summary",
        requires_python=">=3.9",
        uploader="zoë",
        yanked=True,
    )
    meta = package_metadata(package)
    assert all(k.isascii() and v.isascii() for k, v in meta.items())
    seen = pypicloud_read(meta)
    assert seen["name"] == "foo-bar" and seen["version"] == "1.0"
    assert seen["summary"] == "Plain summary" and seen["requires_python"] == ">=3.9"
    assert seen["uploader"] == encode_value("zoë") != "zoë"  # still text to pypicloud
    back = package_from_metadata("x/foo-bar/foo_bar-1.0.tar.gz", meta, when.replace(microsecond=0))
    assert back.same_as(package) and back.data["yanked"] is True


def test_metadata_pypicloud_wrote_is_read_as_it_is() -> None:
    written = pypicloud_normalize(
        {"name": "foo", "version": "2.0", "summary": "Naïve   tool", "requires_python": ">=3.8", "hash_md5": "abc"}
    )
    modified = datetime(2023, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    package = package_from_metadata("foo/foo-2.0.whl", written, modified)
    assert (package.name, package.version, package.summary) == ("foo", "2.0", "Naive tool")
    assert package.data == {"requires_python": ">=3.8", "hash_md5": "abc"}
    assert package.last_modified == modified


def test_metadata_over_s3_s_limit_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"over S3's 2 KB limit for user metadata: shorten its summary"):
        package_metadata(Package("foo", "1.0", "foo-1.0.tar.gz", summary="é" * 2000))


# -- settings -------------------------------------------------------------------------------------
def test_s3_and_pypicloud_s_class_path_select_the_storage() -> None:
    for name in ("s3", "pypicloud.storage.S3Storage", "pypicloud.storage.s3.S3Storage"):
        settings = load_settings({"pypi.db": "memory", "pypi.storage": name, "storage.bucket": "my-bucket"}, environ={})
        assert settings.storage_class is S3Storage
        assert settings.storage.prepend_hash is True and settings.storage.expire_after == 86400


def test_every_problem_at_once_with_did_you_mean() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "pypi.db": "memory",
                "pypi.storage": "s3",
                "storage.bukcet": "b",
                "storage.expire_after": "0",
                "storage.object_acl": "publik-read",
                "storage.server_side_encryption": "DES",
                "storage.head_concurrency": "none",
            },
            environ={},
        )
    text = str(caught.value)
    assert "did you mean 'storage.bucket'?" in text
    for key in ("storage.bucket", "storage.expire_after", "storage.object_acl", "storage.server_side_encryption"):
        assert key in text, key
    assert "storage.head_concurrency" in text
    assert len(caught.value.problems) == 5  # the mistyped storage.bukcet is one line, not also "bucket: required"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"aws_access_key_id": "AKIA"}, "go together"),
        ({"aws_secret_access_key": "s3cr3t-value"}, "go together"),
        ({"aws_session_token": "t0ken-value"}, "needs storage.aws_access_key_id"),
        ({"sse_kms_key_id": "k"}, "needs storage.server_side_encryption = aws:kms"),
        ({"storage_class": "standard"}, "upper-case"),
    ],
)
def test_rules_between_keys(keys: dict[str, str], message: str) -> None:
    config = {
        "pypi.db": "memory",
        "pypi.storage": "s3",
        "storage.bucket": "b-1",
        **{f"storage.{k}": v for k, v in keys.items()},
    }
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_settings(config, environ={})
    assert "s3cr3t-value" not in str(caught.value) and "t0ken-value" not in str(caught.value)


def test_every_rule_and_field_problem_at_once() -> None:
    """Rules between keys are reported beside the keys that fail on their own, each on its key."""
    config = {
        "pypi.db": "memory",
        "pypi.storage": "s3",
        "storage.bucket": "b-1",
        "storage.aws_access_key_id": "AKIA",
        "storage.sse_kms_key_id": "k",
        "storage.expire_after": "soon",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    keys = sorted(p.key or "" for p in caught.value.problems)
    assert keys == ["storage.aws_access_key_id", "storage.expire_after", "storage.sse_kms_key_id"], keys


def test_rules_are_reported_when_a_required_key_fails() -> None:
    """A bad bucket (required, no default to stand in) does not hide the rules between other keys."""
    config = {
        "pypi.db": "memory",
        "pypi.storage": "s3",
        "storage.bucket": "b",
        "storage.aws_access_key_id": "AKIA",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    keys = sorted(p.key or "" for p in caught.value.problems)
    assert keys == ["storage.aws_access_key_id", "storage.bucket"], keys


def test_secrets_are_masked_everywhere() -> None:
    settings = S3Settings(
        bucket="b-1", aws_access_key_id="AKIA", aws_secret_access_key="s3cr3t-value", aws_session_token="t0ken-value"
    )
    shown = repr(settings) + str(settings) + str(public_dump(settings)) + repr(S3Storage(settings))
    assert "s3cr3t-value" not in shown and "t0ken-value" not in shown
    assert settings.aws_secret_access_key is not None
    assert settings.aws_secret_access_key.get_secret_value() == "s3cr3t-value"


def test_verify_reads_like_pypicloud() -> None:
    assert S3Settings(bucket="b-1", verify="false").verify is False
    assert S3Settings(bucket="b-1", verify="On").verify is True
    assert S3Settings(bucket="b-1", verify="/etc/ssl/ca.pem").verify == "/etc/ssl/ca.pem"


def test_backends_lists_the_s3_storage() -> None:
    [row] = [r for r in describe_drivers("pkgcache.storages") if r.name == "s3"]
    assert (row.distribution, row.status) == ("pkgcache-s3", "installed")


def test_the_s3_page_documents_every_key() -> None:
    page = (Path(__file__).parents[2] / "docs" / "s3.md").read_text()
    documented = set(re.findall(r"`storage\.([a-z_0-9]+)`", page))
    assert documented == set(S3Settings.model_fields)


def test_pypicloud_s_botocore_keys_reach_the_client() -> None:
    settings = S3Settings(
        bucket="b-1",
        region_name="eu-west-1",
        proxies="https = http://proxy.example:3128\nhttp = http://proxy.example:3128",
        use_accelerate_endpoint="false",
        addressing_style="path",
        user_agent_extra="ppc",
        head_concurrency=40,
    )
    config = S3Storage(settings).client.meta.config
    assert config.proxies == {"https": "http://proxy.example:3128", "http": "http://proxy.example:3128"}
    assert config.s3 == {"addressing_style": "path", "use_accelerate_endpoint": False}
    assert config.user_agent_extra == "ppc" and config.max_pool_connections == 40
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    with pytest.raises(ValueError, match="one 'scheme = url' per line"):
        S3Settings(bucket="b-1", proxies="just-a-host")
