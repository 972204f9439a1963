"""trigcomp.agreement: QKeras, the HLS C-simulation and Verilator on the same jets, compared pair by pair."""

import json

import pytest

from trigcomp.agreement import agree, check_same_model, rtl_against_csim
from trigcomp.csim import make_inputs
from trigcomp.errors import UserError

from .test_cli import run_cli
from .test_rtl import require

pytestmark = [pytest.mark.slow, pytest.mark.rtl]


@pytest.fixture(scope="module")
def tiny_rtl(tmp_path_factory, tiny_model):
    from trigcomp.rtl import write_rtl_project

    out = tmp_path_factory.mktemp("rtl") / "tiny"
    return write_rtl_project(tiny_model.firmware_encoder(), out, manifest={"model": {"hash": tiny_model.hash}})


def test_three_implementations_agree(tiny_model, tiny_project, tiny_rtl, jets):
    require("verilator")
    agreement = rtl_against_csim(tiny_model, tiny_rtl.path, tiny_project.path, jets.values, jets=20_000)
    payload = json.loads(json.dumps(agreement.to_json(), allow_nan=False))
    assert payload["jets"] == 20_000 and payload["mismatches"] == 0
    assert set(payload["comparisons"]) == {"csim_vs_qkeras", "rtl_vs_qkeras", "rtl_vs_csim"}
    assert all(c["mismatches"] == 0 for c in payload["comparisons"].values())
    assert set(payload["jets_per_s"]) == {"qkeras", "csim", "rtl"} and min(payload["jets_per_s"].values()) > 0


def test_a_flipped_rtl_bit_is_named_against_both(tmp_path, tiny_model, tiny_project, tiny_rtl, jets):
    """Flip the lowest output bit of the Verilog: RTL differs from csim and QKeras on every jet, csim from neither."""
    require("verilator")
    import shutil

    from trigcomp.rtl import load_project

    tampered = tmp_path / "tampered"
    shutil.copytree(tiny_rtl.path, tampered)
    project = load_project(tampered)
    top = tampered / "pipelined" / "src" / f"{project.project_name}.v"
    statement = f"model_out <= stage{project.pipeline_stages - 1}_out;"
    assert statement in top.read_text()
    top.write_text(top.read_text().replace(statement, statement[:-1] + " ^ 1;"))
    x = make_inputs(jets.values, tiny_model.config.input_quantizer, 3_000, 300, seed=1)
    agreement = agree(tiny_model, tiny_project, project, x)
    assert agreement.comparisons["csim_vs_qkeras"].mismatches == 0
    assert agreement.comparisons["rtl_vs_qkeras"].mismatches == agreement.comparisons["rtl_vs_csim"].mismatches
    assert agreement.mismatches == agreement.comparisons["rtl_vs_csim"].mismatches == 3_000


def test_projects_of_another_model_are_refused(tiny_model, tiny_project, tiny_rtl):
    from dataclasses import replace

    other = replace(tiny_rtl, manifest=tiny_rtl.manifest | {"model": {"hash": "0" * 16}})
    with pytest.raises(UserError, match="RTL project .* another model"):
        check_same_model(tiny_model, tiny_project, other)
    check_same_model(tiny_model, tiny_project, tiny_rtl)


def test_rtl_against_csim_cli(capsys, tmp_path, tiny_model, tiny_project):
    require("verilator")
    from .test_cli import write_nanoaod

    data = write_nanoaod(tmp_path / "jets.root")
    argv = ["rtl", "--model", str(tiny_model.path), "--out", str(tmp_path / "rtl"), "--jets", "4000"]
    code, out, err = run_cli(
        capsys, *argv, "--no-synth", "--data", str(data), "--against-csim", str(tiny_project.path), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["against_csim"]["mismatches"] == 0
