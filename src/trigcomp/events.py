"""Whole events as object lists: the DarkMachines CSV format, the same events as ROOT, and fixed object slots.

**DarkMachines CSV** (the PhenoML / Les Houches 2019 unsupervised-challenge files): one event per line,
``event_id;process_id;weight;MET;METphi;`` then one ``type,E,pt,eta,phi;`` per object, with type one of
``j b e- e+ m- m+ g`` (jet, b-jet, electron, positron, muon, antimuon, photon) and E, pt, MET in **MeV**. The
process id is a name (``ttbar``, ``njets``, …). Values are kept exactly as read (float64, MeV), so writing what
was read gives the same numbers back; a bad line is refused naming its line number.

**ROOT**: tree ``Events`` with ``event_id`` (int64), ``process`` (int32, an index into the JSON list in the
TObjString ``process_names``), ``weight``, ``MET``, ``METphi`` (float64) and per object the jagged ``Object_type``
(int8, an index into ``OBJECT_TYPES``), ``Object_E``, ``Object_pt``, ``Object_eta``, ``Object_phi`` (float64, MeV):
the same numbers as the CSV, bit for bit.

**Event slots** (what an event model sees, one row per event, in **GeV**): the ``records.EVENT_SLOTS`` leading objects of each
kind, zero-padded. Jets and b-jets share the jet slots (ordered by pt) with a ``_b`` flag (1 = b-jet);
electrons and muons carry a ``_q`` charge (±1); photons pt, eta, phi; then ``MET``, ``METphi``. An empty slot has
all its values 0 — its pt is 0, which no real object has (every object has pt above its threshold) — and the
table's ``extra["present"]`` (events × slots, bool) flags which slots hold an object, for the evaluation.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError
from .records import EVENT as EVENT_VARIABLES
from .records import EVENT_SLOTS, JetTable
from .staging import staged_file

OBJECT_TYPES = ("j", "b", "e-", "e+", "m-", "m+", "g")
#: Object kind of each type, and the slots of each kind in an event row.
KIND_OF_TYPE = {"j": "jet", "b": "jet", "e-": "electron", "e+": "electron", "m-": "muon", "m+": "muon", "g": "photon"}
TREE_NAME = "Events"
PROCESS_NAMES_KEY = "process_names"
MEV_PER_GEV = 1000.0
CSV_SUFFIX = ".csv"


def slot_names() -> tuple[str, ...]:
    return tuple(f"{prefix}{slot}" for prefix, count, _ in EVENT_SLOTS.values() for slot in range(count))


def is_event_model(variables) -> bool:
    """True when a model's inputs are event slots (then its data are event files, not jets)."""
    return variables == "event" or (not isinstance(variables, str) and tuple(variables) == EVENT_VARIABLES)


