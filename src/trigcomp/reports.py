"""Latency and resource reports, checked against budgets (``trigcomp report``).

What is read
------------
``read_report(PATH)`` takes a generated project (a directory with ``trigcomp.json``), any directory holding
reports, or a single report file, and reads:

* Vivado HLS / Vitis HLS C-synthesis reports, ``*_csynth.xml`` (preferred) or ``*_csynth.rpt``: latency
  best/worst in cycles and ns, initiation interval (II), target/estimated clock, HLS resource estimates and the
  device's available resources;
* Vivado ``report_utilization`` reports (post-synthesis or post-implementation, 7-series and UltraScale(+) row
  names): LUT/FF/DSP/BRAM/URAM used and available. When present they win for the resource numbers; the HLS
  estimates stay in the JSON under ``resources_by_source``;
* Vivado ``report_timing_summary`` reports: worst slacks; the achieved clock period (period - WNS) then replaces
  the HLS clock estimate;
* ``estimate.json`` written by the open RTL path (``trigcomp rtl``): used for whatever no vendor report gives, and
  always labelled as an estimate (``source`` starts with ``estimate``), never as a synthesis result.

BRAM is counted in 18 Kb blocks everywhere (a Vivado "Block RAM Tile" is two of them). Percentages are of the
device totals: ``--board``'s when given, else the report's own available resources, else the project's board.

``source`` (and ``latency_from``, ``resources_from``, ...) name what each number comes from, "+"-joined, vendor
reports first: ``csynth`` (Vivado/Vitis HLS C synthesis), ``vivado_synth`` / ``vivado_impl`` (report_utilization
after synthesis / after placement or routing), the same with ``_timing`` (report_timing_summary), and the estimate's
own source (``estimate:da4ml``, ``estimate:yosys+da4ml``). ``result_json`` adds ``within_budget`` (null without a
budget) and the budget rows to ``SynthesisReport.to_json()``.

Budget files
------------
A budget is a TOML file (or a preset shipped in ``trigcomp/budgets/``, see ``budget_presets()``) with an optional
``description`` and one ``[limits]`` table. Every limit is an upper bound (value <= limit)::

    description = "what the budget is for"

    [limits]
    latency_ns = 50        # worst-case latency, ns (a number; the unit is in the key's name)
    latency_cycles = 10    # worst-case latency, clock cycles (whole number)
    ii = 1                 # initiation interval, clock cycles (whole number)
    clock_ns = 5.0         # estimated (HLS) or achieved (Vivado timing) clock period, ns
    LUT = "1%"             # resources LUT, FF, DSP, BRAM (18 Kb blocks), URAM: a count (DSP = 0)
    DSP = 0                #   or a percentage of the device as a string ("1%")

Resource keys are case-insensitive. ``check_budget`` gives one row per limit (value, limit, margin = limit - value,
passed); a quantity the reports do not give fails its row.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib import resources as package_files
from pathlib import Path

from .boards import Board, board_for_part, get_board
from .errors import UserError

RESOURCES = ("LUT", "FF", "DSP", "BRAM", "URAM")

# Column / tag names of the C-synthesis reports -> ours. Vivado HLS says DSP48E, Vitis HLS says DSP.
_HLS_RESOURCE_NAMES = {"LUT": "LUT", "FF": "FF", "DSP48E": "DSP", "DSP": "DSP", "BRAM_18K": "BRAM", "URAM": "URAM"}

# Site types of Vivado report_utilization -> ours (7-series names, then UltraScale(+) names); matched on the row
# name because section numbers shift between synthesized and placed reports.
_UTILIZATION_ROWS = {
    "Slice LUTs": "LUT",
    "CLB LUTs": "LUT",
    "Slice Registers": "FF",
    "CLB Registers": "FF",
    "DSPs": "DSP",
    "Block RAM Tile": "BRAM",
    "URAM": "URAM",
}
_BRAM18_PER_TILE = 2  # a Block RAM Tile is one 36 Kb block = two 18 Kb blocks

# Vivado "Design State" -> how far the design went (higher is later, and wins when several reports are found).
_DESIGN_STATES = {"synthesized": 1, "optimized": 2, "placed": 3, "fully placed": 3, "routed": 4, "fully routed": 4}

_UNSET_II = 2**32 - 1  # TargetInitiationInterval sentinel for "no target II" (Vivado HLS 2018.2, Vitis 2022.2)
_TIME_UNITS_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
_MANIFEST_KEYS = ("kind", "part", "clock_ns", "board", "project_name")
_ESTIMATE_PREFIX = "estimate"
_SNIFF_CHARS = 4096


# ---------------------------------------------------------------------------------------------------------------
# What each kind of report gives (internal records)


@dataclass(frozen=True)
class _CSynth:
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


@dataclass(frozen=True)
class _VivadoHeader:
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


@dataclass(frozen=True)
class _Utilization:
    path: Path
    header: _VivadoHeader
    resources: dict[str, int | float]
    available: dict[str, int | float]


@dataclass(frozen=True)
class _Timing:
    path: Path
    header: _VivadoHeader
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


@dataclass(frozen=True)
class _Estimate:
    path: Path
    source: str
    clock_ns: float
    latency_cycles: tuple[int, int]
    latency_ns: float
    ii: int
    resources: dict[str, int | float]
    part: str | None
    note: str | None


# ---------------------------------------------------------------------------------------------------------------
# The combined report


@dataclass(frozen=True)
class SynthesisReport:
    """Latency, clock and resources of one design, with where each number comes from."""

    source: str  # "+"-joined contributors, e.g. "csynth+vivado_synth" or "estimate:da4ml"
    tool: str | None
    tool_version: str | None
    top: str | None
    part: str | None
    clock_target_ns: float | None
    clock_estimated_ns: float | None
    clock_estimated_from: str | None
    clock_uncertainty_ns: float | None
    latency_cycles_best: int | None
    latency_cycles_worst: int | None
    latency_ns_best: float | None
    latency_ns: float | None  # worst case: the number budgets are checked against
    latency_from: str | None
    ii: int | None  # worst-case initiation interval (Interval-max)
    interval_min: int | None
    ii_target: int | None
    pipeline_type: str | None
    resources: dict[str, int | float]
    resources_from: str | None
    resources_by_source: dict[str, dict[str, int | float]]
    resources_available: dict[str, int | float]
    resources_available_from: dict[str, str]
    timing: dict | None
    files: tuple[dict, ...]
    warnings: tuple[str, ...] = ()
    note: str | None = None

    @property
    def is_estimate(self) -> bool:
        return self.source.startswith(_ESTIMATE_PREFIX)

    @property
    def resources_percent(self) -> dict[str, float]:
        return {
            name: 100.0 * used / self.resources_available[name]
            for name, used in self.resources.items()
            if self.resources_available.get(name)
        }

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "estimate": self.is_estimate,
            "tool": self.tool,
            "tool_version": self.tool_version,
            "top": self.top,
            "part": self.part,
            "clock": {
                "target_ns": self.clock_target_ns,
                "estimated_ns": self.clock_estimated_ns,
                "estimated_from": self.clock_estimated_from,
                "uncertainty_ns": self.clock_uncertainty_ns,
            },
            "latency_cycles": {"best": self.latency_cycles_best, "worst": self.latency_cycles_worst},
            "latency_ns": self.latency_ns,
            "latency_ns_best": self.latency_ns_best,
            "latency_from": self.latency_from,
            "ii": self.ii,
            "ii_target": self.ii_target,
            "interval": {"min": self.interval_min, "max": self.ii},
            "pipeline_type": self.pipeline_type,
            "resources": dict(self.resources),
            "resources_from": self.resources_from,
            "resources_by_source": {name: dict(values) for name, values in self.resources_by_source.items()},
            "resources_available": dict(self.resources_available),
            "resources_available_from": dict(self.resources_available_from),
            "resources_percent": {name: round(pct, 4) for name, pct in self.resources_percent.items()},
            "timing": self.timing,
            "files": [dict(entry) for entry in self.files],
            "warnings": list(self.warnings),
            "note": self.note,
        }


# ---------------------------------------------------------------------------------------------------------------
# Small parsing helpers


def _unrecognised(path: Path, what: str, missing: list[str], found: list[str], version: str | None = None) -> UserError:
    tool = f" (tool version {version})" if version else ""
    return UserError(
        f"{path}: unrecognised or truncated {what}{tool}: missing {', '.join(missing)}; "
        f"found {', '.join(found) if found else 'nothing usable'}"
    )


def _cycles(text: str) -> int | None:
    """A cycle count; None for the tools' 'unknown' markers (XML 'undef', rpt '?')."""
    text = text.strip()
    return None if text in ("undef", "?") else int(text)


