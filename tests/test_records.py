"""JSON that crosses stages carries a schema_version; a reader refuses a layout it does not know, in one line."""

import json

import pytest

from trigcomp.errors import UserError
from trigcomp.hls import load_project as load_hls_project
from trigcomp.records import SCHEMA_VERSION
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
