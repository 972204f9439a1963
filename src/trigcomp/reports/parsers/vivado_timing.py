"""Vivado ``report_timing_summary`` reports: worst slacks and, for a one-clock design, the achieved period."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ...errors import UserError
from .common import VivadoHeader, read_text, unrecognised, vivado_command, vivado_header

KIND = "timing"


@dataclass(frozen=True)
class Timing:
    path: Path
    header: VivadoHeader
    slacks: dict[str, float | None]  # wns_ns, tns_ns, whs_ns, ths_ns; None for "inf" (no constrained path)
    clock: str | None
    clock_period_ns: float | None

    @property
    def tag(self) -> str:
        return f"{self.header.tag}_timing"

    @property
    def achieved_period_ns(self) -> float | None:
        wns = self.slacks.get("wns_ns")
        return None if wns is None or self.clock_period_ns is None else self.clock_period_ns - wns

    def to_json(self) -> dict:
        wns, whs = self.slacks.get("wns_ns"), self.slacks.get("whs_ns")
        return {
            **self.slacks,
            "clock": self.clock,
            "clock_period_ns": self.clock_period_ns,
            "met": None if wns is None else wns >= 0 and (whs is None or whs >= 0),
            "design_state": self.header.state,
            "file": str(self.path),
        }


def sniff(path: Path, head: str) -> bool:
    return "report_timing_summary" in vivado_command(head) or "Timing Summary Report" in head


def _slack(text: str) -> float | None:
    return None if text.lower() == "inf" else float(text)


def parse(path: Path) -> Timing:
    text = read_text(path)
    header = vivado_header(text)
    lines = text.splitlines()
    summary_at = next((i for i, line in enumerate(lines) if "Design Timing Summary" in line), None)
    names_at = None
    if summary_at is not None:
        names_at = next((i for i in range(summary_at, min(summary_at + 12, len(lines))) if "WNS(ns)" in lines[i]), None)
    values = lines[names_at + 2].split() if names_at is not None and names_at + 2 < len(lines) else []
    names = re.split(r"\s{2,}", lines[names_at].strip()) if names_at is not None else []
    if not names or len(values) != len(names):
        found = ["Design Timing Summary"] if summary_at is not None else []
        raise unrecognised(path, "Vivado timing summary", ["the Design Timing Summary values"], found, header.version)
    summary = dict(zip(names, values))
    try:
        slacks = {
            key: _slack(summary[column]) if column in summary else None
            for key, column in (
                ("wns_ns", "WNS(ns)"),
                ("tns_ns", "TNS(ns)"),
                ("whs_ns", "WHS(ns)"),
                ("ths_ns", "THS(ns)"),
            )
        }
    except ValueError as err:
        raise UserError(f"{path}: unreadable slack in Vivado timing summary ({err})") from None
    # Clock Summary rows: "name  {rise fall}  period  frequency"; generated clocks are indented under their source
    clocks = {}
    clock_at = next((i for i, line in enumerate(lines) if "| Clock Summary" in line), None)
    for line in lines[clock_at + 1 :] if clock_at is not None else []:
        if line.startswith("| ") and clocks:
            break
        match = re.match(r"^(\S+)\s+\{[^}]*\}\s+([0-9.]+)\s", line)
        if match:
            clocks[match.group(1)] = float(match.group(2))
    # WNS is the design's worst slack: it gives an achieved period only when the design has one clock
    clock, period = next(iter(clocks.items())) if len(clocks) == 1 else (None, None)
    return Timing(path=path, header=header, slacks=slacks, clock=clock, clock_period_ns=period)
