"""Which pkgcache error a botocore failure is, and bounded retries with backoff.

``CacheUnavailable`` only for an endpoint that cannot be reached or did not
answer in time; throttling that outlived botocore's own retries is
``CacheBusy``; everything else is a ``CacheError`` naming the AWS error code.
The secret key never reaches a message (botocore does not put it there, but
a proxy's error page might echo a request).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from pkgcache import CacheBusy, CacheError, CacheUnavailable, PkgcacheError

__all__ = ["THROTTLED", "backoff", "classified", "code_of"]

_UNREACHABLE = (EndpointConnectionError, ConnectionError, ConnectTimeoutError, ReadTimeoutError)
THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "LimitExceededException",
    }
)


def code_of(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def backoff(attempt: int, base: float = 0.01, cap: float = 1.0) -> None:
    """Sleep before retry ``attempt`` (0, 1, ...): exponential, capped, with full jitter so that
    writers that collided once do not collide again in step."""
    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))


@contextmanager
def classified(address: str, secret: str | None) -> Iterator[None]:
    """Turn botocore errors raised inside into pkgcache errors naming ``address``."""

    def masked(text: str) -> str:
        return text.replace(secret, "***") if secret else text

    try:
        yield
    except PkgcacheError:
        raise
    except _UNREACHABLE as err:
        raise CacheUnavailable(f"dynamo backend cannot reach {address}: {type(err).__name__}") from err
    except NoCredentialsError as err:
        raise CacheError(
            f"dynamo backend at {address}: no AWS credentials: set db.access_key and db.secret_key, "
            "or configure the AWS credential chain"
        ) from err
    except ClientError as err:
        code = code_of(err)
        message = masked(str(err.response.get("Error", {}).get("Message", "")))
        if code in THROTTLED:
            raise CacheBusy(
                f"dynamo backend at {address}: {code} persisted through every retry: {message}; "
                "raise the table's capacity or write less at once"
            ) from err
        raise CacheError(f"dynamo backend at {address}: {code}: {message}") from err
    except BotoCoreError as err:
        raise CacheError(f"dynamo backend at {address}: {masked(str(err))}") from err
