"""trigcomp.reports on real vendor reports (tests/data/reports, provenance and expected numbers in SOURCES.md)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from trigcomp.boards import get_board
from trigcomp.errors import UserError
from trigcomp.reports import (
    RESOURCES,
    Estimate,
    budget_presets,
    check_budget,
    load_budget,
    read_report,
    render_markdown,
    render_text,
    result_json,
)

DATA = Path(__file__).parent / "data" / "reports"
VIVADO2020 = DATA / "vivado2020_hls4ml_testreport"
VIVADO2018 = DATA / "vivado2018_hls4ml_galapagos"
VITIS2022 = DATA / "vitis2022_jettagger_6nrp"
ZYNQ7020 = "xc7z020clg400-1"  # the part of the vivado2020 fixture


@dataclass(frozen=True)
class Expected:
    """The numbers SOURCES.md gives for one C-synthesis report."""

    tool: str
    version: str
    part: str
    top: str
    clock: tuple[float, float, float]  # target, estimated, uncertainty (ns)
    latency: tuple[int, int]  # best, worst (cycles)
    latency_ns: float
    interval: tuple[int, int]
    pipeline: str
    resources: dict
    available: dict


# SOURCES.md section 1
_VIVADO2020 = Expected(
    tool="Vivado HLS",
    version="2020.1",
    part="xc7z020-clg400-1",
    top="myproject",
    clock=(5.0, 4.049, 0.62),
    latency=(10, 10),
    latency_ns=50.0,
    interval=(8, 8),
    pipeline="dataflow",
    resources={"BRAM": 0, "DSP": 73, "FF": 7969, "LUT": 2532, "URAM": 0},
    available={"BRAM": 280, "DSP": 220, "FF": 106400, "LUT": 53200, "URAM": 0},
)
# SOURCES.md section 2: no real-time latency in 2018.2, so latency_ns = 14 cycles x 5 ns; no URAM at all
_VIVADO2018 = Expected(
    tool="Vivado HLS",
    version="2018.2",
    part="xcku115-flva1517-2-e",
    top="myproject",
    clock=(5.0, 4.168, 0.62),
    latency=(14, 14),
    latency_ns=70.0,
    interval=(1, 1),
    pipeline="function",
    resources={"BRAM": 18, "DSP": 792, "FF": 43219, "LUT": 21809},
    available={"BRAM": 4320, "DSP": 5520, "FF": 1326720, "LUT": 663360},
)
# SOURCES.md section 2, csynth.xml: the solution top is the Galapagos wrapper, not myproject
_GALAPAGOS_TOP = Expected(
    tool="Vivado HLS",
    version="2018.2",
    part="xcku115-flva1517-2-e",
    top="myproject_galapagos",
    clock=(5.0, 4.312, 0.62),
    latency=(115, 115),
    latency_ns=575.0,
    interval=(116, 116),
    pipeline="none",
    resources={"BRAM": 18, "DSP": 792, "FF": 44641, "LUT": 43343},
    available={"BRAM": 4320, "DSP": 5520, "FF": 1326720, "LUT": 663360},
)
# SOURCES.md section 3: DSP tag is <DSP>, not <DSP48E>
_VITIS2022 = Expected(
    tool="Vitis HLS",
    version="2022.2",
    part="xcu250-figd2104-2L-e",
    top="myproject",
    clock=(5.0, 3.636, 1.35),
    latency=(15, 15),
    latency_ns=75.0,
    interval=(1, 1),
    pipeline="yes",
    resources={"BRAM": 8, "DSP": 2557, "FF": 24233, "LUT": 116694, "URAM": 0},
    available={"BRAM": 5376, "DSP": 12288, "FF": 3456000, "LUT": 1728000, "URAM": 1280},
)

CSYNTH_FILES = {
    "vivado2020.xml": (VIVADO2020 / "myproject_csynth.xml", _VIVADO2020),
    "vivado2020.rpt": (VIVADO2020 / "myproject_csynth.rpt", _VIVADO2020),
    "vivado2018.xml": (VIVADO2018 / "myproject_csynth.xml", _VIVADO2018),
    "vivado2018.rpt": (VIVADO2018 / "myproject_csynth.rpt", _VIVADO2018),
    "vivado2018-solution-top.xml": (VIVADO2018 / "csynth.xml", _GALAPAGOS_TOP),
    "vitis2022.xml": (VITIS2022 / "myproject_csynth.xml", _VITIS2022),
    "vitis2022.rpt": (VITIS2022 / "myproject_csynth.rpt", _VITIS2022),
}
CSYNTH_RPTS = [name for name in CSYNTH_FILES if name.endswith(".rpt")]


def percent(used: float, available: float) -> float:
    return 100.0 * used / available


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def write_manifest(directory: Path, **overrides) -> None:
    manifest = {
        "kind": "hls",
        "part": "xcvu13p-flga2577-2-e",
        "clock_ns": 5.0,
        "board": "vu13p",
        "project_name": "myproject",
    }
    manifest |= overrides
    (directory / "trigcomp.json").write_text(json.dumps(manifest))


def write_estimate(directory: Path, **overrides) -> dict:
    """An estimate.json; ``overrides`` replace its JSON keys, so they can also break it."""
    estimate = (
        Estimate(
            source="estimate:da4ml",
            clock_ns=5.0,
            latency_cycles=(3, 4),
            latency_ns=20.0,
            ii=1,
            resources={"LUT": 1234, "FF": 567, "DSP": 0, "BRAM": 0},
            part="xcvu13p-flga2577-2-e",
            note="da4ml pipeline, LUT count from the adder graph",
        ).to_json()
        | overrides
    )
    (directory / "estimate.json").write_text(json.dumps(estimate))
    return estimate


def hls4ml_layout(project: Path, fixture: Path) -> Path:
    """A fixture's reports placed where hls4ml 1.3.0 writes them in a project."""
    report_dir = project / "myproject_prj" / "solution1" / "syn" / "report"
    report_dir.mkdir(parents=True)
    for report in fixture.glob("myproject_csynth.*"):
        shutil.copy(report, report_dir / report.name)
    if (fixture / "vivado_synth.rpt").exists():
        shutil.copy(fixture / "vivado_synth.rpt", project / "vivado_synth.rpt")
    return report_dir


