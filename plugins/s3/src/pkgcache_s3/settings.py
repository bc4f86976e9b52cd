"""The ``storage.*`` keys of the S3 storage: pypicloud's names and meanings, checked up front."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from pkgcache import StorageSettings

__all__ = ["S3Settings"]

# S3's rules for new bucket names, loosened to the legacy ones (upper case, "_") that old buckets still have
_BUCKET = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._\-]{1,253}[a-zA-Z0-9]$")
_FALSEY = {"false", "f", "no", "n", "off", "0"}
_TRUTHY = {"true", "t", "yes", "y", "on", "1"}

CannedAcl = Literal[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
]


class S3Settings(StorageSettings):
    """Settings of ``pypi.storage = s3``."""

    bucket: str = Field(description="Bucket holding the package files (it must exist)")
    prefix: str = Field("", description="Key prefix of every file, written as given (add the '/' yourself)")
    prepend_hash: bool = Field(True, description="Put the first 4 hex digits of md5(filename) before each key")
    region_name: str | None = Field(None, description="AWS region of the bucket")
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, Ceph) instead of AWS")
    aws_access_key_id: str | None = Field(None, description="AWS access key id (with storage.aws_secret_access_key)")
    aws_secret_access_key: SecretStr | None = Field(None, description="AWS secret access key")
    aws_session_token: SecretStr | None = Field(None, description="AWS session token of temporary credentials")
    signature_version: str | None = Field(None, description="botocore signature version, e.g. s3v4")
    addressing_style: Literal["auto", "virtual", "path"] | None = Field(None, description="auto, virtual or path")
    use_ssl: bool = Field(True, description="https to the endpoint")
    verify: bool | str | None = Field(None, description="false to skip TLS verification, or a CA bundle path")
    object_acl: CannedAcl | None = Field(None, description="Canned ACL of uploaded files")
    storage_class: str | None = Field(None, description="Storage class of uploaded files, e.g. STANDARD_IA")
    server_side_encryption: Literal["AES256", "aws:kms"] | None = Field(None, description="AES256 or aws:kms")
    sse_kms_key_id: str | None = Field(None, description="KMS key of storage.server_side_encryption = aws:kms")
    redirect_urls: bool = Field(True, description="pypicloud's web-layer switch; accepted, URLs are S3's either way")
    expire_after: int = Field(86400, ge=1, description="Lifetime of presigned URLs, in seconds")
    public_url: bool = Field(False, description="Plain public URLs instead of presigned ones")
    connect_timeout: float = Field(60, gt=0, description="Seconds to wait for a connection")
    read_timeout: float = Field(60, gt=0, description="Seconds to wait for a response")
    max_pool_connections: int | None = Field(
        None, ge=1, description="HTTP connections kept open (default: storage.head_concurrency, at least 10)"
    )
    # the rest of the botocore settings pypicloud passes on, so its config files validate unchanged
    use_accelerate_endpoint: bool | None = Field(None, description="S3 Transfer Acceleration endpoint")
    payload_signing_enabled: bool | None = Field(None, description="Sign payloads (SigV4)")
    user_agent: str | None = Field(None, description="User-Agent of requests")
    user_agent_extra: str | None = Field(None, description="Text appended to the User-Agent")
    parameter_validation: bool | None = Field(None, description="botocore's client-side parameter checks")
    proxies: dict[str, str] | None = Field(None, description="Proxy by scheme, lines of 'https = http://proxy:3128'")
    api_version: str | None = Field(None, description="S3 API version")
    # keys of our own
    head_concurrency: int = Field(16, ge=1, le=256, description="Objects whose metadata a listing reads at once")
    retry_mode: Literal["standard", "adaptive"] = Field("standard", description="botocore retry mode")
    max_attempts: int = Field(
        5,
        ge=1,
        le=20,
        description="Attempts per request, the first included (botocore retries throttling, 5xx, dropped connections)",
    )

    @field_validator("verify", mode="before")
    @classmethod
    def _verify(cls, value: Any) -> Any:
        """pypicloud reads a falsey word as False and anything else as a CA bundle path."""
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _FALSEY:
                return False
            if word in _TRUTHY:
                return True
        return value

    @field_validator("proxies", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        """pypicloud's form: one ``scheme = url`` per line."""
        if isinstance(value, str):
            pairs = [line.split("=", 1) for line in value.splitlines() if line.strip()]
            if any(len(pair) != 2 for pair in pairs):
                raise ValueError("give one 'scheme = url' per line, e.g. 'https = http://proxy:3128'")
            return {k.strip(): v.strip() for k, v in pairs}
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.match(value):
            raise ValueError(f"{value!r} is not a bucket name: 3 to 255 characters of a-z A-Z 0-9 . _ -")
        return value

    @field_validator("storage_class")
    @classmethod
    def _storage_class(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Z_]+", value):
            raise ValueError(f"{value!r} is not a storage class: upper-case, e.g. STANDARD or STANDARD_IA")
        return value

    def broken_rules(self) -> Iterator[tuple[str | None, str]]:
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            given, missing = (
                ("aws_access_key_id", "aws_secret_access_key")
                if self.aws_secret_access_key is None
                else ("aws_secret_access_key", "aws_access_key_id")
            )
            yield (
                given,
                f"storage.aws_access_key_id and storage.aws_secret_access_key go together: storage.{missing} "
                "is missing; give both, or neither to use the AWS credential chain",
            )
        if self.aws_session_token is not None and self.aws_access_key_id is None:
            yield (
                "aws_session_token",
                "storage.aws_session_token needs storage.aws_access_key_id and storage.aws_secret_access_key",
            )
        if self.sse_kms_key_id is not None and self.server_side_encryption != "aws:kms":
            yield "sse_kms_key_id", "storage.sse_kms_key_id needs storage.server_side_encryption = aws:kms"

    @property
    def pool_size(self) -> int:
        return self.max_pool_connections or max(10, self.head_concurrency)
