"""One module per report format, each "sniff + parse -> record":

* ``KIND``: which input the record is (``csynth``, ``utilization``, ``timing`` or ``estimate``);
* ``sniff(path, head) -> bool``: is this file (``head`` = its first characters) in this format;
* ``parse(path) -> record``: the numbers, or a one-line ``UserError`` saying what is missing.

A new report format (a Quartus fit report, a hierarchical utilization report, ...) is one new module here, added
to ``PARSERS``. When it returns one of the existing records (``CSynth``, ``Utilization``, ``Timing``,
``Estimate``), nothing else changes: ``discover`` sniffs every ``.rpt`` file of a directory with ``PARSERS`` and
``combine`` merges the records by kind. A new kind of record also needs its place in ``combine``.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from ...errors import UserError
from . import csynth_rpt, csynth_xml, estimate, vivado_timing, vivado_utilization
from .common import SNIFF_CHARS

#: In the order they are asked: the first whose sniff() says yes parses the file.
#: By suffix first (.xml, .json), then text reports of any name by their first lines.
PARSERS: tuple[ModuleType, ...] = (csynth_xml, estimate, csynth_rpt, vivado_utilization, vivado_timing)


def head(path: Path) -> str:
    """The first characters of a file, enough to tell its kind."""
    try:
        with path.open(errors="replace") as stream:
            return stream.read(SNIFF_CHARS)
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None


def parser_for(path: Path, candidates: tuple[ModuleType, ...] = PARSERS) -> ModuleType | None:
    """The parser of the first of ``candidates`` that recognises ``path``, or None."""
    text = head(path)
    return next((parser for parser in candidates if parser.sniff(path, text)), None)
