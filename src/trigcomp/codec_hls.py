"""Per-variable fixed-point codecs on the board: board semantics, HLS projects and their bit-exact C simulation.

**Board semantics.** The board sees each variable as ``ap_fixed<W,I>`` (rounded to nearest, ties to even,
saturated). Every scalar field of a ``FixedPointCodec`` is a monotone quantizer, so on that grid it is exactly a
ladder of thresholds: code = number of thresholds t_k <= the input word, with t_k the first input word whose Python
code is >= k (a threshold above every word is never reached). ``field_thresholds`` derives them from the codec's own
``encode`` evaluated on *every* word of the input type and refuses a field that is not monotone there, so the ladder
equals ``encode`` on every board input by construction (linear and log companding alike). The energy fractions'
joint lattice field is exact integer arithmetic in both implementations (``codecs.simplex``).

**Projects.** ``write_codec_project`` renders ``firmware/codec/`` (the C++ templates, a params header holding only
the tables, a test bench and a Vivado/Vitis HLS Tcl script) into a project whose top ``trigcomp_codec_top`` computes
every field and packs them into link words, with a manifest ``trigcomp.json`` that csim, report and build read.

**csim.** ``run_codec_csim`` compiles the test bench with csim's machinery, runs data and adversarial jets (csim's
edge cases plus every threshold tie: x exactly on a threshold and one LSB below, and fraction ties of the lattice
rounding) and compares every field with the Python codec's ``encode`` of the board's input values.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .codecs import Codec, FixedPointCodec, FixedPointField, codec_from_json
from .codecs.simplex import GRID_BITS, SimplexField
from .compare import compare_words
from .config import FixedPoint
from .csim import WordCheck, extract_bits, make_inputs, run_firmware, timing_fields
from .errors import UserError
from .hls import FIRMWARE_DIR, MANIFEST, HlsOptions, HlsProject
from .records import SCHEMA_VERSION
from .staging import staged_dir, write_json
from .stimulus import tie_rows

CODEC_FIRMWARE = FIRMWARE_DIR / "codec"
PROJECT_NAME = "trigcomp_codec"
TOP = "trigcomp_codec_top"
CODEC_FILE = "codec.json"
#: The Vivado/Vitis HLS script `trigcomp build` runs (named in the manifest as ``vendor_flow``).
VENDOR_FLOW = "build_trigcomp_codec_top.tcl"
#: Widest input the threshold derivation checks on every word (2^24 words), and the simplex's finest grid.
MAX_INPUT_WIDTH = GRID_BITS


# ---------------------------------------------------------------------------------------------------------------
# Board semantics
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardInput:
    """The board's input type ``ap_fixed<width, integer, AP_RND_CONV, AP_SAT>`` (integer bits include the sign)."""

    width: int
    integer: int

    @classmethod
    def parse(cls, text: str) -> BoardInput:
        match = re.fullmatch(r"\s*ap_fixed\s*<\s*(\d+)\s*,\s*(-?\d+)\s*>\s*", text)
        if not match:
            raise UserError(f"input type must look like ap_fixed<21,13>, got {text!r}")
        board = cls(int(match[1]), int(match[2]))
        if not 2 <= board.width <= MAX_INPUT_WIDTH or not 1 <= board.integer <= board.width:
            raise UserError(f"input type {text}: need 2 <= width <= {MAX_INPUT_WIDTH} and 1 <= integer <= width")
        return board

    @property
    def fractional(self) -> int:
        return self.width - self.integer

    @property
    def quantizer(self) -> FixedPoint:
        """The same grid as a QKeras-style quantizer (csim's adversarial jets use its range)."""
        return FixedPoint(self.width, self.integer - 1)

    @property
    def lsb(self) -> float:
        return 2.0**-self.fractional

    @property
    def min_word(self) -> int:
        return -(1 << (self.width - 1))

    @property
    def max_word(self) -> int:
        return (1 << (self.width - 1)) - 1

    @property
    def cpp(self) -> str:
        return f"ap_fixed<{self.width},{self.integer}>"

    def words(self, x: np.ndarray) -> np.ndarray:
        """Values -> the board's raw input words: rounded to the grid (ties to even), saturated; +-inf saturate."""
        scaled = np.clip(np.rint(np.asarray(x, dtype=np.float64) / self.lsb), self.min_word, self.max_word)
        return scaled.astype(np.int64)

    def saturates(self, x: np.ndarray) -> np.ndarray:
        """Which values the input conversion saturates (their rounded word lies outside the type)."""
        rounded = np.rint(np.asarray(x, dtype=np.float64) / self.lsb)
        return (rounded > self.max_word) | (rounded < self.min_word)

    def values(self, x: np.ndarray) -> np.ndarray:
        """What the board sees of ``x``: its input words as values (exact in float64)."""
        return self.words(x) * self.lsb

    def all_values(self) -> np.ndarray:
        return np.arange(self.min_word, self.max_word + 1, dtype=np.int64) * self.lsb


