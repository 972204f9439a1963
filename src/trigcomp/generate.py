"""Generate NanoAOD-style jet samples with Pythia 8 and FastJet (the optional ``trigcomp[generate]`` extra).

Events are generated at particle level (no detector simulation, no pileup) for pp collisions at 13.6 TeV.
Jets are anti-kt R=0.4 clustered from the visible final-state particles within |eta| < 5 (neutrinos and the
other species Pythia flags as invisible are dropped). Each jet gets CMS PF-like energy fractions from the
species of its constituents: electrons -> chEmEF, photons -> neEmEF, muons -> muEF, other charged particles
-> chHEF, other neutral particles -> neHEF; the five sum to one. Jets with pt > pt_min and |eta| < 4.7 are
written, sorted by pt, as float32 ``Jet_*`` branches (``Jet_nConstituents`` int32) of an ``Events`` TTree.

With ``towers=N`` each jet also gets a calorimeter-tower image: the transverse momentum of its
constituents (their ET as massless particles) summed on an N x N grid of L1 towers (0.087 x 0.087 in eta x phi) centred on the jet axis (phi
wrapped), tower ``k = i_eta * N + i_phi`` in branch ``Jet_tower_<k>``, quantized as the L1 calorimeter sends it:
truncated to 0.5 GeV steps, 10 bits unsigned, saturating at 511.5 GeV (saturated towers are counted). Constituents
outside the grid are not in the image (their share of the jet ET is reported).

Reproducibility: the events are cut into blocks of ``block_events`` events; block ``b`` runs in a fresh Pythia
instance seeded from (seed, b). Blocks are spread over worker processes and merged in block order, so the jets
depend on the seed and the block size only, not on the number of processes.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .errors import UserError
from .records import JET10, TOWER_BITS, TOWER_ET_MAX_GEV, TOWER_GRIDS, TOWER_LSB_GEV, TOWER_SIZE, tower_variables
from .staging import staged_file

SQRT_S_GEV = 13600.0
JET_R = 0.4
JET_ABS_ETA_MAX = 4.7
PARTICLE_ABS_ETA_MAX = 5.0  # the reach of the CMS forward calorimeter
DEFAULT_BLOCK_EVENTS = 1000  # ~10-20 s of Pythia per block; its 0.6 s initialisation stays a few per cent
BATCH_EVENTS = 100  # events converted and clustered at once: bounds the memory of a worker
PYTHIA_MAX_SEED = 900_000_000
FAILED_EVENT_TOLERANCE = 2.0  # nextBatch gives up after this many attempts per requested event
TREE_NAME = "Events"
METADATA_KEY = "trigcomp_generate"
FRACTIONS = ("chHEF", "neHEF", "chEmEF", "neEmEF", "muEF")
BRANCHES = tuple(f"Jet_{name}" for name in JET10)


@dataclass(frozen=True)
class Process:
    description: str
    settings: tuple[str, ...]  # Pythia settings; "{pt_min}" is replaced by the jet threshold in GeV


PROCESSES: dict[str, Process] = {
    "qcd": Process(
        "QCD multijet: all 2->2 hard QCD processes with pThat > pt_min",
        ("HardQCD:all = on", "PhaseSpace:pTHatMin = {pt_min}"),
    ),
    "qcd-highpt": Process(
        "high-pt QCD multijet: hard QCD with pThat > 200 GeV, pThat spectrum flattened by a (pThat/200)^6 "
        "selection bias (events unweighted): leading jets from ~250 GeV to beyond 2 TeV",
        (
            "HardQCD:all = on",
            "PhaseSpace:pTHatMin = 200.",
            "PhaseSpace:bias2Selection = on",
            "PhaseSpace:bias2SelectionPow = 6.",
            "PhaseSpace:bias2SelectionRef = 200.",
        ),
    ),
    "ttbar": Process(
        "top-pair production (gg, qqbar -> ttbar), all top and W decays",
        ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on"),
    ),
    "zprime": Process(
        "a 2 TeV Z' (no gamma*/Z interference) decaying to a light or b quark pair: high-pt dijets",
        (
            "NewGaugeBoson:ffbar2gmZZprime = on",
            "Zprime:gmZmode = 3",
            "32:m0 = 2000.",
            "32:mMin = 1000.",
            "32:onMode = off",
            "32:onIfAny = 1 2 3 4 5",
        ),
    ),
    "wjets": Process(
        "W + jet (qqbar -> Wg, qg -> Wq) with pThat > pt_min, W -> e/mu/tau + neutrino",
        (
            "WeakBosonAndParton:qqbar2Wg = on",
            "WeakBosonAndParton:qg2Wq = on",
            "PhaseSpace:pTHatMin = {pt_min}",
            "24:onMode = off",
            "24:onIfAny = 11 13 15",
        ),
    ),
}


def describe_processes() -> str:
    """One line per process, for --help texts."""
    return "\n".join(f"{name}: {process.description}" for name, process in PROCESSES.items())


@dataclass(frozen=True)
class GenerateResult:
    process: str
    events: int
    jets: int
    seed: int
    out: str
    seconds: float
    events_per_s: float
    processes: int
    block_events: int
    pt_min: float
    bytes: int
    pythia_version: str
    fastjet_version: str
    towers: dict | None = None  # grid, tower size, LSB, saturated towers, ET outside the grid (with --towers)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Block:
    """One independently seeded run of Pythia: the unit of work of a worker process."""

    index: int
    events: int
    pythia_seed: int
    settings: tuple[str, ...]
    pt_min: float
    towers: int | None


def generate(
    process: str,
    events: int,
    seed: int,
    out: str | Path,
    processes: int = 1,
    force: bool = False,
    progress: bool = True,
    pt_min: float = 20.0,
    block_events: int = DEFAULT_BLOCK_EVENTS,
    towers: int | None = None,
) -> GenerateResult:
    """Generate ``events`` events of ``process`` and write their jets to the ROOT file ``out``.

    ``processes`` > 1 starts worker processes with ``spawn``: a script calling this needs the usual
    ``if __name__ == "__main__":`` guard. The result's ``processes`` is the number of workers used (at most one
    per block); ``seconds`` covers generation and clustering, not the writing of the file.
    """
    if process not in PROCESSES:
        raise UserError(f"unknown process {process!r}; known processes: {', '.join(PROCESSES)}")
    if events <= 0:
        raise UserError(f"the number of events must be positive, got {events}")
    if processes < 1:
        raise UserError(f"the number of processes must be at least 1, got {processes}")
    if block_events < 1:
        raise UserError(f"the block size must be at least 1 event, got {block_events}")
    if seed < 0:
        raise UserError(f"the seed must be a non-negative integer, got {seed}")
    if not (math.isfinite(pt_min) and pt_min > 0):
        raise UserError(f"pt_min must be a positive number of GeV, got {pt_min}")
    if towers is not None and towers not in TOWER_GRIDS:
        raise UserError(
            f"the tower grid must be one of {', '.join(map(str, TOWER_GRIDS))} (N x N towers), got {towers}"
        )
    out = Path(out)
    if out.is_dir():
        raise UserError(f"output {out} is a directory; give a file name such as {out / (process + '.root')}")
    if out.exists() and not force:
        raise UserError(f"output {out} exists; overwrite it with --force (force=True)")
    versions = _generator_versions()

    settings = tuple(line.format(pt_min=pt_min) for line in PROCESSES[process].settings)
    blocks = _blocks(events, seed, block_events, settings, pt_min, towers)
    workers = min(processes, len(blocks))
    start = time.perf_counter()
    parts = []
    with ExitStack() as stack:
        bar = stack.enter_context(
            tqdm(total=events, unit="event", desc=f"generate {process}", file=sys.stderr, disable=not progress)
        )
        if workers == 1:
            results = map(_run_block, blocks)
        else:
            # spawn: a fresh interpreter per worker, safe whatever the parent holds (threads, TensorFlow)
            pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(workers))
            results = pool.imap(_run_block, blocks)  # in block order, whichever worker finishes first
        for block, part in zip(blocks, results):
            parts.append(part)
            bar.update(block.events)
    seconds = time.perf_counter() - start

    counts = np.concatenate([part["counts"] for part in parts])
    names = JET10 + (tower_variables(towers) if towers else ())
    columns = {name: np.concatenate([part[name] for part in parts]) for name in names}
    tower_summary = _tower_summary(towers, parts) if towers else None
    provenance = {
        "process": process,
        "description": PROCESSES[process].description,
        "pythia_settings": [*_common_settings(), *settings],
        "seed": seed,
        "events": events,
        "block_events": block_events,
        "pt_min": pt_min,
        "sqrt_s_gev": SQRT_S_GEV,
        "jets": f"anti-kt R={JET_R}, visible final-state particles with |eta| < {PARTICLE_ABS_ETA_MAX}, "
        f"jet pt > {pt_min} GeV and |eta| < {JET_ABS_ETA_MAX}",
        **versions,
        **({"towers": tower_summary} if towers else {}),
    }
    _write_atomically(out, counts, columns, provenance)
    return GenerateResult(
        process=process,
        events=events,
        jets=int(counts.sum()),
        seed=seed,
        out=str(out),
        seconds=round(seconds, 3),
        events_per_s=round(events / seconds, 2),
        processes=workers,
        block_events=block_events,
        pt_min=pt_min,
        bytes=out.stat().st_size,
        **versions,
        towers=tower_summary,
    )


def _generator_versions() -> dict[str, str]:
    """The versions of the optional generator packages; a UserError if they are not installed."""
    try:
        import fastjet  # noqa: F401
        import pythia8mc  # noqa: F401
    except ImportError as error:
        raise UserError(
            f"generate needs pythia8mc and fastjet ({error}); install them with: pip install 'trigcomp[generate]'"
        ) from error
    return {"pythia_version": metadata.version("pythia8mc"), "fastjet_version": metadata.version("fastjet")}


def _blocks(
    events: int, seed: int, block_events: int, settings: tuple[str, ...], pt_min: float, towers: int | None
) -> list[_Block]:
    sizes = [min(block_events, events - first) for first in range(0, events, block_events)]
    return [
        _Block(index, size, _pythia_seed(seed, index), settings, pt_min, towers) for index, size in enumerate(sizes)
    ]


def _tower_summary(grid: int, parts: list[dict[str, np.ndarray]]) -> dict:
    """The image settings and what the quantization and the grid's edge cost, over all jets."""
    images = np.stack([np.concatenate([part[name] for part in parts]) for name in tower_variables(grid)], axis=1)
    constituent_et = np.concatenate([part["constituent_et"] for part in parts])
    outside_et = np.concatenate([part["outside_et"] for part in parts])
    return {
        "grid": grid,
        "tower_size": TOWER_SIZE,
        "lsb_gev": TOWER_LSB_GEV,
        "et_max_gev": TOWER_ET_MAX_GEV,
        "saturated_towers": int((images >= TOWER_ET_MAX_GEV).sum()),
        "jets_with_saturated_towers": int((images >= TOWER_ET_MAX_GEV).any(axis=1).sum()),
        "occupancy": round(float((images > 0).mean()), 4) if len(images) else 0.0,
        "et_outside_grid_fraction": round(float(outside_et.sum() / max(constituent_et.sum(), 1e-30)), 4),
    }


