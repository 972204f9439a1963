"""Per-variable fixed-point codecs on the board: thresholds, the lattice field in integers, HLS projects, csim."""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import synthetic_jets
from trigcomp.boards import get_board
from trigcomp.cli import main
from trigcomp.codec_hls import (
    BoardInput,
    field_thresholds,
    ladder_codes,
    run_codec_csim,
    tie_jets,
    write_codec_project,
)
from trigcomp.codecs import FixedPointCodec, FixedPointField, FloatMantissaCodec, codec_to_toml
from trigcomp.codecs.physics import PHYSICS_RANGES
from trigcomp.codecs.simplex import GRID_BITS, SimplexField
from trigcomp.errors import UserError
from trigcomp.hls import HlsOptions, load_project, project_digest
from trigcomp.records import JET10

BOARD = BoardInput.parse("ap_fixed<21,13>")
FRACTIONS = ("chHEF", "neHEF", "chEmEF", "neEmEF", "muEF")


def _field(variable: str, bits: int, coding: int = 0) -> FixedPointField:
    physics = PHYSICS_RANGES[variable][coding]
    return FixedPointField(variable, bits, physics.companding, physics.low, physics.high, 0.1, physics.integer)


def make_codec(
    fraction_bits: int = 0, relation: str | None = "simplex", pt_coding: int = 0, levels: int = 19
) -> FixedPointCodec:
    """A jet10 codec like the recommended one: pt (log or linear), eta, phi, mass, nConstituents, and the fractions
    jointly on the simplex lattice, one of them as the remainder of the others, or each on its own."""
    bits = {"pt": 6, "eta": 8, "phi": 7, "mass": 6, "nConstituents": 6} | dict.fromkeys(FRACTIONS, fraction_bits)
    fields = tuple(_field(v, bits[v], pt_coding if v == "pt" else 0) for v in JET10)
    extra = {}
    if relation == "simplex":
        extra["simplex"] = SimplexField(FRACTIONS, levels, slack=False)
    elif relation == "remainder":
        fields = tuple(replace(f, bits=0) if f.variable == "muEF" else f for f in fields)
        extra = {"remainder": "muEF", "remainder_of": FRACTIONS[:-1]}
    return FixedPointCodec(variables=JET10, fields=fields, budget=sum(f.bits for f in fields), **extra)


# ------------------------------------------------------------------------------------------------ board semantics


def test_input_type_rounds_to_nearest_even_and_saturates():
    lsb = BOARD.lsb
    x = np.array([0.5 * lsb, 1.5 * lsb, -0.5 * lsb, 1e9, -1e9, np.inf, -np.inf, 4095.99])
    assert BOARD.words(x).tolist() == [
        0,
        2,
        0,
        BOARD.max_word,
        BOARD.min_word,
        BOARD.max_word,
        BOARD.min_word,
        round(4095.99 / lsb),
    ]
    assert BOARD.saturates(x).tolist() == [False] * 3 + [True] * 4 + [False]
    for bad in ("ap_fixed<40,13>", "ap_int<8>", "ap_fixed<8,9>"):
        with pytest.raises(UserError):
            BoardInput.parse(bad)


@pytest.mark.parametrize(
    "scalar",
    [
        _field("pt", 6),  # log
        _field("pt", 9, coding=1),  # linear
        _field("mass", 6),  # log from 1 GeV: bins narrower than near the top
        _field("eta", 8),
        _field("phi", 7),
        _field("chHEF", 5),
        _field("nConstituents", 6),  # integer
        _field("nConstituents", 8),  # integer, 2^b > values: every integer its own code
        FixedPointField("x", 10, "log", 0.37, 700.0, 1.0, False),  # a training-range field
    ],
    ids=lambda f: f"{f.variable}-{f.companding}-{f.bits}",
)
def test_ladder_equals_encode_on_every_input_word(scalar):
    codec = FixedPointCodec(variables=(scalar.variable,), fields=(scalar,), budget=scalar.bits)
    thresholds = field_thresholds(codec, 0, BOARD)
    words = np.arange(BOARD.min_word, BOARD.max_word + 1)
    python = scalar.encode(words * BOARD.lsb)[0]
    assert np.array_equal(ladder_codes(words, thresholds), python)
    # and the thresholds are the bin edges rounded up onto the grid (independently of encode)
    if scalar.companding == "linear" and not scalar.integer:
        edges = scalar.low + np.arange(1, 1 << scalar.bits) * (scalar.high - scalar.low) / (1 << scalar.bits)
        assert np.max(np.abs(thresholds - np.ceil(edges / BOARD.lsb))) <= 1
        assert np.mean(thresholds == np.ceil(edges / BOARD.lsb)) > 0.95
    if scalar.companding == "log":
        lo, hi = math.log(scalar.low), math.log(scalar.high)
        edges = np.exp(lo + np.arange(1, 1 << scalar.bits) * (hi - lo) / (1 << scalar.bits))
        assert np.max(np.abs(thresholds - np.ceil(edges / BOARD.lsb))) <= 1


