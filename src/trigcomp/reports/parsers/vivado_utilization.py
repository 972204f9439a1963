"""Vivado ``report_utilization`` reports (flat; post-synthesis or post-implementation, 7-series and
UltraScale(+) row names). BRAM is converted to 18 Kb blocks (a "Block RAM Tile" is two of them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import UserError
from .common import (
    BASIC_RESOURCES,
    VivadoHeader,
    in_resource_order,
    pipe_tables,
    read_text,
    unrecognised,
    vivado_command,
    vivado_header,
    whole,
)

KIND = "utilization"

# Site types -> ours (7-series names, then UltraScale(+) names); matched on the row name because section numbers
# shift between synthesized and placed reports.
_ROWS = {
    "Slice LUTs": "LUT",
    "CLB LUTs": "LUT",
    "Slice Registers": "FF",
    "CLB Registers": "FF",
    "DSPs": "DSP",
    "Block RAM Tile": "BRAM",
    "URAM": "URAM",
}
_BRAM18_PER_TILE = 2  # a Block RAM Tile is one 36 Kb block = two 18 Kb blocks


@dataclass(frozen=True)
class Utilization:
    path: Path
    header: VivadoHeader
    resources: dict[str, int | float]
    available: dict[str, int | float]


def _is_utilization(head: str) -> bool:
    return "report_utilization" in vivado_command(head) or "Utilization Design Information" in head


def is_hierarchical(head: str) -> bool:
    """A ``report_utilization -hierarchical`` report: per-instance rows, not read (the flat report is)."""
    return _is_utilization(head) and "-hierarchical" in vivado_command(head)


def sniff(path: Path, head: str) -> bool:
    return _is_utilization(head) and not is_hierarchical(head)


def parse(path: Path) -> Utilization:
    text = read_text(path)
    header = vivado_header(text)
    used: dict[str, float] = {}
    available: dict[str, float] = {}
    site_types: list[str] = []
    try:
        for _start, rows in pipe_tables(text):
            if not rows or rows[0][0] != "Site Type" or "Used" not in rows[0] or "Available" not in rows[0]:
                continue
            used_at, available_at = rows[0].index("Used"), rows[0].index("Available")
            for row in rows[1:]:
                name = row[0].rstrip("*").strip()
                site_types.append(name)
                resource = _ROWS.get(name)
                if resource is None or resource in used or len(row) != len(rows[0]):
                    continue
                scale = _BRAM18_PER_TILE if resource == "BRAM" else 1
                used[resource] = float(row[used_at]) * scale
                if row[available_at]:
                    available[resource] = float(row[available_at]) * scale
    except ValueError as err:
        raise UserError(f"{path}: unreadable number in Vivado utilization report ({err})") from None
    missing = [name for name in BASIC_RESOURCES if name not in used]
    if missing:
        found = [f"{name} rows" for name in used] or [f"site types {', '.join(site_types[:8]) or 'none'}"]
        raise unrecognised(
            path, "Vivado utilization report", [f"{name} row" for name in missing], found, header.version
        )
    return Utilization(
        path=path,
        header=header,
        resources=in_resource_order({name: whole(value) for name, value in used.items()}),
        available=in_resource_order({name: whole(value) for name, value in available.items()}),
    )