def field_thresholds(codec: FixedPointCodec, index: int, board: BoardInput) -> np.ndarray:
    """Thresholds (input words, sorted) of scalar field ``index``: its code is the number of them <= the word.

    Derived from the codec's ``encode`` on every input word; a field whose codes are not monotone in the input
    cannot be a ladder and is refused (it would be a trigcomp bug: every fixed-point field is monotone).
    """
    scalar = codec.fields[index]
    codes, _ = scalar.encode(board.all_values())
    if np.any(np.diff(codes) < 0):
        raise RuntimeError(f"field {scalar.variable}: codes are not monotone in the input; this is a trigcomp bug")
    steps = np.arange(1, 1 << scalar.bits)
    return board.min_word + np.searchsorted(codes, steps, side="left")


def ladder_codes(words: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The firmware's comparator ladder in numpy: how many thresholds each word reaches."""
    return np.searchsorted(thresholds, words, side="right").astype(np.int64)


def field_offsets(codec: Codec) -> list[int]:
    """Bit offset of every field in the packed word (fields little-end first; a 0-bit field takes no bits)."""
    return [int(o) for o in np.cumsum((0,) + tuple(codec.field_bits))[:-1]]


def check_board_codec(codec: Codec, board: BoardInput) -> FixedPointCodec:
    if not isinstance(codec, FixedPointCodec):
        raise UserError(
            f"trigcomp hls --codec builds per-variable fixed-point codecs; a {codec.kind} codec has no firmware here"
            + (" (build an autoencoder with --model)" if codec.kind == "autoencoder" else "")
        )
    if codec.bits_per_jet == 0:
        raise UserError("the codec sends no bits: nothing to put on the board")
    if codec.simplex is not None and codec.simplex.parts > 8:
        raise UserError(f"the simplex field has {codec.simplex.parts} parts; the firmware handles at most 8")
    return codec


# ---------------------------------------------------------------------------------------------------------------
# The project
# ---------------------------------------------------------------------------------------------------------------


def _table(values) -> str:
    return ", ".join(str(int(v)) for v in values)


@dataclass(frozen=True)
class ScalarTable:
    """A scalar field as the firmware computes it: a ladder of thresholds on input ``input``."""

    input: int
    field: FixedPointField
    offset: int
    thresholds: np.ndarray


def scalar_tables(codec: FixedPointCodec, board: BoardInput) -> list[ScalarTable]:
    """Every scalar field with bits, in field order."""
    offsets = field_offsets(codec)
    return [
        ScalarTable(i, scalar, offsets[i], field_thresholds(codec, i, board))
        for i, scalar in enumerate(codec.fields)
        if scalar.bits
    ]


def simplex_sizes(codec: FixedPointCodec, board: BoardInput) -> dict[str, int]:
    """Sizes of the lattice field's integer arithmetic (template values ``simplex_*``; zeros without one)."""
    names = (
        "fractions",
        "parts",
        "levels",
        "bits",
        "offset",
        "share_bits",
        "unit_bits",
        "product_bits",
        "quotient_bits",
    )
    simplex = codec.simplex
    if simplex is None:
        return {f"simplex_{name}": 0 for name in names}
    share_bits = board.fractional + 1 + math.ceil(math.log2(simplex.parts))  # up to PARTS * one
    values = (
        len(simplex.variables),
        simplex.parts,
        simplex.levels,
        simplex.bits,
        field_offsets(codec)[-1],
        share_bits,
        (simplex.levels + simplex.parts).bit_length(),  # units, positions and counts <= levels + parts
        share_bits + simplex.levels.bit_length(),  # share * levels
        simplex.levels.bit_length(),  # share <= total, so floor(share * levels / total) <= levels
    )
    return {f"simplex_{name}": value for name, value in zip(names, values)}


def binomial_rows(simplex: SimplexField) -> list[list[int]]:
    """C(c, j) for c < levels + parts - 1, j < parts: the table that ranks a lattice point."""
    return [[math.comb(c, j) for j in range(simplex.parts)] for c in range(simplex.levels + simplex.parts - 1)]


def _firmware_tables(codec: FixedPointCodec, board: BoardInput) -> tuple[dict[str, Any], list]:
    """Template values of trigcomp_codec_params.h.in and the manifest's field list."""
    scalars = scalar_tables(codec, board)
    fields = [
        {"name": f.variable, "bits": f.bits, "offset": o, "kind": f.companding}
        for f, o in zip(codec.fields, field_offsets(codec))
    ]
    for table in scalars:
        fields[table.input]["thresholds"] = len(table.thresholds)
    values = simplex_sizes(codec, board) | {
        "scalar_fields": " \\\n    ".join(
            f"FIELD({t.input}, {t.field.bits}, {t.offset}, trigcomp_thresholds_{t.input})" for t in scalars
        ),
        "threshold_tables": "\n".join(
            f"// {t.field.variable}: {t.field.companding} over [{t.field.low:g}, {t.field.high:g}], {t.field.bits} bits\n"
            f"static const trigcomp_word_t trigcomp_thresholds_{t.input}[{len(t.thresholds)}] = "
            f"{{{_table(t.thresholds)}}};"
            for t in scalars
        ),
        "simplex": int(codec.simplex is not None),
        "simplex_inputs": "0",
        "simplex_binomials": "{0}",
    }
    if codec.simplex is not None:
        simplex = codec.simplex
        values |= {
            "simplex_inputs": _table(codec.variables.index(v) for v in simplex.variables),
            "simplex_binomials": ",\n".join(f"    {{{_table(row)}}}" for row in binomial_rows(simplex)),
        }
        fields.append(
            {"name": codec.field_names[-1], "bits": simplex.bits, "offset": values["simplex_offset"], "kind": "simplex"}
        )
    return values, fields


def _render(name: str, values: dict[str, Any]) -> str:
    return string.Template((CODEC_FIRMWARE / name).read_text()).substitute(values)


def _ap_types_dir() -> Path:
    try:
        import hls4ml
    except ImportError:
        raise UserError("trigcomp hls needs hls4ml (for the ap_types headers): pip install hls4ml") from None
    return Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"


def codec_manifest(
    codec: Codec, board: BoardInput, options: HlsOptions, top: str, project_name: str, **rest: Any
) -> dict[str, Any]:
    """The manifest (``trigcomp.json``) of a codec project (fixed point, float, hybrid): what csim, report and build
    read, and ``rest``."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "hls",
        "project_name": project_name,
        "top": top,
        "board": options.board.name,
        "part": options.board.part,
        "clock_ns": options.clock_ns,
        "backend": options.backend,
        "codec": {"kind": codec.kind, "name": codec.name, "file": CODEC_FILE, "bits_per_jet": codec.bits_per_jet},
        "inputs": {
            "size": len(codec.variables),
            "variables": list(codec.variables),
            "precision": board.cpp,
            "width": board.width,
            "integer": board.integer,
        },
        "link": {"width": options.link_width, "words": -(-codec.bits_per_jet // options.link_width)},
        "area": codec.area_estimate(),
    } | rest


def write_codec_project(
    codec: Codec, out: Path, options: HlsOptions, board: BoardInput, force: bool = False
) -> HlsProject:
    """An HLS project of ``codec`` (see the module doc); deterministic and written atomically."""
    options.check()
    codec = check_board_codec(codec, board)
    n_link_words = -(-codec.bits_per_jet // options.link_width)
    tables, fields = _firmware_tables(codec, board)
    codec_json = codec.to_json()
    with staged_dir(out, force) as tmp:
        firmware = tmp / "firmware"
        firmware.mkdir()
        values = tables | {
            "codec_name": codec.name,
            "variables": ", ".join(codec.variables),
            "input_width": board.width,
            "input_integer": board.integer,
            "n_inputs": len(codec.variables),
            "link_width": options.link_width,
            "n_link_words": n_link_words,
        }
        (firmware / "trigcomp_codec_params.h").write_text(_render("trigcomp_codec_params.h.in", values))
        for name in ("trigcomp_codec.h", "trigcomp_codec.cpp"):
            shutil.copyfile(CODEC_FIRMWARE / name, firmware / name)
        shutil.copytree(_ap_types_dir(), firmware / "ap_types")
        shutil.copyfile(CODEC_FIRMWARE / "trigcomp_codec_tb.cpp", tmp / "trigcomp_codec_tb.cpp")
        shutil.copyfile(FIRMWARE_DIR / "trigcomp_tb_rows.h", tmp / "trigcomp_tb_rows.h")
        tcl = {"top": TOP, "part": options.board.part, "clock_ns": options.clock_ns}
        (tmp / VENDOR_FLOW).write_text(_render(f"{VENDOR_FLOW}.in", tcl))
        write_json(tmp / CODEC_FILE, codec_json)
        manifest = codec_manifest(
            codec,
            board,
            options,
            TOP,
            PROJECT_NAME,
            fields=fields,
            compile_units=["firmware/trigcomp_codec.cpp", "trigcomp_codec_tb.cpp"],
            vendor_flow=VENDOR_FLOW,
        )
        write_json(tmp / MANIFEST, manifest)
    return HlsProject(Path(out), manifest)


def project_codec(project: HlsProject) -> tuple[FixedPointCodec, BoardInput]:
    """The project's codec (its own copy) and the board input type it was generated for."""
    path = project.codec_file
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: cannot read the project's codec ({err}); regenerate with `trigcomp hls`") from None
    board = BoardInput(project.board_input_width, project.board_input_integer)
    return check_board_codec(codec_from_json(raw), board), board


# ---------------------------------------------------------------------------------------------------------------
# csim
# ---------------------------------------------------------------------------------------------------------------


def unpack_fields(words: np.ndarray, bits: list[int], offsets: list[int], link_width: int) -> np.ndarray:
    """Link words (jets, words) -> unsigned field codes (jets, fields), the inverse of the top's packing."""
    return np.stack([extract_bits(words, o, b, link_width) for b, o in zip(bits, offsets)], axis=1).astype(np.int64)


def tie_jets(codec: FixedPointCodec, board: BoardInput, data: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Jets at every threshold and one LSB below (one field moved from a data jet), and lattice-rounding ties."""
    base = np.median(data, axis=0)
    jets = []
    for i, scalar in enumerate(codec.fields):
        if not scalar.bits:
            continue
        thresholds = field_thresholds(codec, i, board)
        reachable = thresholds[thresholds <= board.max_word]
        for word in np.concatenate([reachable, reachable - 1]):
            row = base.copy()
            row[i] = word * board.lsb
            jets.append(row)
    if codec.simplex is not None:
        columns = [codec.variables.index(v) for v in codec.simplex.variables]
        k = len(columns)
        for _ in range(2000):  # equal fractions on a random subset: every remainder ties
            row = base.copy()
            chosen = rng.random(k) < 0.5
            share = rng.choice([1.0 / max(chosen.sum(), 1), rng.random() / max(chosen.sum(), 1)])
            row[columns] = np.where(chosen, share, 0.0)
            jets.append(row)
        for fractions in (np.zeros(k), np.ones(k), np.full(k, -1.0), np.full(k, 1.0 / k), np.eye(k)[0]):
            row = base.copy()
            row[columns] = fractions
            jets.append(row)
    return np.array(jets).reshape(-1, data.shape[1])


@dataclass
class CodecCsimResult(WordCheck):
    project: str
    codec: str
    fields: list[str]
    jets: int
    data_jets: int
    adversarial_jets: int
    tie_jets: int
    tie_jets_left_out: int  # ties that did not fit into --adversarial
    mismatches: int
    mismatches_per_field: dict[str, int]
    saturated: dict[str, Any]
    jets_per_s: float
    seconds: dict[str, float]
    compiled_from_cache: bool
    first_mismatch: dict[str, Any] | None = None
    mismatch_rows: list[int] = field(default_factory=list)
    reference: ClassVar[str] = "the Python codec"

    def quality_text(self) -> str:
        left_out = (
            f"; {self.tie_jets_left_out} more ties did not fit (raise --adversarial)" if self.tie_jets_left_out else ""
        )
        return (
            f"fields compared: {', '.join(self.fields)}; {self.tie_jets} adversarial jets are threshold ties{left_out}"
        )


def codec_stimulus(
    codec: FixedPointCodec, board: BoardInput, data: np.ndarray, jets: int, adversarial: int, seed: int
) -> tuple[np.ndarray, dict[str, int]]:
    """csim's jets (data resampled + its edge cases) with the codec's threshold and lattice ties among the
    adversarial ones, and the ``CodecCsimResult`` fields that count them."""
    ties = tie_jets(codec, board, data, np.random.default_rng(seed))
    return tied_stimulus(board, data, ties, jets, adversarial, seed)


def tied_stimulus(
    board: BoardInput, data: np.ndarray, ties: np.ndarray, jets: int, adversarial: int, seed: int
) -> tuple[np.ndarray, dict[str, int]]:
    """csim's jets with a codec's ``ties`` filling up to three quarters of the adversarial ones (the rest are csim's
    zeros, extremes, +-inf, ...), and the ``CodecCsimResult`` fields that count them."""
    used = min(len(ties), tie_rows(adversarial))
    x = make_inputs(data, board.quantizer, jets, adversarial, seed, extra_adversarial=ties[:used])
    counts = {
        "data_jets": int(jets - adversarial),
        "adversarial_jets": int(adversarial),
        "tie_jets": used,
        "tie_jets_left_out": len(ties) - used,
    }
    return x, counts


def check_codec_words(
    codec: FixedPointCodec, board: BoardInput, x: np.ndarray, words: np.ndarray, word_width: int
) -> dict[str, Any]:
    """Every field the firmware packed into ``words`` against the Python codec's encode of what the board sees:
    the ``CodecCsimResult`` fields that describe the comparison (mismatches, per field, the first, saturation)."""
    seen = board.values(x)
    reference, saturated = codec.encode(seen)
    bits, offsets = list(codec.field_bits), field_offsets(codec)
    firmware = unpack_fields(words, bits, offsets, word_width)
    comparison = compare_words(reference, firmware, 1.0)
    per_field = dict(zip(codec.field_names, (reference != firmware).sum(axis=0).tolist()))
    first = None
    if comparison.first_mismatch is not None:
        row = comparison.first_mismatch
        bad = [i for i in range(len(bits)) if reference[row, i] != firmware[row, i]]
        first = {
            "row": row,
            "field": codec.field_names[bad[0]],
            "fields": [
                {"field": codec.field_names[i], "python": int(reference[row, i]), "firmware": int(firmware[row, i])}
                for i in bad
            ],
            "input": x[row].tolist(),
            "board_input": seen[row].tolist(),
        }
    outside = board.saturates(x)
    return {
        "codec": codec.name,
        "fields": [n for n, b in zip(codec.field_names, bits) if b],
        "jets": len(x),
        "mismatches": comparison.mismatches,
        "mismatches_per_field": {k: v for k, v in per_field.items() if v},
        "saturated": {
            "input_values": int(outside.sum()),
            "input_jets": int(outside.any(axis=1).sum()),
            "codec_values": int(np.sum(saturated)),
            "codec_per_field": dict(zip(codec.field_names, (int(s) for s in saturated))),
        },
        "first_mismatch": first,
        "mismatch_rows": list(comparison.mismatch_indices),
    }


def csim_fields(
    project: HlsProject,
    codec: Codec,
    board: BoardInput,
    data: np.ndarray,
    ties: np.ndarray,
    jets: int,
    adversarial: int,
    seed: int,
    processes: int,
    progress: bool,
) -> dict[str, Any]:
    """csim of ``project`` against ``codec``, with the codec's ``ties`` among the adversarial jets: the
    ``CodecCsimResult`` fields (every packed field compared with the Python codec's ``encode`` of what the board
    sees)."""
    x, counts = tied_stimulus(board, data, ties, jets, adversarial, seed)
    words, _, cached, seconds = run_firmware(project, x, processes, progress)
    start = time.perf_counter()
    checked = check_codec_words(codec, board, x, words, project.link_width)
    seconds["python"] = time.perf_counter() - start
    return checked | counts | {"project": str(project.path)} | timing_fields(len(x), seconds, cached)


def run_codec_csim(
    project: HlsProject,
    data: np.ndarray,
    jets: int = 1_000_000,
    adversarial: int = 50_000,
    processes: int = 2,
    seed: int = 0,
    progress: bool = False,
) -> CodecCsimResult:
    codec, board = project_codec(project)
    ties = tie_jets(codec, board, data, np.random.default_rng(seed))
    return CodecCsimResult(
        **csim_fields(project, codec, board, data, ties, jets, adversarial, seed, processes, progress)
    )
