"""The ``db.*`` keys of the DynamoDB backend, with every rule checked up front."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator

from pkgcache import BackendSettings

__all__ = ["DynamoSettings"]

_TABLE_NAME = re.compile(r"^[a-zA-Z0-9_.\-]{3,255}$")


class DynamoSettings(BackendSettings):
    """Settings of ``pypi.db = dynamo``."""

    region: str | None = Field(
        None, validation_alias=AliasChoices("region", "region_name"), description="AWS region, e.g. us-east-1"
    )
    host: str | None = Field(None, description="Endpoint host (DynamoDB Local, a proxy) instead of AWS")
    port: int = Field(8000, ge=1, le=65535, description="Endpoint port, with db.host")
    secure: bool = Field(False, description="https to db.host when true, http otherwise")
    access_key: str | None = Field(
        None, validation_alias=AliasChoices("access_key", "aws_access_key_id"), description="AWS access key id"
    )
    secret_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("secret_key", "aws_secret_access_key"), description="AWS secret key"
    )
    namespace: str = Field("", description="Prefix of both table names")
    tablenames: tuple[str, str] = Field(
        ("DynamoPackage", "PackageSummary"), description="Package table and summary table, before the namespace"
    )

    @field_validator("tablenames", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if isinstance(value, (list, tuple)) and len(value) != 2:
            raise ValueError(f"give exactly two table names (packages, summaries), got {len(value)}")
        return value

    def broken_rules(self) -> Iterator[tuple[str | None, str]]:
        if not self.region and not self.host:
            yield "region", "db.region (or db.region_name) or db.host is required: where is DynamoDB?"
        if (self.access_key is None) != (self.secret_key is None):
            given, missing = ("access_key", "secret_key") if self.secret_key is None else ("secret_key", "access_key")
            yield (
                given,
                f"db.access_key and db.secret_key go together: db.{missing} is missing; give both, "
                "or neither to use the AWS credential chain",
            )
        bad = [name for name in self.table_names if not _TABLE_NAME.match(name)]
        if bad:
            field = "namespace" if re.search(r"[^a-zA-Z0-9_.\-]", self.namespace) else "tablenames"
            yield (
                field,
                f"table name {' and '.join(map(repr, bad))} (db.namespace + db.tablenames) must be "
                "3 to 255 characters of a-z A-Z 0-9 _ . -",
            )

    @property
    def table_names(self) -> tuple[str, str]:
        return (self.namespace + self.tablenames[0], self.namespace + self.tablenames[1])

    @property
    def endpoint_url(self) -> str | None:
        if not self.host:
            return None
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port}"
