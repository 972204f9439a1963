"""`trigcomp recommend`: the cheapest codec meeting physics targets on every bundled sample, as a CI gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trigcomp.cli import main
from trigcomp.codecs import load_codec
from trigcomp.data import load_jets
from trigcomp.targets import check_targets, load_targets

REPO = Path(__file__).parents[1]
SAMPLES = [str(REPO / "data" / "qcd.root"), str(REPO / "data" / "ttbar.root")]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_recommends_a_codec_meeting_the_targets_and_writes_its_config(capsys, tmp_path):
    config = tmp_path / "codec.toml"
    code, out, _ = run_cli(
        capsys, "recommend", "--targets", "l1-jets", "--data", *SAMPLES, "--json", "--write-config", str(config)
    )
    assert code == 0
    payload = json.loads(out)
    by_name = {c["name"]: c for c in payload["codecs"]}
    assert {"fixed_point", "float_mantissa"} <= set(by_name)
    best = by_name[payload["recommended"]]
    assert best["meets_targets"] and best["worst_ratio"] <= 1
    assert all(s["meets_targets"] for s in best["samples"]) and len(best["samples"]) == 2
    passing = [c["bits_per_jet"] for c in payload["codecs"] if c["meets_targets"]]
    assert best["bits_per_jet"] == min(passing)
    assert all(c["area"]["source"].startswith("estimate:") for c in payload["codecs"])
    # the lattice code saves bits; coding the fractions one by one saves area, and is offered beside it
    assert best["config"]["simplex"] is not None
    scalar = by_name["fixed_point_scalar"]
    assert scalar["meets_targets"] and scalar["config"]["simplex"] is None and "one by one" in scalar["note"]
    assert scalar["bits_per_jet"] > best["bits_per_jet"] and scalar["area"]["luts"] < best["area"]["luts"]
    assert "Cheaper in area at the same targets: fixed_point_scalar" in payload["verdict"]

    # the written config rebuilds the codec, and it meets the targets on every file's jets
    codec = load_codec(config)
    assert codec.bits_per_jet == best["bits_per_jet"]
    targets = load_targets("l1-jets")
    for path in SAMPLES:
        jets = load_jets([path], variables=codec.variables)
        x = jets.values.astype(np.float64)
        assert check_targets(targets, codec.variables, x, codec.roundtrip(x)[0]).worst_ratio <= 1.05

    code, _, err = run_cli(
        capsys, "recommend", "--targets", "l1-jets", "--data", *SAMPLES, "--write-config", str(config)
    )
    assert code == 2 and "--force" in err  # never overwritten silently


def test_impossible_targets_exit_1_and_the_text_says_so(capsys, tmp_path):
    impossible = tmp_path / "impossible.toml"
    impossible.write_text('name = "impossible"\n[variables.eta]\nsigma = 1e-9\n')
    config = tmp_path / "never.toml"
    code, out, err = run_cli(
        capsys, "recommend", "--targets", str(impossible), "--data", SAMPLES[1], "--write-config", str(config)
    )
    assert code == 1
    assert "No codec meets impossible" in out and "check failed" in err
    assert not config.exists()


def test_kinematics_only_targets_cost_fewer_bits(capsys):
    code, out, _ = run_cli(capsys, "recommend", "--targets", "l1-kinematics", "--data", SAMPLES[1], "--json")
    payload = json.loads(out)
    best = next(c for c in payload["codecs"] if c["name"] == payload["recommended"])
    assert code == 0 and payload["variables"] == ["pt", "eta", "phi", "mass"]
    assert best["bits_per_jet"] <= 28


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--targets", "no-such-preset", "--data", SAMPLES[0]], "no-such-preset"),
        (["--targets", "l1-jets", "--data", "missing.root"], "missing.root"),
        (["--targets", "l1-jets", "--data", SAMPLES[0], "--train", SAMPLES[0]], "also a --data file"),
    ],
)
def test_bad_input_exits_2(capsys, argv, message):
    code, _, err = run_cli(capsys, "recommend", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_autoencoder_loses_to_fixed_point_and_is_told_plainly(capsys):
    code, out, _ = run_cli(
        capsys,
        "recommend",
        "--targets",
        "l1-kinematics",
        "--data",
        SAMPLES[1],
        "--models",
        str(REPO / "models" / "jet4"),
    )
    assert code == 0
    assert "The autoencoder jet4" in out and "per-variable fixed point (fixed_point) does" in out
    assert "estimate:da4ml" in out


def test_train_file_fits_and_every_data_file_is_judged_on_all_its_jets(capsys):
    code, out, _ = run_cli(
        capsys, "recommend", "--targets", "l1-kinematics", "--train", SAMPLES[0], "--data", SAMPLES[1], "--json"
    )
    payload = json.loads(out)
    assert code == 0 and "qcd.root" in payload["fitted_on"]
    ttbar_jets = len(load_jets([SAMPLES[1]], variables="jet4"))
    assert all(c["samples"][0]["jets"] == ttbar_jets for c in payload["codecs"])


def test_config_of_a_recommended_autoencoder_is_its_model_config(tiny_model, tmp_path):
    from trigcomp.codecs import AutoencoderCodec
    from trigcomp.config import load_config
    from trigcomp.recommend import CodecResult, Recommendation, write_config

    codec = AutoencoderCodec(tiny_model)
    result = CodecResult(codec.name, codec.kind, codec.bits_per_jet, None)
    chosen = Recommendation(
        load_targets("l1-jets"), codec.variables, ["test"], "test", 1.0, [result], result, {codec.name: codec}
    )
    write_config(chosen, tmp_path / "model.toml")
    assert load_config(tmp_path / "model.toml") == tiny_model.config


def test_a_left_out_process_is_judged_on_all_its_jets_and_never_fitted_on(capsys):
    from trigcomp.recommend import recommend

    targets = load_targets("l1-kinematics")
    fitted = load_jets([SAMPLES[0]], variables="jet10")
    left_out = load_jets([SAMPLES[1]], variables="jet10")
    with_left_out = recommend(targets, [fitted], left_out=[left_out], area=False)
    alone = recommend(targets, [fitted], area=False)
    assert with_left_out.codec_objects["fixed_point"].to_json() == alone.codec_objects["fixed_point"].to_json()
    samples = {s.sample: s for s in with_left_out.codecs[0].samples}
    assert samples["ttbar (left out)"].left_out and samples["ttbar (left out)"].jets == len(left_out)
    assert not samples["qcd"].left_out and samples["qcd"].jets < len(fitted)
    assert with_left_out.codecs[0].firmware == "trigcomp hls --codec"

    code, _, err = run_cli(capsys, "recommend", "--targets", "l1-jets", "--data", *SAMPLES, "--left-out", SAMPLES[1])
    assert code == 2 and "also fitted on" in err
