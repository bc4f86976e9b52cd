"""Blocking work never runs on the event loop: while one request is held inside a
slow step, another request on the same server is answered.

The application runs in this process (the same code ``pkgcache serve`` runs)
so that the slow step can be wrapped to wait, at a chosen moment, for the
other request's answer: if the step ran on the event loop, the other request
could never be answered and the wait would time out.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgcache_server import create_app, pages

from .conftest import build_wheel, password_hash, write_config


def test_a_password_check_does_not_hold_up_other_requests(tmp_path: Path) -> None:
    build_wheel(tmp_path / "storage", "demo-pkg", "1.0")
    config = write_config(
        tmp_path / "pypi.ini",
        {"pypi.db": "memory", "storage.dir": str(tmp_path / "storage"), "user.alice": password_hash("s3cret")},
    )
    app = create_app(str(config))
    access = app.state.index.access
    entered, answered = threading.Event(), threading.Event()
    overlapped: list[bool] = []
    verify = access.context.verify

    def held_verify(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        overlapped.append(answered.wait(5))  # the health request is answered meanwhile
        return verify(*args, **kwargs)

    access.context.verify = held_verify
    wrong = {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()}

    async def main() -> tuple[int, int]:
        async with app.router.lifespan_context(app):
            await asyncio.to_thread(app.state.index.background.ready.wait, 10)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://index") as client:

                async def health() -> int:
                    await asyncio.to_thread(entered.wait, 5)
                    status = (await client.get("/health")).status_code
                    answered.set()
                    return status

                page, ok = await asyncio.gather(client.get("/simple/", headers=wrong), health())
                return page.status_code, ok

    assert asyncio.run(main()) == (401, 200)
    assert overlapped == [True], "the password check blocked the event loop"


def test_many_requests_for_one_changed_page_render_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """64 clients asking at once for a page that is not rendered yet wait for one rendering,
    and all get the same page."""
    for version in ("1.0", "1.1", "2.0"):
        build_wheel(tmp_path / "storage", "demo-pkg", version)
    config = write_config(tmp_path / "pypi.ini", {"pypi.db": "memory", "storage.dir": str(tmp_path / "storage")})
    app = create_app(str(config))
    renders: list[str] = []
    render = pages.project_page
    inside, release = threading.Event(), threading.Event()

    def held_render(name: str, *args: Any) -> bytes:
        renders.append(name)
        inside.set()
        release.wait(10)  # every other request arrives while the first rendering is held
        return render(name, *args)

    monkeypatch.setattr(pages, "project_page", held_render)
    index = app.state.index

    async def main() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            await asyncio.to_thread(index.background.ready.wait, 10)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://index") as client:
                requests = [asyncio.ensure_future(client.get("/simple/demo-pkg/")) for _ in range(64)]
                await asyncio.to_thread(inside.wait, 10)
                await asyncio.sleep(0.5)  # the other 63 read the token and reach the page cache meanwhile
                overlapped = not any(r.done() for r in requests)
                release.set()
                answers = list(await asyncio.gather(*requests))
                assert overlapped, "a request was answered before the rendering ended: they did not overlap"
                return answers

    answers = asyncio.run(main())
    assert [r.status_code for r in answers] == [200] * 64
    assert len({r.content for r in answers}) == 1
    assert b"demo_pkg-2.0" in answers[0].content
    assert renders == ["demo-pkg"], f"the page was rendered {len(renders)} times"