# --------------------------------------------------------------------------------------------------------------
# C-synthesis reports, one file at a time


@pytest.mark.parametrize("name", CSYNTH_FILES)
def test_csynth_report_numbers(name):
    path, expected = CSYNTH_FILES[name]
    report = read_report(path)
    assert report.source == "csynth" and not report.is_estimate
    assert (report.tool, report.tool_version, report.part, report.top) == (
        expected.tool,
        expected.version,
        expected.part,
        expected.top,
    )
    assert (report.clock_target_ns, report.clock_estimated_ns, report.clock_uncertainty_ns) == expected.clock
    assert (report.latency_cycles_best, report.latency_cycles_worst) == expected.latency
    assert report.latency_ns == pytest.approx(expected.latency_ns)
    assert (report.interval_min, report.ii) == expected.interval
    assert report.pipeline_type == expected.pipeline
    assert report.resources == expected.resources
    assert report.resources_from == "csynth"
    # percentages of the whole device (not of one SLR), and none where the device has no URAM
    nonzero = {name: total for name, total in expected.available.items() if total}
    assert report.resources_available == nonzero
    assert report.resources_percent == pytest.approx(
        {name: percent(expected.resources[name], total) for name, total in nonzero.items()}
    )
    assert [entry["path"] for entry in report.files] == [str(path)]


@pytest.mark.parametrize("name", ["vivado2018.xml", "vitis2022.xml"])
def test_unset_target_ii_sentinel_is_none_and_a_real_target_is_kept(name, tmp_path):
    path, _ = CSYNTH_FILES[name]
    assert "<TargetInitiationInterval>4294967295<" in path.read_text()
    assert read_report(path).ii_target is None
    with_target = tmp_path / path.name
    with_target.write_text(path.read_text().replace(">4294967295<", ">1<"))
    assert read_report(with_target).ii_target == 1


@pytest.mark.parametrize("fixture", [VIVADO2020, VIVADO2018, VITIS2022], ids=lambda p: p.name)
def test_xml_and_rpt_give_the_same_numbers(fixture):
    from_xml = read_report(fixture / "myproject_csynth.xml").to_json()
    from_rpt = read_report(fixture / "myproject_csynth.rpt").to_json()
    for report in (from_xml, from_rpt):
        report.pop("files")
        report.pop("ii_target")  # only the XML states the target II
    assert from_xml == from_rpt


@pytest.mark.parametrize("fixture", [VIVADO2020, VIVADO2018, VITIS2022], ids=lambda p: p.name)
def test_agrees_with_hls4ml_report_reader(fixture, tmp_path, capsys):
    """Every number hls4ml's own reader gives for a project is the same in ours."""
    hls4ml_report = pytest.importorskip("hls4ml.report")
    hls4ml_layout(tmp_path, fixture)
    (tmp_path / "project.tcl").write_text('set project_name "myproject"\nset backend "vivado"\n')
    (tmp_path / "myproject_prj" / "vivado_hls.app").write_text(
        '<project xmlns="com.autoesl.autopilot.project" name="myproject_prj" top="myproject">'
        '<solutions><solution name="solution1" status=""/></solutions></project>'
    )
    theirs = hls4ml_report.parse_vivado_report(str(tmp_path))
    capsys.readouterr()  # hls4ml prints what it does not find
    ours = read_report(tmp_path / "myproject_prj" / "solution1" / "syn" / "report" / "myproject_csynth.xml")
    csynth = theirs["CSynthesisReport"]
    assert (int(csynth["BestLatency"]), int(csynth["WorstLatency"])) == (
        ours.latency_cycles_best,
        ours.latency_cycles_worst,
    )
    assert (int(csynth["IntervalMin"]), int(csynth["IntervalMax"])) == (ours.interval_min, ours.ii)
    assert float(csynth["TargetClockPeriod"]) == ours.clock_target_ns
    assert float(csynth["EstimatedClockPeriod"]) == ours.clock_estimated_ns
    hls4ml_names = {"BRAM_18K": "BRAM", "DSP": "DSP", "FF": "FF", "LUT": "LUT", "URAM": "URAM"}
    assert {ours_name: int(csynth[name]) for name, ours_name in hls4ml_names.items() if name in csynth} == (
        ours.resources
    )
    available = {
        ours_name: int(csynth[f"Available{name}"])
        for name, ours_name in hls4ml_names.items()
        if f"Available{name}" in csynth
    }
    assert {name: total for name, total in available.items() if total} == ours.resources_available
    if "VivadoSynthReport" in theirs:
        vivado = theirs["VivadoSynthReport"]
        post_synth = read_report(tmp_path / "vivado_synth.rpt").resources
        assert (int(vivado["LUT"]), int(vivado["FF"]), int(vivado["DSP48E"])) == (
            post_synth["LUT"],
            post_synth["FF"],
            post_synth["DSP"],
        )
        # hls4ml reads the Block RAM Tile count (36 Kb) into its BRAM_18K key; ours counts 18 Kb blocks
        assert 2 * float(vivado["BRAM_18K"]) == post_synth["BRAM"]


