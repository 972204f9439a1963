"""What the parsers share: resource names, number and table helpers, and the records two formats both give."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ...errors import UserError

RESOURCES = ("LUT", "FF", "DSP", "BRAM", "URAM")
BASIC_RESOURCES = ("LUT", "FF", "DSP", "BRAM")
ESTIMATE_PREFIX = "estimate"
SNIFF_CHARS = 4096  # how much of a file its kind is recognised from

_TIME_UNITS_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# Vivado "Design State" -> how far the design went (higher is later, and wins when several reports are found).
_DESIGN_STATES = {"synthesized": 1, "optimized": 2, "placed": 3, "fully placed": 3, "routed": 4, "fully routed": 4}


@dataclass(frozen=True)
class CSynth:
    """A Vivado HLS / Vitis HLS C-synthesis report (the .xml and the .rpt carry the same numbers)."""

    path: Path
    tool: str  # "Vivado HLS" or "Vitis HLS"
    version: str
    top: str
    part: str
    clock_target_ns: float
    clock_estimated_ns: float
    clock_uncertainty_ns: float | None
    latency_cycles: tuple[int | None, int | None]  # best, worst; None where the tool says undef / ?
    latency_ns: tuple[float | None, float | None]
    interval: tuple[int | None, int | None]  # min, max
    ii_target: int | None
    pipeline_type: str | None
    resources: dict[str, int]
    available: dict[str, int]


# Column / tag names of the C-synthesis reports -> ours. Vivado HLS says DSP48E, Vitis HLS says DSP.
_HLS_RESOURCE_NAMES = {"LUT": "LUT", "FF": "FF", "DSP48E": "DSP", "DSP": "DSP", "BRAM_18K": "BRAM", "URAM": "URAM"}


def hls_resources(pairs: list[tuple[str, str]]) -> dict[str, int]:
    """C-synthesis (name, count) pairs -> our resource names, in RESOURCES order."""
    return in_resource_order(
        {_HLS_RESOURCE_NAMES[name]: int(value) for name, value in pairs if name in _HLS_RESOURCE_NAMES}
    )


@dataclass(frozen=True)
class VivadoHeader:
    """The ``| Key : value`` header every Vivado text report starts with."""

    version: str | None
    design: str | None
    device: str | None
    state: str | None

    @property
    def stage_rank(self) -> int:
        return _DESIGN_STATES.get((self.state or "").lower(), 0)

    @property
    def tag(self) -> str:
        rank = self.stage_rank
        return "vivado" if rank == 0 else ("vivado_synth" if rank <= 2 else "vivado_impl")


def vivado_header(text: str) -> VivadoHeader:
    fields = dict(re.findall(r"^\|\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*?)\s*$", text[:SNIFF_CHARS], re.MULTILINE))
    version = re.search(r"v\.(\d{4}\.\d+(?:\.\d+)?)", fields.get("Tool Version", ""))
    return VivadoHeader(
        version=version.group(1) if version else None,
        design=fields.get("Design"),
        device=fields.get("Device"),
        state=fields.get("Design State"),
    )


def vivado_command(head: str) -> str:
    """The ``| Command : ...`` line of a Vivado report header ('' when there is none)."""
    command = re.search(r"^\|\s*Command\s*:\s*(.*)$", head, re.MULTILINE)
    return command.group(1) if command else ""


def unrecognised(path: Path, what: str, missing: list[str], found: list[str], version: str | None = None) -> UserError:
    tool = f" (tool version {version})" if version else ""
    return UserError(
        f"{path}: unrecognised or truncated {what}{tool}: missing {', '.join(missing)}; "
        f"found {', '.join(found) if found else 'nothing usable'}"
    )


def cycles(text: str) -> int | None:
    """A cycle count; None for the tools' 'unknown' markers (XML 'undef', rpt '?')."""
    text = text.strip()
    return None if text in ("undef", "?") else int(text)


def duration_ns(text: str) -> float | None:
    """'75.000 ns', '1.2 us', '5.00' (ns implied) -> ns; None for 'undef' / '?'."""
    text = text.strip()
    if text in ("undef", "?"):
        return None
    match = re.fullmatch(r"([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*(ns|us|ms|s)?", text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return float(match.group(1)) * _TIME_UNITS_NS[match.group(2) or "ns"]


def whole(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def in_resource_order(values: dict) -> dict:
    return {name: values[name] for name in RESOURCES if name in values}


def require_basic_resources(path: Path, what: str, resources: dict, version: str | None) -> None:
    lacking = [f"{name} usage" for name in BASIC_RESOURCES if name not in resources]
    if lacking:
        raise unrecognised(path, what, lacking, [f"{name} usage" for name in resources], version)


def pipe_tables(text: str) -> list[tuple[int, list[list[str]]]]:
    """ASCII tables (`|a|b|` rows, `+--+` rules) as (offset of their first line, rows of stripped cells)."""
    tables: list[tuple[int, list[list[str]]]] = []
    rows: list[list[str]] | None = None
    start = offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        is_row = stripped.startswith("|")
        if is_row or (stripped.startswith("+-") and stripped.endswith("+")):
            if rows is None:
                rows, start = [], offset
            if is_row:
                rows.append([cell.strip() for cell in stripped.strip("|").split("|")])
        elif rows is not None:
            tables.append((start, rows))
            rows = None
        offset += len(line)
    if rows is not None:
        tables.append((start, rows))
    return tables


def first_table_after(tables: list[tuple[int, list[list[str]]]], offset: int) -> list[list[str]] | None:
    return next((rows for start, rows in tables if start > offset and rows), None)


def read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: unreadable {what} ({err})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: {what} must be a JSON object")
    return data


def read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None
