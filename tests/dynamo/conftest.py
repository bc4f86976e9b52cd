"""The DynamoDB tests run against moto's standalone server (``moto_port`` and ``own_moto``,
fixtures of :mod:`tests.support`), reached over HTTP like DynamoDB Local."""

from tests.support import MotoServer, dynamo_config

__all__ = ["MotoServer", "dynamo_config"]
