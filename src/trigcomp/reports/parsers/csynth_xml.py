"""Vivado HLS / Vitis HLS C-synthesis XML reports (``<top>_csynth.xml``, ``csynth.xml``).

hls4ml 1.3.0 has readers for these (hls4ml.report.parse_vivado_report / read_vivado_report) but they do not fit
here: they only read a complete hls4ml project (project.tcl + <name>_prj/vivado_hls.app or hls.app, first
solution only, fixed file names), so not a report directory or a single file; they print to stdout and return
None or raise IndexError/AttributeError instead of saying what is wrong; they read Vivado's "Block RAM Tile"
(36 Kb) as BRAM_18K; and they do not give part, tool version, real-time latency, clock uncertainty, pipeline
type, the unset-II sentinel nor the .rpt text format. We keep their naming choice (DSP48E -> DSP) and
tests/test_reports.py checks that both readers agree on every number hls4ml does give.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ...errors import UserError
from .common import CSynth, cycles, duration_ns, hls_resources, require_basic_resources, unrecognised

KIND = "csynth"

_UNSET_II = 2**32 - 1  # TargetInitiationInterval sentinel for "no target II" (Vivado HLS 2018.2, Vitis 2022.2)
_REQUIRED = {
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
_WHAT = "C-synthesis XML report"


def sniff(path: Path, head: str) -> bool:
    """Any XML file given as a report is read as C-synthesis XML; parse() says what is missing otherwise."""
    return path.suffix == ".xml"


def parse(path: Path) -> CSynth:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise UserError(f"{path}: malformed XML ({err}); is the report truncated?") from None
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None
    nodes = {key: root.find(xpath) for key, xpath in _REQUIRED.items()}
    leaves = {key: (node.text or "").strip() for key, node in nodes.items() if node is not None and len(node) == 0}
    found = [xpath for key, xpath in _REQUIRED.items() if nodes[key] is not None]
    missing = [xpath for key, xpath in _REQUIRED.items() if nodes[key] is None]
    version = leaves.get("version") or None
    if root.tag != "profile" or missing:
        if not found:
            found = [f"<{root.tag}> with " + ", ".join(f"<{child.tag}>" for child in root)]
        raise unrecognised(path, _WHAT, missing, found, version)

    def text(xpath: str) -> str | None:
        node = root.find(xpath)
        return None if node is None or node.text is None else node.text.strip()

    latency = "PerformanceEstimates/SummaryOfOverallLatency/"
    try:
        resources = hls_resources([(child.tag, child.text or "") for child in nodes["resources"]])
        available = hls_resources([(child.tag, child.text or "") for child in nodes["available"]])
        require_basic_resources(path, _WHAT, resources, version)
        clock_target = float(leaves["clock_target"])
        cycle_counts = (cycles(leaves["latency_best"]), cycles(leaves["latency_worst"]))
        real_time = [text(latency + f"{case}-caseRealTimeLatency") for case in ("Best", "Worst")]
        uncertainty = text("UserAssignments/ClockUncertainty")
        ii_target = text("UserAssignments/TargetInitiationInterval")
        return CSynth(
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
            latency_cycles=cycle_counts,
            # 2018.2 has no real-time latency: it is cycles x target clock, as later versions compute it
            latency_ns=tuple(
                duration_ns(rt) if rt is not None else (None if n is None else n * clock_target)
                for rt, n in zip(real_time, cycle_counts)
            ),
            interval=(cycles(leaves["interval_min"]), cycles(leaves["interval_max"])),
            ii_target=None if ii_target is None or int(ii_target) == _UNSET_II else int(ii_target),
            pipeline_type=text("PerformanceEstimates/PipelineType"),
            resources=resources,
            available=available,
        )
    except ValueError as err:
        raise UserError(f"{path}: unreadable number in {_WHAT} ({err})") from None
