"""The Starlette application: the simple index, downloads, uploads and health.

Every cache call blocks (SQL, Redis, DynamoDB drivers), so each runs in the
thread pool; the event loop only parses, negotiates and sends bytes. Pages
are validated on every request against the cache's change marker (see
:mod:`.pagecache`), so several servers on one cache always agree.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import quote

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from pkgcache import Cache, PkgcacheError, load_cache, load_settings, normalize_name
from pkgcache.plugin import is_key

from . import files, pages
from .auth import Access
from .background import Background
from .negotiate import HTML, JSON, OFFERED, V1_HTML, choose
from .pagecache import Page, PageCache
from .settings import ServerSettings, server_settings
from .upload import upload

__all__ = ["Index", "create_app"]

log = logging.getLogger("pkgcache.serve")
T = TypeVar("T")
_SHORT = {JSON: "json", V1_HTML: "v1html", HTML: "html"}


class Index:
    """What the routes share: the cache, the server's settings, access and the page cache."""

    def __init__(self, cache: Cache, settings: ServerSettings) -> None:
        self.cache = cache
        self.settings = settings
        self.access = Access(settings)
        self.pages = PageCache()
        self.background = Background(cache, settings.reload_interval)
        self._threads: anyio.CapacityLimiter | None = None
        self._rendering: dict[tuple[str, str, str], asyncio.Future[Page]] = {}

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` in a thread, at most ``serve.threads`` at once. Cache calls hold
        the interpreter lock for most of their time (drivers, row decoding): 40 threads,
        anyio's default, ran a SQLite cache at 880 pages/s where 2 ran it at 1,900/s."""
        if self._threads is None:  # made on first use: a limiter belongs to the running event loop
            self._threads = anyio.CapacityLimiter(self.settings.threads)
        return await anyio.to_thread.run_sync(call, *args, limiter=self._threads)

    async def page(self, key: tuple[str, str, str], render: Callable[[], Page]) -> Page:
        """The page of ``key`` from the page cache, else rendered (in a thread) once however
        many requests ask for it at the same moment: 64 clients opening a 5,000-file page
        that changed wait for one rendering, not 64 at once."""
        page = self.pages.get(key)
        if page is not None:
            return page
        pending = self._rendering.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self.run(render))
            self._rendering[key] = pending

            def finished(done: asyncio.Future[Page]) -> None:
                del self._rendering[key]
                if not done.cancelled() and done.exception() is None:
                    self.pages.put(key, done.result())

            pending.add_done_callback(finished)
        return await asyncio.shield(pending)  # a client that leaves does not cancel the others' page

    async def user(self, request: Request) -> str | bool | None:
        """Who sent ``request`` (see :meth:`Access.user`); a password hash to check runs
        in the thread pool, so a slow hash (or many wrong passwords) never stalls the loop."""
        header = request.headers.get("authorization")
        if self.access.needs_hash(header):  # anyio's own pool: a slow hash never holds up a cache call
            return await anyio.to_thread.run_sync(self.access.user, header)
        return self.access.user(header)


def _text(status: int, message: str, **headers: str) -> PlainTextResponse:
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)


def denied(user: str | bool | None, what: str) -> Response:
    """401 asking for credentials when there are none or they are wrong; 403 otherwise."""
    if user is None or user is False:
        reason = "wrong user name or password" if user is False else "credentials needed"
        return _text(401, f"{reason} to {what}", **{"WWW-Authenticate": 'Basic realm="pkgcache"'})
    return _text(403, f"user {user!r} may not {what}")


def _index(request: Request) -> Index:
    index: Index = request.app.state.index
    return index


async def _gate(request: Request) -> Response | None:
    """The answer when this read may not go on: not ready yet, or not allowed."""
    index = _index(request)
    if not index.background.ready.is_set():
        return _text(503, "the cache is being filled from the storage; try again shortly", **{"Retry-After": "5"})
    user = await index.user(request)
    if user is False or not index.access.may(user, write=False):  # type: ignore[arg-type]
        return denied(user, "read this index")
    return None


def _send(request: Request, index: Index, page: Page, content_type: str) -> Response:
    cache_control = f"max-age={index.settings.page_max_age}" + (
        ", must-revalidate" if index.settings.page_max_age == 0 else ""
    )
    headers = {"ETag": page.etag, "Vary": "Accept, Accept-Encoding", "Cache-Control": cache_control}
    sent = request.headers.get("if-none-match", "")
    if sent and (sent.strip() == "*" or page.etag in {t.strip().removeprefix("W/") for t in sent.split(",")}):
        return Response(status_code=304, headers=headers)
    body = page.body
    if page.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "").lower():
        body, headers["Content-Encoding"] = page.gzipped, "gzip"
    media = content_type + ("; charset=utf-8" if content_type != JSON else "")
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=media)
    return Response(body, headers=headers, media_type=media)


def _negotiated(request: Request) -> str | None:
    return choose(request.headers.get("accept"), request.query_params.get("format"))


def _not_acceptable() -> Response:
    return _text(406, "none of the offered types fits the Accept header or ?format=: " + ", ".join(OFFERED))


async def simple_index(request: Request) -> Response:
    refused = await _gate(request)
    if refused is not None:
        return refused
    content_type = _negotiated(request)
    if content_type is None:
        return _not_acceptable()
    index = _index(request)
    token = await index.run(index.cache.index_token)

    def render() -> Page:
        body = pages.project_list(index.cache.distinct(), content_type)
        return Page.of(body, f'"{token}-{_SHORT[content_type]}"')

    page = await index.page(("/simple/", token, content_type), render)
    return _send(request, index, page, content_type)


async def project(request: Request) -> Response:
    refused = await _gate(request)
    if refused is not None:
        return refused
    written: str = request.path_params["project"]
    name = normalize_name(written)
    if name != written:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/simple/{quote(name)}/{query}", status_code=301)
    content_type = _negotiated(request)
    if content_type is None:
        return _not_acceptable()
    index = _index(request)
    # a name no cache can hold (a NUL, a control character) is in none: asking a
    # database about it would only make it raise
    token = await index.run(index.cache.project_token, name) if is_key(name) else None
    if token is None:
        if index.settings.fallback == "redirect":
            return RedirectResponse(f"{index.settings.fallback_url.rstrip('/')}/{quote(name)}/", status_code=302)
        return _text(404, f"no project {name!r} in this index")

    def render() -> Page:
        body = pages.project_page(name, index.cache.all(name), content_type)
        return Page.of(body, f'"{token}-{_SHORT[content_type]}"')

    page = await index.page((name, token, content_type), render)
    return _send(request, index, page, content_type)


async def download(request: Request) -> Response:
    refused = await _gate(request)
    if refused is not None:
        return refused
    return await files.download(_index(request), request)


async def health(request: Request) -> Response:
    index = _index(request)
    ok, message = await index.run(index.cache.check_health)
    ready = index.background.ready.is_set()
    if not ready:
        ok, message = False, f"filling the cache from the storage; {message}"
    return JSONResponse({"healthy": ok, "ready": ready, "message": message}, status_code=200 if ok else 503)


async def _pkgcache_error(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return _text(503, f"the cache or storage failed: {exc}")


def create_app(config: str | None = None, cache: Cache | None = None) -> Starlette:
    """The application for the config file ``config`` (or a cache already built)."""
    settings = load_settings(config)
    server = server_settings(settings)
    built = cache if cache is not None else load_cache(settings)
    index = Index(built, server)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        index.background.start()
        try:
            yield
        finally:
            index.background.stop()
            built.close()

    routes = [
        Route("/simple/", simple_index, methods=["GET", "HEAD"]),
        Route("/simple/{project}/", project, methods=["GET", "HEAD"]),
        Route("/packages/{filename}", download, methods=["GET", "HEAD"]),
        Route("/simple/", upload, methods=["POST"]),
        Route("/", upload, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={PkgcacheError: _pkgcache_error})
    app.state.index = index
    return app