@dataclass(frozen=True)
class EventRecords:
    """Events as object lists, flat per object (MeV, radians)."""

    event_id: np.ndarray  # (n,) int64
    process: np.ndarray  # (n,) int32: index into process_names
    process_names: tuple[str, ...]
    weight: np.ndarray  # (n,) float64
    met: np.ndarray  # (n,) float64 MeV
    met_phi: np.ndarray  # (n,) float64
    counts: np.ndarray  # (n,) int64 objects per event
    types: np.ndarray  # (n_objects,) int8 index into OBJECT_TYPES
    kinematics: np.ndarray  # (n_objects, 4) float64: E, pt (MeV), eta, phi
    sources: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.event_id)

    @classmethod
    def from_object_lists(cls, objects, met, met_phi, scale: float = 1.0, process: str = "") -> EventRecords:
        """Build from per-event lists of (type index, E, pt, eta, phi) in GeV times ``scale``."""
        counts = np.array([len(listed) for listed in objects], dtype=np.int64)
        flat = [obj for listed in objects for obj in listed]
        table = np.array([obj[1:] for obj in flat], dtype=np.float64).reshape(-1, 4)
        table[:, :2] *= scale
        n = len(objects)
        return cls(
            event_id=np.arange(n, dtype=np.int64),
            process=np.zeros(n, dtype=np.int32),
            process_names=(process,),
            weight=np.ones(n),
            met=np.asarray(met, dtype=np.float64),
            met_phi=np.asarray(met_phi, dtype=np.float64),
            counts=counts,
            types=np.array([obj[0] for obj in flat], dtype=np.int8),
            kinematics=table,
        )

    @classmethod
    def concatenate(cls, parts: list[EventRecords]) -> EventRecords:
        names = tuple(dict.fromkeys(name for part in parts for name in part.process_names))
        return cls(
            event_id=np.concatenate([part.event_id for part in parts]),
            process=np.concatenate(
                [np.array([names.index(n) for n in part.process_names], dtype=np.int32)[part.process] for part in parts]
            ),
            process_names=names,
            weight=np.concatenate([part.weight for part in parts]),
            met=np.concatenate([part.met for part in parts]),
            met_phi=np.concatenate([part.met_phi for part in parts]),
            counts=np.concatenate([part.counts for part in parts]),
            types=np.concatenate([part.types for part in parts]),
            kinematics=np.concatenate([part.kinematics for part in parts]),
            sources=tuple(dict.fromkeys(s for part in parts for s in part.sources)),
        )

    def renumbered(self, process: str) -> EventRecords:
        """Events numbered 0..n-1, all of ``process`` (a generated sample)."""
        return EventRecords(
            np.arange(len(self), dtype=np.int64),
            np.zeros(len(self), dtype=np.int32),
            (process,),
            self.weight,
            self.met,
            self.met_phi,
            self.counts,
            self.types,
            self.kinematics,
            self.sources,
        )

    def rounded(self) -> EventRecords:
        """Energies, momenta and MET to whole MeV, angles to 1e-6: how the generator writes them."""
        kinematics = np.column_stack([np.round(self.kinematics[:, :2]), np.round(self.kinematics[:, 2:], 6)])
        return EventRecords(
            self.event_id,
            self.process,
            self.process_names,
            self.weight,
            np.round(self.met),
            np.round(self.met_phi, 6),
            self.counts,
            self.types,
            kinematics.reshape(-1, 4),
            self.sources,
        )

    def objects_per_type(self) -> dict[str, int]:
        found = np.bincount(self.types, minlength=len(OBJECT_TYPES))
        return {name: int(n) for name, n in zip(OBJECT_TYPES, found)}

    def process_of_events(self) -> list[str]:
        return [self.process_names[i] for i in self.process]


# ---------------------------------------------------------------------------------------------------------------
# DarkMachines CSV
# ---------------------------------------------------------------------------------------------------------------


