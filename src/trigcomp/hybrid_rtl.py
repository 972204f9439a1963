"""The open RTL path for hybrid codecs: the fields' Verilog and the encoder's da4ml Verilog, side by side.

``run_hybrid_rtl`` writes two subprojects, each from the generator trigcomp already has, unchanged: ``fields/``
(``codec_rtl.write_codec_rtl`` of the fixed-point part: pipelined comparator ladders, a Verilator harness) and
``encoder/`` (``rtl.write_rtl_project`` of the autoencoder's ``firmware_ir``: da4ml's combinational and pipelined
Verilog). The same jets (csim's stimulus with the fields' threshold ties, on the board's input grid, which is the
encoder's input type, so one input word feeds both parts exactly) run through both in Verilator; the packed word
is assembled as the board sends it (the fields first, then the latent words) and compared word for word with
``HybridCodec.encode`` of what the board sees. The parts are checked side by side on the same jets: there is no
single Verilog top wiring both (their latencies differ; the HLS top ``trigcomp_hybrid_top`` is the board's).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .codec_hls import BoardInput, CodecCsimResult, check_codec_words, field_offsets, tied_stimulus
from .codec_rtl import CLOCK_NS, codec_latency, simulate_codec_words, write_codec_rtl
from .codecs import HybridCodec
from .csim import insert_bits
from .errors import UserError
from .hybrid_hls import check_hybrid_board, hybrid_tie_jets
from .rtl import load_project, simulate, synthesize, write_rtl_project
from .rtl.synth import run_yosys
from .staging import staged_dir, write_json

#: The Verilator harnesses' output words (the fields' harness writes 32-bit chunks; the word is assembled so).
WORD_WIDTH = 32
#: Yosys counts summed over the two parts.
SUMMED = ("lut", "ff", "carry", "dsp", "bram")


@dataclass
class HybridRtlResult(CodecCsimResult):
    """Both parts in Verilator on the same jets, the assembled word compared like csim, and Yosys per part."""

    mismatches_per_part: dict[str, int] | None = None  # field values differing, in the fields and in the latent
    latency: dict[str, Any] | None = None  # per part: clock edges from a jet to its words
    yosys: dict[str, Any] | None = None  # per part and summed


def _latent_codes(codec: HybridCodec, project, x: np.ndarray) -> np.ndarray:
    """The encoder's Verilog (pipelined) on the latent variables of ``x``: unsigned latent words, as the codec
    sends them (two's complement)."""
    quantizer = codec.latent.model.config.latent_quantizer
    latent = simulate(project, x[:, codec.latent_columns], "pipelined")
    return np.rint(latent / quantizer.lsb).astype(np.int64) & ((1 << quantizer.bits) - 1)


def assemble_words(codec: HybridCodec, field_words: np.ndarray, latent: np.ndarray) -> np.ndarray:
    """The packed word of every jet: the fields' words (their bits first), then each latent word at its offset."""
    words = np.zeros((len(latent), -(-codec.bits_per_jet // WORD_WIDTH)), dtype=np.uint64)
    words[:, : field_words.shape[1]] = field_words
    n_fixed = len(codec.fixed.field_bits)
    for i, (offset, bits) in enumerate(zip(field_offsets(codec)[n_fixed:], codec.latent.field_bits)):
        insert_bits(words, offset, bits, latent[:, i], WORD_WIDTH)
    return words


def _yosys(out: Path, encoder) -> dict[str, Any]:
    fields = run_yosys(out / "fields") | {"log": str(out / "fields" / "yosys.log")}
    write_json(out / "fields" / "yosys.json", fields)
    parts = {"fields": fields, "encoder": synthesize(encoder).to_json()}
    return parts | {"total": {key: sum(part[key] for part in parts.values()) for key in SUMMED}}


def run_hybrid_rtl(
    codec: HybridCodec,
    out: Path,
    board: BoardInput,
    data: np.ndarray,
    jets: int = 100_000,
    adversarial: int = 20_000,
    seed: int = 0,
    synthesize: bool = True,
    force: bool = False,
) -> HybridRtlResult:
    """Write both parts' RTL into ``out``, simulate ``jets`` jets in Verilator against ``codec``, and (optionally)
    count each part's cells with Yosys."""
    if jets < 1:
        raise UserError(f"--jets must be at least 1, got {jets}")
    check_hybrid_board(codec, board)
    model = codec.latent.model
    seconds = {}
    start = time.perf_counter()
    with staged_dir(out, force) as tmp:
        write_codec_rtl(codec.fixed, tmp / "fields", board)
        write_rtl_project(
            model.firmware_ir,
            tmp / "encoder",
            clock_ns=CLOCK_NS,
            manifest={"model": {"name": model.name, "hash": model.hash, "variables": list(model.variables)}},
        )
        write_json(tmp / "codec.json", codec.to_json())
    out = Path(out)
    encoder = load_project(out / "encoder")
    seconds["write"] = time.perf_counter() - start

    ties = hybrid_tie_jets(codec, board, data, np.random.default_rng(seed))
    x, counts = tied_stimulus(board, data, ties, jets, adversarial, seed)
    start = time.perf_counter()
    field_words = simulate_codec_words(codec.fixed, out / "fields", board, x[:, codec.fixed_columns])
    seconds["verilator_fields"] = time.perf_counter() - start
    start = time.perf_counter()
    latent = _latent_codes(codec, encoder, x)
    seconds["verilator_encoder"] = time.perf_counter() - start
    checked = check_codec_words(codec, board, x, assemble_words(codec, field_words, latent), WORD_WIDTH)
    per_field = checked["mismatches_per_field"]
    parts = {
        "fields": sum(per_field.get(name, 0) for name in codec.fixed.field_names),
        "latent": sum(per_field.get(name, 0) for name in codec.latent.field_names),
    }
    latency = {
        "fields": {"cycles": codec_latency(codec.fixed), "ns": codec_latency(codec.fixed) * CLOCK_NS},
        "encoder": {
            "cycles": encoder.latency_cycles,
            "pipeline_stages": encoder.pipeline_stages,
            "ns": encoder.latency_cycles * CLOCK_NS,
        },
        "clock_ns": CLOCK_NS,
    }
    yosys = None
    if synthesize:
        start = time.perf_counter()
        yosys = _yosys(out, encoder)
        seconds["yosys"] = time.perf_counter() - start
    result = HybridRtlResult(
        project=str(out),
        jets_per_s=len(x) / max(seconds["verilator_fields"] + seconds["verilator_encoder"], 1e-9),
        seconds={k: round(v, 2) for k, v in seconds.items()},
        compiled_from_cache=False,
        mismatches_per_part=parts,
        latency=latency,
        yosys=yosys,
        **counts,
        **checked,
    )
    write_json(out / "rtl.json", result.to_json())
    return result
