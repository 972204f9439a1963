"""Combining the reports of one design into a ``SynthesisReport``: vendor reports win, the estimate fills what
they do not give, and every number says where it comes from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..boards import Board, board_for_part, get_board
from ..errors import UserError
from .discover import Inputs, file_inputs, find_inputs
from .parsers.common import ESTIMATE_PREFIX, RESOURCES


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
        return self.source.startswith(ESTIMATE_PREFIX)

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


def _first_given(*values):
    return next((value for value in values if value is not None and value != ""), None)


def _device_totals(inputs: Inputs, board: Board | None, part: str | None) -> tuple[dict, dict, list[str]]:
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
    manifest_board = inputs.project and inputs.project.board
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


def combine(inputs: Inputs, board: Board | None) -> SynthesisReport:
    cs, ut, tm, est, project = inputs.csynth, inputs.utilization, inputs.timing, inputs.estimate, inputs.project
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
        by_source[est.source] = est.standard_resources
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
    part = _first_given(cs and cs.part, project and project.part, est and est.part, ut and ut.header.device)
    available, available_from, board_warnings = _device_totals(inputs, board, part)
    clock_target = _first_given(
        cs and cs.clock_target_ns, tm and tm.clock_period_ns, project and project.clock_ns, est and est.clock_ns
    )
    if tm and tm.achieved_period_ns is not None:
        clock_estimated, clock_estimated_from = tm.achieved_period_ns, tm.tag
    else:
        clock_estimated, clock_estimated_from = (cs.clock_estimated_ns, "csynth") if cs else (None, None)
    return SynthesisReport(
        source="+".join(contributors),
        tool=tool,
        tool_version=tool_version,
        top=_first_given(cs and cs.top, ut and ut.header.design, project and project.project_name),
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


def read_report(path: Path, board: Board | None = None, force: bool = False) -> SynthesisReport:
    """Read a generated project, a directory of reports or one report file (see the package docstring).

    In a project, a report of another top or part is refused unless ``force`` (then it carries a warning).
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"no such project, report directory or report file: {path}")
    return combine(find_inputs(path, force) if path.is_dir() else file_inputs(path), board)