# --------------------------------------------------------------------------------------------------------------
# Vivado utilization and timing


def test_vivado_utilization_report_alone():
    report = read_report(VIVADO2020 / "vivado_synth.rpt")
    assert report.source == "vivado_synth"
    assert (report.tool, report.tool_version, report.top) == ("Vivado", "2020.1", "myproject")
    assert report.resources == {"LUT": 1526, "FF": 2428, "DSP": 66, "BRAM": 0}  # no URAM row on 7-series
    # 140 Block RAM tiles of 36 Kb are the 280 18 Kb blocks the HLS report counts
    assert report.resources_available == {"LUT": 53200, "FF": 106400, "DSP": 220, "BRAM": 280}
    assert report.resources_percent["DSP"] == pytest.approx(30.0)
    assert report.latency_ns is None and report.ii is None


def ultrascale_plus_utilization(tmp_path: Path, bram_tiles: str) -> Path:
    """The 7-series fixture with UltraScale+ row names, a Prohibited column and a fractional BRAM tile count."""
    text = (VIVADO2020 / "vivado_synth.rpt").read_text()
    text = text.replace("| Slice LUTs*  ", "| CLB LUTs*    ").replace("| Slice Registers ", "| CLB Registers   ")
    text = re.sub(r"\| Block RAM Tile \|\s+0 \|", f"| Block RAM Tile | {bram_tiles:>4} |", text)
    text = text.replace("Design State : Synthesized", "Design State : Routed")
    five_cells = re.compile(r"^(\|[^|]*\|[^|]*\|[^|]*\|)([^|]*\|[^|]*\|)$")  # Site Type | Used | Fixed | Avail | %

    def add_prohibited(line: str) -> str:
        match = five_cells.match(line)
        if not match:
            return line
        header = "Site Type" in line
        return match.group(1) + (" Prohibited |" if header else "          0 |") + match.group(2)

    path = tmp_path / "myproject_utilization_routed.rpt"
    path.write_text("\n".join(add_prohibited(line) for line in text.splitlines()) + "\n")
    return path


def test_ultrascale_utilization_row_names_and_prohibited_column(tmp_path):
    report = read_report(ultrascale_plus_utilization(tmp_path, "24.5"))
    assert report.source == "vivado_impl"
    assert report.resources == {"LUT": 1526, "FF": 2428, "DSP": 66, "BRAM": 49}
    assert report.resources_available["LUT"] == 53200


def timing_summary(wns: str, period: str = "5.000", state: str = "Routed") -> str:
    """A report_timing_summary in Vivado's layout (the fixtures hold no timing report)."""
    columns = ["WNS(ns)", "TNS(ns)", "TNS Failing Endpoints", "TNS Total Endpoints", "WHS(ns)", "THS(ns)"]
    values = [wns, "-13.146", "57", "973", "0.082", "0.000"]
    widths = [max(len(c), len(v)) for c, v in zip(columns, values)]
    return "\n".join(
        [
            "Copyright 1986-2020 Xilinx, Inc. All Rights Reserved.",
            "-" * 60,
            "| Tool Version      : Vivado v.2020.1 (lin64) Build 2902540 Wed May 27 19:54:35 MDT 2020",
            "| Command           : report_timing_summary -file timing.rpt",
            "| Design            : myproject",
            f"| Design State      : {state}",
            "-" * 60,
            "",
            "Timing Summary Report",
            "",
            "| Design Timing Summary",
            "| ---------------------",
            "-" * 60,
            "",
            "    " + "  ".join(c.rjust(w) for c, w in zip(columns, widths)),
            "    " + "  ".join(("-" * len(c)).rjust(w) for c, w in zip(columns, widths)),
            "    " + "  ".join(v.rjust(w) for v, w in zip(values, widths)),
            "",
            "| Clock Summary",
            "| -------------",
            "-" * 60,
            "",
            "Clock   Waveform(ns)       Period(ns)      Frequency(MHz)",
            "-----   ------------       ----------      --------------",
            f"ap_clk  {{0.000 2.500}}      {period}           200.000",
            "",
        ]
    )


def test_timing_summary_gives_the_achieved_clock(tmp_path):
    project = tmp_path / "prj"
    project.mkdir()
    hls4ml_layout(project, VIVADO2020)
    (project / "myproject_timing_summary_routed.rpt").write_text(timing_summary("-0.333"))
    report = read_report(project)
    assert report.clock_estimated_ns == pytest.approx(5.0 + 0.333)
    assert report.clock_estimated_from == "vivado_impl_timing"
    assert report.timing["met"] is False and report.timing["wns_ns"] == pytest.approx(-0.333)
    assert report.source == "csynth+vivado_synth+vivado_impl_timing"
    (tmp_path / "budget.toml").write_text("[limits]\nclock_ns = 5.0\n")
    check = check_budget(report, load_budget(str(tmp_path / "budget.toml")))
    assert not check.within_budget and check.rows[0].margin == pytest.approx(-0.333)


def test_unconstrained_timing_has_no_achieved_clock(tmp_path):
    path = tmp_path / "timing.rpt"
    path.write_text(timing_summary("inf"))
    report = read_report(path)
    assert report.timing["wns_ns"] is None and report.timing["met"] is None
    assert report.clock_estimated_ns is None


