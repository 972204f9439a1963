"""Hybrid codecs on the board: one HLS project whose top computes the fixed-point fields and the latent, one word.

``write_hybrid_project`` builds the project from the two firmware generators trigcomp already has, unchanged: the
hls4ml project of the autoencoder (``hls.write_hls_project``: ``myproject``, ``trigcomp_encode``, weights) and the
fixed-point codec's firmware (``codec_hls.write_codec_project``: ``trigcomp_codec_top``, comparator ladders and the
lattice field), each in its own translation unit, plus ``firmware/hybrid/``: the top ``trigcomp_hybrid_top`` (routes
each input to its part and packs the fields, then the latent words, into link words), a test bench and the vendor
Tcl flow. The board's input type is the encoder's input grid, so the encoder's input conversion is exact.

``run_hybrid_csim`` runs data and adversarial jets (csim's edge cases and the fields' threshold ties) through the
compiled project and compares every field and every latent word with ``HybridCodec.encode`` of what the board sees,
and proves the encoder's weights (.h = .txt = the model).
"""

from __future__ import annotations

import shutil
import string
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .codec_firmware import read_project_codec, vendor_flow
from .codec_hls import (
    CODEC_FILE,
    BoardInput,
    CodecCsimResult,
    check_board_codec,
    codec_manifest,
    csim_fields,
    field_offsets,
    tie_jets,
    write_codec_project,
)
from .codecs import HybridCodec, codec_from_json
from .errors import UserError
from .hls import FIRMWARE_DIR, MANIFEST, HlsOptions, HlsProject, load_project, write_hls_project
from .staging import staged_dir, write_json
from .weights_proof import prove_weights

HYBRID_FIRMWARE = FIRMWARE_DIR / "hybrid"
TOP = "trigcomp_hybrid_top"
VENDOR_FLOW = "build_trigcomp_hybrid_top.tcl"
#: The C++ a test bench or synthesis compiles: the encoder, its latent top, the fields' top, the hybrid top.
SOURCES = (
    "firmware/myproject.cpp",
    "firmware/trigcomp_top.cpp",
    "firmware/trigcomp_codec.cpp",
    "firmware/trigcomp_hybrid_top.cpp",
)
#: The fixed-point codec's firmware files the hybrid project takes from the codec project.
CODEC_FILES = ("trigcomp_codec.h", "trigcomp_codec.cpp", "trigcomp_codec_params.h")


def check_hybrid_board(codec: HybridCodec, board: BoardInput) -> None:
    """The fields' input grid must be the encoder's: then one input word feeds both parts, exactly."""
    expected = hybrid_board(codec)
    if board != expected:
        raise UserError(
            f"hybrid codec: the board input must be the autoencoder's input type {expected.cpp} (its [input] "
            f"section), got {board.cpp}; pass --input-type '{expected.cpp}'"
        )
    check_board_codec(codec.fixed, board)


def hybrid_board(codec: HybridCodec) -> BoardInput:
    """The board input of a hybrid codec: its encoder's input type."""
    quantizer = codec.latent.model.input_quantizer
    return BoardInput(quantizer.bits, quantizer.integer + 1)


def _render(name: str, values: dict[str, Any]) -> str:
    return string.Template((HYBRID_FIRMWARE / name).read_text()).substitute(values)


def _list(values) -> str:
    return ", ".join(str(int(v)) for v in values)


