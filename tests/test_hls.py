"""trigcomp.hls: projects are reproducible to the byte, record their precisions, refuse bad options.

That every project compiles and matches the exact reference bit for bit, over backend x strategy x io type x link
width, is checked once for all firmware paths in tests/test_bitexact.py."""

import json

import numpy as np
import pytest

from trigcomp.boards import board_for_part, check_part, get_board
from trigcomp.errors import UserError
from trigcomp.hls import HlsOptions, check_encoder, load_project, project_digest, write_hls_project


def test_projects_are_byte_identical(tmp_path, tiny_model, tiny_project, jets):
    again = write_hls_project(tiny_model, tmp_path / "again", HlsOptions(get_board("vu13p"), 5.0), jets.values[:200])
    assert project_digest(again.path) == project_digest(tiny_project.path)
    assert not any(str(tmp_path) in p.read_text(errors="ignore") for p in again.path.rglob("*") if p.is_file())


def test_manifest_records_precisions_without_widening(tiny_project, tiny_model):
    manifest = json.loads((tiny_project.path / "trigcomp.json").read_text())
    q_in, q_latent = tiny_model.config.input_quantizer, tiny_model.config.latent_quantizer
    assert manifest["inputs"]["precision"].startswith(f"ap_fixed<{q_in.bits},{q_in.integer + 1},")
    assert manifest["latent"]["precision"].startswith(f"ap_fixed<{q_latent.bits},{q_latent.integer + 1},")
    assert manifest["precisions"]["jet"]["result"] == manifest["inputs"]["precision"]
    assert manifest["model"]["hash"] == tiny_model.hash
    assert {"kind", "part", "clock_ns", "board", "project_name", "versions"} <= set(manifest)
    for piece in (
        "firmware/trigcomp_top.cpp",
        "firmware/trigcomp_params.h",
        "trigcomp_tb.cpp",
        "model/model.json",
        "tb_data/tb_input_features.dat",
        "build_prj.tcl",
    ):
        assert (tiny_project.path / piece).is_file(), piece


def test_existing_project_needs_force(tiny_project, tiny_model, jets):
    before = project_digest(tiny_project.path)
    with pytest.raises(UserError, match="already exists; pass --force"):
        write_hls_project(tiny_model, tiny_project.path, HlsOptions(get_board("vu13p"), 5.0), jets.values[:10])
    assert project_digest(tiny_project.path) == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"clock_ns": 0.0}, "clock period must be > 0"),
        ({"clock_ns": -2.0}, "clock period must be > 0"),
        ({"backend": "quartus"}, "unknown backend 'quartus'"),
        ({"strategy": "fast"}, "unknown strategy 'fast'"),
        ({"io": "serial"}, "unknown io type 'serial'"),
        ({"reuse": 0}, "reuse factor must be >= 1"),
        ({"link_width": 48}, "link width must be one of"),
    ],
)
def test_bad_options(tmp_path, tiny_model, jets, options, message):
    values = {"board": get_board("vu9p"), "clock_ns": 5.0} | options
    with pytest.raises(UserError, match=message):
        write_hls_project(tiny_model, tmp_path / "p", HlsOptions(**values), jets.values[:10])
    assert not (tmp_path / "p").exists()


def test_boards_and_parts():
    assert get_board("VU13P").part == "xcvu13p-flga2577-2-e"
    assert board_for_part("xcvu9p-flga2104-2L-e").name == "vu9p"
    assert board_for_part("xcku115-flva1517-2-e").name == "custom"
    with pytest.raises(UserError, match="unknown board 'vu99p'; known boards: ku15p, vu13p, vu9p"):
        get_board("vu99p")
    for bad in ("vu13p", "xcvu13p", "xcvu13p-flga2577", "xcvu13p flga2577-2-e"):
        with pytest.raises(UserError, match="malformed Xilinx part"):
            check_part(bad)


def test_unconvertible_layer_and_decoder_are_refused(tiny_model):
    from qkeras import QActivation, quantized_bits
    from tensorflow import keras

    with pytest.raises(UserError, match="give an encoder .*not a decoder"):
        check_encoder(tiny_model.decoder())
    inp = keras.Input((10,))
    x = QActivation(quantized_bits(8, 3, alpha=1))(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    with pytest.raises(UserError, match="layer 'bn' \\(BatchNormalization\\) cannot be converted bit-exactly"):
        check_encoder(keras.Model(inp, QActivation(quantized_bits(8, 3, alpha=1))(x)))


def test_load_project_refusals(tmp_path):
    with pytest.raises(UserError, match="project directory not found"):
        load_project(tmp_path / "missing")
    with pytest.raises(UserError, match="was not made by trigcomp"):
        load_project(tmp_path)


def test_test_bench_data_matches_exact_fixed_point(tiny_project, tiny_model, jets):
    """The test bench's expected latent equals an independent exact integer evaluation of the encoder (numpy on
    the parsed kernels and formats, no Keras predict), for the jets the project was written with."""
    from trigcomp.rtl import parse_encoder

    x = np.loadtxt(tiny_project.path / "tb_data" / "tb_input_features.dat")
    y = np.loadtxt(tiny_project.path / "tb_data" / "tb_output_predictions.dat")
    assert np.array_equal(x.astype(np.float32), jets.values[:200].astype(np.float32))  # %.9g holds a float32
    spec = parse_encoder(tiny_model.firmware_encoder())
    exact, _ = spec.reference(spec.quantize_inputs(x)[0])
    assert np.array_equal(y, exact)
    assert len(np.unique(y)) > 10  # not a degenerate constant latent