# --------------------------------------------------------------------------------------------------------------
# Directories and projects


def test_report_dir_combines_csynth_and_post_synthesis_resources():
    report = read_report(VIVADO2020)
    assert report.source == "csynth+vivado_synth"
    assert report.latency_cycles_worst == 10 and report.latency_from == "csynth"
    assert report.resources_from == "vivado_synth"
    assert report.resources == {"LUT": 1526, "FF": 2428, "DSP": 66, "BRAM": 0}
    assert report.resources_by_source["csynth"] == _VIVADO2020.resources
    assert report.resources_percent["LUT"] == pytest.approx(percent(1526, 53200))
    assert [Path(entry["path"]).name for entry in report.files] == ["myproject_csynth.xml", "vivado_synth.rpt"]


def test_report_dir_reads_the_solution_top():
    report = read_report(VIVADO2018)
    assert report.top == "myproject_galapagos"
    assert [Path(entry["path"]).name for entry in report.files] == ["csynth.xml"]


def test_project_picks_the_top_functions_report_among_sub_function_reports(tmp_path):
    write_manifest(tmp_path, kind="hls", part="xc7z020clg400-1", board="custom")
    report_dir = hls4ml_layout(tmp_path, VIVADO2020)
    shutil.copy(VIVADO2018 / "myproject_csynth.xml", report_dir / "relu_config3_csynth.xml")
    report = read_report(tmp_path)
    assert report.latency_cycles_worst == 10
    assert [entry["kind"] for entry in report.files] == ["manifest", "csynth", "utilization"]
    assert report.files[1]["path"].endswith("myproject_csynth.xml")


def test_several_reports_and_no_top_is_an_error(tmp_path):
    shutil.copy(VIVADO2020 / "myproject_csynth.xml", tmp_path / "dense_csynth.xml")
    shutil.copy(VIVADO2018 / "myproject_csynth.xml", tmp_path / "relu_csynth.xml")
    with pytest.raises(UserError, match="several C-synthesis reports") as excinfo:
        read_report(tmp_path)
    assert "dense_csynth.xml" in one_line_error(excinfo)


def test_estimate_only_project_is_labelled_as_an_estimate(tmp_path):
    write_manifest(tmp_path, kind="rtl")
    estimate = write_estimate(tmp_path)
    report = read_report(tmp_path)
    assert report.source == "estimate:da4ml" and report.is_estimate
    assert report.latency_ns == estimate["latency_ns"] and report.ii == 1
    assert report.resources == estimate["resources"]
    vu13p = get_board("vu13p")
    assert report.resources_available_from["LUT"] == "board:vu13p"
    assert report.resources_percent["LUT"] == pytest.approx(percent(1234, vu13p.totals["LUT"]))
    text = render_text(report)
    assert text.splitlines()[0] == "*** ESTIMATE (not a synthesis result) ***"
    assert "ESTIMATE (not a synthesis result)" in render_markdown(report).splitlines()[0]
    assert result_json(report, None)["source"] == "estimate:da4ml"


def test_vendor_reports_win_over_the_estimate(tmp_path):
    write_manifest(tmp_path, part=ZYNQ7020, board="custom")  # the fixture's part: a foreign one is refused
    hls4ml_layout(tmp_path, VIVADO2020)
    write_estimate(tmp_path, part=ZYNQ7020)
    report = read_report(tmp_path)
    assert report.source == "csynth+vivado_synth"
    assert report.latency_cycles_worst == 10 and report.resources["LUT"] == 1526
    assert any("estimate.json" in warning for warning in report.warnings)
    assert "ESTIMATE" not in render_text(report)


def test_estimate_fills_latency_missing_from_a_vivado_utilization_report(tmp_path):
    write_manifest(tmp_path, kind="rtl", part=ZYNQ7020, board="custom")
    write_estimate(tmp_path, part=ZYNQ7020)
    shutil.copy(VIVADO2020 / "vivado_synth.rpt", tmp_path / "vivado_synth.rpt")
    report = read_report(tmp_path)
    assert report.source == "vivado_synth+estimate:da4ml" and not report.is_estimate
    assert report.latency_from == "estimate:da4ml" and report.resources_from == "vivado_synth"
    latency_line = next(line for line in render_text(report).splitlines() if line.startswith("latency"))
    assert "ESTIMATE (not a synthesis result)" in latency_line


def test_nothing_to_read_says_what_was_searched(tmp_path):
    write_manifest(tmp_path)
    with pytest.raises(UserError) as excinfo:
        read_report(tmp_path)
    message = one_line_error(excinfo)
    assert "_csynth.xml" in message and "estimate.json" in message
    assert "trigcomp build --csynth" in message and "trigcomp rtl" in message


# --------------------------------------------------------------------------------------------------------------
# Bad input


def test_missing_path(tmp_path):
    with pytest.raises(UserError, match="no such"):
        read_report(tmp_path / "absent")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_xml(fraction, tmp_path):
    text = (VIVADO2020 / "myproject_csynth.xml").read_text()
    path = tmp_path / "myproject_csynth.xml"
    path.write_text(text[: int(len(text) * fraction)])
    with pytest.raises(UserError, match="malformed XML") as excinfo:
        read_report(path)
    one_line_error(excinfo)


