"""Typed records passed between the stages (data -> model -> evaluate -> hls -> csim -> reports).

Each stage module may define further small records of its own; the ones here cross stage boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Canonical variable names, in the order of the ``jet10`` set.
JET4 = ("pt", "eta", "phi", "mass")
JET10 = JET4 + ("chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "nConstituents")
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
VARIABLE_SETS = {"jet4": JET4, "jet10": JET10, "event": EVENT}


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
