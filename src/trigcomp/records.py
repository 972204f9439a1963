"""Typed records passed between the stages (data -> model -> evaluate -> hls -> csim -> reports).

Each stage module may define further small records of its own; the ones here cross stage boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import UserError

#: Version of the JSON layouts that cross stages (project manifests, csim results, evaluations). Their keys are a
#: contract users' CI relies on; a file without ``schema_version`` predates it and is version 1.
SCHEMA_VERSION = 1


def check_schema_version(data: dict[str, Any], where: str) -> None:
    """Refuse JSON written by a trigcomp with another layout (one line naming the file)."""
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise UserError(f"{where}: schema_version {version!r}; this trigcomp reads version {SCHEMA_VERSION}")


@dataclass(frozen=True)
class ProjectHeader:
    """What every project manifest (HLS, codec, RTL; ``trigcomp.json``) says of the design it describes: the
    reports read a project through this, whatever stage wrote it."""

    kind: str
    project_name: str
    part: str
    clock_ns: float
    board: str
    top: str | None = None  # the packed top function of an HLS project (trigcomp_top); RTL projects have none

    REQUIRED = ("kind", "part", "clock_ns", "board", "project_name")

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> ProjectHeader:
        check_schema_version(data, where)
        missing = [key for key in cls.REQUIRED if key not in data]
        if missing:
            raise UserError(f"{where}: project manifest lacks {', '.join(missing)} (has {', '.join(sorted(data))})")
        return cls(**{key: data[key] for key in cls.REQUIRED}, top=data.get("top"))

    @property
    def tops(self) -> list[str]:
        """The functions the project's C-synthesis report may be of: its packed top, then hls4ml's."""
        return list(dict.fromkeys(str(name) for name in (self.top, self.project_name) if name))


#: Canonical variable names, in the order of the ``jet10`` set.
JET4 = ("pt", "eta", "phi", "mass")
JET10 = JET4 + ("chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "nConstituents")
#: Calorimeter-tower images (``trigcomp generate --towers N``): an N x N grid of L1 towers centred on the jet axis,
#: tower ``k = i_eta * N + i_phi`` (both from 0 at the lowest edge), the tower's transverse energy in GeV.
TOWER_GRIDS = (8, 16)
TOWER_SIZE = 0.087  # eta and phi width of one L1 calorimeter tower
TOWER_LSB_GEV = 0.5  # the tower ET as the L1 calorimeter sends it: 0.5 GeV steps, 10 bits unsigned
TOWER_BITS = 10
TOWER_ET_MAX_GEV = TOWER_LSB_GEV * (2**TOWER_BITS - 1)  # 511.5 GeV: larger deposits saturate here


def tower_variables(grid: int) -> tuple[str, ...]:
    """The variables of an N x N tower image, in tower-index order."""
    return tuple(f"tower_{k}" for k in range(grid * grid))


def tower_grid(variables: tuple[str, ...]) -> int | None:
    """N when the tower variables among ``variables`` are one whole N x N image in order, else None."""
    towers = tuple(v for v in variables if v.startswith("tower_"))
    return next((grid for grid in TOWER_GRIDS if towers == tower_variables(grid)), None)


#: Every variable a reader can provide (the towers8 names are the first 64 of the towers16 ones).
KNOWN_VARIABLES = JET10 + tower_variables(max(TOWER_GRIDS))
#: Event slots (trigcomp.events): per kind, the name prefix, the number of slots and each slot's fields.
EVENT_SLOTS = {
    "jet": ("j", 4, ("pt", "eta", "phi", "b")),
    "electron": ("e", 2, ("pt", "eta", "phi", "q")),
    "muon": ("m", 2, ("pt", "eta", "phi", "q")),
    "photon": ("g", 2, ("pt", "eta", "phi")),
}
#: One row per event: j0_pt, j0_eta, j0_phi, j0_b, …, g1_phi, MET, METphi.
EVENT = tuple(
    f"{prefix}{slot}_{name}" for prefix, count, names in EVENT_SLOTS.values() for slot in range(count) for name in names
) + ("MET", "METphi")
VARIABLE_SETS = {
    "jet4": JET4,
    "jet10": JET10,
    **{f"towers{n}": tower_variables(n) for n in TOWER_GRIDS},
    "event": EVENT,
}


@dataclass(frozen=True)
class JetTable:
    """Jets as a dense float32 table: one row per jet, one column per variable (GeV, radians, fractions)."""

    variables: tuple[str, ...]
    values: np.ndarray  # (n_jets, n_variables) float32
    event_index: np.ndarray  # (n_jets,) int64: which event of the source each jet came from
    n_events: int
    preset: str
    sources: tuple[str, ...] = ()
    dropped_nonfinite: int = 0
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.variables.index(name)]

    def take(self, rows: np.ndarray) -> JetTable:
        """A new table with the given rows (same variables, same provenance)."""
        return JetTable(
            variables=self.variables,
            values=self.values[rows],
            event_index=self.event_index[rows],
            n_events=self.n_events,
            preset=self.preset,
            sources=self.sources,
            dropped_nonfinite=self.dropped_nonfinite,
            extra=self.extra,
        )
