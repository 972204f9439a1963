"""The open RTL path for fixed-point codecs: Verilog comparator ladders, Verilator against Python, Yosys LUTs.

``write_codec_rtl`` renders ``firmware/rtl/codec/`` (a pipelined Verilog module, II = 1, the same for every codec,
and a params header holding the tables of ``codec_hls``) into a directory, builds the Verilator harness (one jet per
clock edge), runs data and adversarial jets (csim's stimulus with the codec's threshold ties), compares every field
with the Python codec, and counts the cells of Yosys ``synth_xilinx -family xcup``.
"""

from __future__ import annotations

import shutil
import string
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .codec_hls import (
    BoardInput,
    CodecCsimResult,
    binomial_rows,
    check_board_codec,
    check_codec_words,
    codec_stimulus,
    scalar_tables,
    simplex_sizes,
)
from .codecs import Codec
from .errors import UserError
from .hls import FIRMWARE_DIR
from .rtl.simulate import require_tool
from .rtl.synth import run_yosys
from .staging import staged_dir, write_json

RTL_CODEC_FIRMWARE = FIRMWARE_DIR / "rtl" / "codec"
TOP = "trigcomp_codec"
SIMULATOR = "trigcomp_codec_sim"
#: Clock edges from a jet to its fields: the lattice field's five register stages (shares and total; two halves of
#: the division; remainder ranking; rank), or the scalar ladders' one. II = 1 either way.
LATENCY_WITH_LATTICE = 5
LATENCY_SCALARS_ONLY = 1
#: The clock the stages are cut for (200 MHz): each stage's logic depth is kept at or below da4ml's 5 ns stages'.
CLOCK_NS = 5.0


def codec_latency(codec: Codec) -> int:
    """Clock edges from a jet on the Verilog's input to its fields on the output."""
    return LATENCY_WITH_LATTICE if getattr(codec, "simplex", None) is not None else LATENCY_SCALARS_ONLY


def _vector(values, size: int) -> str:
    """Elements as one Verilog vector literal, element i in bits [i*size +: size] (two's complement)."""
    values = [int(v) % (1 << size) for v in values] or [0]
    return "{" + ", ".join(f"{size}'h{v:x}" for v in reversed(values)) + "}"


def _params(codec, board: BoardInput) -> dict[str, Any]:
    scalars = scalar_tables(codec, board)
    firsts = np.cumsum([0] + [len(t.thresholds) for t in scalars])[:-1]
    thresholds = np.concatenate([t.thresholds for t in scalars]) if scalars else np.zeros(1, dtype=np.int64)
    values = simplex_sizes(codec, board) | {
        "codec_name": codec.name,
        "input_width": board.width,
        "input_integer": board.integer,
        "n_inputs": len(codec.variables),
        "packed_bits": codec.bits_per_jet,
        "latency": codec_latency(codec),
        "n_scalar": len(scalars),
        "n_scalar_slots": max(1, len(scalars)),
        "n_thresholds": len(thresholds),
        "scalar_input": _vector([t.input for t in scalars], 32),
        "scalar_bits": _vector([t.field.bits for t in scalars], 32),
        "scalar_offset": _vector([t.offset for t in scalars], 32),
        "scalar_first": _vector(firsts, 32),
        "thresholds": _vector(thresholds, board.width + 1),
        "simplex_switch": "// no lattice field",
        "simplex_inputs_vector": "0",
        "simplex_binomials_vector": "0",
    }
    if codec.simplex is not None:
        simplex = codec.simplex
        rows = binomial_rows(simplex)
        values |= {
            "simplex_switch": "`define TC_SIMPLEX",
            "simplex_inputs_vector": _vector([codec.variables.index(v) for v in simplex.variables], 32),
            "simplex_binomials_vector": _vector([c for row in rows for c in row], simplex.bits),
        }
    return values


@dataclass
class CodecRtlResult(CodecCsimResult):
    """A Verilator run of the codec's Verilog, compared like csim, and Yosys' cell counts."""

    yosys: dict[str, Any] | None = None
    latency_cycles: int = 0  # clock edges from a jet to its fields, one jet per edge (II = 1)
    latency_ns: float = 0.0  # at CLOCK_NS


