"""pkgcache-dynamo: the DynamoDB backend of pkgcache, on boto3.

Chosen with ``pypi.db = dynamo``; registered as entry point ``dynamo`` of the
``pkgcache.backends`` group.
"""

from .cache import DynamoCache
from .settings import DynamoSettings

__all__ = ["DynamoCache", "DynamoSettings"]
