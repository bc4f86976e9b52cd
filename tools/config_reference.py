"""Write docs/configuration-reference.md from the settings schema, so that it cannot drift.

    python tools/config_reference.py           # rewrite the page
    python tools/config_reference.py --check   # exit 1 when the page is not what the schema makes

Every key of the core, of each backend and of each storage installed (the
``json_schema`` that ``pkgcache schema`` prints), with its type, default and
description; the index server's keys come from its own model when
``pkgcache-server`` is installed. A test runs ``--check``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pkgcache.settings import json_schema

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration-reference.md"
BACKENDS = ["sql", "redis", "dynamo", "memory"]
STORAGES = ["file", "s3"]


def _type(spec: dict[str, Any]) -> str:
    if "anyOf" in spec:
        return " or ".join(_type(s) for s in spec["anyOf"] if s.get("type") != "null")
    if "enum" in spec:
        return " / ".join(f"`{v}`" for v in spec["enum"])
    if spec.get("format") == "password":
        return "secret"
    kind = spec.get("type", "")
    names = {"string": "text", "integer": "integer", "number": "number", "boolean": "boolean", "array": "words"}
    return names.get(kind, kind)


def _default(spec: dict[str, Any], required: bool) -> str:
    if required:
        return "required"
    if "default" not in spec or spec["default"] is None:
        return ""
    value = spec["default"]
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, list | dict):
        if not value:
            return ""
        value = " ".join(str(v) for v in value)
    return f"`{value}`" if value != "" else '`""`'


def _rows(properties: dict[str, Any], required: set[str], keys: list[str]) -> list[str]:
    rows = []
    for key in keys:
        spec = properties[key]
        description = " ".join(str(spec.get("description", "")).split()).replace("|", "\\|")
        rows.append(f"| `{key}` | {_type(spec)} | {_default(spec, key in required)} | {description} |")
    return rows


def _table(rows: list[str]) -> list[str]:
    return ["| key | type | default | meaning |", "|---|---|---|---|", *rows, ""]


def _server_rows() -> list[str]:
    try:
        from pkgcache_server.settings import _KEYS, ServerSettings
    except ImportError:
        return []
    schema = ServerSettings.model_json_schema()["properties"]
    fields = {field: key for key, field in _KEYS.items()}
    rows = []
    for field, spec in schema.items():
        if field == "users":  # one key per user
            key, spec = (
                "user.<name>",
                {"type": "string", "description": "The password hash of that user, as pypicloud writes it"},
            )
        else:
            key = fields.get(field, field)
        rows += _rows({key: spec}, set(), [key])
    return rows


def render() -> str:
    base = json_schema(None, "file")
    core_keys = list(base["properties"])
    lines = [
        "# Configuration reference",
        "",
        "Generated from the settings models by `python tools/config_reference.py`;",
        "a test fails when this page and the models disagree. How the keys are read",
        "(files, environment, precedence) is in [configuration.md](configuration.md);",
        "`pkgcache schema [BACKEND] [--storage NAME]` prints the same as JSON Schema.",
        "",
        "## Every configuration",
        "",
        *_table(_rows(base["properties"], set(base.get("required", [])), core_keys)),
    ]
    for backend in BACKENDS:
        schema = json_schema(backend, "file")
        keys = [k for k in schema["properties"] if k not in core_keys]
        lines += [f"## `pypi.db = {backend}`", ""]
        if keys:
            lines += _table(_rows(schema["properties"], set(schema.get("required", [])), keys))
        else:
            lines += ["No keys of its own.", ""]
    for storage in STORAGES:
        schema = json_schema(None, storage)
        keys = [k for k in schema["properties"] if k.startswith("storage.")]
        lines += [f"## `pypi.storage = {storage}`", ""]
        lines += _table(_rows(schema["properties"], set(schema.get("required", [])), keys))
    server = _server_rows()
    if server:
        lines += ["## `pkgcache serve`", "", "Read from the same section by the index server.", "", *_table(server)]
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not PAGE.is_file() or PAGE.read_text("utf-8") != text:
            print(f"{PAGE} is out of date: run python tools/config_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