def write_hybrid_project(
    codec: HybridCodec, out: Path, options: HlsOptions, board: BoardInput, tb_jets: np.ndarray, force: bool = False
) -> HlsProject:
    """An HLS project of the hybrid ``codec`` (see the module doc); deterministic and written atomically."""
    options.check()
    check_hybrid_board(codec, board)
    model = codec.latent.model
    n_link_words = -(-codec.bits_per_jet // options.link_width)  # the top's template value
    with staged_dir(out, force) as tmp:
        encoder = write_hls_project(model, tmp / "encoder", options, tb_jets[:, codec.latent_columns])
        for child in sorted(encoder.path.iterdir()):  # the encoder project is the hybrid project's base
            child.rename(tmp / child.name)
        encoder.path.rmdir()
        base = load_project(tmp)  # the encoder project as written, now the base of this one
        with tempfile.TemporaryDirectory(prefix=".trigcomp-fields-", dir=tmp.parent) as scratch:
            fields_project = write_codec_project(codec.fixed, Path(scratch) / "fields", options, board)
            for name in CODEC_FILES:
                shutil.copyfile(fields_project.path / "firmware" / name, tmp / "firmware" / name)
        values = {
            "codec_name": codec.name,
            "variables": ", ".join(codec.variables),
            "fixed_variables": ", ".join(codec.fixed.variables),
            "latent_variables": ", ".join(codec.latent.variables),
            "input_width": board.width,
            "input_integer": board.integer,
            "n_inputs": len(codec.variables),
            "n_fixed": len(codec.fixed.variables),
            "fixed_bits": codec.fixed.bits_per_jet,
            "fixed_link_words": fields_project.n_link_words,
            "n_link_words": n_link_words,
            "fixed_inputs": _list(codec.fixed_columns),
            "latent_inputs": _list(codec.latent_columns),
        }
        (tmp / "firmware" / "trigcomp_hybrid_params.h").write_text(_render("trigcomp_hybrid_params.h.in", values))
        for name in ("trigcomp_hybrid_top.h", "trigcomp_hybrid_top.cpp"):
            shutil.copyfile(HYBRID_FIRMWARE / name, tmp / "firmware" / name)
        shutil.copyfile(HYBRID_FIRMWARE / "trigcomp_hybrid_tb.cpp", tmp / "trigcomp_hybrid_tb.cpp")
        (tmp / VENDOR_FLOW).write_text(vendor_flow(TOP, SOURCES, "trigcomp_hybrid_tb.cpp", options))
        # the project's own codec: its latent reads the model copy inside the project
        write_json(tmp / CODEC_FILE, codec.to_json() | {"latent": codec.latent.to_json() | {"model": "model"}})
        n_fixed = len(codec.fixed.field_bits)
        fields = [
            {"name": name, "bits": bits, "offset": offset, "part": "fixed" if i < n_fixed else "latent"}
            for i, (name, bits, offset) in enumerate(zip(codec.field_names, codec.field_bits, field_offsets(codec)))
        ]
        manifest = (
            codec_manifest(
                codec,
                board,
                options,
                TOP,
                base.project_name,
                fields=fields,
                compile_units=[*SOURCES, "trigcomp_hybrid_tb.cpp"],
                vendor_flow=VENDOR_FLOW,
            )
            | base.encoder_entries()
        )
        write_json(tmp / MANIFEST, manifest)
    return HlsProject(Path(out), manifest)


def project_hybrid(project: HlsProject) -> tuple[HybridCodec, BoardInput]:
    """The project's hybrid codec (its latent model is the project's copy) and its board input."""
    raw, board = read_project_codec(project)
    try:
        raw["latent"]["model"] = str(project.path / raw["latent"]["model"])
    except (KeyError, TypeError) as err:
        raise UserError(
            f"{project.path}: its codec has no latent model ({err}); regenerate with `trigcomp hls`"
        ) from None
    codec = codec_from_json(raw)
    if not isinstance(codec, HybridCodec):
        raise UserError(f"{project.path}: a {codec.kind} codec, not a hybrid one")
    check_hybrid_board(codec, board)
    return codec, board


def hybrid_tie_jets(codec: HybridCodec, board: BoardInput, data: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The fields' threshold (and lattice) ties, each in a whole jet whose latent variables are the data median."""
    ties = tie_jets(codec.fixed, board, data[:, codec.fixed_columns], rng)
    jets = np.tile(np.median(data, axis=0), (len(ties), 1))
    jets[:, codec.fixed_columns] = ties
    return jets


@dataclass
class HybridCsimResult(CodecCsimResult):
    """A codec csim of every field and latent word, and the proof of the encoder's weights."""

    weights: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.mismatches == 0 and self.weights.get("passed", False)


def run_hybrid_csim(
    project: HlsProject,
    data: np.ndarray,
    jets: int = 1_000_000,
    adversarial: int = 50_000,
    processes: int = 2,
    seed: int = 0,
    progress: bool = False,
) -> HybridCsimResult:
    codec, board = project_hybrid(project)
    model = codec.latent.model
    if model.hash != project.model_hash:
        raise UserError(f"{project.path}: model copy does not match the manifest's model hash")
    weights = prove_weights(project.path, model.firmware_encoder(), project.strategy == "resource")
    ties = hybrid_tie_jets(codec, board, data, np.random.default_rng(seed))
    checked = csim_fields(project, codec, board, data, ties, jets, adversarial, seed, processes, progress)
    return HybridCsimResult(**checked, weights=weights.to_json() | {"summary": weights.describe()})