def _duration_ns(text: str) -> float | None:
    """'75.000 ns', '1.2 us', '5.00' (ns implied) -> ns; None for 'undef' / '?'."""
    text = text.strip()
    if text in ("undef", "?"):
        return None
    match = re.fullmatch(r"([-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*(ns|us|ms|s)?", text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return float(match.group(1)) * _TIME_UNITS_NS[match.group(2) or "ns"]


def _whole(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _pipe_tables(text: str) -> list[tuple[int, list[list[str]]]]:
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


def _first_table_after(tables: list[tuple[int, list[list[str]]]], offset: int) -> list[list[str]] | None:
    return next((rows for start, rows in tables if start > offset and rows), None)


# ---------------------------------------------------------------------------------------------------------------
# C-synthesis reports
#
# hls4ml 1.3.0 has readers for these (hls4ml.report.parse_vivado_report / read_vivado_report) but they do not fit
# here: they only read a complete hls4ml project (project.tcl + <name>_prj/vivado_hls.app or hls.app, first
# solution only, fixed file names), so not a report directory or a single file; they print to stdout and return
# None or raise IndexError/AttributeError instead of saying what is wrong; they read Vivado's "Block RAM Tile"
# (36 Kb) as BRAM_18K; and they do not give part, tool version, real-time latency, clock uncertainty, pipeline
# type, the unset-II sentinel nor the .rpt text format. We keep their naming choice (DSP48E -> DSP) and
# tests/test_reports.py checks that both readers agree on every number hls4ml does give.

_XML_REQUIRED = {
    "version": "ReportVersion/Version",
    "part": "UserAssignments/Part",
    "top": "UserAssignments/TopModelName",
    "clock_target": "UserAssignments/TargetClockPeriod",
    "clock_estimated": "PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod",
    "latency_best": "PerformanceEstimates/SummaryOfOverallLatency/Best-caseLatency",
    "latency_worst": "PerformanceEstimates/SummaryOfOverallLatency/Worst-caseLatency",
    "interval_min": "PerformanceEstimates/SummaryOfOverallLatency/Interval-min",
    "interval_max": "PerformanceEstimates/SummaryOfOverallLatency/Interval-max",
    "resources": "AreaEstimates/Resources",
    "available": "AreaEstimates/AvailableResources",
}
_BASIC_RESOURCES = ("LUT", "FF", "DSP", "BRAM")


def _in_resource_order(values: dict) -> dict:
    return {name: values[name] for name in RESOURCES if name in values}


def _hls_resources(pairs: list[tuple[str, str]]) -> dict[str, int]:
    return _in_resource_order(
        {_HLS_RESOURCE_NAMES[name]: int(value) for name, value in pairs if name in _HLS_RESOURCE_NAMES}
    )


def _require_basic_resources(path: Path, what: str, resources: dict, version: str | None) -> None:
    lacking = [f"{name} usage" for name in _BASIC_RESOURCES if name not in resources]
    if lacking:
        raise _unrecognised(path, what, lacking, [f"{name} usage" for name in resources], version)


def _read_csynth_xml(path: Path) -> _CSynth:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise UserError(f"{path}: malformed XML ({err}); is the report truncated?") from None
    nodes = {key: root.find(xpath) for key, xpath in _XML_REQUIRED.items()}
    leaves = {key: (node.text or "").strip() for key, node in nodes.items() if node is not None and len(node) == 0}
    found = [xpath for key, xpath in _XML_REQUIRED.items() if nodes[key] is not None]
    missing = [xpath for key, xpath in _XML_REQUIRED.items() if nodes[key] is None]
    version = leaves.get("version") or None
    if root.tag != "profile" or missing:
        if not found:
            found = [f"<{root.tag}> with " + ", ".join(f"<{child.tag}>" for child in root)]
        raise _unrecognised(path, "C-synthesis XML report", missing, found, version)

    def text(xpath: str) -> str | None:
        node = root.find(xpath)
        return None if node is None or node.text is None else node.text.strip()

    latency = "PerformanceEstimates/SummaryOfOverallLatency/"
    try:
        resources = _hls_resources([(child.tag, child.text or "") for child in nodes["resources"]])
        available = _hls_resources([(child.tag, child.text or "") for child in nodes["available"]])
        _require_basic_resources(path, "C-synthesis XML report", resources, version)
        clock_target = float(leaves["clock_target"])
        cycles = (_cycles(leaves["latency_best"]), _cycles(leaves["latency_worst"]))
        real_time = [text(latency + f"{case}-caseRealTimeLatency") for case in ("Best", "Worst")]
        uncertainty = text("UserAssignments/ClockUncertainty")
        ii_target = text("UserAssignments/TargetInitiationInterval")
        return _CSynth(
            path=path,
            # Only Vitis HLS writes <FlowTarget> and names the DSP tag plain "DSP"
            tool="Vitis HLS"
            if root.find("UserAssignments/FlowTarget") is not None or nodes["resources"].find("DSP") is not None
            else "Vivado HLS",
            version=version,
            top=leaves["top"],
            part=leaves["part"],
            clock_target_ns=clock_target,
            clock_estimated_ns=float(leaves["clock_estimated"]),
            clock_uncertainty_ns=None if uncertainty is None else float(uncertainty),
            latency_cycles=cycles,
            # 2018.2 has no real-time latency: it is cycles x target clock, as later versions compute it
            latency_ns=tuple(
                _duration_ns(rt) if rt is not None else (None if n is None else n * clock_target)
                for rt, n in zip(real_time, cycles)
            ),
            interval=(_cycles(leaves["interval_min"]), _cycles(leaves["interval_max"])),
            ii_target=None if ii_target is None or int(ii_target) == _UNSET_II else int(ii_target),
            pipeline_type=text("PerformanceEstimates/PipelineType"),
            resources=resources,
            available=available,
        )
    except ValueError as err:
        raise UserError(f"{path}: unreadable number in C-synthesis XML report ({err})") from None


_RPT_TITLE = re.compile(r"^== (Vivado|Vitis) HLS Report for '([^']+)'", re.MULTILINE)


def _rpt_field(text: str, name: str) -> str | None:
    match = re.search(rf"^\* {re.escape(name)}:\s*(\S+)", text, re.MULTILINE)
    return match.group(1) if match else None


def _read_csynth_rpt(path: Path, text: str) -> _CSynth:
    title = _RPT_TITLE.search(text)
    version = _rpt_field(text, "Version")
    part = _rpt_field(text, "Target device")
    tables = _pipe_tables(text)
    timing_at = re.search(r"^\+ Timing", text, re.MULTILINE)
    latency_at = re.search(r"^\+ Latency", text, re.MULTILINE)
    utilization_at = text.find("== Utilization Estimates")
    timing = _first_table_after(tables, timing_at.start()) if timing_at else None
    latency = _first_table_after(tables, latency_at.start()) if latency_at else None
    utilization = _first_table_after(tables, utilization_at) if utilization_at >= 0 else None
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
        raise _unrecognised(path, "C-synthesis text report", missing, [n for n, ok in pieces.items() if ok], version)
    try:
        _clock, target, estimated, uncertainty = timing[1]
        row = latency[-1]
        cycles = (_cycles(row[0]), _cycles(row[1]))
        clock_target = _duration_ns(target)
        if len(row) == 7:  # 2019.2 on: cycles, absolute latency, interval, pipeline type
            latency_ns = (_duration_ns(row[2]), _duration_ns(row[3]))
            interval = (_cycles(row[4]), _cycles(row[5]))
        else:  # 2018.2: cycles, interval, pipeline type
            latency_ns = tuple(None if n is None else n * clock_target for n in cycles)
            interval = (_cycles(row[2]), _cycles(row[3]))
        columns = usage["Name"]
        if any(len(usage[name]) != len(columns) for name in ("Total", "Available")):
            raise _unrecognised(path, "C-synthesis text report", ["complete utilization rows"], columns, version)
        resources = _hls_resources(list(zip(columns[1:], usage["Total"][1:])))
        available = _hls_resources(list(zip(columns[1:], usage["Available"][1:])))
        _require_basic_resources(path, "C-synthesis text report", resources, version)
        return _CSynth(
            path=path,
            tool=f"{title.group(1)} HLS",
            version=version,
            top=title.group(2),
            part=part,
            clock_target_ns=clock_target,
            clock_estimated_ns=_duration_ns(estimated),
            clock_uncertainty_ns=_duration_ns(uncertainty),
            latency_cycles=cycles,
            latency_ns=latency_ns,
            interval=interval,
            ii_target=None,  # the text report does not state the target II
            pipeline_type=row[-1],
            resources=resources,
            available=available,
        )
    except ValueError as err:
        raise UserError(f"{path}: unreadable number in C-synthesis text report ({err})") from None


# ---------------------------------------------------------------------------------------------------------------
# Vivado utilization and timing reports


def _vivado_header(text: str) -> _VivadoHeader:
    fields = dict(re.findall(r"^\|\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*?)\s*$", text[:_SNIFF_CHARS], re.MULTILINE))
    version = re.search(r"v\.(\d{4}\.\d+(?:\.\d+)?)", fields.get("Tool Version", ""))
    return _VivadoHeader(
        version=version.group(1) if version else None,
        design=fields.get("Design"),
        device=fields.get("Device"),
        state=fields.get("Design State"),
    )


def _read_utilization(path: Path, text: str) -> _Utilization:
    header = _vivado_header(text)
    used: dict[str, float] = {}
    available: dict[str, float] = {}
    site_types: list[str] = []
    try:
        for _start, rows in _pipe_tables(text):
            if not rows or rows[0][0] != "Site Type" or "Used" not in rows[0] or "Available" not in rows[0]:
                continue
            used_at, available_at = rows[0].index("Used"), rows[0].index("Available")
            for row in rows[1:]:
                name = row[0].rstrip("*").strip()
                site_types.append(name)
                resource = _UTILIZATION_ROWS.get(name)
                if resource is None or resource in used or len(row) != len(rows[0]):
                    continue
                scale = _BRAM18_PER_TILE if resource == "BRAM" else 1
                used[resource] = float(row[used_at]) * scale
                if row[available_at]:
                    available[resource] = float(row[available_at]) * scale
    except ValueError as err:
        raise UserError(f"{path}: unreadable number in Vivado utilization report ({err})") from None
    missing = [name for name in _BASIC_RESOURCES if name not in used]
    if missing:
        found = [f"{name} rows" for name in used] or [f"site types {', '.join(site_types[:8]) or 'none'}"]
        raise _unrecognised(
            path, "Vivado utilization report", [f"{name} row" for name in missing], found, header.version
        )
    return _Utilization(
        path=path,
        header=header,
        resources=_in_resource_order({name: _whole(value) for name, value in used.items()}),
        available=_in_resource_order({name: _whole(value) for name, value in available.items()}),
    )


def _slack(text: str) -> float | None:
    return None if text.lower() == "inf" else float(text)


def _read_timing(path: Path, text: str) -> _Timing:
    header = _vivado_header(text)
    lines = text.splitlines()
    summary_at = next((i for i, line in enumerate(lines) if "Design Timing Summary" in line), None)
    names_at = None
    if summary_at is not None:
        names_at = next((i for i in range(summary_at, min(summary_at + 12, len(lines))) if "WNS(ns)" in lines[i]), None)
    values = lines[names_at + 2].split() if names_at is not None and names_at + 2 < len(lines) else []
    names = re.split(r"\s{2,}", lines[names_at].strip()) if names_at is not None else []
    if not names or len(values) != len(names):
        found = ["Design Timing Summary"] if summary_at is not None else []
        raise _unrecognised(path, "Vivado timing summary", ["the Design Timing Summary values"], found, header.version)
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
    return _Timing(path=path, header=header, slacks=slacks, clock=clock, clock_period_ns=period)


# ---------------------------------------------------------------------------------------------------------------
# Project manifest and open-path estimate


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: unreadable {what} ({err})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: {what} must be a JSON object")
    return data


def _read_manifest(path: Path) -> dict:
    manifest = _read_json(path, "project manifest")
    missing = [key for key in _MANIFEST_KEYS if key not in manifest]
    if missing:
        raise UserError(f"{path}: project manifest lacks {', '.join(missing)} (has {', '.join(sorted(manifest))})")
    return manifest


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _read_estimate(path: Path) -> _Estimate:
    data = _read_json(path, "estimate")
    cycles, resources = data.get("latency_cycles"), data.get("resources")
    expected = {
        "source": isinstance(data.get("source"), str),
        "clock_ns": _is_number(data.get("clock_ns")),
        "latency_cycles.best": isinstance(cycles, dict) and _is_number(cycles.get("best")),
        "latency_cycles.worst": isinstance(cycles, dict) and _is_number(cycles.get("worst")),
        "latency_ns": _is_number(data.get("latency_ns")),
        "ii": _is_number(data.get("ii")),
        **{
            f"resources.{name}": isinstance(resources, dict) and _is_number(resources.get(name))
            for name in _BASIC_RESOURCES
        },
    }
    bad = [key for key, ok in expected.items() if not ok]
    if bad:
        raise UserError(f"{path}: estimate lacks or has non-numeric {', '.join(bad)}")
    if not data["source"].startswith(_ESTIMATE_PREFIX):
        raise UserError(f"{path}: estimate source {data['source']!r} must start with '{_ESTIMATE_PREFIX}'")
    return _Estimate(
        path=path,
        source=data["source"],
        clock_ns=float(data["clock_ns"]),
        latency_cycles=(int(cycles["best"]), int(cycles["worst"])),
        latency_ns=float(data["latency_ns"]),
        ii=int(data["ii"]),
        resources=_in_resource_order({name: value for name, value in resources.items() if _is_number(value)}),
        part=data.get("part"),
        note=data.get("note"),
    )


# ---------------------------------------------------------------------------------------------------------------
# Finding the reports


@dataclass
class _Inputs:
    manifest: dict | None = None
    manifest_path: Path | None = None
    csynth: _CSynth | None = None
    utilization: _Utilization | None = None
    timing: _Timing | None = None
    estimate: _Estimate | None = None
    warnings: list[str] = field(default_factory=list)


def _is_csynth_name(path: Path) -> bool:
    return path.suffix in (".xml", ".rpt") and (path.stem == "csynth" or path.stem.endswith("_csynth"))


def _sniff(path: Path) -> str | None:
    """The kind of a text report from its first lines: csynth_rpt, utilization, hierarchical, timing or None."""
    try:
        with path.open(errors="replace") as stream:
            head = stream.read(_SNIFF_CHARS)
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None
    if _RPT_TITLE.search(head):
        return "csynth_rpt"
    command = re.search(r"^\|\s*Command\s*:\s*(.*)$", head, re.MULTILINE)
    command = command.group(1) if command else ""
    if "report_utilization" in command or "Utilization Design Information" in head:
        return "hierarchical" if "-hierarchical" in command else "utilization"
    if "report_timing_summary" in command or "Timing Summary Report" in head:
        return "timing"
    return None


def _read_csynth(path: Path) -> _CSynth:
    return _read_csynth_xml(path) if path.suffix == ".xml" else _read_csynth_rpt(path, path.read_text(errors="replace"))


def _newest(paths: list[Path], what: str, warnings: list[str]) -> Path:
    chosen = max(paths, key=lambda p: (p.stat().st_mtime, str(p)))
    if len(paths) > 1:
        others = ", ".join(str(p) for p in paths if p != chosen)
        warnings.append(f"several {what}: read the newest, {chosen}; not read: {others}")
    return chosen


def _pick_csynth(candidates: list[Path], top: str | None, warnings: list[str]) -> Path | None:
    """The top's C-synthesis report: <top>_csynth (top from the manifest), else the solution top's csynth,
    else, outside a project, the only report there is."""
    named = [p for p in candidates if p.stem == f"{top}_csynth"] if top else []
    named = named or [p for p in candidates if p.stem == "csynth"]
    if not named and top and candidates:
        warnings.append(f"not read: {', '.join(map(str, candidates))} (none is the report of the top, {top})")
    guessed = not named and not top
    # one report per directory and name: the XML, which carries the same numbers as the .rpt, unformatted
    by_report: dict[Path, Path] = {}
    for path in sorted(candidates if guessed else named):
        if path.with_suffix("") not in by_report or path.suffix == ".xml":
            by_report[path.with_suffix("")] = path
    reports = list(by_report.values())
    if guessed and len(reports) > 1:
        raise UserError(
            f"several C-synthesis reports and no csynth.xml naming the top: {', '.join(map(str, reports))}; "
            "give the report file"
        )
    return _newest(reports, "C-synthesis reports of the top", warnings) if reports else None


def _latest_stage(reports: list, what: str, warnings: list[str]):
    """The report of the latest design state (routed > placed > synthesized), newest file on a tie."""
    best_rank = max(report.header.stage_rank for report in reports)
    latest = [report for report in reports if report.header.stage_rank == best_rank]
    chosen_path = _newest([report.path for report in latest], what, warnings)
    if len(reports) > len(latest):
        earlier = ", ".join(str(report.path) for report in reports if report.header.stage_rank < best_rank)
        warnings.append(f"{what}: read the latest design state ({chosen_path}); earlier: {earlier}")
    return next(report for report in latest if report.path == chosen_path)


_SEARCHED = (
    "C-synthesis reports (*_csynth.xml, *_csynth.rpt, csynth.xml), Vivado report_utilization and "
    "report_timing_summary reports (*.rpt) and estimate.json"
)


def _find_inputs(directory: Path) -> _Inputs:
    inputs = _Inputs()
    if (directory / "trigcomp.json").is_file():
        inputs.manifest_path = directory / "trigcomp.json"
        inputs.manifest = _read_manifest(inputs.manifest_path)
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".xml", ".rpt") and p.is_file())
    csynth_files = [p for p in files if _is_csynth_name(p)]
    # trigcomp's vendor flow synthesises the manifest's "top" (trigcomp_top); hls4ml's, the encoder (project_name)
    manifest = inputs.manifest or {}
    tops = [top for top in (manifest.get("top"), manifest.get("project_name")) if top]
    top = next((t for t in tops if any(p.stem == f"{t}_csynth" for p in csynth_files)), tops[-1] if tops else None)
    csynth_path = _pick_csynth(csynth_files, top, inputs.warnings)
    if csynth_path is not None:
        inputs.csynth = _read_csynth(csynth_path)
    utilization, timing = [], []
    for path in files:
        if path.suffix != ".rpt" or _is_csynth_name(path):
            continue
        kind = _sniff(path)
        if kind == "utilization":
            utilization.append(_read_utilization(path, path.read_text(errors="replace")))
        elif kind == "timing":
            timing.append(_read_timing(path, path.read_text(errors="replace")))
        elif kind == "hierarchical":
            inputs.warnings.append(f"not read: {path} (hierarchical utilization report; the flat one is read)")
    if utilization:
        inputs.utilization = _latest_stage(utilization, "utilization reports", inputs.warnings)
    if timing:
        inputs.timing = _latest_stage(timing, "timing summaries", inputs.warnings)
    if (directory / "estimate.json").is_file():
        inputs.estimate = _read_estimate(directory / "estimate.json")
    if not (inputs.csynth or inputs.utilization or inputs.timing or inputs.estimate):
        raise UserError(
            f"no synthesis report or estimate under {directory} (searched for {_SEARCHED}); "
            "run `trigcomp build --csynth` (Vivado/Vitis HLS) or `trigcomp rtl` (open-tool estimate) first"
        )
    return inputs


