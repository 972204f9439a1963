"""Float-truncation codecs on the board: a small float per variable from the fixed-point input word, bit-exact.

Each field of a ``FloatMantissaCodec`` ([sign] + exponent + mantissa) is computed from the board's input word by a
leading-one position, one shift with round-to-nearest-even, and an add (``firmware/float/trigcomp_float.h`` says
how that equals the IEEE-like code, subnormals and rounding carries included). ``write_float_project`` renders
``firmware/float/`` into a project with the top ``trigcomp_float_top``; ``run_float_csim`` compares every field with
the Python codec's ``encode`` of what the board sees, on data jets, csim's edge cases and rounding ties (values
exactly half-way between two floats, and one input LSB either side, in every binade of every field).
"""

from __future__ import annotations

import shutil
import string
from pathlib import Path

import numpy as np

from .codec_firmware import read_project_codec, vendor_flow
from .codec_hls import (
    CODEC_FILE,
    BoardInput,
    CodecCsimResult,
    _ap_types_dir,
    codec_manifest,
    csim_fields,
    field_offsets,
)
from .codecs import FloatMantissaCodec, codec_from_json
from .errors import UserError
from .hls import FIRMWARE_DIR, MANIFEST, HlsOptions, HlsProject
from .staging import staged_dir, write_json

FLOAT_FIRMWARE = FIRMWARE_DIR / "float"
TOP = "trigcomp_float_top"
VENDOR_FLOW = "build_trigcomp_float_top.tcl"
SOURCES = ("firmware/trigcomp_float.cpp",)
TEST_BENCH = "trigcomp_float_tb.cpp"
#: Widest float field the firmware computes (its code is formed in 64 bits).
MAX_FIELD_BITS = 62


def check_float_codec(codec, board: BoardInput) -> FloatMantissaCodec:
    if not isinstance(codec, FloatMantissaCodec):
        raise UserError(f"a {codec.kind} codec is not a float-truncation codec")
    if codec.bits_per_jet == 0:
        raise UserError("the codec sends no bits: nothing to put on the board")
    wide = [f.variable for f in codec.fields if f.bits > MAX_FIELD_BITS]
    if wide:
        raise UserError(f"float fields wider than {MAX_FIELD_BITS} bits cannot be built: {', '.join(wide)}")
    return codec


def write_float_project(
    codec: FloatMantissaCodec, out: Path, options: HlsOptions, board: BoardInput, force: bool = False
) -> HlsProject:
    """An HLS project of the float-truncation ``codec``; deterministic and written atomically."""
    options.check()
    codec = check_float_codec(codec, board)
    n_link_words = -(-codec.bits_per_jet // options.link_width)
    offsets = field_offsets(codec)
    fields = [
        f"FIELD({i}, {int(f.sign)}, {f.exponent_bits}, {f.mantissa_bits}, {f.lowest_normal}, {offsets[i]})"
        for i, f in enumerate(codec.fields)
    ]
    values = {
        "codec_name": codec.name,
        "variables": ", ".join(codec.variables),
        "input_width": board.width,
        "input_integer": board.integer,
        "n_inputs": len(codec.variables),
        "link_width": options.link_width,
        "n_link_words": n_link_words,
        "float_fields": " \\\n    ".join(fields),
    }
    with staged_dir(out, force) as tmp:
        firmware = tmp / "firmware"
        firmware.mkdir()
        template = (FLOAT_FIRMWARE / "trigcomp_float_params.h.in").read_text()
        (firmware / "trigcomp_float_params.h").write_text(string.Template(template).substitute(values))
        for name in ("trigcomp_float.h", "trigcomp_float.cpp"):
            shutil.copyfile(FLOAT_FIRMWARE / name, firmware / name)
        shutil.copytree(_ap_types_dir(), firmware / "ap_types")
        shutil.copyfile(FLOAT_FIRMWARE / TEST_BENCH, tmp / TEST_BENCH)
        shutil.copyfile(FIRMWARE_DIR / "trigcomp_tb_rows.h", tmp / "trigcomp_tb_rows.h")
        (tmp / VENDOR_FLOW).write_text(vendor_flow(TOP, SOURCES, TEST_BENCH, options))
        write_json(tmp / CODEC_FILE, codec.to_json())
        fields = [
            {"name": f.variable, "bits": f.bits, "offset": o, "kind": "float"}
            | {key: getattr(f, key) for key in ("sign", "exponent_bits", "mantissa_bits", "lowest_normal")}
            for f, o in zip(codec.fields, offsets)
        ]
        manifest = codec_manifest(
            codec,
            board,
            options,
            TOP,
            "trigcomp_float",
            fields=fields,
            compile_units=[*SOURCES, TEST_BENCH],
            vendor_flow=VENDOR_FLOW,
        )
        write_json(tmp / MANIFEST, manifest)
    return HlsProject(Path(out), manifest)


def project_float_codec(project: HlsProject) -> tuple[FloatMantissaCodec, BoardInput]:
    raw, board = read_project_codec(project)
    return check_float_codec(codec_from_json(raw), board), board


def rounding_ties(codec: FloatMantissaCodec, board: BoardInput, data: np.ndarray, rng: np.random.Generator):
    """Jets (one field moved from the data median) exactly half-way between two floats of a field and one input
    LSB either side, a few per binade, plus each binade's edges; only words the input type can hold."""
    base = np.median(data, axis=0)
    jets = []
    for i, field in enumerate(codec.fields):
        m, words = field.mantissa_bits, []
        for binade in range(field.lowest_normal, field.top_exponent + 2):
            shift = binade + board.fractional - m  # input LSBs per step of the float in this binade
            steps = [int(s) + (1 << m if binade > field.lowest_normal else 0) for s in rng.integers(0, 1 << m, 4)]
            if shift >= 1:
                middles = [(step << shift) + (1 << (shift - 1)) for step in steps]
                words += [w + d for w in middles for d in (-1, 0, 1)]
            edge = 1 << max(binade + board.fractional, 0)
            words += [edge - 1, edge, edge + 1]
        words = np.array([w for w in words if 0 <= w <= board.max_word], dtype=np.int64)
        signed = np.concatenate([words, -words]) if field.sign else words
        for word in signed:
            row = base.copy()
            row[i] = word * board.lsb
            jets.append(row)
    return np.array(jets).reshape(-1, data.shape[1])


def run_float_csim(
    project: HlsProject,
    data: np.ndarray,
    jets: int = 1_000_000,
    adversarial: int = 50_000,
    processes: int = 2,
    seed: int = 0,
    progress: bool = False,
) -> CodecCsimResult:
    codec, board = project_float_codec(project)
    ties = rounding_ties(codec, board, data, np.random.default_rng(seed))
    return CodecCsimResult(
        **csim_fields(project, codec, board, data, ties, jets, adversarial, seed, processes, progress)
    )
