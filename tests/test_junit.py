"""trigcomp.junit: the JUnit XML that CI renders, parsed back with the standard library."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from trigcomp.errors import UserError
from trigcomp.junit import JUnitCase, write_junit

CASES = [
    JUnitCase("mismatches", "trigcomp.csim.jet10", details="0 of 42762 jets differ", time_s=1.25),
    JUnitCase("budget LUT", "trigcomp.report.jet10", failure="LUT 21173 > 17280\nover by 3893", time_s=0.5),
    JUnitCase("target pt (pt 20-30) <&\"'>", "trigcomp.evaluate", failure='a < b & "c"', details="x\x00y <z>"),
]


def test_counts_cases_and_failures_parse_back(tmp_path: Path):
    path = tmp_path / "junit.xml"
    write_junit(path, "trigcomp csim", CASES)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    for element in (root, suite):
        assert (element.get("tests"), element.get("failures"), element.get("errors")) == ("3", "2", "0")
        assert element.get("name") == "trigcomp csim"
        assert float(element.get("time")) == pytest.approx(1.75)
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["mismatches", "budget LUT", "target pt (pt 20-30) <&\"'>"]
    assert [c.get("classname") for c in cases] == ["trigcomp.csim.jet10", "trigcomp.report.jet10", "trigcomp.evaluate"]
    assert cases[0].find("failure") is None
    assert cases[0].findtext("system-out") == "0 of 42762 jets differ"
    assert cases[1].find("failure").get("message") == "LUT 21173 > 17280 over by 3893"  # one line
    assert cases[2].find("failure").get("message") == 'a < b & "c"'
    assert cases[2].findtext("system-out") == "x?y <z>"  # a NUL cannot be carried by XML at all


def test_same_cases_give_the_same_bytes_and_a_rerun_replaces_the_file(tmp_path: Path):
    first, second = tmp_path / "a.xml", tmp_path / "b.xml"
    write_junit(first, "s", CASES)
    write_junit(second, "s", CASES)
    assert first.read_bytes() == second.read_bytes()
    write_junit(first, "s", CASES[:1])
    assert ET.parse(first).getroot().get("tests") == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xml", "b.xml"]  # no temporary file left


def test_parent_directories_are_created(tmp_path: Path):
    path = tmp_path / "ci" / "results" / "csim.xml"
    write_junit(path, "s", [])
    assert ET.parse(path).getroot().get("tests") == "0"


def test_other_files_and_directories_are_refused(tmp_path: Path):
    precious = tmp_path / "model.json"
    precious.write_text('{"keep": true}')
    with pytest.raises(UserError, match="not a JUnit XML file"):
        write_junit(precious, "s", CASES)
    assert precious.read_text() == '{"keep": true}'
    with pytest.raises(UserError, match="is a directory"):
        write_junit(tmp_path, "s", CASES)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot write"):
        write_junit(blocker / "junit.xml", "s", CASES)


def test_unwritable_location_is_a_user_error():
    # /proc refuses new files even for root, which the test machines run as
    with pytest.raises(UserError, match="cannot write"):
        write_junit("/proc/junit.xml", "s", CASES)


def csim_result(mismatches: int = 0, mismatch_rows=(), saturated=None, weights=None):
    from trigcomp.csim import CsimResult

    return CsimResult(
        project="hls_projects/jet10",
        jets=1000,
        data_jets=900,
        adversarial_jets=100,
        mismatches=mismatches,
        max_lsb_vs_float=0.5,
        mean_lsb_vs_float=0.1,
        qkeras_max_lsb_vs_float=0.5,
        saturated=saturated or {"input_values": 30, "input_jets": 12, "latent_values": 2, "latent_jets": 1},
        jets_per_s=1e5,
        seconds={"compile": 1.0, "firmware": 0.5},
        compiled_from_cache=True,
        mismatch_rows=list(mismatch_rows),
        weights=weights or {},
    )


def failures_by_name(cases) -> dict[str, str | None]:
    return {case.name: case.failure for case in cases}


def test_csim_weights_proof_is_its_own_case():
    from trigcomp.ci import csim_cases

    equal = {"passed": True, "summary": "weights equal"}
    differ = {"passed": False, "summary": "firmware/weights/w6.h[7] = 0.25 (synthesis) but w6.txt[7] = 0.125 (csim)"}
    assert failures_by_name(csim_cases(csim_result(weights=equal), "jet10"))["weights proof"] is None
    failed = failures_by_name(csim_cases(csim_result(weights=differ), "jet10"))
    assert failed["weights proof"] == differ["summary"] and failed["mismatches"] is None
    assert "weights proof" not in failures_by_name(csim_cases(csim_result(), "jet10"))  # no proof ran: no case


def test_csim_cases_split_mismatches_into_data_and_adversarial_jets():
    from trigcomp.ci import csim_cases

    passed = csim_cases(csim_result(), "jet10")
    assert {case.classname for case in passed} == {"trigcomp.csim.jet10"}
    assert failures_by_name(passed) == dict.fromkeys(
        ["mismatches", "mismatches (data jets)", "mismatches (adversarial jets)", "saturation accounting"]
    )
    failed = failures_by_name(csim_cases(csim_result(3, [5, 899, 950]), "jet10"))
    assert failed["mismatches"] == "3 of 1000 jets differ from the QKeras model"
    assert failed["mismatches (data jets)"] == "2 of 900 data jets differ from the QKeras model"
    assert failed["mismatches (adversarial jets)"] == "1 of 100 adversarial jets differ from the QKeras model"
    # only the first rows are listed: once one is adversarial, every data mismatch was listed before it
    listed = failures_by_name(csim_cases(csim_result(40, [5, 950]), "jet10"))
    assert listed["mismatches (data jets)"] == "1 of 900 data jets differ from the QKeras model"
    assert listed["mismatches (adversarial jets)"] == "39 of 100 adversarial jets differ from the QKeras model"
    truncated = failures_by_name(csim_cases(csim_result(40, [1, 2, 3]), "jet10"))
    assert truncated["mismatches (data jets)"] == "at least 3 of 900 data jets differ from the QKeras model"
    assert truncated["mismatches (adversarial jets)"].startswith("unknown: the first 3 of 40")


def test_csim_saturation_case_fails_on_inconsistent_counts():
    from trigcomp.ci import csim_cases

    broken = {"input_values": 3, "input_jets": 7, "latent_values": 0, "latent_jets": 0}  # more jets than values
    failed = failures_by_name(csim_cases(csim_result(saturated=broken), "jet10"))
    assert failed["saturation accounting"].startswith("inconsistent saturation counts for input")
    assert failed["mismatches"] is None


def test_rtl_cases_per_variant():
    from trigcomp.ci import rtl_cases
    from trigcomp.rtl import RtlProject, RtlResult
    from trigcomp.rtl.simulate import RtlComparison

    def comparison(variant, mismatches, firmware_errors, inexact):
        return RtlComparison(
            jets=100, mismatches=mismatches, mismatch_indices=(), max_lsb_vs_float=0.0, mean_lsb_vs_float=0.0,
            variant=variant, saturated_values=0, saturated_jets=0, qkeras_inexact_jets=inexact,
            exact_mismatches=firmware_errors, firmware_errors=firmware_errors,
        )  # fmt: skip

    result = RtlResult(
        project=RtlProject(Path("out/jet10-rtl"), {}),
        comparisons={
            "pipelined": comparison("pipelined", 2, 0, 2),
            "combinational": comparison("combinational", 1, 1, 0),
        },
        stimulus={},
        synthesis=None,
        estimate={},
    )
    failed = failures_by_name(rtl_cases(result, "jet10"))
    assert failed["pipelined: mismatches"] is None  # the two are QKeras's own inexactness, the firmware is exact
    assert (
        failed["pipelined: QKeras agreement"]
        == "2 of 100 jets differ from QKeras word by word (2 where QKeras itself is inexact)"
    )
    assert failed["combinational: mismatches"].startswith("1 of 100 jets: the firmware differs")
    assert {case.classname for case in rtl_cases(result, "jet10")} == {"trigcomp.rtl.jet10"}