def _pythia_seed(seed: int, block: int) -> int:
    """A seed in Pythia's range 1..900,000,000 (0 would mean 'from the clock'), decorrelated across blocks."""
    state = np.random.SeedSequence(seed, spawn_key=(block,)).generate_state(1, dtype=np.uint64)[0]
    return int(state % PYTHIA_MAX_SEED) + 1


def _common_settings() -> tuple[str, ...]:
    # quiet, and the few messages left (first occurrence of each error) go to stderr: stdout belongs to the caller
    return (f"Beams:eCM = {SQRT_S_GEV}", "Random:setSeed = on", "Print:quiet = on", "Print:useErrorStream = on")


def _run_block(block: _Block) -> dict[str, np.ndarray]:
    """Generate one block and return its jets: per-event counts and flat per-jet columns, pt-ordered per event."""
    import fastjet
    import pythia8mc

    # FastJet prints its banner to stdout on first use; stdout belongs to the caller
    fastjet._swig.ClusterSequence.set_fastjet_banner_stream(None)
    pythia = pythia8mc.Pythia("", False)
    for line in (*_common_settings(), f"Random:seed = {block.pythia_seed}", *block.settings):
        if not pythia.readString(line):
            raise RuntimeError(f"Pythia rejected the setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise with {block.settings}")
    jet_definition = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_R)
    batches = []
    for first in range(0, block.events, BATCH_EVENTS):
        n_events = min(BATCH_EVENTS, block.events - first)
        batches.append(_cluster(pythia, pythia.nextBatch(n_events, FAILED_EVENT_TOLERANCE), jet_definition, block))
    return {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}


