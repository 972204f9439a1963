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
    JUnitCase('target pt (pt 20-30) <&"\'>', "trigcomp.evaluate", failure='a < b & "c"', details="x\x00y <z>"),
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
    assert [c.get("name") for c in cases] == ["mismatches", "budget LUT", 'target pt (pt 20-30) <&"\'>']
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