def _file_inputs(path: Path) -> _Inputs:
    inputs = _Inputs()
    if path.suffix == ".json":
        inputs.estimate = _read_estimate(path)
    elif path.suffix == ".xml":
        inputs.csynth = _read_csynth_xml(path)
    else:
        kind = _sniff(path)
        text = path.read_text(errors="replace")
        if kind == "csynth_rpt":
            inputs.csynth = _read_csynth_rpt(path, text)
        elif kind == "utilization":
            inputs.utilization = _read_utilization(path, text)
        elif kind == "timing":
            inputs.timing = _read_timing(path, text)
        elif kind == "hierarchical":
            raise UserError(f"{path}: hierarchical utilization reports are not read; give the flat report_utilization")
        else:
            raise UserError(
                f"{path}: not a report trigcomp reads (Vivado/Vitis HLS csynth .xml/.rpt, Vivado report_utilization "
                "or report_timing_summary, estimate.json)"
            )
    return inputs


# ---------------------------------------------------------------------------------------------------------------
# Combining: vendor reports win, the estimate fills what they do not give


def _first_given(*values):
    return next((value for value in values if value is not None and value != ""), None)


def _device_totals(inputs: _Inputs, board: Board | None, part: str | None) -> tuple[dict, dict, list[str]]:
    """Available resources per name and where each total comes from: --board, the reports, the project's board."""
    warnings: list[str] = []
    layers: list[tuple[str, dict]] = []
    if board is not None and board.totals:
        layers.append((f"board:{board.name}", board.totals))
        if part and board.part.lower() != part.lower():
            warnings.append(f"percentages are of board {board.name} ({board.part}); the report is for {part}")
    if inputs.utilization:
        layers.append((inputs.utilization.header.tag, inputs.utilization.available))
    if inputs.csynth:
        layers.append(("csynth", inputs.csynth.available))
    manifest_board = (inputs.manifest or {}).get("board")
    if manifest_board and manifest_board != "custom":
        project_board = get_board(manifest_board)
        layers.append((f"board:{project_board.name}", project_board.totals))
    elif part and part.lower().startswith("xc"):
        part_board = board_for_part(part)
        layers.append((f"board:{part_board.name}", part_board.totals))
    available, origin = {}, {}
    for name in RESOURCES:
        for layer, totals in layers:
            if totals.get(name):  # a 0 total (URAM on 7-series) gives no percentage
                available[name], origin[name] = totals[name], layer
                break
    return available, origin, warnings


