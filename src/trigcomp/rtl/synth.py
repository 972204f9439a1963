"""Yosys ``synth_xilinx -family xcup`` of a project variant: cell counts, logic depth, and estimate.json."""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..reports.parsers.estimate import Estimate
from .project import YOSYS_SCRIPT, RtlProject, load_project
from .simulate import require_tool

#: An INV takes a LUT unless absorbed; a shift-register LUT (SRL, a register delay line) takes a LUT too.
_LUT_CELLS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "INV", "SRL16E", "SRLC32E")
_FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE")
_CARRY_CELLS = ("CARRY4", "CARRY8")
_DSP_CELLS = ("DSP48E1", "DSP48E2")
_BRAM_CELLS = ("RAMB18E2", "RAMB36E2", "RAMB18E1", "RAMB36E1")
_LTP = re.compile(r"Longest topological path in \S+ \(length=(\d+)\)")
#: Generous bound: a 10 -> 32 -> 16 -> 8 encoder takes ~30 s on one core.
YOSYS_TIMEOUT_S = 3600


@dataclass(frozen=True)
class YosysResult:
    variant: str
    top: str
    part: str
    lut: int  # LUT1..LUT6 plus INV and SRL cells
    ff: int
    carry: int  # CARRY4 + CARRY8 cells (Yosys 0.23 maps xcup carry chains to CARRY4)
    dsp: int
    bram: int
    logic_depth: int  # combinational cells (LUT, CARRY, MUXF, INV) on the longest register-to-register path
    cells: dict[str, int]
    seconds: float
    yosys_version: str
    log: Path

    def to_json(self) -> dict:
        return asdict(self) | {"log": str(self.log)}


def _count(cells: dict[str, int], names: tuple[str, ...]) -> int:
    return sum(int(cells.get(name, 0)) for name in names)


def synthesize(project: RtlProject | Path, variant: str = "pipelined") -> YosysResult:
    """Run the project's Yosys script on one variant; for the pipelined one, rewrite estimate.json with the
    Yosys resources ("estimate:yosys+da4ml")."""
    project = load_project(project)
    workdir = project.variant_dir(variant)
    result = YosysResult(variant=variant, top=project.project_name, part=project.part, **run_yosys(workdir))
    if variant == "pipelined":
        yosys_estimate(project, result).write(project.path)
    return result


def run_yosys(workdir: Path) -> dict:
    """Run ``workdir``'s Yosys script (synth_xilinx.ys): cell counts by kind, logic depth, seconds, version, log."""
    yosys = require_tool("yosys")
    for stale in ("yosys_stat.json", "yosys_ltp.txt"):
        (workdir / stale).unlink(missing_ok=True)
    start = time.monotonic()
    run = subprocess.run(
        [yosys, "-q", "-l", "yosys.log", "-s", YOSYS_SCRIPT],
        check=False,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=YOSYS_TIMEOUT_S,
    )
    seconds = time.monotonic() - start
    if run.returncode != 0:
        raise RuntimeError(f"yosys failed (exit {run.returncode}); log in {workdir / 'yosys.log'}: {run.stderr[-500:]}")
    stat = json.loads((workdir / "yosys_stat.json").read_text())
    cells = {name: int(count) for name, count in sorted(stat["design"]["num_cells_by_type"].items())}
    depth = _LTP.search((workdir / "yosys_ltp.txt").read_text())
    return {
        "lut": _count(cells, _LUT_CELLS),
        "ff": _count(cells, _FF_CELLS),
        "carry": _count(cells, _CARRY_CELLS),
        "dsp": _count(cells, _DSP_CELLS),
        "bram": _count(cells, _BRAM_CELLS),
        "logic_depth": int(depth.group(1)) if depth else 0,
        "cells": cells,
        "seconds": round(seconds, 1),
        "yosys_version": stat.get("creator", "yosys"),
        "log": workdir / "yosys.log",
    }


def yosys_estimate(project: RtlProject, result: YosysResult) -> Estimate:
    """Resources and logic depth from Yosys, latency from da4ml's pipeline."""
    return Estimate(
        source="estimate:yosys+da4ml",
        clock_ns=project.clock_ns,
        latency_cycles=(project.latency_cycles, project.latency_cycles),
        latency_ns=project.latency_ns,
        ii=1,
        resources={
            "LUT": result.lut,
            "FF": result.ff,
            "DSP": result.dsp,
            "BRAM": result.bram,
            "CARRY": result.carry,
        },
        part=project.part,
        logic_depth=result.logic_depth,
        note=(
            f"{result.yosys_version} synth_xilinx -family xcup -flatten, not Vivado: LUT includes {result.cells.get('INV', 0)}"
            " INV cells, CARRY counts CARRY4 cells, logic_depth = LUT/CARRY/MUXF/INV cells on the longest "
            "register-to-register path; latency from da4ml's pipeline (no timing analysis)"
        ),
    )
