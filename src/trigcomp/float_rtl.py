"""The open RTL path for float-truncation codecs: Verilog fields, Verilator against Python, Yosys cell counts.

``run_float_rtl`` renders ``firmware/rtl/float/`` (one registered module, the same for every codec, and a params
header listing the fields) into a directory, builds it with the fixed-point codec's Verilator harness
(``firmware/rtl/codec/trigcomp_codec_sim.cpp``: same ports), runs csim's stimulus with the rounding ties through it,
compares every field with the Python codec, and counts the cells of Yosys ``synth_xilinx -family xcup``.
"""

from __future__ import annotations

import shutil
import string
import time
from pathlib import Path

import numpy as np

from .codec_hls import BoardInput, field_offsets, tied_stimulus
from .codec_rtl import (
    RTL_CODEC_FIRMWARE,
    SIMULATOR,
    CodecRtlResult,
    _vector,
    build_simulator,
    check_rtl,
    codec_latency,
)
from .codecs import FloatMantissaCodec
from .float_hls import check_float_codec, rounding_ties
from .hls import FIRMWARE_DIR
from .rtl.simulate import require_tool
from .staging import staged_dir, write_json

RTL_FLOAT_FIRMWARE = FIRMWARE_DIR / "rtl" / "float"
TOP = "trigcomp_float"


def write_float_rtl(codec: FloatMantissaCodec, out: Path, board: BoardInput, force: bool = False) -> Path:
    """The Verilog of ``codec`` and its Verilator simulator in ``out`` (atomically)."""
    codec = check_float_codec(codec, board)
    verilator = require_tool("verilator")
    fields = codec.fields
    values = {
        "codec_name": codec.name,
        "input_width": board.width,
        "input_integer": board.integer,
        "n_inputs": len(codec.variables),
        "packed_bits": codec.bits_per_jet,
        "n_fields": len(fields),
        "field_input": _vector(range(len(fields)), 32),
        "field_sign": _vector([int(f.sign) for f in fields], 32),
        "field_exponent": _vector([f.exponent_bits for f in fields], 32),
        "field_mantissa": _vector([f.mantissa_bits for f in fields], 32),
        "field_lowest": _vector([f.lowest_normal for f in fields], 32),
        "field_offset": _vector(field_offsets(codec), 32),
    }
    with staged_dir(out, force) as tmp:
        template = (RTL_FLOAT_FIRMWARE / "trigcomp_float_params.vh.in").read_text()
        (tmp / "trigcomp_float_params.vh").write_text(string.Template(template).substitute(values))
        shutil.copyfile(RTL_FLOAT_FIRMWARE / "trigcomp_float.v", tmp / "trigcomp_float.v")
        shutil.copyfile(RTL_CODEC_FIRMWARE / f"{SIMULATOR}.cpp", tmp / f"{SIMULATOR}.cpp")
        synth = string.Template((FIRMWARE_DIR / "rtl" / "synth_xilinx.ys").read_text())
        (tmp / "synth_xilinx.ys").write_text(synth.substitute(sources="trigcomp_float.v", top=TOP))
        write_json(tmp / "codec.json", codec.to_json())
        manifest = {
            "kind": "rtl-codec",
            "top": TOP,
            "codec": {"kind": codec.kind, "name": codec.name, "file": "codec.json"},
            "inputs": {"variables": list(codec.variables), "width": board.width, "integer": board.integer},
            "packed_bits": codec.bits_per_jet,
        }
        write_json(tmp / "trigcomp.json", manifest)
        defines = [
            f"-DTC_WIDTH_VALUE={board.width}",
            f"-DTC_N_INPUTS_VALUE={len(fields)}",
            f"-DTC_PACKED_BITS_VALUE={codec.bits_per_jet}",
            f"-DTC_LATENCY_VALUE={codec_latency(codec)}",
        ]
        build_simulator(verilator, tmp, TOP, "trigcomp_float.v", defines)
    return Path(out)


def run_float_rtl(
    codec: FloatMantissaCodec,
    out: Path,
    board: BoardInput,
    data: np.ndarray,
    jets: int = 100_000,
    adversarial: int = 20_000,
    seed: int = 0,
    synthesize: bool = True,
    force: bool = False,
) -> CodecRtlResult:
    """Write the RTL, simulate ``jets`` jets in Verilator against the Python codec, and (optionally) run Yosys."""
    seconds = {}
    start = time.perf_counter()
    write_float_rtl(codec, out, board, force)
    seconds["verilator_build"] = time.perf_counter() - start
    ties = rounding_ties(codec, board, data, np.random.default_rng(seed))
    x, counts = tied_stimulus(board, data, ties, jets, adversarial, seed)
    return check_rtl(codec, Path(out), board, x, counts, seconds, synthesize)