def _file_entry(path: Path, kind: str, tool: str | None, version: str | None) -> dict:
    return {"path": str(path), "kind": kind, "tool": tool, "tool_version": version}


def _combine(inputs: _Inputs, board: Board | None) -> SynthesisReport:
    cs, ut, tm, est, manifest = inputs.csynth, inputs.utilization, inputs.timing, inputs.estimate, inputs.manifest or {}
    warnings = list(inputs.warnings)
    # where latency and resources come from: vendor reports first, the estimate only for what they lack
    if cs:
        (best, worst), (best_ns, worst_ns), (interval_min, ii) = cs.latency_cycles, cs.latency_ns, cs.interval
        latency_from = "csynth"
    elif est:
        (best, worst), best_ns, worst_ns = est.latency_cycles, est.latency_cycles[0] * est.clock_ns, est.latency_ns
        interval_min = ii = est.ii
        latency_from = est.source
    else:
        best = worst = best_ns = worst_ns = interval_min = ii = latency_from = None
    by_source = {"csynth": cs.resources if cs else None}
    if ut:
        by_source[ut.header.tag] = ut.resources
    if est:
        by_source[est.source] = est.resources
    by_source = {name: dict(values) for name, values in by_source.items() if values is not None}
    resources_from = ut.header.tag if ut else "csynth" if cs else est.source if est else None
    estimate_used = est is not None and est.source in (latency_from, resources_from)
    if est and not estimate_used:
        warnings.append(f"not used: {est.path} (vendor reports give latency and resources)")

    files = [_file_entry(inputs.manifest_path, "manifest", "trigcomp", None)] if inputs.manifest_path else []
    contributors = []
    if cs:
        contributors.append("csynth")
        files.append(_file_entry(cs.path, "csynth", cs.tool, cs.version))
    if ut:
        contributors.append(ut.header.tag)
        files.append(_file_entry(ut.path, "utilization", "Vivado", ut.header.version))
    if tm:
        contributors.append(tm.tag)
        files.append(_file_entry(tm.path, "timing", "Vivado", tm.header.version))
    estimate_tool = est.source.split(":", 1)[-1] if est else None
    if estimate_used:
        contributors.append(est.source)
        files.append(_file_entry(est.path, "estimate", estimate_tool, None))

    if cs:
        tool, tool_version = cs.tool, cs.version
    elif ut or tm:
        tool, tool_version = "Vivado", (ut or tm).header.version
    else:
        tool, tool_version = estimate_tool, None
    part = _first_given(cs and cs.part, manifest.get("part"), est and est.part, ut and ut.header.device)
    available, available_from, board_warnings = _device_totals(inputs, board, part)
    clock_target = _first_given(
        cs and cs.clock_target_ns, tm and tm.clock_period_ns, manifest.get("clock_ns"), est and est.clock_ns
    )
    if tm and tm.achieved_period_ns is not None:
        clock_estimated, clock_estimated_from = tm.achieved_period_ns, tm.tag
    else:
        clock_estimated, clock_estimated_from = (cs.clock_estimated_ns, "csynth") if cs else (None, None)
    return SynthesisReport(
        source="+".join(contributors),
        tool=tool,
        tool_version=tool_version,
        top=_first_given(cs and cs.top, ut and ut.header.design, manifest.get("project_name")),
        part=part,
        clock_target_ns=None if clock_target is None else float(clock_target),
        clock_estimated_ns=clock_estimated,
        clock_estimated_from=clock_estimated_from,
        clock_uncertainty_ns=cs.clock_uncertainty_ns if cs else None,
        latency_cycles_best=best,
        latency_cycles_worst=worst,
        latency_ns_best=best_ns,
        latency_ns=worst_ns,
        latency_from=latency_from,
        ii=ii,
        interval_min=interval_min,
        ii_target=cs.ii_target if cs else None,
        pipeline_type=cs.pipeline_type if cs else None,
        resources=dict(by_source.get(resources_from, {})),
        resources_from=resources_from,
        resources_by_source=by_source,
        resources_available=available,
        resources_available_from=available_from,
        timing=tm.to_json() if tm else None,
        files=tuple(files),
        warnings=tuple(warnings + board_warnings),
        note=est.note if estimate_used else None,
    )