@pytest.mark.parametrize("name", CSYNTH_RPTS)
@pytest.mark.parametrize("cut_before", ["+ Latency", "|Total", "|Available "])
def test_truncated_csynth_rpt(name, cut_before, tmp_path):
    text = CSYNTH_FILES[name][0].read_text()
    path = tmp_path / "myproject_csynth.rpt"
    path.write_text(text[: text.index(cut_before)])
    with pytest.raises(UserError, match="truncated C-synthesis text report") as excinfo:
        read_report(path)
    message = one_line_error(excinfo)
    assert "missing" in message and "found report title" in message


def test_truncated_utilization_report_names_the_missing_rows(tmp_path):
    text = (VIVADO2020 / "vivado_synth.rpt").read_text()
    path = tmp_path / "vivado_synth.rpt"
    path.write_text(text[: text.index("2. Memory\n---")])
    with pytest.raises(UserError) as excinfo:
        read_report(path)
    message = one_line_error(excinfo)
    assert "DSP row" in message and "BRAM row" in message and "LUT rows" in message


def test_report_from_an_unknown_tool_version_says_which_fields_were_found(tmp_path):
    text = (VITIS2022 / "myproject_csynth.xml").read_text()
    text = text.replace("<Version>2022.2</Version>", "<Version>2031.1</Version>")
    text = text.replace("SummaryOfOverallLatency>", "LatencySummary>")
    path = tmp_path / "myproject_csynth.xml"
    path.write_text(text)
    with pytest.raises(UserError) as excinfo:
        read_report(path)
    message = one_line_error(excinfo)
    assert "2031.1" in message
    assert "missing PerformanceEstimates/SummaryOfOverallLatency/Best-caseLatency" in message
    assert "UserAssignments/Part" in message.split("found", 1)[1]


def test_unrecognised_file(tmp_path):
    path = tmp_path / "notes.rpt"
    path.write_text("nothing a vendor tool wrote\n")
    with pytest.raises(UserError, match="not a report trigcomp reads"):
        read_report(path)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[limits]\nlatency_us = 1\n", r"unknown limit 'latency_us'; allowed: latency_ns, .*URAM"),
        ('[limits]\nLUT = "1 kLUT"\n', r"LUT = '1 kLUT' has an unknown unit; give a count .* percentage"),
        ('[limits]\nlatency_ns = "50 us"\n', r"latency_ns = '50 us'; expected a plain number of ns"),
        ("[limits]\nii = 1.5\n", "expected a whole number of cycles"),
        ("[limits]\nDSP = -1\n", "not negative"),
        ('[limits]\nLUT = "1%"\nlut = 10\n', "LUT limited twice"),
        ("budget = 3\n[limits]\nii = 1\n", r"unknown key 'budget'; allowed: description, \[limits\]"),
        ('description = "x"\n', r"needs a \[limits\] table"),
        ("[limits\nii = 1\n", "malformed TOML"),
    ],
)
def test_bad_budget_files(toml, expected, tmp_path):
    path = tmp_path / "budget.toml"
    path.write_text(toml)
    with pytest.raises(UserError, match=expected) as excinfo:
        load_budget(str(path))
    one_line_error(excinfo)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(UserError) as excinfo:
        load_budget("l1t-tight")
    message = one_line_error(excinfo)
    assert all(name in message for name in budget_presets())


def test_missing_budget_file(tmp_path):
    with pytest.raises(UserError, match="budget file not found"):
        load_budget(str(tmp_path / "absent.toml"))


def test_percentage_limit_without_device_totals(tmp_path):
    write_manifest(tmp_path, kind="rtl", board="custom", part="xc7a35t-cpg236-1")
    write_estimate(tmp_path, part="xc7a35t-cpg236-1")
    report = read_report(tmp_path)
    assert report.resources_available == {}
    with pytest.raises(UserError, match="--board"):
        check_budget(report, load_budget("l1t-encoder"))


# --------------------------------------------------------------------------------------------------------------
# Budgets


def test_presets():
    assert {"l1t-encoder", "l1t-loose"} <= set(budget_presets())
    encoder = {limit.quantity: (limit.value, limit.unit) for limit in load_budget("l1t-encoder").limits}
    assert encoder == {"ii": (1, "cycles"), "latency_ns": (50, "ns"), "LUT": (1, "%"), "DSP": (0, "count")}
    for name in budget_presets():
        assert load_budget(name).limits


def test_l1t_encoder_on_the_vitis_jet_tagger():
    report = read_report(VITIS2022)
    check = check_budget(report, load_budget("l1t-encoder"))
    rows = {row.quantity: row for row in check.rows}
    assert rows["ii"].passed and rows["ii"].margin == 0
    assert not rows["latency_ns"].passed and rows["latency_ns"].margin == pytest.approx(50 - 75)
    assert rows["LUT"].value == pytest.approx(percent(116694, 1728000)) and not rows["LUT"].passed
    assert rows["DSP"].value == 2557 and not rows["DSP"].passed
    assert check.within_budget is False


def test_limits_are_inclusive_upper_bounds(tmp_path):
    report = read_report(VIVADO2020)
    at_limit = tmp_path / "at.toml"
    at_limit.write_text(
        f"[limits]\nlatency_ns = {report.latency_ns}\nlatency_cycles = {report.latency_cycles_worst}\n"
        f'ii = {report.ii}\nlut = {report.resources["LUT"]}\nFF = "{report.resources_percent["FF"] + 1e-6}%"\n'
    )
    assert check_budget(report, load_budget(str(at_limit))).within_budget
    over = tmp_path / "over.toml"
    over.write_text(f"[limits]\nlatency_cycles = {report.latency_cycles_worst - 1}\nLUT = {report.resources['LUT']}\n")
    check = check_budget(report, load_budget(str(over)))
    assert [row.passed for row in check.rows] == [False, True]
    assert check.rows[0].margin == -1


