"""The hybrid codec (fixed-point fields + an autoencoder latent): its parts, recommend, and its firmware in csim."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import synthetic_jets
from trigcomp.boards import get_board
from trigcomp.cli import main
from trigcomp.codec_hls import BoardInput
from trigcomp.codecs import AutoencoderCodec, FixedPointCodec, HybridCodec, codec_from_json, codec_to_toml
from trigcomp.errors import UserError
from trigcomp.hls import HlsOptions, load_project, project_digest
from trigcomp.hybrid_hls import run_hybrid_csim, write_hybrid_project
from trigcomp.recommend import recommend
from trigcomp.records import JET10
from trigcomp.targets import load_targets

BOARD = BoardInput.parse("ap_fixed<21,13>")


def test_codes_are_the_fields_then_the_latent_words(tiny_hybrid, jets):
    x = jets.values[:400].astype(np.float64)
    codes = tiny_hybrid.encode(x).codes
    fixed_columns = [JET10.index(v) for v in tiny_hybrid.fixed.variables]
    latent_columns = [JET10.index(v) for v in tiny_hybrid.latent.variables]
    n_fixed = len(tiny_hybrid.fixed.field_bits)
    assert np.array_equal(codes[:, :n_fixed], tiny_hybrid.fixed.encode(x[:, fixed_columns]).codes)
    assert np.array_equal(codes[:, n_fixed:], tiny_hybrid.latent.encode(x[:, latent_columns]).codes)
    decoded = tiny_hybrid.decode(codes)
    assert np.array_equal(decoded[:, fixed_columns], tiny_hybrid.fixed.decode(codes[:, :n_fixed]))
    assert np.array_equal(decoded[:, latent_columns], tiny_hybrid.latent.decode(codes[:, n_fixed:]))
    assert tiny_hybrid.bits_per_jet == tiny_hybrid.fixed.bits_per_jet + tiny_hybrid.latent.bits_per_jet == 41


def test_parts_must_split_the_variables(tiny_hybrid):
    fixed, latent = tiny_hybrid.fixed, tiny_hybrid.latent
    with pytest.raises(UserError, match="both as fixed point and in the latent"):
        HybridCodec(JET10, FixedPointCodec.from_bits(np.ones((4, 2)), ("pt", "chHEF"), [4, 4]), latent)
    with pytest.raises(UserError, match="must together be exactly"):
        HybridCodec(JET10 + ("extra",), fixed, latent)
    raw = tiny_hybrid.to_json()
    with pytest.raises(UserError, match="must be an autoencoder codec"):
        codec_from_json(raw | {"latent": fixed.to_json()})
    with pytest.raises(UserError, match="missing or bad key"):
        codec_from_json({"codec": "hybrid", "variables": list(JET10)})
    with pytest.raises(UserError, match="sends every variable"):
        HybridCodec.fit_around(latent, np.ones((4, 5)), latent.variables, load_targets("l1-jets"))


def test_recommend_builds_and_judges_a_hybrid(tiny_hybrid):
    samples = [synthetic_jets(3000, seed=5)]
    result = recommend(load_targets("l1-jets"), samples, hybrids=[tiny_hybrid.latent.model], area=False)
    hybrid = next(c for c in result.codecs if c.kind == HybridCodec.kind)
    codec = result.codec_objects[hybrid.name]
    assert isinstance(codec, HybridCodec) and isinstance(codec.latent, AutoencoderCodec)
    assert hybrid.bits_per_jet == codec.fixed.bits_per_jet + 12
    assert set(codec.fixed.variables) == {"pt", "eta", "phi", "mass", "nConstituents"}
    assert len(hybrid.samples) == 1 and hybrid.samples[0].jets < len(samples[0]) * 0.5  # held-out jets only
    assert "latent of tiny-fractions" in hybrid.note and hybrid.firmware == "trigcomp hls --codec"


def test_the_board_input_is_the_encoders(tiny_hybrid, jets, tmp_path):
    options = HlsOptions(get_board("vu13p"), 5.0)
    with pytest.raises(UserError, match=r"autoencoder's input type ap_fixed<21,13>"):
        write_hybrid_project(tiny_hybrid, tmp_path / "prj", options, BoardInput.parse("ap_fixed<20,12>"), jets.values)
    assert not (tmp_path / "prj").exists()


@pytest.mark.parametrize("link_width", [32])
def test_firmware_is_bit_exact_and_catches_a_wrong_wire(tiny_hybrid, jets, tmp_path, link_width):
    options = HlsOptions(get_board("vu13p"), 5.0, link_width=link_width)
    data = jets.values.astype(np.float64)
    project = write_hybrid_project(tiny_hybrid, tmp_path / "prj", options, BOARD, data[:200])
    assert project.manifest["link"]["words"] == 2 and project.manifest["top"] == "trigcomp_hybrid_top"
    again = write_hybrid_project(tiny_hybrid, tmp_path / "again", options, BOARD, data[:200])
    assert project_digest(again.path) == project_digest(project.path)  # same codec and options: the same bytes
    result = run_hybrid_csim(load_project(project.path), data, jets=100_000, adversarial=10_000, processes=2)
    assert result.mismatches == 0 and result.passed, result.first_mismatch
    assert result.tie_jets > 500 and result.tie_jets_left_out == 0  # every threshold, and one LSB below
    assert result.saturated["input_values"] > 0  # csim's +-1e9, +-inf jets
    assert result.fields[-3:] == ["latent0", "latent1", "latent2"]
    assert result.weights["passed"]

    # the encoder fed the fractions in another order: the latent words must differ, the fields must not
    params = project.path / "firmware" / "trigcomp_hybrid_params.h"
    text = params.read_text()
    assert "latent_inputs[TRIGCOMP_N_INPUTS] = {4, 5, 6, 7, 8}" in text
    params.write_text(text.replace("{4, 5, 6, 7, 8}", "{5, 4, 6, 7, 8}"))
    broken = run_hybrid_csim(load_project(project.path), data, jets=5_000, adversarial=1_000, processes=1)
    assert broken.mismatches > 0 and not broken.passed
    assert set(broken.mismatches_per_field) <= {"latent0", "latent1", "latent2"}


# ------------------------------------------------------------------------------------------------ open RTL path

needs_rtl_tools = pytest.mark.skipif(
    shutil.which("verilator") is None or shutil.which("yosys") is None, reason="verilator and yosys not installed"
)


@needs_rtl_tools
def test_rtl_parts_side_by_side_are_bit_exact_and_catch_swapped_latent_words(
    tiny_hybrid, tmp_path, capsys, monkeypatch
):
    """`trigcomp rtl --codec HYBRID`: the fields' and the encoder's Verilog on the same jets, one packed word."""
    import trigcomp.hybrid_rtl

    config = tmp_path / "hybrid.toml"
    config.write_text(codec_to_toml(tiny_hybrid))
    data = Path(__file__).parent / "data" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
    args = ["rtl", "--codec", str(config), "--data", str(data), "--jets", "4000", "--no-synth", "--json"]
    junit = tmp_path / "rtl.xml"
    assert main([*args, "--out", str(tmp_path / "rtl"), "--junit", str(junit)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["passed"] and payload["mismatches"] == 0, payload["first_mismatch"]
    assert payload["jets"] == 4000 and payload["tie_jets"] > 100 and payload["yosys"] is None
    assert payload["fields"][-3:] == ["latent0", "latent1", "latent2"]
    assert payload["mismatches_per_part"] == {"fields": 0, "latent": 0}
    assert payload["latency"]["fields"]["cycles"] == 1 and payload["latency"]["encoder"]["pipeline_stages"] >= 1
    assert (tmp_path / "rtl" / "fields" / "trigcomp_codec.v").is_file()
    assert (tmp_path / "rtl" / "encoder" / "pipelined").is_dir() and 'failures="0"' in junit.read_text()

    # the encoder's first two output words swapped on their way into the packed word: only the latent differs
    real_simulate = trigcomp.hybrid_rtl.simulate
    monkeypatch.setattr(trigcomp.hybrid_rtl, "simulate", lambda *a, **k: real_simulate(*a, **k)[:, [1, 0, 2]])
    assert main([*args, "--out", str(tmp_path / "swapped")]) == 1
    broken = json.loads(capsys.readouterr().out)
    assert broken["mismatches"] > 0 and not broken["passed"]
    assert broken["mismatches_per_part"]["fields"] == 0 and broken["mismatches_per_part"]["latent"] > 0
    assert set(broken["mismatches_per_field"]) <= {"latent0", "latent1"}
