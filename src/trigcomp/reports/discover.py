"""Finding the reports: in a generated project, in any directory of reports, or one given file.

In a project (a directory with ``trigcomp.json``) the C-synthesis report of the project's top is read, and a
report of another top or another part is refused: checking a budget against someone else's design must not pass
silently. ``force`` reads it anyway, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..records import ProjectHeader
from .parsers import csynth_rpt, csynth_xml, head, parser_for, vivado_utilization
from .parsers import estimate as estimate_parser
from .parsers.common import CSynth, read_json
from .parsers.estimate import Estimate
from .parsers.vivado_timing import Timing
from .parsers.vivado_utilization import Utilization

MANIFEST = "trigcomp.json"
# Kinds of which a directory may hold several (synthesis and implementation runs): the latest design state is read
_STAGED_KINDS = ("utilization", "timing")
_SEARCHED = (
    "C-synthesis reports (*_csynth.xml, *_csynth.rpt, csynth.xml), Vivado report_utilization and "
    "report_timing_summary reports (*.rpt) and estimate.json"
)


@dataclass
class Inputs:
    """The reports found for one design, at most one of each kind."""

    project: ProjectHeader | None = None
    manifest_path: Path | None = None
    csynth: CSynth | None = None
    utilization: Utilization | None = None
    timing: Timing | None = None
    estimate: Estimate | None = None
    warnings: list[str] = field(default_factory=list)


def _is_csynth_name(path: Path) -> bool:
    return path.suffix in (".xml", ".rpt") and (path.stem == "csynth" or path.stem.endswith("_csynth"))


def _newest(paths: list[Path], what: str, warnings: list[str]) -> Path:
    chosen = max(paths, key=lambda p: (p.stat().st_mtime, str(p)))
    if len(paths) > 1:
        others = ", ".join(str(p) for p in paths if p != chosen)
        warnings.append(f"several {what}: read the newest, {chosen}; not read: {others}")
    return chosen


def _pick_csynth(candidates: list[Path], tops: list[str], warnings: list[str]) -> Path | None:
    """The top's C-synthesis report: <top>_csynth (tops from the manifest, the first found wins), else the
    solution top's csynth, else, outside a project, the only report there is."""
    by_top = ([p for p in candidates if p.stem == f"{top}_csynth"] for top in tops)
    named = next((found for found in by_top if found), [])
    named = named or [p for p in candidates if p.stem == "csynth"]
    if not named and tops and candidates:
        warnings.append(
            f"not read: {', '.join(map(str, candidates))} (none is the report of the top, {' or '.join(tops)})"
        )
    guessed = not named and not tops
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


def same_part(a: str, b: str) -> bool:
    """Xilinx part names as the tools spell them: 'xc7z020clg400-1', 'xc7z020-clg400-1', '7z020clg400-1'."""

    def canonical(part: str) -> str:
        return part.lower().removeprefix("xc").replace("-", "")

    return canonical(a) == canonical(b)


def _foreign(inputs: Inputs) -> list[str]:
    """What in the reports says they are not of this project's design: another top or another part."""
    project = inputs.project
    tops, part = (project.tops, str(project.part)) if project else ([], "")
    problems = []
    if inputs.csynth and tops and inputs.csynth.top not in tops:
        problems.append(f"{inputs.csynth.path} is of top {inputs.csynth.top!r}, the project's is {' or '.join(tops)}")
    # the Vivado design name is the user's synthesis project or wrapper, so only the device is compared there
    ut, tm, est = inputs.utilization, inputs.timing, inputs.estimate
    for report, report_part in (
        (inputs.csynth, inputs.csynth and inputs.csynth.part),
        (ut, ut and ut.header.device),
        (tm, tm and tm.header.device),
        (est, est and est.part),
    ):
        if part and report_part and not same_part(report_part, part):
            problems.append(f"{report.path} is for part {report_part}, the project's is {part}")
    return problems


def _check_foreign(inputs: Inputs, force: bool) -> None:
    problems = _foreign(inputs)
    if problems and not force:
        raise UserError(
            f"{'; '.join(problems)} ({inputs.manifest_path}); a budget checked against another design proves "
            "nothing: rebuild the reports, or pass --force to read them anyway"
        )
    inputs.warnings += [f"FOREIGN REPORT read because of --force: {problem}" for problem in problems]


def find_inputs(directory: Path, force: bool = False) -> Inputs:
    inputs = Inputs()
    if (directory / MANIFEST).is_file():
        inputs.manifest_path = directory / MANIFEST
        manifest = read_json(inputs.manifest_path, "project manifest")
        inputs.project = ProjectHeader.from_json(manifest, str(inputs.manifest_path))
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".xml", ".rpt") and p.is_file())
    csynth_path = _pick_csynth(
        [p for p in files if _is_csynth_name(p)], inputs.project.tops if inputs.project else [], inputs.warnings
    )
    if csynth_path is not None:
        inputs.csynth = (csynth_xml if csynth_path.suffix == ".xml" else csynth_rpt).parse(csynth_path)
    found: dict[str, list] = {kind: [] for kind in _STAGED_KINDS}
    for path in files:
        if path.suffix != ".rpt" or _is_csynth_name(path):
            continue
        parser = parser_for(path)
        if parser is not None and parser.KIND in found:
            found[parser.KIND].append(parser.parse(path))
        elif vivado_utilization.is_hierarchical(head(path)):
            inputs.warnings.append(f"not read: {path} (hierarchical utilization report; the flat one is read)")
    if found["utilization"]:
        inputs.utilization = _latest_stage(found["utilization"], "utilization reports", inputs.warnings)
    if found["timing"]:
        inputs.timing = _latest_stage(found["timing"], "timing summaries", inputs.warnings)
    if (directory / estimate_parser.FILE_NAME).is_file():
        inputs.estimate = estimate_parser.parse(directory / estimate_parser.FILE_NAME)
    if not (inputs.csynth or inputs.utilization or inputs.timing or inputs.estimate):
        raise UserError(
            f"no synthesis report or estimate under {directory} (searched for {_SEARCHED}); "
            "run `trigcomp build --csynth` (Vivado/Vitis HLS) or `trigcomp rtl` (open-tool estimate) first"
        )
    _check_foreign(inputs, force)
    return inputs


def file_inputs(path: Path) -> Inputs:
    """One report file given by the user: read as what it is (the user chose it, so no project check)."""
    parser = parser_for(path)
    if parser is None:
        if vivado_utilization.is_hierarchical(head(path)):
            raise UserError(f"{path}: hierarchical utilization reports are not read; give the flat report_utilization")
        raise UserError(
            f"{path}: not a report trigcomp reads (Vivado/Vitis HLS csynth .xml/.rpt, Vivado report_utilization "
            "or report_timing_summary, estimate.json)"
        )
    inputs = Inputs()
    setattr(inputs, parser.KIND, parser.parse(path))
    return inputs