def test_unreported_quantity_fails_its_row(tmp_path):
    (tmp_path / "uram.toml").write_text("[limits]\nURAM = 0\n")
    check = check_budget(read_report(VIVADO2018 / "myproject_csynth.xml"), load_budget(str(tmp_path / "uram.toml")))
    assert check.rows[0].value is None and not check.rows[0].passed


def test_board_overrides_the_device_totals():
    vu9p = get_board("vu9p")
    report = read_report(VITIS2022, board=vu9p)
    assert report.resources_available == vu9p.totals
    assert report.resources_percent["LUT"] == pytest.approx(percent(116694, vu9p.totals["LUT"]))
    assert any("xcu250-figd2104-2L-e" in warning for warning in report.warnings)


# --------------------------------------------------------------------------------------------------------------
# Output


def test_result_json_keys_and_serialisable():
    report = read_report(VIVADO2020)
    check = check_budget(report, load_budget("l1t-loose"))
    result = json.loads(json.dumps(result_json(report, check)))
    assert result["source"] == "csynth+vivado_synth"
    assert result["latency_cycles"] == {"best": 10, "worst": 10} and result["latency_ns"] == 50.0
    assert result["ii"] == 8 and set(RESOURCES[:4]) <= set(result["resources"])
    assert result["within_budget"] is False
    assert result["clock"]["target_ns"] == 5.0 and result["clock"]["estimated_ns"] == 4.049
    assert result["resources_by_source"]["csynth"]["LUT"] == 2532
    assert result["tool"] == "Vivado HLS" and result["tool_version"] == "2020.1"
    assert {row["quantity"] for row in result["budget"]["rows"]} == {"ii", "latency_ns", "LUT", "FF", "DSP", "BRAM"}
    assert [entry["kind"] for entry in result["files"]] == ["csynth", "utilization"]
    assert result_json(report, None)["within_budget"] is None


def test_text_tables_are_aligned():
    report = read_report(VITIS2022)
    text = render_text(report, check_budget(report, load_budget("l1t-encoder")))
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("quantity"))
    table = lines[header : header + 2 + 4]
    assert len({len(line) for line in table}) == 1  # right-aligned columns: every row as wide as the header
    assert table[-1].split()[0] == "DSP" and table[-1].endswith("FAIL")
    assert "OVER BUDGET (3 of 4 limits failed)" in text
    assert "ESTIMATE" not in text


def test_markdown_tables():
    report = read_report(VIVADO2020)
    markdown = render_markdown(report, check_budget(report, load_budget("l1t-encoder")))
    assert "| quantity | value | limit | margin | result |" in markdown
    assert "| LUT | 2.87 % | 1 % | -1.87 % | FAIL |" in markdown
    assert "**OVER BUDGET" in markdown


@pytest.mark.parametrize(
    ("name", "replacements"),
    [
        (
            "vitis2022.xml",
            [
                (">15</Worst-caseLatency>", ">undef</Worst-caseLatency>"),
                (">75.000 ns</Worst-caseRealTimeLatency>", ">undef</Worst-caseRealTimeLatency>"),
            ],
        ),
        (
            "vitis2022.rpt",
            [("|       15|       15|  75.000 ns|  75.000 ns|", "|       15|        ?|  75.000 ns|        ?|")],
        ),
    ],
)
def test_variable_latency_is_unknown_and_fails_a_latency_limit(name, replacements, tmp_path):
    path, expected = CSYNTH_FILES[name]
    text = path.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    variable = tmp_path / path.name
    variable.write_text(text)
    report = read_report(variable)
    assert report.latency_cycles_best == expected.latency[0]
    assert report.latency_cycles_worst is None and report.latency_ns is None
    rows = check_budget(report, load_budget("l1t-encoder")).rows
    latency = next(row for row in rows if row.quantity == "latency_ns")
    assert latency.value is None and latency.margin is None and not latency.passed
    assert "n/a" in render_text(report)


def test_mixed_report_marks_the_estimated_numbers(tmp_path):
    write_manifest(tmp_path, kind="rtl", part="xc7z020clg400-1", board="custom")
    write_estimate(tmp_path, part="xc7z020clg400-1")
    shutil.copy(VIVADO2020 / "vivado_synth.rpt", tmp_path / "vivado_synth.rpt")
    report = read_report(tmp_path)
    text = render_text(report, check_budget(report, load_budget("l1t-loose")))
    rows = {line.split()[0]: line for line in text.splitlines() if line.split()}
    assert rows["latency_ns"].split()[1:4] == ["20", "ns", "(estimate)"]
    assert "(estimate)" not in rows["LUT"]
    assert "(estimate): ESTIMATE (not a synthesis result), from estimate:da4ml" in text


def test_hierarchical_utilization_is_skipped_in_a_directory_and_refused_alone(tmp_path):
    text = (VIVADO2020 / "vivado_synth.rpt").read_text()
    text = text.replace("report_utilization -file", "report_utilization -hierarchical -file")
    (tmp_path / "util.rpt").write_text(text)
    shutil.copy(VIVADO2020 / "myproject_csynth.xml", tmp_path)
    report = read_report(tmp_path)
    assert report.source == "csynth" and report.resources["LUT"] == 2532
    assert any("hierarchical" in warning for warning in report.warnings)
    with pytest.raises(UserError, match="hierarchical"):
        read_report(tmp_path / "util.rpt")


