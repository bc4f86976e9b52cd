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

from pkgcache_server import create_app

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