def write_codec_rtl(codec: Codec, out: Path, board: BoardInput, force: bool = False) -> Path:
    """The Verilog of ``codec`` and its Verilator harness in ``out`` (atomically); the simulator is built there."""
    codec = check_board_codec(codec, board)
    params = _params(codec, board)
    verilator = require_tool("verilator")
    with staged_dir(out, force) as tmp:
        template = (RTL_CODEC_FIRMWARE / "trigcomp_codec_params.vh.in").read_text()
        (tmp / "trigcomp_codec_params.vh").write_text(string.Template(template).substitute(params))
        for name in ("trigcomp_codec.v", f"{SIMULATOR}.cpp"):
            shutil.copyfile(RTL_CODEC_FIRMWARE / name, tmp / name)
        synth = string.Template((RTL_CODEC_FIRMWARE.parent / "synth_xilinx.ys").read_text())
        (tmp / "synth_xilinx.ys").write_text(synth.substitute(sources="trigcomp_codec.v", top=TOP))
        write_json(tmp / "codec.json", codec.to_json())
        write_json(
            tmp / "trigcomp.json",
            {
                "kind": "rtl-codec",
                "top": TOP,
                "codec": {"kind": codec.kind, "name": codec.name, "file": "codec.json"},
                "inputs": {"variables": list(codec.variables), "width": board.width, "integer": board.integer},
                "packed_bits": codec.bits_per_jet,
                "latency_cycles": params["latency"],
                "clock_ns": CLOCK_NS,
                "latency_ns": params["latency"] * CLOCK_NS,
                "ii": 1,
            },
        )
        defines = [
            f"-DTC_{name}_VALUE={params[key]}"
            for name, key in (
                ("WIDTH", "input_width"),
                ("N_INPUTS", "n_inputs"),
                ("PACKED_BITS", "packed_bits"),
                ("LATENCY", "latency"),
            )
        ]
        build_simulator(verilator, tmp, TOP, "trigcomp_codec.v", defines)
    return Path(out)


def build_simulator(verilator: str, directory: Path, top: str, verilog: str, defines: list[str]) -> None:
    """Build the codec harness (``SIMULATOR``.cpp, in ``directory``) around module ``top`` of ``verilog``; the
    harness names its model class Vtrigcomp_codec, which ``--prefix`` gives any top."""
    command = [
        verilator, "--cc", "--exe", "--build", "-j", "2", "-O3", "-Wno-fatal", "-Wno-WIDTH",
        "--top-module", top, "--prefix", "Vtrigcomp_codec", "-Mdir", "obj_dir", "-o", f"../{SIMULATOR}",
        "-CFLAGS", " ".join(defines), verilog, f"{SIMULATOR}.cpp",
    ]  # fmt: skip
    completed = subprocess.run(command, cwd=directory, check=False, capture_output=True, text=True)
    shutil.rmtree(directory / "obj_dir", ignore_errors=True)
    if completed.returncode != 0:
        errors = [line for line in completed.stderr.splitlines() if "Error" in line or "error" in line]
        raise RuntimeError(f"Verilator failed on {verilog}: {(errors or ['?'])[0]}")


def run_codec_rtl(
    codec: Codec,
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
    write_codec_rtl(codec, out, board, force)
    seconds["verilator_build"] = time.perf_counter() - start

    x, counts = codec_stimulus(codec, board, data, jets, adversarial, seed)
    return check_rtl(codec, Path(out), board, x, counts, seconds, synthesize)


def simulate_codec_words(codec: Codec, out: Path, board: BoardInput, x: np.ndarray) -> np.ndarray:
    """Jets ``x`` through the Verilator simulator built in ``out``: the packed words, 32 bits per column."""
    with tempfile.TemporaryDirectory(prefix="trigcomp-rtl-") as tmp:
        src, dst = Path(tmp) / "in.i32", Path(tmp) / "out.u32"
        board.words(x).astype(np.int32).tofile(src)
        completed = subprocess.run(
            [str(Path(out) / SIMULATOR), str(src), str(dst)], check=False, capture_output=True, text=True
        )
        if completed.returncode != 0:
            raise UserError(f"the Verilator simulation failed: {completed.stderr.strip()[:200]}")
        chunks = -(-codec.bits_per_jet // 32)
        return np.fromfile(dst, dtype=np.uint32).reshape(-1, chunks).astype(np.uint64)


def check_rtl(
    codec: Codec,
    out: Path,
    board: BoardInput,
    x: np.ndarray,
    counts: dict[str, int],
    seconds: dict[str, float],
    synthesize: bool,
) -> CodecRtlResult:
    """Jets ``x`` through the Verilator simulator built in ``out``, every field compared with the Python codec, and
    (optionally) Yosys; ``counts`` are the stimulus' ``CodecCsimResult`` fields, ``seconds`` the time spent so far."""
    start = time.perf_counter()
    words = simulate_codec_words(codec, out, board, x)
    seconds["verilator"] = time.perf_counter() - start
    checked = check_codec_words(codec, board, x, words, 32)
    yosys = None
    if synthesize:
        start = time.perf_counter()
        yosys = run_yosys(Path(out)) | {"log": str(Path(out) / "yosys.log")}
        seconds["yosys"] = time.perf_counter() - start
        write_json(Path(out) / "yosys.json", yosys)
    return CodecRtlResult(
        project=str(out),
        jets_per_s=len(x) / max(seconds["verilator"], 1e-9),
        seconds={k: round(v, 2) for k, v in seconds.items()},
        compiled_from_cache=False,
        yosys=yosys,
        latency_cycles=codec_latency(codec),
        latency_ns=codec_latency(codec) * CLOCK_NS,
        **counts,
        **checked,
    )
