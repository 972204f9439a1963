"""What the hybrid and float-truncation codec projects share: their vendor flow and their csim of packed fields.

``vendor_flow`` renders ``firmware/build_codec_top.tcl.in`` (Vivado/Vitis HLS C synthesis of a top built from
several C++ files); ``csim_fields`` runs csim's jets, with a codec's own ties among the adversarial ones, through a
compiled project and compares every packed field with the Python codec's ``encode`` of what the board sees.
"""

from __future__ import annotations

import json
import string
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .codec_hls import BoardInput, check_codec_words, tied_stimulus
from .codecs import Codec
from .csim import run_firmware
from .errors import UserError
from .hls import FIRMWARE_DIR, HlsOptions, HlsProject

#: Every codec project's own copy of its codec (``to_json``).


def vendor_flow(top: str, sources: Sequence[str], test_bench: str, options: HlsOptions) -> str:
    """The Vivado/Vitis HLS C-synthesis script of ``top`` (`trigcomp build` runs it)."""
    values = {
        "top": top,
        "part": options.board.part,
        "clock_ns": options.clock_ns,
        "sources": " ".join(sources),
        "test_bench": test_bench,
    }
    return string.Template((FIRMWARE_DIR / "build_codec_top.tcl.in").read_text()).substitute(values)


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
    """csim of ``project`` against ``codec``: the ``CodecCsimResult`` fields."""
    x, counts = tied_stimulus(board, data, ties, jets, adversarial, seed)
    words, _, cached, seconds = run_firmware(project, x, processes, progress)
    start = time.perf_counter()
    checked = check_codec_words(codec, board, x, words, project.link_width)
    seconds["python"] = time.perf_counter() - start
    return (
        checked
        | counts
        | {
            "project": str(project.path),
            "jets_per_s": len(x) / max(seconds["firmware"], 1e-9),
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "compiled_from_cache": cached,
        }
    )


def read_project_codec(project: HlsProject) -> tuple[dict[str, Any], BoardInput]:
    """The project's own codec file (its ``to_json``) and the board input it was generated for."""
    path = project.codec_file
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: cannot read the project's codec ({err}); regenerate with `trigcomp hls`") from None
    return raw, BoardInput(project.board_input_width, project.board_input_integer)
