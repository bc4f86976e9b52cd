"""``pkgcache serve``: the index, on uvicorn."""

from __future__ import annotations

import os

import click

__all__ = ["serve"]

#: how the workers of ``--workers N`` find the config file (uvicorn starts them by import string)
CONFIG_ENV = "PKGCACHE_SERVE_CONFIG"


def _factory() -> object:
    from .app import create_app

    return create_app(os.environ.get(CONFIG_ENV) or None)


@click.command()
@click.option("-c", "--config", "config", envvar="PKGCACHE_CONFIG", metavar="FILE", help="INI or TOML config file.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log each request.")
def serve(config: str | None, host: str, port: int, workers: int, access_log: bool) -> None:
    """Serve the simple index (pip, uv) and the upload API (twine) from the cache."""
    import uvicorn

    from pkgcache import ConfigError, PkgcacheError

    from .app import create_app

    try:  # a bad config is one clear error before anything listens
        app = create_app(config)
    except ConfigError as err:
        raise click.ClickException("\n".join(f"error: {p}" for p in err.problems)) from err
    except PkgcacheError as err:
        raise click.ClickException(f"error: {err}") from err
    options = {
        "host": host,
        "port": port,
        "access_log": access_log,
        "log_level": "info",
        "server_header": False,
        "timeout_graceful_shutdown": 5,  # a stop (SIGTERM) never waits long on idle keep-alive clients
    }
    if workers == 1:
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    del app  # each worker builds its own (connections do not cross processes)
    os.environ[CONFIG_ENV] = os.path.abspath(config) if config else ""
    uvicorn.run("pkgcache_server.cli:_factory", factory=True, workers=workers, **options)  # type: ignore[arg-type]
