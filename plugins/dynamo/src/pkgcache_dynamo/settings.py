"""The ``db.*`` keys of the DynamoDB backend, with every rule checked up front."""

from __future__ import annotations

import re
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

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

    @model_validator(mode="after")
    def _rules(self) -> DynamoSettings:
        if not self.region and not self.host:
            raise ValueError("db.region (or db.region_name) or db.host is required: where is DynamoDB?")
        if (self.access_key is None) != (self.secret_key is None):
            raise ValueError(
                "db.access_key and db.secret_key go together: give both, or neither to use the AWS credential chain"
            )
        for name in self.table_names:
            if not _TABLE_NAME.match(name):
                raise ValueError(
                    f"table name {name!r} (db.namespace + db.tablenames) must be 3 to 255 characters of a-z A-Z 0-9 _ . -"
                )
        return self

    @property
    def table_names(self) -> tuple[str, str]:
        return (self.namespace + self.tablenames[0], self.namespace + self.tablenames[1])

    @property
    def endpoint_url(self) -> str | None:
        if not self.host:
            return None
        return f"{'https' if self.secure else 'http'}://{self.host}:{self.port}"
