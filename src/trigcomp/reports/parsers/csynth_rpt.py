"""Vivado HLS / Vitis HLS C-synthesis text reports (``<top>_csynth.rpt``), 2018.2 and 2019.2-on layouts."""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import UserError
from .common import (
    CSynth,
    cycles,
    duration_ns,
    first_table_after,
    hls_resources,
    pipe_tables,
    read_text,
    require_basic_resources,
    unrecognised,
)

KIND = "csynth"

_TITLE = re.compile(r"^== (Vivado|Vitis) HLS Report for '([^']+)'", re.MULTILINE)
_WHAT = "C-synthesis text report"


def sniff(path: Path, head: str) -> bool:
    return _TITLE.search(head) is not None


def _field(text: str, name: str) -> str | None:
    match = re.search(rf"^\* {re.escape(name)}:\s*(\S+)", text, re.MULTILINE)
    return match.group(1) if match else None


def parse(path: Path) -> CSynth:
    text = read_text(path)
    title = _TITLE.search(text)
    version = _field(text, "Version")
    part = _field(text, "Target device")
    tables = pipe_tables(text)
    timing_at = re.search(r"^\+ Timing", text, re.MULTILINE)
    latency_at = re.search(r"^\+ Latency", text, re.MULTILINE)
    utilization_at = text.find("== Utilization Estimates")
    timing = first_table_after(tables, timing_at.start()) if timing_at else None
    latency = first_table_after(tables, latency_at.start()) if latency_at else None
    utilization = first_table_after(tables, utilization_at) if utilization_at >= 0 else None
    usage = {row[0]: row for row in utilization or []}
    pieces = {
        "report title": title,
        "* Version": version,
        "* Target device": part,
        "timing summary": timing and len(timing) >= 2 and len(timing[1]) == 4,
        "latency summary": latency and len(latency[-1]) in (5, 7),
        "utilization summary": "Name" in usage and "Total" in usage and "Available" in usage,
    }
    missing = [name for name, ok in pieces.items() if not ok]
    if missing:
        raise unrecognised(path, _WHAT, missing, [n for n, ok in pieces.items() if ok], version)
    try:
        _clock, target, estimated, uncertainty = timing[1]
        row = latency[-1]
        cycle_counts = (cycles(row[0]), cycles(row[1]))
        clock_target = duration_ns(target)
        if len(row) == 7:  # 2019.2 on: cycles, absolute latency, interval, pipeline type
            latency_ns = (duration_ns(row[2]), duration_ns(row[3]))
            interval = (cycles(row[4]), cycles(row[5]))
        else:  # 2018.2: cycles, interval, pipeline type
            latency_ns = tuple(None if n is None else n * clock_target for n in cycle_counts)
            interval = (cycles(row[2]), cycles(row[3]))
        columns = usage["Name"]
        if any(len(usage[name]) != len(columns) for name in ("Total", "Available")):
            raise unrecognised(path, _WHAT, ["complete utilization rows"], columns, version)
        resources = hls_resources(list(zip(columns[1:], usage["Total"][1:])))
        available = hls_resources(list(zip(columns[1:], usage["Available"][1:])))
        require_basic_resources(path, _WHAT, resources, version)
        return CSynth(
            path=path,
            tool=f"{title.group(1)} HLS",
            version=version,
            top=title.group(2),
            part=part,
            clock_target_ns=clock_target,
            clock_estimated_ns=duration_ns(estimated),
            clock_uncertainty_ns=duration_ns(uncertainty),
            latency_cycles=cycle_counts,
            latency_ns=latency_ns,
            interval=interval,
            ii_target=None,  # the text report does not state the target II
            pipeline_type=row[-1],
            resources=resources,
            available=available,
        )
    except ValueError as err:
        raise UserError(f"{path}: unreadable number in {_WHAT} ({err})") from None
