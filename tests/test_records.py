"""JSON that crosses stages carries a schema_version; a reader refuses a layout it does not know, in one line."""

import json
from pathlib import Path

import pytest

from trigcomp.errors import UserError
from trigcomp.hls import HlsProject, ScoreField
from trigcomp.hls import load_project as load_hls_project
from trigcomp.ir import FixedPoint
from trigcomp.records import SCHEMA_VERSION, ProjectHeader
from trigcomp.rtl.project import RtlProject
from trigcomp.rtl.project import load_project as load_rtl_project


def _project(tmp_path, manifest):
    (tmp_path / "trigcomp.json").write_text(json.dumps(manifest))
    return tmp_path


def test_hls_manifest_of_another_schema_is_refused(tiny_project, tmp_path):
    manifest = json.loads((tiny_project.path / "trigcomp.json").read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert load_hls_project(_project(tmp_path, manifest)).model_hash == manifest["model"]["hash"]
    del manifest["schema_version"]  # written before the key existed: version 1
    assert load_hls_project(_project(tmp_path, manifest)).input_variables == manifest["inputs"]["variables"]
    with pytest.raises(UserError, match="schema_version 2; this trigcomp reads version 1"):
        load_hls_project(_project(tmp_path, manifest | {"schema_version": 2}))


def test_rtl_manifest_of_another_schema_is_refused(tmp_path):
    manifest = {"kind": "rtl", "project_name": "encoder", "schema_version": 2}
    with pytest.raises(UserError, match="trigcomp.json: schema_version 2"):
        load_rtl_project(_project(tmp_path, manifest))
    assert load_rtl_project(_project(tmp_path, manifest | {"schema_version": 1})).project_name == "encoder"


def test_project_header_reads_what_every_manifest_carries(tmp_path):
    manifest = {"kind": "hls", "part": "xcvu13p", "clock_ns": 4, "board": "vu13p", "project_name": "myproject"}
    header = ProjectHeader.from_json(manifest | {"top": "trigcomp_top"}, "trigcomp.json")
    assert (header.kind, header.part, header.clock_ns, header.board) == ("hls", "xcvu13p", 4, "vu13p")
    assert header.tops == ["trigcomp_top", "myproject"]
    assert ProjectHeader.from_json(manifest | {"kind": "rtl"}, "trigcomp.json").tops == ["myproject"]
    with pytest.raises(UserError, match=r"^x/trigcomp.json: project manifest lacks part, board \(has "):
        ProjectHeader.from_json({k: v for k, v in manifest.items() if k not in ("part", "board")}, "x/trigcomp.json")
    with pytest.raises(UserError, match="trigcomp.json: schema_version 2; this trigcomp reads version 1"):
        ProjectHeader.from_json(manifest | {"schema_version": 2}, "trigcomp.json")


def test_report_refuses_a_project_of_another_schema(tmp_path):
    from trigcomp.reports.discover import find_inputs

    manifest = {"kind": "rtl", "part": "xcvu13p", "clock_ns": 5.0, "board": "vu13p", "project_name": "encoder"}
    _project(tmp_path, manifest | {"schema_version": 2})
    with pytest.raises(UserError, match="schema_version 2"):
        find_inputs(tmp_path)


def test_rtl_project_properties_read_its_manifest():
    word = {"signed": True, "integer": 3, "fractional": 4, "bits": 8}
    manifest = {
        "kind": "rtl",
        "part": "xcvu13p",
        "inputs": 2,
        "outputs": 1,
        "io": {"input": word, "output": word | {"signed": False, "bits": 7}},
        "layers": [{"class": "input", "format": word, "formats": [word, word | {"integer": 1, "bits": 6}]}],
        "model": {"hash": "abc"},
    }
    project = RtlProject(Path("p"), manifest)
    assert (project.n_inputs, project.n_outputs, project.part, project.model_hash) == (2, 1, "xcvu13p", "abc")
    assert project.input_word == FixedPoint.from_kif(True, 3, 4) and project.input_word.bits == 8
    assert not project.output_word.signed and project.output_word.bits == 7
    assert [f.integer for f in project.input_formats] == [3, 1]
    del manifest["layers"][0]["formats"]  # one format for every input
    assert project.input_formats == [project.input_word] * 2
    assert project.encoder_digest is None  # the anomaly-score project has no encoder


def test_hls_project_properties_read_its_manifest(tiny_project):
    project = tiny_project
    manifest = json.loads((project.path / "trigcomp.json").read_text())
    assert project.compile_units == [
        f"firmware/{manifest['project_name']}.cpp",
        "firmware/trigcomp_top.cpp",
        "trigcomp_tb.cpp",
    ]
    assert project.vendor_flow == "build_trigcomp_top.tcl" and project.codec_kind is None
    assert project.latent_integer == manifest["latent"]["integer"]
    assert project.anomaly_score is None
    entries = project.encoder_entries()
    assert list(entries) == ["strategy", "reuse", "io", "model", "precisions", "latent"]
    assert entries["model"] == manifest["model"]
    scored = HlsProject(project.path, manifest | {"anomaly_score": {"bits": 13, "offset": 24, "integer": 5}})
    assert scored.anomaly_score == ScoreField(bits=13, offset=24)
