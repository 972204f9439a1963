"""Writing the TOML configs trigcomp reads (codec and model configs); reading is ``tomllib``'s job.

Python's standard library reads TOML but does not write it; the configs are plain (scalars, arrays, tables, arrays of
tables), so a few lines cover them. ``None`` values are left out (TOML has no null).
"""

from __future__ import annotations

import json
import math
from typing import Any


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML config values must be finite, got {value}")
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # TOML basic strings share JSON's escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, dict) for v in value)


def _table(raw: dict[str, Any], prefix: str) -> list[str]:
    lines = [
        f"{k} = {_value(v)}"
        for k, v in raw.items()
        if v is not None and not isinstance(v, dict) and not _is_table_array(v)
    ]
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            lines += ["", f"[{name}]"] + _table(value, f"{name}.")
        elif _is_table_array(value):
            for item in value:
                lines += ["", f"[[{name}]]"] + _table(item, f"{name}.")
    return lines


def dumps(raw: dict[str, Any], comment: str = "") -> str:
    """``raw`` as TOML text, preceded by ``comment`` as # lines."""
    lines = [f"# {line}".rstrip() for line in comment.splitlines()] + _table(raw, "")
    return "\n".join(lines) + "\n"
