"""The vendor flow of trigcomp_top (firmware/build_trigcomp_top.tcl): run by `trigcomp build`, read by `report`.

No vendor tool is installed here: tests/data/vendor_stub/vivado_hls runs the flow in tclsh with the HLS commands
stubbed, recording every call, so the Tcl is executed for real (syntax, control flow, arguments) up to the tool.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from trigcomp.hls import FIRMWARE_DIR, VENDOR_FLOW

from .test_cli import run_cli

DATA = Path(__file__).parent / "data"
STUB = DATA / "vendor_stub"
CSYNTH = DATA / "reports" / "vivado2020_hls4ml_testreport" / "myproject_csynth.xml"
OTHER_CSYNTH = DATA / "reports" / "vivado2018_hls4ml_galapagos" / "myproject_csynth.xml"

pytestmark = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not on PATH: apt-get install tcl")


@pytest.fixture
def stubbed_project(tmp_path, tiny_project, monkeypatch):
    project = tmp_path / "project"
    shutil.copytree(tiny_project.path, project)
    monkeypatch.setenv("PATH", f"{STUB}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("TRIGCOMP_STUB_CSYNTH", str(CSYNTH))
    return project, tiny_project.manifest


def _calls(project: Path) -> list[list[str]]:
    return [line.split() for line in (project / "hls_calls.txt").read_text().splitlines()]


def test_every_project_carries_the_flow(tiny_project):
    for name in VENDOR_FLOW:
        assert (tiny_project.path / name).read_bytes() == (FIRMWARE_DIR / name).read_bytes()


def test_build_synthesises_trigcomp_top(capsys, stubbed_project):
    project, manifest = stubbed_project
    code, out, err = run_cli(capsys, "build", str(project), "--csynth", "--json")
    assert code == 0, err
    assert json.loads(out)["top"] == "trigcomp_top" and "build_trigcomp_top.tcl" in json.loads(out)["command"]
    calls = _calls(project)
    by_command = {call[0]: call[1:] for call in calls}
    assert by_command["set_top"] == ["trigcomp_top"]
    assert by_command["set_part"] == [manifest["part"]]
    assert float(by_command["create_clock"][1]) == manifest["clock_ns"]
    sources = [call[1] for call in calls if call[0] == "add_files"]
    assert sources == ["firmware/trigcomp_top.cpp", f"firmware/{manifest['project_name']}.cpp"]
    assert all((project / source).is_file() for source in sources)
    assert "csynth_design" in by_command and "exec" not in by_command and by_command["exit"] == ["0"]


def test_report_reads_the_top_not_the_encoder(capsys, stubbed_project):
    """With hls4ml's encoder report beside it, `report` reads trigcomp_top's."""
    project, _ = stubbed_project
    assert run_cli(capsys, "build", str(project), "--csynth")[0] == 0
    encoder_report = project / "myproject_prj" / "solution1" / "syn" / "report"
    encoder_report.mkdir(parents=True)
    shutil.copyfile(OTHER_CSYNTH, encoder_report / "myproject_csynth.xml")
    code, out, err = run_cli(capsys, "report", str(project), "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["top"] == "trigcomp_top"
    assert [Path(f["path"]).name for f in payload["files"] if f["kind"] == "csynth"] == ["trigcomp_top_csynth.xml"]


def test_vivado_synthesis_of_the_top(stubbed_project):
    """vsynth=1: Vivado is called on the flow's second script, which synthesises trigcomp_top's Verilog."""
    import subprocess

    project, manifest = stubbed_project
    flow = [str(STUB / "vivado_hls"), "-f", VENDOR_FLOW[0]]
    subprocess.run([*flow, "reset=1 synth=1 vsynth=1"], cwd=project, check=True, capture_output=True)
    vivado = next(call for call in _calls(project) if call[:2] == ["exec", "vivado"])
    script = project / vivado[vivado.index("-source") + 1]
    assert script.name == VENDOR_FLOW[1] and script.is_file()
    subprocess.run([str(STUB / "vivado_hls"), "-f", script.name], cwd=project, check=True, capture_output=True)
    by_command = {call[0]: call[1:] for call in _calls(project)}
    assert (project / by_command["add_files"][0]).is_dir()
    assert by_command["synth_design"][:4] == ["-top", "trigcomp_top", "-part", manifest["part"]]
    assert by_command["report_utilization"] == ["-file", "trigcomp_top_vivado_synth.rpt"]


def test_vivado_synthesis_needs_the_c_synthesis_first(stubbed_project):
    import subprocess

    project, _ = stubbed_project
    flow = [str(STUB / "vivado_hls"), "-f", VENDOR_FLOW[0], "reset=1 synth=0 vsynth=1"]
    completed = subprocess.run(flow, cwd=project, check=False, capture_output=True, text=True)
    assert completed.returncode == 1 and "run the C synthesis first" in completed.stdout
