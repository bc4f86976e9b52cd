"""Reading configuration keys, and where each came from.

Every reader returns ``{key: Value}``, the value as read plus its file and
line, so that a validation error can point at the exact line. Readers for:
INI (pypicloud's own format: section ``[app:main]`` or ``[pkgcache]``,
``%(here)s``), TOML (table ``[pkgcache]``), the environment (``PKGCACHE_*``
and pypicloud's ``PPC_*``) and plain mappings.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import ConfigError, Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["Value", "read_env", "read_file", "read_mapping"]

INI_SECTIONS = ("app:main", "pkgcache")  # later wins
ENV_PREFIXES = ("PPC_", "PKGCACHE_")  # later wins


@dataclass(frozen=True)
class Value:
    """A configuration value and where it was read."""

    value: Any
    file: str | None = None
    line: int | None = None


def read_mapping(values: Mapping[str, Any], origin: str | None = None) -> dict[str, Value]:
    return {str(k): Value(v, origin) for k, v in values.items()}


def read_env(environ: Mapping[str, str]) -> dict[str, Value]:
    """``PKGCACHE_DB_URL`` -> ``db.url``: the first word is the key's namespace."""
    found: dict[str, Value] = {}
    for prefix in ENV_PREFIXES:
        for name, value in environ.items():
            if not name.startswith(prefix) or len(name) == len(prefix):
                continue
            namespace, _, rest = name[len(prefix) :].lower().partition("_")
            key = f"{namespace}.{rest}" if rest else namespace
            found[key] = Value(value, f"environment variable {name}")
    return found


def read_file(path: str | os.PathLike[str]) -> dict[str, Value]:
    """Keys of an INI or TOML file (by suffix: ``.toml`` is TOML, anything else INI)."""
    p = Path(path)
    shown = str(path)
    try:
        text = p.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(Problem(None, "no such file; give the path of an INI or TOML config file", shown)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(Problem(None, f"cannot read the file: {err}", shown)) from err
    if p.suffix.lower() == ".toml":
        return _read_toml(text, shown)
    return _read_ini(text, shown, p.resolve().parent)


def _ini_lines(text: str) -> dict[tuple[str, str], int]:
    """(section, key) -> line number, for pointing at errors."""
    lines: dict[tuple[str, str], int] = {}
    section = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
        elif stripped and not stripped.startswith(("#", ";")) and not line[0].isspace():
            key = re.split(r"[=:]", stripped, maxsplit=1)[0].strip().lower()
            lines.setdefault((section, key), number)
    return lines


def _parse_error(err: configparser.Error) -> tuple[str, int | None]:
    """What is wrong with an INI file that cannot be parsed, and on which line."""
    if isinstance(err, configparser.MissingSectionHeaderError):
        return "a key before any [section]: put [app:main] (or [pkgcache]) above it", err.lineno
    if isinstance(err, configparser.ParsingError):
        line = err.errors[0][0] if getattr(err, "errors", None) else getattr(err, "lineno", None)
        return "this line is neither a [section] header nor key = value", line
    if isinstance(err, configparser.DuplicateOptionError):
        return f"key {err.option!r} appears twice in [{err.section}]: keep one", err.lineno
    if isinstance(err, configparser.DuplicateSectionError):
        return f"section [{err.section}] appears twice: merge them", err.lineno
    return str(err.message).splitlines()[0], getattr(err, "lineno", None)


def _interpolation_message(err: configparser.InterpolationError) -> str:
    if isinstance(err, configparser.InterpolationMissingOptionError):
        return (
            f"bad %(...)s interpolation: %({err.reference})s is unknown; "
            "use %(here)s, a key of the section, or %% for a literal %"
        )
    if isinstance(err, configparser.InterpolationDepthError):
        return "%(...)s references nest too deep or loop: a key cannot refer to itself, even through others"
    return "bad %(...)s interpolation: write a literal % as %% (and %(key)s to use another key)"


def _read_ini(text: str, shown: str, here: Path) -> dict[str, Value]:
    folder = str(here).replace("%", "%%")  # a % in the folder's name is not an interpolation
    defaults = {"here": folder, "__file__": folder}
    parser = configparser.ConfigParser(defaults=defaults, interpolation=configparser.BasicInterpolation())
    try:
        parser.read_string(text, source=shown)
    except configparser.Error as err:
        message, line = _parse_error(err)
        raise ConfigError(Problem(None, f"malformed INI file: {message}", shown, line)) from None
    sections = [s for s in INI_SECTIONS if parser.has_section(s)]
    if not sections:
        raise ConfigError(
            Problem(None, "no [app:main] or [pkgcache] section: put the pkgcache keys in one of them", shown)
        )
    lines = _ini_lines(text)
    found: dict[str, Value] = {}
    problems: list[Problem] = []
    for section in sections:
        for key in parser.options(section):
            if key in defaults and not any(key == k for (s, k) in lines if s == section):
                continue  # our own %(here)s helpers, not keys of the file
            line = lines.get((section, key))
            try:
                value = parser.get(section, key)
            except configparser.InterpolationError as err:
                problems.append(Problem(key, _interpolation_message(err), shown, line))
                continue
            found[key] = Value(value, shown, line)
    if problems:
        raise ConfigError(problems)
    return found


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _toml_line(lines: list[str], key: str) -> int | None:
    last = key.rpartition(".")[2]
    for candidate in (f'"{key}"', f"'{key}'", key, last):
        pattern = re.compile(rf"^\s*{re.escape(candidate)}\s*=")
        for number, line in enumerate(lines, 1):
            if pattern.match(line):
                return number
    return None


def _read_toml(text: str, shown: str) -> dict[str, Value]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"at line (\d+)", str(err))
        raise ConfigError(
            Problem(None, f"malformed TOML file: {err}", shown, int(match[1]) if match else None)
        ) from err
    table = data.get("pkgcache")
    if not isinstance(table, dict):
        raise ConfigError(Problem(None, 'no [pkgcache] table: put the keys under it, as "db.url" = "..."', shown))
    lines = text.splitlines()
    return {key: Value(value, shown, _toml_line(lines, key)) for key, value in _flatten(table).items()}