def _cluster(pythia, events, jet_definition, block: _Block) -> dict[str, np.ndarray]:
    import awkward as ak
    import fastjet

    final = events.prt[events.prt.status > 0]
    ids = ak.to_numpy(ak.flatten(final.id))
    momenta = {key: ak.to_numpy(ak.flatten(getattr(final.p, key))) for key in ("px", "py", "pz", "e")}
    pt = np.hypot(momenta["px"], momenta["py"])
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(momenta["pz"] / pt)  # +-inf along the beam, removed by the acceptance cut
    category, visible = _species(pythia, ids)
    keep = visible & (np.abs(eta) < PARTICLE_ABS_ETA_MAX)
    event_of_particle = np.repeat(np.arange(len(events)), ak.to_numpy(ak.num(final)))
    particle_counts = np.bincount(event_of_particle[keep], minlength=len(events))
    particles = ak.unflatten(
        ak.zip(
            {"px": momenta["px"][keep], "py": momenta["py"][keep], "pz": momenta["pz"][keep], "E": momenta["e"][keep]}
        ),
        particle_counts,
    )
    sequence = fastjet.ClusterSequence(particles, jet_definition)
    jets = sequence.inclusive_jets(block.pt_min)
    constituents = sequence.constituent_index(block.pt_min)

    jets_per_event = ak.to_numpy(ak.num(jets))
    event_of_jet = np.repeat(np.arange(len(events)), jets_per_event)
    jet = {key: ak.to_numpy(ak.flatten(jets[key])) for key in ("px", "py", "pz", "E")}
    constituents_per_jet = ak.to_numpy(ak.flatten(ak.num(constituents, axis=2)))
    first_particle = np.concatenate([[0], np.cumsum(particle_counts)[:-1]])
    # constituent indices are per event: shift them into the flat array of kept particles
    flat_index = ak.to_numpy(ak.flatten(constituents, axis=None)) + np.repeat(
        first_particle[event_of_jet], constituents_per_jet
    )
    jet_of_constituent = np.repeat(np.arange(len(event_of_jet)), constituents_per_jet)
    constituent_energy = momenta["e"][keep][flat_index]
    constituent_category = category[keep][flat_index]
    n_jets = len(event_of_jet)

    jet_pt = np.hypot(jet["px"], jet["py"])
    columns = {
        "pt": jet_pt,
        "eta": np.arcsinh(jet["pz"] / jet_pt),
        "phi": np.arctan2(jet["py"], jet["px"]),
        "mass": np.sqrt(np.maximum(jet["E"] ** 2 - jet_pt**2 - jet["pz"] ** 2, 0.0)),
        "nConstituents": constituents_per_jet,
    }
    for code, name in enumerate(FRACTIONS):
        in_category = np.where(constituent_category == code, constituent_energy, 0.0)
        columns[name] = np.bincount(jet_of_constituent, weights=in_category, minlength=len(jet_pt)) / jet["E"]

    names = JET10
    if block.towers:
        images, constituent_et, outside_et = tower_images(
            block.towers,
            columns["eta"],
            columns["phi"],
            jet_of_constituent,
            pt[keep][flat_index],
            eta[keep][flat_index],
            np.arctan2(momenta["py"], momenta["px"])[keep][flat_index],
            n_jets,
        )
        names = JET10 + tower_variables(block.towers)
        columns |= dict(zip(tower_variables(block.towers), images.T))
        columns |= {"constituent_et": constituent_et, "outside_et": outside_et}

    selected = (jet_pt > block.pt_min) & (np.abs(columns["eta"]) < JET_ABS_ETA_MAX)
    order = np.lexsort((-jet_pt, event_of_jet))
    order = order[selected[order]]
    out = {name: columns[name][order].astype(np.int32 if name == "nConstituents" else np.float32) for name in names}
    if block.towers:
        out |= {name: columns[name][order] for name in ("constituent_et", "outside_et")}
    out["counts"] = np.bincount(event_of_jet[order], minlength=len(events)).astype(np.int32)
    return out


