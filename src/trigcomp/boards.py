"""Named FPGA boards (``boards.toml``) and Xilinx part-number checks, used by hls, reports and rtl."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources

from .errors import UserError

# e.g. xcvu9p-flga2104-2L-e, xcu250-figd2104-2L-e, xc7z020clg400-1, xcku115-flva1517-2-e
_PART_FORM = re.compile(r"^xc[a-z0-9]+-?[a-z]{2,5}[0-9]{3,4}-[0-9][a-z]*(-[a-z])?$", re.IGNORECASE)


@dataclass(frozen=True)
class Board:
    name: str  # preset name, or "custom" for a bare --part
    part: str
    clock_ns: float
    totals: dict[str, int]  # LUT, FF, DSP, BRAM (18K), URAM; empty when the part is not a known board


def _presets() -> dict[str, dict]:
    return tomllib.loads(resources.files("trigcomp").joinpath("boards.toml").read_text())


def board_names() -> list[str]:
    return sorted(_presets())


def get_board(name: str) -> Board:
    presets = _presets()
    key = name.lower()
    if key not in presets:
        raise UserError(f"unknown board {name!r}; known boards: {', '.join(sorted(presets))} (or give --part)")
    entry = dict(presets[key])
    part, clock = entry.pop("part"), float(entry.pop("clock_ns"))
    return Board(name=key, part=part, clock_ns=clock, totals={k: int(v) for k, v in entry.items()})


def check_part(part: str) -> str:
    if not _PART_FORM.match(part):
        raise UserError(f"malformed Xilinx part {part!r}; expected a form like xcvu13p-flga2577-2-e")
    return part.lower()


def board_for_part(part: str) -> Board:
    """The preset whose part this is, or a custom board with no device totals."""
    part = check_part(part)
    for name in _presets():
        board = get_board(name)
        if board.part.lower() == part:
            return board
    return Board(name="custom", part=part, clock_ns=5.0, totals={})
