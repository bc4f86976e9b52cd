"""The S3 storage on boto3, fast where pypicloud's is slow: the listing.

A listing of S3 returns keys, sizes, ETags and times but no user metadata,
so every object must be HEADed once to learn its package. pypicloud does
that one object after another. Here :meth:`S3Storage.scan` gives each
object's change token (ETag, size, LastModified) from the list pages alone,
and :meth:`S3Storage.read_many` HEADs ``storage.head_concurrency`` objects
at once. The cache stores each file's token (:attr:`Package.token`), so a
graceful reload, in this process or any later one, HEADs only new or changed
objects; the storage itself remembers nothing between listings.

After writing, a graceful reload re-checks what it wrote (:meth:`S3Storage.recheck`)
against concurrent uploads and deletes. One HEAD per file would double the
requests of a reload; instead, when that is fewer requests, the storage lists
again the pages of the last listing that hold those files, all at once, and
HEADs only the files whose token moved: at most as many list requests as the
whole listing has pages.

Errors: a missing or forbidden bucket, an unreachable endpoint or missing
credentials raise :class:`pkgcache.StorageUnavailable` with one line, never a
short listing, because a short listing would empty the cache. An object that
cannot be read as a package goes to ``skipped`` and the listing goes on.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO, cast
from urllib.parse import quote

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from pkgcache import InvalidPackage, Package, Skipped, Storage, StorageUnavailable
from pkgcache.plugin import Entry

from ._relisting import Relisting, token_of
from .layout import object_key, package_from_metadata, package_metadata
from .settings import S3Settings

__all__ = ["S3Storage"]

_MISSING = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"NoSuchBucket", "AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


class S3Storage(Relisting, Storage):
    """Package files in ``storage.bucket``, in pypicloud's layout."""

    Settings = S3Settings
    settings: S3Settings

    def __init__(self, settings: S3Settings) -> None:  # type: ignore[override]
        super().__init__(settings)
        s = settings
        optional = {
            "user_agent": s.user_agent,
            "user_agent_extra": s.user_agent_extra,
            "parameter_validation": s.parameter_validation,
            "proxies": s.proxies,
        }
        s3_options = {
            "addressing_style": s.addressing_style,
            "use_accelerate_endpoint": s.use_accelerate_endpoint,
            "payload_signing_enabled": s.payload_signing_enabled,
        }
        config = Config(
            region_name=s.region_name,
            signature_version=s.signature_version,
            connect_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            max_pool_connections=s.pool_size,
            retries={"mode": s.retry_mode, "total_max_attempts": s.max_attempts},
            s3={k: v for k, v in s3_options.items() if v is not None} or None,
            **{k: v for k, v in optional.items() if v is not None},
        )
        session = boto3.session.Session(
            aws_access_key_id=s.aws_access_key_id,
            aws_secret_access_key=s.aws_secret_access_key.get_secret_value() if s.aws_secret_access_key else None,
            aws_session_token=s.aws_session_token.get_secret_value() if s.aws_session_token else None,
            region_name=s.region_name,
        )
        extra: dict[str, Any] = {
            k: v for k, v in (("verify", s.verify), ("api_version", s.api_version)) if v is not None
        }
        self.client: Any = session.client("s3", endpoint_url=s.endpoint_url, use_ssl=s.use_ssl, config=config, **extra)
        self.bucket = s.bucket
        #: the last key of each page of the last complete listing (None: not listed yet): how many
        #: pages a re-listing costs, and where each starts (:meth:`_tokens_now`)
        self.page_ends: list[str] | None = None

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.settings.prefix!r})"

    # -- errors -----------------------------------------------------------
    def _unavailable(self, err: Exception) -> StorageUnavailable:
        where = self.settings.endpoint_url or "AWS"
        if isinstance(err, ClientError):
            code = _code(err)
            if code in _NO_BUCKET or code.startswith("4"):
                return StorageUnavailable(
                    f"bucket {self.bucket!r} does not exist or is not accessible ({code or err}) at {where}: "
                    "create it, or fix storage.bucket and the credentials"
                )
            return StorageUnavailable(f"S3 bucket {self.bucket!r} at {where} failed: {code}: {err}")
        if isinstance(err, NoCredentialsError):
            return StorageUnavailable(
                "no AWS credentials for S3: set storage.aws_access_key_id and storage.aws_secret_access_key, "
                "or configure the AWS credential chain"
            )
        return StorageUnavailable(f"S3 endpoint {where} is unreachable: {type(err).__name__}: {err}")

    # -- reading ----------------------------------------------------------
    def key_of(self, package: Package) -> str:
        """Where ``package`` lives: the key a listing found it at when that is off the
        layout (kept in ``data["path"]``, as pypicloud keeps it), else the layout's key."""
        path = package.data.get("path")
        if isinstance(path, str) and path:
            return path
        return object_key(self.settings.prefix, self.settings.prepend_hash, package.name, package.filename)

    def same_object(self, a: Package, b: Package) -> bool:
        """One object per project and filename (pypicloud's keys hold no version)."""
        return self.key_of(a) == self.key_of(b)

    def scan(self) -> Iterator[Entry]:
        """Every object under the prefix with its change token: list requests only, 1,000
        objects each. The first page is asked for here, so that a missing bucket raises
        before anything is yielded."""
        self.skipped = []
        self.warnings = []
        pages = iter(
            self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.settings.prefix)
        )
        first = self._page(pages)
        return self._entries(first, pages)

    def _page(self, pages: Iterator[dict[str, Any]]) -> dict[str, Any] | None:
        try:
            return next(pages, None)
        except (ClientError, BotoCoreError) as err:
            raise self._unavailable(err) from None

    def _entries(self, page: dict[str, Any] | None, pages: Iterator[dict[str, Any]]) -> Iterator[Entry]:
        ends: list[str] = []
        # the filename is the identity: of two objects of one filename (two projects) the
        # first in key order is indexed and the other reported, naming both. Kept per object:
        # the filename's hash and its key's folder, one string shared by consecutive keys
        seen: dict[int, str] = {}
        folder = ""
        while page is not None:
            for obj in page.get("Contents", ()):
                key: str = obj["Key"]
                if key.endswith("/"):  # a folder marker of some console
                    continue
                parent, _, filename = key.rpartition("/")
                if parent != folder:
                    folder = parent
                first = seen.get(hash(filename))
                if first is not None:
                    first_key = f"{first}/{filename}" if first else filename
                    self.skipped.append(
                        Skipped(
                            key,
                            f"same filename as {first_key!r}, which comes first in key order: "
                            "not indexed (delete the object not wanted)",
                        )
                    )
                    continue
                seen[hash(filename)] = folder
                yield Entry(filename, token_of(obj["ETag"], obj["Size"], obj["LastModified"]), key)
            if page.get("Contents"):
                ends.append(page["Contents"][-1]["Key"])
            page = self._page(pages)
        self.page_ends = ends

    def _head(self, key: str) -> tuple[dict[str, Any] | None, Skipped | None]:
        """(HEAD response or None when the object is gone, or why it could not be read)."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key), None
        except ClientError as err:
            code = _code(err)
            if code in _MISSING:
                return None, None  # deleted since it was listed
            if code == "NoSuchBucket":
                raise self._unavailable(err) from None
            return None, Skipped(key, f"cannot read its metadata: {code}: {err}")
        except BotoCoreError as err:
            raise self._unavailable(err) from None

    def _package(self, key: str, head: dict[str, Any]) -> Package:
        """The package of a HEAD response, its token set when it can be trusted.

        The token is the HEAD's own (ETag, size, LastModified), so it names what
        was read even if the object changed since it was listed. S3 times have
        whole seconds: an object rewritten with the same bytes in the second we
        read it would keep its token, so an object last modified in the second
        of the server's answer (or later) gets no token, and the next graceful
        reload reads it again.
        """
        modified: datetime = head["LastModified"]
        package = package_from_metadata(key, head.get("Metadata", {}), modified)
        if key != object_key(self.settings.prefix, self.settings.prepend_hash, package.name, package.filename):
            package.data["path"] = key  # off the layout: kept in the cache, so every process finds it
        date = head.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        try:
            settled = date is not None and modified < parsedate_to_datetime(date)
        except (TypeError, ValueError):
            settled = False
        if settled:
            package.token = token_of(head.get("ETag", ""), head.get("ContentLength", -1), modified)
        return package

    def _read(self, key: str) -> tuple[Package | None, Skipped | None]:
        """One HEAD: (package or None, why it could not be read or None when simply gone)."""
        head, problem = self._head(key)
        if head is None:
            return None, problem
        try:
            return self._package(key, head), None
        except InvalidPackage as err:
            return None, Skipped(key, str(err))

    def read(self, entry: Entry) -> Package | None:
        package, problem = self._read(entry.path)
        if problem is not None:
            self.skipped.append(problem)
        return package

    def _read_all(self, keys: Iterable[str]) -> Iterator[tuple[Package | None, Skipped | None]]:
        """:meth:`_read` of each key, ``storage.head_concurrency`` at once, in order.

        A window of a few requests per thread is in flight while the caller
        consumes (and, for a plain reload, while the next list page is fetched),
        so memory holds that window, not the listing.
        """
        window = 4 * self.settings.head_concurrency
        pool = ThreadPoolExecutor(self.settings.head_concurrency, thread_name_prefix="pkgcache-s3")
        pending: deque[Future[tuple[Package | None, Skipped | None]]] = deque()
        try:
            for key in keys:
                pending.append(pool.submit(self._read, key))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def read_many(self, entries: Iterable[Entry]) -> Iterator[Package]:
        """HEAD ``storage.head_concurrency`` objects at once, yielding in the listing's order."""
        for package, problem in self._read_all(entry.path for entry in entries):
            if problem is not None:
                self.skipped.append(problem)
            if package is not None:
                yield package

    def load(self, package: Package) -> Package | None:
        return self._read(self.key_of(package))[0]

    def recheck(self, packages: Sequence[Package]) -> list[Package | None]:
        """Each package as the bucket holds it now, from the fewest requests.

        When the last listing had fewer pages than there are files to re-check,
        their tokens come from list requests (:meth:`_tokens_now`), sent at once: a file
        absent there is gone, one whose token is still ``package.token`` is
        unchanged and answered by ``package`` itself, and only the others are
        HEADed. Otherwise (a few files, or no listing yet) every file is
        HEADed, concurrently. The listing is as current as a HEAD: S3 lists
        what was written before the request, as it reads it.
        """
        if not packages:
            return []
        keys = [self.key_of(p) for p in packages]
        answers: list[Package | None] = [None] * len(packages)
        unique = set(keys)
        pages = None if self.page_ends is None else max(1, len(self.page_ends))
        tokens = self._tokens_now(unique, self.page_ends or []) if pages is not None and pages < len(unique) else None
        heads: list[int] = []
        for i, (package, key) in enumerate(zip(packages, keys, strict=True)):
            if tokens is None:
                heads.append(i)
            elif key not in tokens:
                answers[i] = None  # gone
            elif package.token is not None and tokens[key] == package.token:
                answers[i] = package
            else:
                heads.append(i)
        for i, (fresh, _problem) in zip(heads, self._read_all(keys[i] for i in heads), strict=True):
            answers[i] = fresh  # unreadable now: None, as load() gives it
        return answers

    def open(self, package: Package) -> BinaryIO:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key_of(package))["Body"]
        except ClientError as err:
            if _code(err) in _MISSING:
                raise FileNotFoundError(f"s3://{self.bucket}/{self.key_of(package)}") from None
            raise self._unavailable(err) from None
        return cast(BinaryIO, body)

    def get_url(self, package: Package) -> str:
        key = self.key_of(package)
        s = self.settings
        if s.public_url:
            if s.endpoint_url:
                return f"{s.endpoint_url.rstrip('/')}/{self.bucket}/{quote(key)}"
            if s.region_name:
                return f"https://s3.{s.region_name}.amazonaws.com/{self.bucket}/{quote(key)}"
            return f"https://{self.bucket}.s3.amazonaws.com/{quote(key)}"
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=s.expire_after
        )
        return url

    # -- writing ----------------------------------------------------------
    def upload(self, package: Package, data: bytes | BinaryIO) -> Package:
        s = self.settings
        extra: dict[str, Any] = {"Metadata": package_metadata(package)}
        if s.object_acl:
            extra["ACL"] = s.object_acl
        if s.storage_class:
            extra["StorageClass"] = s.storage_class
        if s.server_side_encryption:
            extra["ServerSideEncryption"] = s.server_side_encryption
        if s.sse_kms_key_id:
            extra["SSEKMSKeyId"] = s.sse_kms_key_id
        key = object_key(s.prefix, s.prepend_hash, package.name, package.filename)
        stream = io.BytesIO(data) if isinstance(data, bytes) else data
        try:
            self.client.upload_fileobj(stream, self.bucket, key, ExtraArgs=extra)
        except S3UploadFailedError as err:
            raise StorageUnavailable(f"upload of {key!r} to bucket {self.bucket!r} failed: {err}") from None
        except (ClientError, BotoCoreError) as err:
            raise self._unavailable(err) from None
        kept = {k: v for k, v in package.data.items() if k != "path"}  # it is at the layout's key now
        return package.with_token(None, kept)  # written this second: not yet a token to trust (see _package)

    def delete(self, package: Package) -> None:
        key = self.key_of(package)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            raise self._unavailable(err) from None

    # -- health and lifetime ---------------------------------------------
    def check_health(self) -> tuple[bool, str]:
        """``(ok, message)`` from one HEAD of the bucket; never raises."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as err:
            return False, str(self._unavailable(err))
        return True, f"bucket {self.bucket!r} is reachable"

    def close(self) -> None:
        self.client.close()
