"""What the hybrid and float-truncation codec projects share: their vendor flow and how they read their codec.

``vendor_flow`` renders ``firmware/build_codec_top.tcl.in`` (Vivado/Vitis HLS C synthesis of a top built from
several C++ files); their csim is ``codec_hls.csim_fields``, as for the fixed-point codec.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from typing import Any

from .codec_hls import BoardInput
from .errors import UserError
from .hls import FIRMWARE_DIR, HlsOptions, HlsProject


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


def read_project_codec(project: HlsProject) -> tuple[dict[str, Any], BoardInput]:
    """The project's own codec file (its ``to_json``) and the board input it was generated for."""
    path = project.codec_file
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: cannot read the project's codec ({err}); regenerate with `trigcomp hls`") from None
    return raw, BoardInput(project.board_input_width, project.board_input_integer)
