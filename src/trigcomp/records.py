"""Typed records passed between the stages (data -> model -> evaluate -> hls -> csim -> reports).

Each stage module may define further small records of its own; the ones here cross stage boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
    """N when ``variables`` hold tower variables (then they must be exactly one whole N x N image), else None."""
    towers = tuple(v for v in variables if v.startswith("tower_"))
    if not towers:
        return None
    for grid in TOWER_GRIDS:
        if towers == tower_variables(grid):
            return grid
    raise ValueError(
        f"tower variables must be one whole image in order (tower_0 ... tower_{{N*N-1}}, N in {TOWER_GRIDS})"
    )


VARIABLE_SETS = {"jet4": JET4, "jet10": JET10, **{f"towers{n}": tower_variables(n) for n in TOWER_GRIDS}}
#: Every variable a reader can provide (the towers8 names are the first 64 of the towers16 ones).
KNOWN_VARIABLES = JET10 + tower_variables(max(TOWER_GRIDS))


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
