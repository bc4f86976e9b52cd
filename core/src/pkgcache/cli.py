"""The ``pkgcache`` command line.

Exit codes: 0 success, 1 failure (invalid config, unhealthy or unreachable
backend, missing file), 2 usage error. Errors are one line each on stderr
(a usage error adds Click's usage and help lines), never a traceback; data
commands take ``--format json``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import click

from ._version import __version__
from .exceptions import ConfigError, PkgcacheError

F = TypeVar("F", bound=Callable[..., Any])

format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format."
)
config_option = click.option(
    "-c",
    "--config",
    "config",
    envvar="PKGCACHE_CONFIG",
    metavar="FILE",
    help="INI or TOML config file (default: $PKGCACHE_CONFIG; else the environment alone).",
)


class Failure(click.ClickException):
    """Exit 1 with the message as is (one problem a line)."""

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), err=True)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _emit_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))


#: the last line when settings from the environment alone were not enough: the
#: likelier cause is a forgotten ``-c`` than a missing environment variable
NO_CONFIG_HINT = "note: no config file given: pass -c FILE or set PKGCACHE_CONFIG"


@contextmanager
def _errors(config_given: bool = True) -> Iterator[None]:
    """Turn our own errors into exit code 1 and a clean message."""
    try:
        yield
    except ConfigError as err:
        lines = [f"error: {p}" for p in err.problems] + ([] if config_given else [NO_CONFIG_HINT])
        raise Failure("\n".join(lines)) from err
    except PkgcacheError as err:
        raise Failure(f"error: {err}") from err


@contextmanager
def _cache(config: str | None) -> Iterator[Any]:
    from ._api import load_cache

    with _errors(config_given=config is not None), load_cache(config) as cache:
        yield cache


def _note_if_empty(found: object, fmt: str) -> None:
    """An empty answer from an empty cache is most often a cache never filled: say so,
    on stderr, so that scripts reading stdout see the same empty output."""
    if not found and fmt == "text":
        click.echo("note: the cache is empty: `pkgcache reload` fills it from the storage", err=True)


#: the entry point group through which other distributions add commands
COMMANDS_GROUP = "pkgcache.commands"
#: commands we know of that another distribution brings: name -> that distribution
KNOWN_COMMANDS = {"serve": "pkgcache-server"}


class PluginGroup(click.Group):
    """The built-in commands plus those other distributions declare in the entry point
    group ``pkgcache.commands`` (name -> a ``click.Command``). A plugin command is
    imported only when it runs, so ``pkgcache validate`` never pays for a web server;
    a known one that is not installed says which distribution to install."""

    @staticmethod
    def _entry_points() -> dict[str, Any]:
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._entry_points()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        ep = self._entry_points().get(cmd_name)
        if ep is None:
            if cmd_name in KNOWN_COMMANDS:
                from .registry import install_advice

                raise click.UsageError(
                    f"command {cmd_name!r} is not installed: {install_advice(KNOWN_COMMANDS[cmd_name])}", ctx
                )
            return None
        try:
            loaded = ep.load()
        except Exception as err:
            raise click.ClickException(f"command {cmd_name!r} ({ep.value}) cannot be imported: {err}") from err
        if not isinstance(loaded, click.Command):
            raise click.ClickException(f"command {cmd_name!r} ({ep.value}) is not a click command")
        return loaded


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pkgcache")
def cli() -> None:
    """The metadata cache of a private Python package index."""


@cli.command()
@click.argument("files", nargs=-1)
@click.option(
    "-c", "--config", "configs", multiple=True, help="A config file, as the other commands take it (repeatable)."
)
@format_option
def validate(files: tuple[str, ...], configs: tuple[str, ...], fmt: str) -> None:
    """Check config files; report every problem as FILE:LINE: KEY: message.

    Reads the files only: nothing is connected to. `pkgcache health -c FILE`
    connects to the backend and the storage.
    """
    from .settings import load_settings

    if not files and not configs:
        raise click.UsageError("give the config files to check: pkgcache validate FILE... (or -c FILE)")
    report = []
    for file in (*configs, *files):
        try:
            settings = load_settings(file, readable=True)
        except ConfigError as err:
            report.append({"file": file, "valid": False, "problems": [p.as_dict() for p in err.problems]})
            if fmt == "text":
                for problem in err.problems:
                    click.echo(str(problem), err=True)
        else:
            report.append({"file": file, "valid": True, "settings": settings.public_dict()})
            if fmt == "text":
                click.echo(
                    f"{file}: ok (backend {settings.backend!r}, storage {settings.storage_name!r}; "
                    f"files only: `pkgcache health -c {file}` connects)"
                )
    if fmt == "json":
        _emit_json(report)
    if not all(r["valid"] for r in report):
        sys.exit(1)


@cli.command()
@click.option("--check", is_flag=True, help="Import each installed plugin and report the broken ones.")
@format_option
def backends(check: bool, fmt: str) -> None:
    """List installed backends, storages and hook plugins, and known ones not installed."""
    from .registry import BACKENDS_GROUP, STORAGES_GROUP, describe_drivers, describe_hooks

    rows = describe_drivers(BACKENDS_GROUP, check) + describe_drivers(STORAGES_GROUP, check) + describe_hooks(check)
    if fmt == "json":
        _emit_json([r.as_dict() for r in rows])
    else:
        for r in rows:
            where = f"{r.distribution} {r.version}" if r.version else (r.distribution or "?")
            extra = f"  ({r.install})" if r.install else ""
            click.echo(f"{r.kind:8} {r.name:10} {r.status:14} {where}{extra}")
    if any(r.status.startswith("broken") for r in rows):
        sys.exit(1)


@cli.command()
@click.argument("backend", required=False)
@click.option("--storage", default="file", show_default=True, help="Storage whose keys to include.")
def schema(backend: str | None, storage: str) -> None:
    """Print the JSON Schema of the settings (with BACKEND's db.* keys when given)."""
    from .settings import json_schema

    with _errors():
        _emit_json(json_schema(backend, storage))


def _share(value: str) -> float:
    """``--max-delete``: ``0.5`` or ``50%``."""
    text = value.strip()
    try:
        share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a share: give e.g. 0.5 or 50%") from None
    if not 0 <= share <= 1:
        raise click.BadParameter(f"{value!r} is not between 0 and 1 (0% and 100%)")
    return share


@cli.command()
@config_option
@click.option("--graceful/--plain", default=None, help="Reconcile in place, or replace (default: db.graceful_reload).")
@click.option("--keep", is_flag=True, help="Only add and update; remove nothing.")
@click.option("--allow-empty", is_flag=True, help="Empty the cache when the storage lists no file (refused otherwise).")
@click.option(
    "--max-delete",
    metavar="SHARE",
    default=None,
    help="Refuse to remove more than this share of the cache (0.5 or 50%); no limit by default.",
)
@format_option
def reload(
    config: str | None, graceful: bool | None, keep: bool, allow_empty: bool, max_delete: str | None, fmt: str
) -> None:
    """Rebuild the cache from storage, with a progress bar and a final count.

    Refuses (exit 1, cache untouched) when the storage cannot be read, lists no
    file while the cache has some, or would remove more than --max-delete.
    """
    share = _share(max_delete) if max_delete is not None else None
    with _cache(config) as cache:
        started = time.perf_counter()
        options = {"clear": not keep, "graceful": graceful, "allow_empty": allow_empty, "max_delete": share}
        if sys.stderr.isatty() and fmt == "text":
            total = cache.storage.count_estimate()
            with click.progressbar(length=total or 0, label="reading storage", file=sys.stderr) as bar:
                done = [0]

                def progress(n: int) -> None:
                    bar.update(n - done[0])
                    done[0] = n

                result = cache.reload_from_storage(progress=progress, **options)
        else:

            def progress(n: int) -> None:
                if n and n % 10000 == 0 and fmt == "text":
                    click.echo(f"read {n} files ({time.perf_counter() - started:.1f} s)", err=True)

            result = cache.reload_from_storage(progress=progress, **options)
    if fmt == "json":
        _emit_json(result.as_dict())
        return
    for skipped in result.skipped:
        click.echo(f"skipped {skipped}", err=True)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{'graceful' if result.graceful else 'plain'} reload: {result}")


@cli.command()
@config_option
@format_option
def health(config: str | None, fmt: str) -> None:
    """Check the backend; exit 0 when healthy, 1 when not."""
    with _cache(config) as cache:
        ok, message = cache.check_health()
    if fmt == "json":
        _emit_json({"healthy": ok, "message": message})
    else:
        click.echo(f"{'healthy' if ok else 'unhealthy'}: {message}")
    sys.exit(0 if ok else 1)


@cli.command(name="list")
@config_option
@format_option
def list_(config: str | None, fmt: str) -> None:
    """List the project names."""
    with _cache(config) as cache:
        names = cache.distinct()
    _note_if_empty(names, fmt)
    if fmt == "json":
        _emit_json(names)
    else:
        for name in names:
            click.echo(name)


@cli.command()
@click.argument("name")
@config_option
@format_option
def show(name: str, config: str | None, fmt: str) -> None:
    """Show every file of project NAME, highest version first (exit 1 when unknown)."""
    with _cache(config) as cache:
        packages = cache.all(name)
    if fmt == "json":
        _emit_json([p.to_dict() for p in packages])
    else:
        for p in packages:
            click.echo(f"{p.version}\t{p.filename}\t{p.last_modified.isoformat()}\t{p.summary or ''}")
    if not packages:
        click.echo(f"error: no project {name!r} in the cache", err=True)
        sys.exit(1)


@cli.command()
@click.argument("terms", nargs=-1, required=True)
@click.option("--all-terms", "query_type", flag_value="and", help="Every term must match.")
@click.option("--any-term", "query_type", flag_value="or", default=True, help="Any term may match (default).")
@config_option
@format_option
def search(terms: tuple[str, ...], query_type: str, config: str | None, fmt: str) -> None:
    """Find projects whose name or summary contains TERMS (case-insensitive)."""
    with _cache(config) as cache:
        if query_type == "and":
            # every term found in the project (name or summary of any of its files);
            # shown: the highest of the versions that matched
            hits = [{p.name: p for p in cache.search({"name": [t], "summary": [t]}, "or")} for t in terms]
            common = set.intersection(*(set(h) for h in hits))
            results = [max((h[n] for h in hits), key=lambda p: p.sort_key) for n in sorted(common)]
        else:
            results = cache.search({"name": list(terms), "summary": list(terms)}, "or")
    if fmt == "json":
        _emit_json([p.to_dict() for p in results])
    else:
        for p in results:
            click.echo(f"{p.name}\t{p.version}\t{p.summary or ''}")


@cli.command()
@config_option
@format_option
def summary(config: str | None, fmt: str) -> None:
    """One line per project: name, newest upload time, summary of the highest version."""
    with _cache(config) as cache:
        rows = cache.summary()
    _note_if_empty(rows, fmt)
    if fmt == "json":
        _emit_json(rows)
    else:
        for row in rows:
            click.echo(f"{row['name']}\t{row['last_modified'].isoformat()}\t{row['summary'] or ''}")


def main() -> None:
    cli(prog_name="pkgcache")