def test_project_reads_only_its_tops_csynth_report(tmp_path):
    write_manifest(tmp_path, project_name="encoder", board="custom", part="xc7z020clg400-1")
    hls4ml_layout(tmp_path, VIVADO2020)  # reports of "myproject", not of "encoder"
    report = read_report(tmp_path)
    assert report.source == "vivado_synth" and report.latency_ns is None
    assert any("none is the report of the top, encoder" in warning for warning in report.warnings)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("trigcomp.json", '{"kind": "hls"', "unreadable project manifest"),
        ("trigcomp.json", '{"kind": "hls"}', "project manifest lacks part, clock_ns, board, project_name"),
        ("estimate.json", '{"source": "da4ml"}', "estimate lacks or has non-numeric clock_ns"),
    ],
)
def test_bad_project_files(name, content, expected, tmp_path):
    (tmp_path / name).write_text(content)
    with pytest.raises(UserError, match=expected) as excinfo:
        read_report(tmp_path)
    one_line_error(excinfo)


def test_estimate_must_say_it_is_one(tmp_path):
    write_estimate(tmp_path, source="da4ml")
    with pytest.raises(UserError, match="must start with 'estimate'"):
        read_report(tmp_path / "estimate.json")


def test_fixtures_are_the_unedited_copies_sources_md_lists():
    listed = re.findall(r"^([0-9a-f]{64})\s+(\d+) (\S+)$", (DATA / "SOURCES.md").read_text(), re.MULTILINE)
    assert len(listed) == 8
    for sha256, size, name in listed:
        content = (DATA / name).read_bytes()
        assert (hashlib.sha256(content).hexdigest(), len(content)) == (sha256, int(size))


# --------------------------------------------------------------------------------------------------------------
# A report of another design found in a project, and `trigcomp report` on the command line


def foreign_csynth(report_dir: Path, top: str = "myproject", part: str = "xc7z020-clg400-1") -> Path:
    """The vivado2020 csynth.xml edited to say another top and/or part, as the solution-level csynth.xml."""
    text = (VIVADO2020 / "myproject_csynth.xml").read_text()
    text = text.replace("<TopModelName>myproject</TopModelName>", f"<TopModelName>{top}</TopModelName>")
    text = text.replace("<Part>xc7z020-clg400-1</Part>", f"<Part>{part}</Part>")
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "csynth.xml").write_text(text)
    return report_dir / "csynth.xml"


@pytest.mark.parametrize(
    ("top", "part", "expected"),
    [
        ("otherthing", ZYNQ7020, "is of top 'otherthing', the project's is trigcomp_top or myproject"),
        ("myproject", "xcvu9p-flga2104-2L-e", "is for part xcvu9p-flga2104-2L-e, the project's is xc7z020clg400-1"),
        ("trigcomp_top", "xcku115-flva1517-2-e", "is for part xcku115-flva1517-2-e"),
    ],
)
def test_a_report_of_another_top_or_part_is_refused_in_a_project(tmp_path, top, part, expected):
    write_manifest(tmp_path, part=ZYNQ7020, board="custom", top="trigcomp_top")
    report = foreign_csynth(tmp_path / "myproject_prj" / "solution1" / "syn" / "report", top, part)
    with pytest.raises(UserError, match=re.escape(expected)) as excinfo:
        read_report(tmp_path)
    assert "--force" in one_line_error(excinfo)
    forced = read_report(tmp_path, force=True)
    assert forced.top == top and forced.latency_cycles_worst == 10
    assert any(w.startswith("FOREIGN REPORT read because of --force") and expected in w for w in forced.warnings)
    assert read_report(report).top == top  # a report file given by itself is the user's choice


def test_the_projects_own_tops_and_spellings_of_its_part_are_accepted(tmp_path):
    write_manifest(tmp_path, part=ZYNQ7020, board="custom", top="trigcomp_top")
    report_dir = tmp_path / "trigcomp_top_prj" / "solution1" / "syn" / "report"
    foreign_csynth(report_dir, "trigcomp_top", "XC7Z020-CLG400-1")
    (report_dir / "csynth.xml").rename(report_dir / "trigcomp_top_csynth.xml")
    hls4ml_layout(tmp_path, VIVADO2020)  # hls4ml's myproject report beside it: the packed top's wins
    report = read_report(tmp_path)
    assert report.top == "trigcomp_top" and report.files[1]["path"].endswith("trigcomp_top_csynth.xml")
    assert not any("FOREIGN" in warning for warning in report.warnings)


def test_hls4ml_top_report_is_read_when_the_packed_top_has_none(tmp_path):
    write_manifest(tmp_path, part=ZYNQ7020, board="custom", top="trigcomp_top")
    report_dir = hls4ml_layout(tmp_path, VIVADO2020)
    shutil.copy(VIVADO2018 / "csynth.xml", report_dir / "csynth.xml")  # another top's solution-level report
    report = read_report(tmp_path)
    assert report.top == "myproject" and report.files[1]["path"].endswith("myproject_csynth.xml")


def test_foreign_estimate_part_is_refused_too(tmp_path):
    write_manifest(tmp_path, kind="rtl")
    write_estimate(tmp_path, part="xc7a35t-cpg236-1")
    with pytest.raises(UserError, match="estimate.json is for part xc7a35t-cpg236-1"):
        read_report(tmp_path)