def _number(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{where}: {what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise UserError(f"{where}: {what} is {text.strip()}, not a finite number")
    return value


def _parse_line(line: str, where: str, names: dict[str, int]):
    fields = line.rstrip("\n").rstrip("\r").split(";")
    if fields and fields[-1].strip() == "":
        fields = fields[:-1]  # the published files end every line with ';'
    if len(fields) < 5:
        raise UserError(
            f"{where}: expected event_id;process_id;weight;MET;METphi; then objects, got {len(fields)} field(s)"
        )
    try:
        event_id = int(fields[0])
    except ValueError:
        raise UserError(f"{where}: event_id {fields[0].strip()!r} is not an integer") from None
    process = fields[1].strip()
    if not process:
        raise UserError(f"{where}: empty process_id")
    weight, met, met_phi = (_number(fields[i], name, where) for i, name in ((2, "weight"), (3, "MET"), (4, "METphi")))
    objects = []
    for position, text in enumerate(fields[5:], start=1):
        parts = text.split(",")
        if len(parts) != 5:
            raise UserError(f"{where}: object {position} {text.strip()!r} is not type,E,pt,eta,phi")
        kind = parts[0].strip()
        if kind not in OBJECT_TYPES:
            raise UserError(f"{where}: object {position} has type {kind!r}; known types: {' '.join(OBJECT_TYPES)}")
        values = [_number(v, f"object {position} {q}", where) for v, q in zip(parts[1:], ("E", "pt", "eta", "phi"))]
        objects.append((OBJECT_TYPES.index(kind), *values))
    return event_id, names.setdefault(process, len(names)), weight, met, met_phi, objects


def read_csv(path: str | Path) -> EventRecords:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"input file not found: {path}")
    names: dict[str, int] = {}
    rows = []
    try:
        with path.open(encoding="ascii") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    rows.append(_parse_line(line, f"{path}:{number}", names))
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not a DarkMachines CSV text file ({err.reason} at byte {err.start})") from None
    if not rows:
        raise UserError(f"{path}: no events")
    objects = [row[5] for row in rows]
    counts = np.array([len(o) for o in objects], dtype=np.int64)
    flat = [obj for listed in objects for obj in listed]
    return EventRecords(
        event_id=np.array([row[0] for row in rows], dtype=np.int64),
        process=np.array([row[1] for row in rows], dtype=np.int32),
        process_names=tuple(names),
        weight=np.array([row[2] for row in rows]),
        met=np.array([row[3] for row in rows]),
        met_phi=np.array([row[4] for row in rows]),
        counts=counts,
        types=np.array([obj[0] for obj in flat], dtype=np.int8),
        kinematics=np.array([obj[1:] for obj in flat], dtype=np.float64).reshape(-1, 4),
        sources=(str(path),),
    )


def _format(value: float) -> str:
    """Shortest text that reads back as the same float64 (integers without a decimal point, as published)."""
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(float(value))


def csv_lines(records: EventRecords):
    offsets = np.concatenate([[0], np.cumsum(records.counts)])
    for i in range(len(records)):
        head = [
            str(int(records.event_id[i])),
            records.process_names[records.process[i]],
            _format(records.weight[i]),
            _format(records.met[i]),
            _format(records.met_phi[i]),
        ]
        objects = [
            ",".join([OBJECT_TYPES[records.types[k]], *(_format(v) for v in records.kinematics[k])])
            for k in range(offsets[i], offsets[i + 1])
        ]
        yield ";".join(head + objects) + ";\n"


# ---------------------------------------------------------------------------------------------------------------
# ROOT
# ---------------------------------------------------------------------------------------------------------------


def _write_root(records: EventRecords, path: Path) -> None:
    import awkward as ak
    import uproot

    def jagged(values):
        return ak.unflatten(values, records.counts)

    with uproot.recreate(path, compression=uproot.LZMA(6)) as file:
        file.mktree(
            TREE_NAME,
            {
                "event_id": records.event_id,
                "process": records.process,
                "weight": records.weight,
                "MET": records.met,
                "METphi": records.met_phi,
                "Object": ak.zip(
                    {
                        "type": jagged(records.types),
                        **{q: jagged(records.kinematics[:, j]) for j, q in enumerate(("E", "pt", "eta", "phi"))},
                    }
                ),
            },
            title=TREE_NAME,
        )
        file[PROCESS_NAMES_KEY] = json.dumps(list(records.process_names))


def _read_root(path: Path) -> EventRecords:
    import awkward as ak
    import uproot

    try:
        with uproot.open(path) as file:
            if TREE_NAME not in file or PROCESS_NAMES_KEY not in file:
                raise UserError(f"{path}: not an event file (no {TREE_NAME} tree with {PROCESS_NAMES_KEY})")
            names = tuple(json.loads(str(file[PROCESS_NAMES_KEY])))
            arrays = file[TREE_NAME].arrays(library="ak")
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: cannot read it as a ROOT event file ({str(err).splitlines()[0]})") from None
    return EventRecords(
        event_id=ak.to_numpy(arrays["event_id"]).astype(np.int64),
        process=ak.to_numpy(arrays["process"]).astype(np.int32),
        process_names=names,
        weight=ak.to_numpy(arrays["weight"]).astype(np.float64),
        met=ak.to_numpy(arrays["MET"]).astype(np.float64),
        met_phi=ak.to_numpy(arrays["METphi"]).astype(np.float64),
        counts=ak.to_numpy(ak.num(arrays["Object_type"])).astype(np.int64),
        types=ak.to_numpy(ak.flatten(arrays["Object_type"])).astype(np.int8),
        kinematics=np.column_stack([ak.to_numpy(ak.flatten(arrays[f"Object_{q}"])) for q in ("E", "pt", "eta", "phi")])
        .astype(np.float64)
        .reshape(-1, 4),
        sources=(str(path),),
    )


def is_event_file(path: str | Path) -> bool:
    """A DarkMachines CSV (by its first line), or a ROOT file written by :func:`write_events`."""
    path = Path(path)
    if not path.is_file():
        return False
    if path.suffix.lower() == CSV_SUFFIX:
        with path.open("rb") as handle:
            first = handle.readline(4096)
        return first.count(b";") >= 5
    if path.suffix.lower() == ".root":
        import uproot

        try:
            with uproot.open(path) as file:
                return PROCESS_NAMES_KEY in file
        except (OSError, ValueError, KeyError):  # not ROOT at all: the jet reader says why
            return False
    return False


def read_events(path: str | Path) -> EventRecords:
    path = Path(path)
    if path.suffix.lower() == CSV_SUFFIX:
        return read_csv(path)
    if not path.is_file():
        raise UserError(f"input file not found: {path}")
    return _read_root(path)


def write_events(records: EventRecords, out: str | Path, force: bool = False) -> Path:
    """Write ``.csv`` (DarkMachines text) or ``.root``, atomically; refuses an existing file without ``force``."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (CSV_SUFFIX, ".root"):
        raise UserError(f"{out}: event files are .csv (DarkMachines) or .root")
    with staged_file(out, force=force) as temporary:
        if suffix == CSV_SUFFIX:
            with Path(temporary).open("w", encoding="ascii") as handle:
                handle.writelines(csv_lines(records))
        else:
            _write_root(records, Path(temporary))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Slots: an event as one row of fixed variables
# ---------------------------------------------------------------------------------------------------------------


def to_slots(records: EventRecords) -> tuple[np.ndarray, np.ndarray]:
    """(values: events x EVENT_VARIABLES in GeV, present: events x slots) — the leading objects of each kind."""
    n = len(records)
    values = np.zeros((n, len(EVENT_VARIABLES)), dtype=np.float64)
    present = np.zeros((n, len(slot_names())), dtype=bool)
    event_of = np.repeat(np.arange(n), records.counts)
    kinds = np.array([KIND_OF_TYPE[t] for t in OBJECT_TYPES])[records.types]
    pt_gev = records.kinematics[:, 1] / MEV_PER_GEV
    column = {name: i for i, name in enumerate(EVENT_VARIABLES)}
    slot_index = {name: i for i, name in enumerate(slot_names())}
    for kind, (prefix, count, _) in EVENT_SLOTS.items():
        mine = np.flatnonzero(kinds == kind)
        # within an event, by decreasing pt (stable): the rank of each object among its kind
        order = mine[np.lexsort((-pt_gev[mine], event_of[mine]))]
        first = np.searchsorted(event_of[order], event_of[order], side="left")
        rank = np.arange(len(order)) - first
        order, rank = order[rank < count], rank[rank < count]
        events = event_of[order]
        for slot in range(count):
            at = rank == slot
            rows, objs = events[at], order[at]
            present[rows, slot_index[f"{prefix}{slot}"]] = True
            values[rows, column[f"{prefix}{slot}_pt"]] = pt_gev[objs]
            values[rows, column[f"{prefix}{slot}_eta"]] = records.kinematics[objs, 2]
            values[rows, column[f"{prefix}{slot}_phi"]] = records.kinematics[objs, 3]
            type_names = np.array(OBJECT_TYPES)[records.types[objs]]
            if kind == "jet":
                values[rows, column[f"{prefix}{slot}_b"]] = type_names == "b"
            elif kind in ("electron", "muon"):
                values[rows, column[f"{prefix}{slot}_q"]] = np.where(np.char.endswith(type_names, "+"), 1.0, -1.0)
    values[:, column["MET"]] = records.met / MEV_PER_GEV
    values[:, column["METphi"]] = records.met_phi
    return values, present


def load_event_table(paths, variables) -> JetTable:
    """Event files -> one row per event (the event slots), as the JetTable the model stages take."""
    if not is_event_model(variables):
        raise UserError("event files feed event models only (variables = the event slots, see configs/event.toml)")
    records = EventRecords.concatenate([read_events(path) for path in paths])
    values, present = to_slots(records)
    return JetTable(
        variables=EVENT_VARIABLES,
        values=values.astype(np.float32),
        event_index=np.arange(len(records), dtype=np.int64),
        n_events=len(records),
        preset="darkmachines",
        sources=tuple(str(p) for p in paths),
        extra={"present": present, "process": np.array(records.process_of_events())},
    )


@dataclass(frozen=True)
class EventInspection:
    path: str
    format: str
    events: int
    objects: dict[str, int]
    processes: dict[str, int]

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "format": self.format,
            "events": self.events,
            "objects": self.objects,
            "processes": self.processes,
        }

    def format_text(self) -> str:
        objects = ", ".join(f"{name} {n}" for name, n in self.objects.items())
        processes = ", ".join(f"{name} {n}" for name, n in self.processes.items())
        return f"{self.path}: {self.format}, {self.events} events; objects: {objects}; processes: {processes}"


def inspect_events(path: str | Path) -> EventInspection:
    records = read_events(path)
    per_process = np.bincount(records.process, minlength=len(records.process_names))
    return EventInspection(
        path=str(path),
        format="darkmachines-csv" if Path(path).suffix.lower() == CSV_SUFFIX else "root-events",
        events=len(records),
        objects=records.objects_per_type(),
        processes={name: int(n) for name, n in zip(records.process_names, per_process)},
    )