def test_a_field_that_is_not_monotone_is_refused():
    class Backwards(FixedPointField):
        def encode(self, column):
            codes, saturated = super().encode(column)
            return (1 << self.bits) - 1 - codes, saturated

    scalar = Backwards("eta", 4, "linear", -5.0, 5.0, 0.0, False)
    codec = FixedPointCodec(variables=("eta",), fields=(scalar,), budget=4)
    with pytest.raises(RuntimeError, match="not monotone"):
        field_thresholds(codec, 0, BOARD)


def test_simplex_is_integer_arithmetic_independent_of_the_grid():
    field = SimplexField(FRACTIONS, 19, slack=False)
    rng = np.random.default_rng(4)
    words = rng.integers(0, 1 << 8, size=(5000, 5))
    words[:100] = 51  # five equal shares: the 4 missing units go to the first four parts
    fine = field.lattice_units(words << (GRID_BITS - 8))
    assert np.array_equal(field.lattice_units(words), fine)
    assert fine[0].tolist() == [4, 4, 4, 4, 3]
    assert np.all(fine.sum(axis=1) == 19)
    # encode on board values equals the integer algorithm on the raw words
    ranks, _ = field.encode(words / 256.0)
    direct = field.lattice_units(words)
    positions = np.cumsum(direct[:, :-1], axis=1) + np.arange(4)
    assert np.array_equal(ranks, sum(np.array([math.comb(int(c), j + 1) for c in positions[:, j]]) for j in range(4)))


# ------------------------------------------------------------------------------------------------ HLS + csim

DATA = synthetic_jets(1500, seed=7).values.astype(np.float64)


def _options(link_width: int) -> HlsOptions:
    return HlsOptions(board=get_board("vu13p"), clock_ns=5.0, link_width=link_width)