def test_report_cli_junit_names_estimated_budget_lines(capsys, tmp_path):
    write_manifest(tmp_path, kind="rtl", part=ZYNQ7020, board="custom")
    write_estimate(tmp_path, part=ZYNQ7020)
    shutil.copy(VIVADO2020 / "vivado_synth.rpt", tmp_path / "vivado_synth.rpt")  # resources, no latency
    junit, budget = tmp_path / "report.xml", tmp_path / "budget.toml"
    budget.write_text("[limits]\nlatency_ns = 100\nLUT = 100000\n")
    code, _, _ = run_report_cli(capsys, tmp_path, "--budget", budget, "--junit", junit)
    assert code == 0
    names = set(junit_cases(junit))
    assert names == {"budget latency_ns (estimate)", "budget LUT"}


def run_report_cli(capsys, *argv):
    from trigcomp.cli import main

    code = main(["report", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def junit_cases(path: Path) -> dict[str, str | None]:
    """name -> failure message (None when the case passed)."""
    import xml.etree.ElementTree as ET

    cases = ET.parse(path).getroot().iter("testcase")
    return {
        case.get("name"): case.find("failure").get("message") if case.find("failure") is not None else None
        for case in cases
    }


def test_report_cli_budget_exit_codes_and_junit(capsys, tmp_path):
    write_manifest(tmp_path, part=ZYNQ7020, board="custom")
    hls4ml_layout(tmp_path, VIVADO2020)
    junit = tmp_path / "ci" / "report.xml"
    loose = tmp_path / "loose.toml"
    loose.write_text('[limits]\nlatency_cycles = 10\nLUT = 2000\nDSP = "100%"\n')
    code, out, _ = run_report_cli(capsys, tmp_path, "--budget", loose, "--junit", junit, "--json")
    assert code == 0 and json.loads(out)["within_budget"] is True
    assert junit_cases(junit) == {"budget latency_cycles": None, "budget LUT": None, "budget DSP": None}

    tight = tmp_path / "tight.toml"
    tight.write_text("[limits]\nlatency_cycles = 9\nLUT = 1000\nDSP = 0\n")
    code, out, _ = run_report_cli(capsys, tmp_path, "--budget", tight, "--junit", junit)
    assert code == 1 and "OVER BUDGET" in out
    failures = junit_cases(junit)
    assert failures["budget latency_cycles"] == f"latency_cycles 10 cycles > limit 9 cycles ({tight})"
    assert failures["budget LUT"] == f"LUT 1526 > limit 1000 ({tight})"
    assert set(failures) == {"budget latency_cycles", "budget LUT", "budget DSP"}

    code, _, _ = run_report_cli(capsys, tmp_path, "--junit", junit)  # no budget: one case, the reports were read
    assert code == 0 and junit_cases(junit) == {"read report": None}


def test_report_cli_refuses_a_foreign_report_unless_forced(capsys, tmp_path):
    write_manifest(tmp_path, part="xcvu13p-flga2577-2-e", board="vu13p")
    foreign_csynth(tmp_path / "myproject_prj" / "solution1" / "syn" / "report", "otherthing", ZYNQ7020)
    junit = tmp_path / "report.xml"
    code, out, err = run_report_cli(capsys, tmp_path, "--budget", "l1t-loose", "--junit", junit)
    assert (code, out) == (2, "") and err.count("\n") == 1 and "otherthing" in err and "Traceback" not in err
    assert not junit.exists()
    code, out, err = run_report_cli(capsys, tmp_path, "--force", "--json")
    assert code == 0 and any("FOREIGN REPORT" in warning for warning in json.loads(out)["warnings"])


def test_report_cli_refuses_to_overwrite_a_file_that_is_not_junit(capsys, tmp_path):
    precious = tmp_path / "notes.txt"
    precious.write_text("mine")
    code, _, err = run_report_cli(capsys, VIVADO2020 / "myproject_csynth.xml", "--junit", precious)
    assert code == 2 and "not a JUnit XML file" in err and precious.read_text() == "mine"


# --------------------------------------------------------------------------------------------------------------
# estimate.json: one record for every writer and the reader


ESTIMATE_KEYS = {"source", "clock_ns", "latency_cycles", "latency_ns", "ii", "resources", "part", "logic_depth", "note"}


def test_estimate_record_keeps_the_json_keys_and_round_trips(tmp_path):
    estimate = Estimate(
        source="estimate:yosys+da4ml",
        clock_ns=4.0,
        latency_cycles=(7, 8),
        latency_ns=32.0,
        ii=1,
        resources={"LUT": 100, "FF": 50, "DSP": 0, "BRAM": 0, "CARRY": 9},
        part="xcvu13p-flga2577-2-e",
        logic_depth=3,
        note="n",
    )
    data = json.loads(estimate.write(tmp_path).read_text())
    assert set(data) == ESTIMATE_KEYS | {"schema_version"} and data["schema_version"] == 1
    assert data["latency_cycles"] == {"best": 7, "worst": 8} and data["resources"]["CARRY"] == 9
    assert Estimate.from_json(data) == estimate
    assert Estimate.read(tmp_path) == estimate
    report = read_report(tmp_path / "estimate.json")
    assert report.resources == {"LUT": 100, "FF": 50, "DSP": 0, "BRAM": 0}  # CARRY is no budget resource
    assert report.latency_cycles_worst == 8 and report.latency_ns_best == 28.0


def test_estimate_without_schema_version_is_version_1_and_a_newer_one_is_refused(tmp_path):
    data = write_estimate(tmp_path)
    del data["schema_version"]
    assert Estimate.from_json(data).latency_cycles == (3, 4)
    write_estimate(tmp_path, schema_version=2)
    with pytest.raises(UserError, match="schema_version 2; this trigcomp reads version 1"):
        read_report(tmp_path / "estimate.json")