def read_report(path: Path, board: Board | None = None) -> SynthesisReport:
    """Read a generated project, a directory of reports or one report file (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"no such project, report directory or report file: {path}")
    return _combine(_find_inputs(path) if path.is_dir() else _file_inputs(path), board)


# ---------------------------------------------------------------------------------------------------------------
# Budgets

_TIMING_LIMITS = {"latency_ns": "ns", "latency_cycles": "cycles", "ii": "cycles", "clock_ns": "ns"}
_WHOLE_LIMITS = ("latency_cycles", "ii")
_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*%\s*$")
_ALLOWED_LIMITS = ", ".join([*_TIMING_LIMITS, *RESOURCES])


@dataclass(frozen=True)
class Limit:
    quantity: str  # latency_ns, latency_cycles, ii, clock_ns, or a resource name (LUT, FF, DSP, BRAM, URAM)
    value: float
    percent: bool = False  # a resource limit in % of the device

    @property
    def unit(self) -> str:
        return "%" if self.percent else _TIMING_LIMITS.get(self.quantity, "count")


@dataclass(frozen=True)
class Budget:
    name: str  # preset name or file path
    description: str
    limits: tuple[Limit, ...]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "limits": {
                limit.quantity: f"{_number(limit.value)}%" if limit.percent else limit.value for limit in self.limits
            },
        }


def _budget_dir():
    return package_files.files("trigcomp").joinpath("budgets")


def budget_presets() -> list[str]:
    return sorted(entry.name.removesuffix(".toml") for entry in _budget_dir().iterdir() if entry.name.endswith(".toml"))


def _parse_limit(budget: str, key: str, raw) -> Limit:
    quantity = key.upper() if key.upper() in RESOURCES else key.lower()
    if quantity not in RESOURCES and quantity not in _TIMING_LIMITS:
        raise UserError(f"budget {budget}: unknown limit {key!r}; allowed: {_ALLOWED_LIMITS}")
    if quantity in RESOURCES and isinstance(raw, str):
        match = _PERCENT.match(raw)
        if not match:
            raise UserError(
                f"budget {budget}: {key} = {raw!r} has an unknown unit; give a count ({key} = 0) "
                f'or a percentage of the device ({key} = "1%")'
            )
        value = float(match.group(1))
        if value > 100:
            raise UserError(f"budget {budget}: {key} = {raw!r} is more than the whole device")
        return Limit(quantity, value, percent=True)
    if not _is_number(raw) or raw < 0:
        unit = _TIMING_LIMITS.get(quantity)
        expected = f"a plain number of {unit} (the unit is in the key's name)" if unit else 'a count or "N%"'
        raise UserError(f"budget {budget}: {key} = {raw!r}; expected {expected}, not negative")
    if quantity in _WHOLE_LIMITS and not float(raw).is_integer():
        raise UserError(f"budget {budget}: {key} = {raw!r}; expected a whole number of cycles")
    return Limit(quantity, float(raw))


def _parse_budget(text: str, name: str) -> Budget:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"budget {name}: malformed TOML ({err})") from None
    unknown = [key for key in data if key not in ("description", "limits")]
    if unknown:
        raise UserError(f"budget {name}: unknown key {unknown[0]!r}; allowed: description, [limits]")
    limits = data.get("limits")
    if not isinstance(limits, dict) or not limits:
        raise UserError(f"budget {name}: needs a [limits] table with at least one of {_ALLOWED_LIMITS}")
    parsed = [_parse_limit(name, key, raw) for key, raw in limits.items()]
    quantities = [limit.quantity for limit in parsed]
    repeated = sorted({q for q in quantities if quantities.count(q) > 1})
    if repeated:
        raise UserError(f"budget {name}: {', '.join(repeated)} limited twice (resource keys are case-insensitive)")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise UserError(f"budget {name}: description must be a string")
    return Budget(name=name, description=description, limits=tuple(parsed))


def load_budget(spec: str) -> Budget:
    """A budget from a preset name (see budget_presets()) or a TOML file path."""
    path = Path(spec)
    if path.is_file():
        try:
            return _parse_budget(path.read_text(), str(path))
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"cannot read budget file {path}: {err}") from None
    presets = budget_presets()
    if spec in presets:
        return _parse_budget(_budget_dir().joinpath(f"{spec}.toml").read_text(), spec)
    if path.suffix == ".toml" or "/" in spec or "\\" in spec:
        raise UserError(f"budget file not found: {spec}")
    raise UserError(f"unknown budget preset {spec!r}; presets: {', '.join(presets)} (or give a TOML file)")


@dataclass(frozen=True)
class BudgetRow:
    quantity: str
    unit: str  # ns, cycles, count or %
    value: float | None  # None: the reports do not give this quantity
    limit: float
    margin: float | None  # limit - value: headroom when >= 0
    passed: bool
    value_from: str | None

    def to_json(self) -> dict:
        return {
            "quantity": self.quantity,
            "unit": self.unit,
            "value": self.value,
            "limit": self.limit,
            "margin": self.margin,
            "passed": self.passed,
            "value_from": self.value_from,
        }


@dataclass(frozen=True)
class BudgetCheck:
    budget: Budget
    rows: tuple[BudgetRow, ...]

    @property
    def within_budget(self) -> bool:
        return all(row.passed for row in self.rows)

    def to_json(self) -> dict:
        return {
            **self.budget.to_json(),
            "rows": [row.to_json() for row in self.rows],
            "within_budget": self.within_budget,
        }


def _budget_value(report: SynthesisReport, limit: Limit) -> tuple[float | None, str | None]:
    timing_values = {
        "latency_ns": (report.latency_ns, report.latency_from),
        "latency_cycles": (report.latency_cycles_worst, report.latency_from),
        "ii": (report.ii, report.latency_from),
        "clock_ns": (report.clock_estimated_ns, report.clock_estimated_from),
    }
    if limit.quantity in timing_values:
        return timing_values[limit.quantity]
    used = report.resources.get(limit.quantity)
    if not limit.percent or used is None:
        return used, report.resources_from
    if limit.quantity not in report.resources_percent:
        raise UserError(
            f"budget limit {limit.quantity} = {_number(limit.value)}% needs the device's {limit.quantity} total, "
            "which the reports do not give; pass --board NAME"
        )
    return report.resources_percent[limit.quantity], report.resources_from


def check_budget(report: SynthesisReport, budget: Budget) -> BudgetCheck:
    rows = []
    for limit in budget.limits:
        value, origin = _budget_value(report, limit)
        margin = None if value is None else limit.value - value
        # tolerance for float round-off only (e.g. 10 cycles x 5.0 ns against 50 ns)
        passed = margin is not None and margin >= -1e-9 * max(1.0, abs(limit.value))
        rows.append(BudgetRow(limit.quantity, limit.unit, value, limit.value, margin, passed, origin))
    return BudgetCheck(budget=budget, rows=tuple(rows))


def result_json(report: SynthesisReport, check: BudgetCheck | None) -> dict:
    return {
        **report.to_json(),
        "within_budget": None if check is None else check.within_budget,
        "budget": None if check is None else check.to_json(),
    }


# ---------------------------------------------------------------------------------------------------------------
# Rendering: the same rows as an aligned terminal table or as Markdown

_ESTIMATE_BANNER = "ESTIMATE (not a synthesis result)"
_NA = "n/a"


def _number(value: float | None, digits: int = 6) -> str:
    if value is None:
        return _NA
    return str(int(value)) if float(value).is_integer() else f"{value:.{digits}g}"


def _with_unit(value: float | None, unit: str) -> str:
    if value is None:
        return _NA
    if unit == "%":
        return f"{_number(value, 3)} %"
    return _number(value) if unit == "count" else f"{_number(value)} {unit}"


def _from_estimate(report: SynthesisReport, origin: str | None) -> bool:
    """A number from the estimate inside a report that is otherwise from vendor tools (which says so per number)."""
    return not report.is_estimate and bool(origin) and origin.startswith(_ESTIMATE_PREFIX)


def _summary_rows(report: SynthesisReport) -> list[tuple[str, str]]:
    tool = " ".join(filter(None, (report.tool, report.tool_version))) or _NA
    clock = f"target {_with_unit(report.clock_target_ns, 'ns')}"
    if report.clock_estimated_ns is not None:
        clock += f", estimated {_with_unit(report.clock_estimated_ns, 'ns')} ({report.clock_estimated_from})"
    if report.clock_uncertainty_ns is not None:
        clock += f", uncertainty {_with_unit(report.clock_uncertainty_ns, 'ns')}"
    latency = (
        f"{_number(report.latency_cycles_best)}..{_number(report.latency_cycles_worst)} cycles, "
        f"{_number(report.latency_ns_best)}..{_with_unit(report.latency_ns, 'ns')}"
        + (f" ({report.latency_from})" if report.latency_from else "")
        + (f" {_ESTIMATE_BANNER}" if _from_estimate(report, report.latency_from) else "")
    )
    interval = f"{_number(report.ii)} (interval {_number(report.interval_min)}..{_number(report.ii)}"
    interval += f", pipeline {report.pipeline_type})" if report.pipeline_type else ")"
    if report.ii_target is not None:
        interval += f", target {report.ii_target}"
    rows = [
        ("source", report.source),
        ("tool", tool),
        ("top", report.top or _NA),
        ("part", report.part or _NA),
        ("clock", clock),
        ("latency", latency),
        ("II", interval),
    ]
    if report.timing:
        met = {True: "met", False: "NOT met", None: "no constrained paths"}[report.timing["met"]]
        slacks = f"WNS {_with_unit(report.timing['wns_ns'], 'ns')}, WHS {_with_unit(report.timing['whs_ns'], 'ns')}"
        rows.append(("timing", f"{slacks}: {met}"))
    if report.note:
        rows.append(("note", report.note))
    return rows


def _resource_table(report: SynthesisReport) -> tuple[list[str], list[list[str]]]:
    others = [name for name in report.resources_by_source if name != report.resources_from]
    origins = set(report.resources_available_from.values())
    # where the device totals come from: once in the header when they all come from one place, else per row
    shared_origin = origins.pop() if len(origins) == 1 else None
    headers = [
        "resource",
        f"used ({report.resources_from})" + (" ESTIMATE" if _from_estimate(report, report.resources_from) else ""),
        f"available ({shared_origin})" if shared_origin else "available",
        "% of device",
        *others,
    ]
    percent = report.resources_percent
    rows = []
    for name in RESOURCES:
        values = [report.resources.get(name), *(report.resources_by_source[o].get(name) for o in others)]
        if all(value is None for value in values):
            continue
        available = _number(report.resources_available.get(name))
        if name in report.resources_available_from and not shared_origin:
            available += f" ({report.resources_available_from[name]})"
        rows.append(
            [name, _number(values[0]), available, _with_unit(percent.get(name), "%"), *map(_number, values[1:])]
        )
    return headers, rows


def _budget_table(report: SynthesisReport, check: BudgetCheck) -> tuple[list[str], list[list[str]]]:
    rows = [
        [
            row.quantity,
            _with_unit(row.value, row.unit) + (" (estimate)" if _from_estimate(report, row.value_from) else ""),
            _with_unit(row.limit, row.unit),
            _with_unit(row.margin, row.unit),
            "pass" if row.passed else "FAIL",
        ]
        for row in check.rows
    ]
    return ["quantity", "value", "limit", "margin", "result"], rows


def _verdict(check: BudgetCheck) -> str:
    failed = sum(not row.passed for row in check.rows)
    if not failed:
        return f"WITHIN BUDGET ({len(check.rows)} limits)"
    return f"OVER BUDGET ({failed} of {len(check.rows)} limits failed)"


def _text_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        # names left-aligned, numbers right-aligned
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths), *(line(row) for row in rows)]


def _markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return [line(headers), "|" + "|".join([" --- "] + [" ---: "] * (len(headers) - 1)) + "|", *map(line, rows)]


def _render(report: SynthesisReport, check: BudgetCheck | None, markdown: bool) -> str:
    table = _markdown_table if markdown else _text_table

    def heading(text: str) -> list[str]:
        return ["", f"**{text}**", ""] if markdown else ["", text]

    def bullets(items: list[str]) -> list[str]:
        return [f"- {item}" if markdown else f"  {item}" for item in items]

    lines: list[str] = []
    if report.is_estimate:
        lines += [f"> **{_ESTIMATE_BANNER}**" if markdown else f"*** {_ESTIMATE_BANNER} ***", ""]
    summary = _summary_rows(report)
    if markdown:
        lines += [f"- **{key}**: {value}" for key, value in summary]
    else:
        width = max(len(key) for key, _ in summary)
        lines += [f"{key.ljust(width)}  {value}" for key, value in summary]
    lines += ["", *table(*_resource_table(report))]
    if check is not None:
        description = f": {check.budget.description}" if check.budget.description else ""
        lines += heading(f"budget {check.budget.name}{description}")
        lines += table(*_budget_table(report, check))
        estimated = sorted({row.value_from for row in check.rows if _from_estimate(report, row.value_from)})
        if estimated:
            lines += ["", f"(estimate): {_ESTIMATE_BANNER}, from {', '.join(estimated)}"]
        lines += ["", f"**{_verdict(check)}**" if markdown else _verdict(check)]
    lines += heading("files read:") + bullets([f"{entry['path']} ({entry['kind']})" for entry in report.files])
    if report.warnings:
        lines += heading("warnings:") + bullets(list(report.warnings))
    return "\n".join(lines) + "\n"


def render_text(report: SynthesisReport, check: BudgetCheck | None = None) -> str:
    """An aligned plain-text report for terminals; estimates are labelled as such."""
    return _render(report, check, markdown=False)


def render_markdown(report: SynthesisReport, check: BudgetCheck | None = None) -> str:
    return _render(report, check, markdown=True)