@pytest.mark.parametrize(
    "codec, link_width, board",
    [
        (make_codec(fraction_bits=5, relation="remainder", pt_coding=1), 32, BOARD),  # linear pt, remainder
        (make_codec(fraction_bits=4, relation=None), 64, BoardInput.parse("ap_fixed<20,12>")),  # per fraction
        (replace(make_codec(levels=7), simplex=SimplexField(FRACTIONS[:3], 7, slack=True)), 64, BOARD),  # slack
    ],
    ids=["linear-remainder-32", "per-fraction-64-20bit", "simplex-slack-64"],
)
def test_firmware_is_bit_exact_with_the_python_codec(tmp_path, codec, link_width, board):
    project = write_codec_project(codec, tmp_path / "prj", _options(link_width), board)
    assert project.manifest["link"]["words"] == -(-codec.bits_per_jet // link_width)
    result = run_codec_csim(load_project(project.path), DATA, jets=6000, adversarial=4500, processes=1)
    assert result.tie_jets > 500 and result.tie_jets_left_out == 0 and result.jets == 6000
    assert result.passed, result.first_mismatch
    assert result.saturated["input_values"] > 0  # csim's +-1e9, +-inf jets


def test_csim_names_the_field_jet_and_codes_of_a_mismatch(tmp_path, capsys):
    codec = make_codec()
    project = write_codec_project(codec, tmp_path / "prj", _options(64), BOARD)
    params = project.path / "firmware" / "trigcomp_codec_params.h"
    text = params.read_text()
    start = text.index("trigcomp_thresholds_1[255] = {") + len("trigcomp_thresholds_1[255] = {")
    first = text[start:].split(",")[0]
    params.write_text(text[:start] + str(int(first) + 1) + text[start + len(first) :])  # one eta threshold moved
    result = run_codec_csim(load_project(project.path), DATA, jets=6000, adversarial=4500, processes=1)
    assert not result.passed
    assert set(result.mismatches_per_field) == {"eta"}
    mismatch = result.first_mismatch
    assert mismatch["field"] == "eta"
    assert mismatch["fields"][0]["python"] == 1 and mismatch["fields"][0]["firmware"] == 0
    assert BOARD.words(mismatch["board_input"][1]) == int(first)  # exactly on the threshold

    data = Path(__file__).parent / "data" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
    junit = tmp_path / "csim.xml"
    args = ["csim", str(project.path), "--data", str(data), "--jets", "6000", "--adversarial", "4500"]
    assert main([*args, "--junit", str(junit)]) == 1
    out, err = capsys.readouterr()
    assert "FIRST MISMATCH" in out and "field eta: python 1, firmware 0" in out
    assert "field eta" in err and err.count("\n") == 1
    assert "differ from the Python codec" in junit.read_text()


def test_tie_jets_sit_on_every_threshold_and_one_lsb_below():
    codec = make_codec()
    ties = tie_jets(codec, BOARD, DATA, np.random.default_rng(0))
    eta_words = set(BOARD.words(ties[:, 1]).tolist())
    thresholds = field_thresholds(codec, 1, BOARD)
    assert set(thresholds.tolist()) <= eta_words and set((thresholds - 1).tolist()) <= eta_words


def test_projects_are_byte_identical(tmp_path):
    codec = make_codec()
    first = write_codec_project(codec, tmp_path / "a", _options(32), BOARD)
    second = write_codec_project(codec, tmp_path / "b", _options(32), BOARD)
    assert project_digest(first.path) == project_digest(second.path)
    other = write_codec_project(make_codec(levels=18), tmp_path / "c", _options(32), BOARD)
    assert project_digest(other.path) != project_digest(first.path)


def test_build_runs_the_codec_flow_and_report_reads_the_codec_top(tmp_path, capsys, monkeypatch):
    """The generated Tcl run for real by the vendor stub of test_vendor_flow (tclsh, HLS commands recorded)."""
    if shutil.which("tclsh") is None:
        pytest.skip("tclsh not installed")
    stub = Path(__file__).parent / "data" / "vendor_stub"
    csynth = Path(__file__).parent / "data" / "reports" / "vivado2020_hls4ml_testreport" / "myproject_csynth.xml"
    monkeypatch.setenv("PATH", f"{stub}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("TRIGCOMP_STUB_CSYNTH", str(csynth))
    project = write_codec_project(make_codec(), tmp_path / "prj", _options(32), BOARD)
    assert main(["build", str(project.path), "--csynth", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["top"] == "trigcomp_codec_top"
    calls = [line.split() for line in (project.path / "hls_calls.txt").read_text().splitlines()]
    by_command = {call[0]: call[1:] for call in calls}
    assert by_command["open_project"] == ["-reset", "trigcomp_codec_top_prj"]
    assert by_command["set_top"] == ["trigcomp_codec_top"]
    assert by_command["set_part"] == [get_board("vu13p").part]
    assert float(by_command["create_clock"][1]) == 5.0
    assert "csynth_design" in by_command and by_command["exit"] == ["0"]
    for call in calls:
        if call[0] == "add_files":
            assert (project.path / call[1 + (call[1] == "-tb")]).is_file()
    assert main(["report", str(project.path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["top"] == "trigcomp_codec_top"
    assert [Path(f["path"]).name for f in payload["files"] if f["kind"] == "csynth"] == [
        "trigcomp_codec_top_csynth.xml"
    ]


def test_cli_hls_and_csim_of_a_codec_file(tmp_path, capsys):
    config = tmp_path / "codec.toml"
    config.write_text(codec_to_toml(make_codec()))
    out = tmp_path / "prj"
    assert main(["hls", "--codec", str(config), "--board", "vu13p", "--out", str(out), "--json"]) == 0
    manifest = json.loads((out / "trigcomp.json").read_text())
    assert manifest["top"] == "trigcomp_codec_top" and manifest["codec"]["bits_per_jet"] == 47
    capsys.readouterr()
    junit = tmp_path / "csim.xml"
    data = Path(__file__).parent / "data" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
    code = main(
        [
            "csim",
            str(out),
            "--data",
            str(data),
            "--jets",
            "6000",
            "--adversarial",
            "4500",
            "--json",
            "--junit",
            str(junit),
        ]
    )
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["mismatches"] == 0 and payload["passed"]
    assert "differ from" not in junit.read_text() and "mismatches (adversarial jets)" in junit.read_text()
    # an existing project is not overwritten; a float codec gets its own top, an autoencoder codec file none here
    assert main(["hls", "--codec", str(config), "--board", "vu13p", "--out", str(out)]) == 2
    float_codec = tmp_path / "float.toml"
    float_codec.write_text(codec_to_toml(FloatMantissaCodec.fit(DATA, JET10, 60)))
    assert main(["hls", "--codec", str(float_codec), "--board", "vu13p", "--out", str(tmp_path / "f")]) == 0
    assert json.loads((tmp_path / "f" / "trigcomp.json").read_text())["top"] == "trigcomp_float_top"
    autoencoder = tmp_path / "autoencoder.json"
    autoencoder.write_text(
        json.dumps({"codec": "autoencoder", "model": str(Path(__file__).parents[1] / "models/jet4")})
    )
    capsys.readouterr()
    assert main(["hls", "--codec", str(autoencoder), "--board", "vu13p", "--out", str(tmp_path / "a")]) == 2
    assert "build an autoencoder with --model" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ open RTL path

needs_rtl_tools = pytest.mark.skipif(
    shutil.which("verilator") is None or shutil.which("yosys") is None, reason="verilator and yosys not installed"
)


@needs_rtl_tools
def test_codec_verilog_pipeline_ties_and_saturation(tmp_path):
    """The pipelined Verilog's latency, threshold ties and input saturation (bit-exactness: test_bitexact.py)."""
    from trigcomp.codec_rtl import run_codec_rtl

    result = run_codec_rtl(make_codec(), tmp_path / "rtl", BOARD, DATA, jets=8000, adversarial=5000, synthesize=False)
    assert result.passed and result.jets == 8000 and result.tie_jets > 500, result.first_mismatch
    assert result.saturated["input_values"] > 0
    assert (result.latency_cycles, result.latency_ns) == (5, 25.0)  # pipelined for 200 MHz, one jet per edge


@needs_rtl_tools
def test_codec_rtl_through_the_cli_grows_with_the_thresholds(tmp_path, capsys):
    """Bit-exactness of the codec's Verilog is tests/test_bitexact.py's; here the CLI path and Yosys's count."""
    # through the CLI, on a small codec, with Yosys: a comparator count that grows with the thresholds
    sizes = {}
    for bits in (3, 6):
        config = tmp_path / f"eta{bits}.toml"
        config.write_text(
            codec_to_toml(FixedPointCodec(variables=("eta",), fields=(_field("eta", bits),), budget=bits))
        )
        out = tmp_path / f"rtl{bits}"
        data = Path(__file__).parent / "data" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
        args = ["rtl", "--codec", str(config), "--out", str(out), "--data", str(data), "--jets", "5000", "--json"]
        assert main(args) == 0
        payload = json.loads(capsys.readouterr().out)
        assert payload["mismatches"] == 0 and payload["yosys"]["lut"] > 0
        assert payload["yosys"]["dsp"] == 0 and payload["latency_cycles"] == 1  # a ladder and its output register
        sizes[bits] = payload["yosys"]["lut"]
    assert sizes[6] > sizes[3]


def test_area_model_is_within_a_tenth_of_yosys_on_the_reference_codec():
    """recommend's area estimate against the Yosys count recorded by `make rtl-reference-codec` (rtl.json)."""
    from trigcomp.codecs import load_codec

    repo = Path(__file__).parents[1]
    yosys = json.loads((repo / "models" / "jet10-l1" / "rtl.json").read_text())["yosys"]
    codec = load_codec(repo / "configs" / "jet10-l1.toml")
    assert yosys["dsp"] == 0
    assert abs(codec.area_estimate()["luts"] - yosys["lut"]) <= 0.1 * yosys["lut"]
    # the lattice field is most of the codec's area: without it the estimate drops by more than half
    assert codec.simplex.area_luts() > 0.5 * codec.area_estimate()["luts"]
