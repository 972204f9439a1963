"""Generate whole events as DarkMachines-style object lists with Pythia 8 and FastJet (``generate --format
darkmachines``).

Per event, at particle level (no detector, no pileup), 13.6 TeV, from the visible final state with |eta| < 5:

* **electrons, muons, photons**: final-state e, mu, gamma with pt above ``LEPTON_PT_MIN`` / ``PHOTON_PT_MIN`` and
  within the tracker (|eta| < ``OBJECT_ABS_ETA_MAX``), isolated: the scalar pt sum of the other visible particles
  within dR < ``ISOLATION_R`` is below ``ISOLATION_MAX`` of their pt. Isolated objects are not clustered into jets.
* **jets**: anti-kt R=0.4 of the remaining visible particles, pt > ``JET_PT_MIN`` GeV, |eta| < ``OBJECT_ABS_ETA_MAX``;
  a jet is a **b-jet** (type ``b``) when a b quark of the event record (any status, pt > ``B_QUARK_PT_MIN``) lies
  within dR < 0.4 of its axis: a truth tag with no efficiency or mistag model.
* **MET**: the magnitude and phi of minus the vector sum of the visible particles' pt (|eta| < 5).

Energies and momenta are rounded to 1 MeV and angles to 1e-6 (as short as the published files, far below any
resolution studied). Objects are written in MeV as in the published DarkMachines files, ordered jets (and b-jets), electrons, muons,
photons, each by decreasing pt. Blocks are seeded as in trigcomp.generate, so the events depend on the seed and
the block size only, not on the number of worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .events import OBJECT_TYPES, EventRecords, write_events
from .generate import (
    BATCH_EVENTS,
    DEFAULT_BLOCK_EVENTS,
    FAILED_EVENT_TOLERANCE,
    JET_R,
    PARTICLE_ABS_ETA_MAX,
    _Block,
    _generator_versions,
    check_request,
    generate_blocks,
    start_pythia,
)

LEPTON_PT_MIN = 15.0  # GeV, the DarkMachines object thresholds
PHOTON_PT_MIN = 20.0
JET_PT_MIN = 20.0
OBJECT_ABS_ETA_MAX = 2.8
ISOLATION_R = 0.3
ISOLATION_MAX = 0.15
B_QUARK_PT_MIN = 5.0
MEV_PER_GEV = 1000.0


@dataclass(frozen=True)
class EventGenerateResult:
    process: str
    events: int
    objects: dict[str, int]
    seed: int
    out: str
    format: str
    seconds: float
    events_per_s: float
    processes: int
    block_events: int
    pythia_version: str
    fastjet_version: str

    def to_json(self) -> dict:
        return self.__dict__.copy()


def generate_events(
    process: str,
    events: int,
    seed: int,
    out: str | Path,
    processes: int = 1,
    force: bool = False,
    progress: bool = True,
    block_events: int = DEFAULT_BLOCK_EVENTS,
) -> EventGenerateResult:
    """Generate ``events`` events of ``process`` into ``out`` (``.csv``: DarkMachines text; ``.root``: the same
    events as a ROOT tree, see trigcomp.events)."""
    out = check_request(process, events, seed, out, processes, block_events, JET_PT_MIN, force)
    versions = _generator_versions()
    parts, seconds, workers = generate_blocks(
        _run_block, process, events, seed, JET_PT_MIN, block_events, processes, progress
    )
    records = EventRecords.concatenate(parts).renumbered(process)
    write_events(records, out, force=force)
    return EventGenerateResult(
        process=process,
        events=len(records),
        objects=records.objects_per_type(),
        seed=seed,
        out=str(out),
        format=out.suffix.lstrip("."),
        seconds=round(seconds, 3),
        events_per_s=round(events / seconds, 2),
        processes=workers,
        block_events=block_events,
        **versions,
    )


def _run_block(block: _Block) -> EventRecords:
    import fastjet

    pythia = start_pythia(block)
    jet_definition = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_R)
    parts = []
    for first in range(0, block.events, BATCH_EVENTS):
        n_events = min(BATCH_EVENTS, block.events - first)
        parts.append(_batch_events(pythia, pythia.nextBatch(n_events, FAILED_EVENT_TOLERANCE), jet_definition))
    return EventRecords.concatenate(parts)


def _delta_r(eta1, phi1, eta2, phi2) -> np.ndarray:
    dphi = np.mod(np.asarray(phi1) - np.asarray(phi2) + np.pi, 2 * np.pi) - np.pi
    return np.hypot(np.asarray(eta1) - np.asarray(eta2), dphi)


def _visible(pythia, ids: np.ndarray) -> np.ndarray:
    unique, inverse = np.unique(ids, return_inverse=True)
    data = pythia.particleData
    return np.array([data.isVisible(int(i)) for i in unique], dtype=bool)[inverse]


def _batch_events(pythia, events, jet_definition) -> EventRecords:
    import awkward as ak
    import fastjet

    n_events = len(events)
    everything = events.prt
    b_quarks = everything[(abs(everything.id) == 5)]
    b_pt = np.hypot(b_quarks.p.px, b_quarks.p.py)
    b_quarks = b_quarks[b_pt > B_QUARK_PT_MIN]
    final = everything[everything.status > 0]
    ids = ak.to_numpy(ak.flatten(final.id))
    p = {key: ak.to_numpy(ak.flatten(getattr(final.p, key))) for key in ("px", "py", "pz", "e")}
    pt = np.hypot(p["px"], p["py"])
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(p["pz"] / pt)
    phi = np.arctan2(p["py"], p["px"])
    keep = _visible(pythia, ids) & (np.abs(eta) < PARTICLE_ABS_ETA_MAX)
    event_of = np.repeat(np.arange(n_events), ak.to_numpy(ak.num(final)))

    # isolated leptons and photons: candidates checked against the other visible particles of their event
    absid = np.abs(ids)
    candidate = (
        keep
        & (np.abs(eta) < OBJECT_ABS_ETA_MAX)
        & (((absid == 11) | (absid == 13)) & (pt > LEPTON_PT_MIN) | (absid == 22) & (pt > PHOTON_PT_MIN))
    )
    isolated = np.zeros(len(ids), dtype=bool)
    starts = np.searchsorted(event_of, np.arange(n_events + 1))
    for index in np.flatnonzero(candidate):
        lo, hi = starts[event_of[index]], starts[event_of[index] + 1]
        others = np.flatnonzero(keep[lo:hi]) + lo
        others = others[others != index]
        near = _delta_r(eta[others], phi[others], eta[index], phi[index]) < ISOLATION_R
        isolated[index] = pt[others][near].sum() < ISOLATION_MAX * pt[index]

    to_cluster = keep & ~isolated
    counts = np.bincount(event_of[to_cluster], minlength=n_events)
    particles = ak.unflatten(
        ak.zip(
            {"px": p["px"][to_cluster], "py": p["py"][to_cluster], "pz": p["pz"][to_cluster], "E": p["e"][to_cluster]}
        ),
        counts,
    )
    jets = fastjet.ClusterSequence(particles, jet_definition).inclusive_jets(JET_PT_MIN)
    met_x = -np.bincount(event_of[keep], weights=p["px"][keep], minlength=n_events)
    met_y = -np.bincount(event_of[keep], weights=p["py"][keep], minlength=n_events)

    objects: list[list[tuple[int, float, float, float, float]]] = []
    for event in range(n_events):
        listed = []
        jet = {key: np.asarray(jets[event][key], dtype=np.float64) for key in ("px", "py", "pz", "E")}
        jet_pt = np.hypot(jet["px"], jet["py"])
        jet_eta = np.arcsinh(jet["pz"] / jet_pt)
        jet_phi = np.arctan2(jet["py"], jet["px"])
        bq = b_quarks[event]
        bq_eta = np.arcsinh(np.asarray(bq.p.pz) / np.hypot(np.asarray(bq.p.px), np.asarray(bq.p.py)))
        bq_phi = np.arctan2(np.asarray(bq.p.py), np.asarray(bq.p.px))
        for j in np.argsort(-jet_pt, kind="stable"):
            if jet_pt[j] > JET_PT_MIN and abs(jet_eta[j]) < OBJECT_ABS_ETA_MAX:
                tagged = bool(len(bq_eta)) and bool((_delta_r(bq_eta, bq_phi, jet_eta[j], jet_phi[j]) < JET_R).any())
                listed.append(
                    (OBJECT_TYPES.index("b" if tagged else "j"), jet["E"][j], jet_pt[j], jet_eta[j], jet_phi[j])
                )
        lo, hi = starts[event], starts[event + 1]
        chosen = np.flatnonzero(isolated[lo:hi]) + lo
        for kind in ("e", "m", "g"):
            wanted = {"e": 11, "m": 13, "g": 22}[kind]
            mine = chosen[absid[chosen] == wanted]
            for index in mine[np.argsort(-pt[mine], kind="stable")]:
                # PDG: 11/13 are e-/mu-, negative ids their antiparticles
                name = kind if kind == "g" else f"{kind}{'-' if ids[index] > 0 else '+'}"
                listed.append((OBJECT_TYPES.index(name), p["e"][index], pt[index], eta[index], phi[index]))
        objects.append(listed)
    records = EventRecords.from_object_lists(
        objects, met=np.hypot(met_x, met_y) * MEV_PER_GEV, met_phi=np.arctan2(met_y, met_x), scale=MEV_PER_GEV
    )
    return records.rounded()