def tower_images(
    grid: int,
    jet_eta: np.ndarray,
    jet_phi: np.ndarray,
    jet_of_constituent: np.ndarray,
    constituent_pt: np.ndarray,
    constituent_eta: np.ndarray,
    constituent_phi: np.ndarray,
    n_jets: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per jet: its N x N tower image (n_jets x N*N, float32 GeV, quantized as L1 sends it), the ET of all its
    constituents and the ET that fell outside the grid (float64 GeV, before quantization). A constituent's ET is
    its pt: the calorimeter's E sin(theta) of a massless particle.
    """
    d_eta = constituent_eta - jet_eta[jet_of_constituent]
    d_phi = np.remainder(constituent_phi - jet_phi[jet_of_constituent] + np.pi, 2 * np.pi) - np.pi
    i_eta = np.floor(d_eta / TOWER_SIZE + grid / 2).astype(np.int64)
    i_phi = np.floor(d_phi / TOWER_SIZE + grid / 2).astype(np.int64)
    inside = (i_eta >= 0) & (i_eta < grid) & (i_phi >= 0) & (i_phi < grid)
    flat = jet_of_constituent[inside] * grid * grid + i_eta[inside] * grid + i_phi[inside]
    et = np.bincount(flat, weights=constituent_pt[inside], minlength=n_jets * grid * grid).reshape(n_jets, -1)
    constituent_et = np.bincount(jet_of_constituent, weights=constituent_pt, minlength=n_jets)
    outside_et = np.bincount(jet_of_constituent, weights=np.where(inside, 0.0, constituent_pt), minlength=n_jets)
    return quantize_towers(et), constituent_et, outside_et


def quantize_towers(et: np.ndarray) -> np.ndarray:
    """Tower ET as the L1 calorimeter sends it: truncated to the 0.5 GeV LSB, saturating at 511.5 GeV (float32)."""
    codes = np.minimum(np.floor(np.asarray(et, dtype=np.float64) / TOWER_LSB_GEV), 2**TOWER_BITS - 1)
    return (codes * TOWER_LSB_GEV).astype(np.float32)


def _species(pythia, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per particle: its energy-fraction category (an index into FRACTIONS) and whether a detector sees it."""
    unique, inverse = np.unique(ids, return_inverse=True)
    data = pythia.particleData
    category = np.empty(len(unique), dtype=np.int8)
    visible = np.empty(len(unique), dtype=bool)
    named = {11: "chEmEF", 22: "neEmEF", 13: "muEF"}
    for position, pdg_id in enumerate(unique.tolist()):
        if abs(pdg_id) in named:
            category[position] = FRACTIONS.index(named[abs(pdg_id)])
        else:
            category[position] = FRACTIONS.index("chHEF" if data.charge(pdg_id) != 0 else "neHEF")
        visible[position] = data.isVisible(pdg_id)
    return category[inverse], visible[inverse]


def _write_atomically(out: Path, counts: np.ndarray, columns: dict[str, np.ndarray], provenance: dict) -> None:
    """Write the Events tree to a temporary file beside ``out``, then rename it: never a half-written ``out``."""
    import awkward as ak
    import uproot

    jets = ak.zip({name: ak.unflatten(values, counts) for name, values in columns.items()})
    # generate() refused an existing out without --force; the ROOT file is closed before it is renamed into place
    with staged_file(out, force=True) as temporary, uproot.recreate(temporary, compression=uproot.LZMA(6)) as file:
        # mktree, not item assignment: uproot >= 5.7 writes RNTuples by default, NanoAOD is a TTree
        file.mktree(TREE_NAME, {"Jet": jets}, title=TREE_NAME)
        file[METADATA_KEY] = json.dumps(provenance, sort_keys=True)
