"""Float-truncation codecs on the board: every input word of a small type exhaustively, csim on jets, a tamper."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.conftest import synthetic_jets
from trigcomp.boards import get_board
from trigcomp.cli import main
from trigcomp.codec_hls import BoardInput, check_codec_words
from trigcomp.codecs import FixedPointCodec, FloatField, FloatMantissaCodec, codec_to_toml
from trigcomp.csim import run_firmware
from trigcomp.errors import UserError
from trigcomp.float_hls import run_float_csim, write_float_project
from trigcomp.hls import HlsOptions, load_project
from trigcomp.records import JET10
from trigcomp.targets import load_targets

DATA = synthetic_jets(1500, seed=4).values.astype(np.float64)


def _options(link_width: int = 64) -> HlsOptions:
    return HlsOptions(get_board("vu13p"), 5.0, link_width=link_width)


def test_every_input_word_of_a_small_type(tmp_path):
    """Four field shapes (signed, unsigned, one exponent bit, no mantissa, binades far below the input's LSB and
    above its range) on all 4,096 words of ap_fixed<12,6>: the firmware equals encode on every one."""
    board = BoardInput.parse("ap_fixed<12,6>")
    fields = (
        FloatField("a", sign=True, exponent_bits=2, mantissa_bits=3, top_exponent=3),
        FloatField("b", sign=False, exponent_bits=1, mantissa_bits=0, top_exponent=0),
        FloatField("c", sign=True, exponent_bits=3, mantissa_bits=5, top_exponent=6),
        FloatField("d", sign=False, exponent_bits=4, mantissa_bits=8, top_exponent=2),
    )
    codec = FloatMantissaCodec(("a", "b", "c", "d"), fields, sum(f.bits for f in fields))
    project = write_float_project(codec, tmp_path / "prj", _options(32), board)
    words = board.all_values()
    x = np.column_stack([np.roll(words, 977 * i) for i in range(4)])
    link_words, *_ = run_firmware(load_project(project.path), x, processes=1, progress=False)
    checked = check_codec_words(codec, board, x, link_words, 32)
    assert checked["mismatches"] == 0, checked["first_mismatch"]
    assert checked["saturated"]["codec_values"] > 0  # a, b and d saturate at their largest float


@pytest.mark.parametrize(
    "build",
    [
        lambda: FloatMantissaCodec.fit_targets(DATA, JET10, load_targets("l1-jets")),
        lambda: FloatMantissaCodec.fit(DATA, JET10, 64),
    ],
)
def test_csim_is_bit_exact_and_a_changed_binade_is_caught(tmp_path, build):
    codec = build()
    project = write_float_project(codec, tmp_path / "prj", _options(), BoardInput.parse("ap_fixed<21,13>"))
    assert project.manifest["top"] == "trigcomp_float_top" and project.manifest["vendor_flow"].endswith(".tcl")
    result = run_float_csim(load_project(project.path), DATA, jets=6000, adversarial=3000, processes=1)
    assert result.mismatches == 0 and result.passed, result.first_mismatch
    assert result.tie_jets > 200 and result.tie_jets_left_out == 0

    params = project.path / "firmware" / "trigcomp_float_params.h"
    pt = codec.fields[0]
    line = f"FIELD(0, {int(pt.sign)}, {pt.exponent_bits}, {pt.mantissa_bits}, {pt.lowest_normal},"
    assert line in params.read_text()
    params.write_text(
        params.read_text().replace(line, line.replace(f"{pt.lowest_normal},", f"{pt.lowest_normal + 1},"))
    )
    broken = run_float_csim(load_project(project.path), DATA, jets=3000, adversarial=1000, processes=1)
    assert broken.mismatches > 0 and set(broken.mismatches_per_field) == {"pt"}


def test_project_is_deterministic_and_refuses_other_codecs(tmp_path):
    from trigcomp.hls import project_digest

    codec = FloatMantissaCodec.fit(DATA, JET10, 64)
    board = BoardInput.parse("ap_fixed<21,13>")
    first = write_float_project(codec, tmp_path / "one", _options(), board)
    second = write_float_project(codec, tmp_path / "two", _options(), board)
    assert project_digest(first.path) == project_digest(second.path)
    with pytest.raises(UserError, match="not a float-truncation codec"):
        write_float_project(FixedPointCodec.fit(DATA, JET10, 40), tmp_path / "three", _options(), board)
    assert not (tmp_path / "three").exists()


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
def test_verilog_is_bit_exact_and_a_hybrid_needs_the_encoders_input_type(tmp_path, capsys, tiny_hybrid):
    from trigcomp.float_rtl import run_float_rtl

    codec = FloatMantissaCodec.fit(DATA, JET10, 64)
    board = BoardInput.parse("ap_fixed<21,13>")
    result = run_float_rtl(codec, tmp_path / "rtl", board, DATA, jets=8000, adversarial=4000, synthesize=False)
    assert result.passed and result.jets == 8000 and result.tie_jets > 200, result.first_mismatch
    assert (tmp_path / "rtl" / "trigcomp_float_params.vh").is_file()

    config = tmp_path / "hybrid.toml"
    config.write_text(codec_to_toml(tiny_hybrid))
    wrong_input = ["--input-type", "ap_fixed<20,12>", "--json"]
    assert main(["rtl", "--codec", str(config), "--out", str(tmp_path / "no"), *wrong_input]) == 2
    assert "autoencoder's input type ap_fixed<21,13>" in json.loads(capsys.readouterr().out)["error"]
    assert not (tmp_path / "no").exists()
