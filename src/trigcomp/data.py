"""Read trigger jets from ROOT files (TTree or RNTuple, via uproot) into :class:`trigcomp.records.JetTable`.

A *mapping* says where the jets are: the tree (TTree or RNTuple) name, one branch per quantity and a unit scale per
quantity (multiply the stored value by it to get GeV). Quantities are the canonical variables (``pt``, ``eta``,
``phi``, ``mass``, ``chHEF``, ``neHEF``, ``chEmEF``, ``neEmEF``, ``muEF``, ``nConstituents``) or, for files that
store four-vectors, the Cartesian components ``px``, ``py``, ``pz``, ``E``, from which pt, eta, phi and mass
(= sqrt(max(E^2 - p^2, 0))) are computed. Built-in presets (:data:`PRESETS`):

- ``nanoaod-towers16``, ``nanoaod-towers8``: ``nanoaod`` plus an N x N calorimeter-tower image per jet
  (``Jet_tower_0`` ... ``Jet_tower_<N*N-1>``, GeV; ``trigcomp generate --towers N``), variables ``tower_<k>``
  (sets ``towers16``, ``towers8``). Detected by the tower branches; a file's grid is fixed by its branches.
- ``nanoaod``: CMS NanoAOD, tree ``Events``, branches ``Jet_pt`` ... ``Jet_nConstituents`` (GeV).
- ``physlite``: ATLAS PHYSLITE, tree ``CollectionTree``, ``AnalysisJetsAuxDyn.pt/eta/phi/m`` (MeV). Branch names
  written with ``:`` instead of ``.`` (as RNTuple PHYSLITE files do) are accepted too.
- ``delphes``: Delphes, tree ``Delphes``, ``Jet.PT/Jet.Eta/Jet.Phi/Jet.Mass`` (also nested as ``Jet/Jet.PT``).
- ``pxpypze``: flat ``Jet_Px/Jet_Py/Jet_Pz/Jet_E`` in the first tree that has them.

Without a preset, the first preset whose branches the file has is used, and the choice is logged on the
``trigcomp`` logger and returned as ``JetTable.preset``.

Custom mapping file (TOML), see ``configs/mapping-example.toml``::

    name = "my-ntuple"      # optional: reported as the preset name (default "custom")
    tree = "jets"           # optional: default is the first TTree/RNTuple that has all the branches
    [branches]              # quantity -> branch; pt, eta, phi, mass (or px, py, pz, E) are required
    pt = "jet_pt"
    eta = "jet_eta"
    phi = "jet_phi"
    mass = "jet_m"
    [scale]                 # optional: quantity -> factor to GeV (default 1)
    pt = 0.001
    mass = 0.001

Branches may be jagged (one list of jets per event) or flat (one jet per entry). Cuts keep jets with
``pt >= pt_min`` and ``|eta| < eta_max``, then the ``leading`` highest-pt jets of each event (in pt order).
Jets with a NaN/inf value are dropped, counted (``JetTable.dropped_nonfinite``) and reported as a warning, or
rejected with a :class:`UserError` when ``strict=True``. ``event_index`` counts events across all files in order,
so that train/test splits can be made event-wise.
"""

from __future__ import annotations

import difflib
import glob
import logging
import re
import sys
import tomllib
import zlib
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
from tqdm import tqdm

from trigcomp.errors import UserError
from trigcomp.records import (
    JET4,
    JET10,
    KNOWN_VARIABLES,
    TOWER_ET_MAX_GEV,
    TOWER_GRIDS,
    TOWER_LSB_GEV,
    VARIABLE_SETS,
    JetTable,
    tower_grid,
    tower_variables,
)

log = logging.getLogger("trigcomp")

CARTESIAN = ("px", "py", "pz", "E")
UNITS = {"pt": "GeV", "eta": "", "phi": "rad", "mass": "GeV", "nConstituents": "count"}  # others: fractions
_TREE_CLASSES = {"TTree": "TTree", "ROOT::RNTuple": "RNTuple"}

# What uproot raises on a damaged file: short reads, bad headers, undecompressable baskets.
_CORRUPT_FILE_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    zlib.error,
    uproot.deserialization.DeserializationError,
)
_ROWS_PER_BLOCK = 32_768
_STEP_SIZE = re.compile(r"\s*\d+(\.\d+)?\s*([kMGT]i?)?B\s*", re.IGNORECASE)


@dataclass(frozen=True)
class BranchMapping:
    """Where the jets are in a file: tree name (None: the first tree with the branches), branch and scale per quantity."""

    name: str
    tree: str | None
    branches: dict[str, str]
    scale: dict[str, float] = field(default_factory=dict)
    towers: int | None = None  # N of the N x N tower image the branches hold

    @property
    def signature(self) -> tuple[str, ...]:
        """The quantities a file must have to be detected as this preset: the four-vector and the whole image."""
        return self.quantities_for(JET4) + (tower_variables(self.towers) if self.towers else ())

    @property
    def cartesian(self) -> bool:
        return all(q in self.branches for q in CARTESIAN)

    @property
    def variables(self) -> tuple[str, ...]:
        """Canonical variables this mapping can provide, in jet10 order (then the towers)."""
        return tuple(v for v in KNOWN_VARIABLES if v in self.branches or (self.cartesian and v in JET4))

    def quantities_for(self, variables: Iterable[str]) -> tuple[str, ...]:
        """Stored quantities to read for the given canonical variables (four-vectors are read whole)."""
        wanted = set(variables)
        if self.cartesian:
            wanted = (wanted - set(JET4)) | set(CARTESIAN)
        return tuple(q for q in KNOWN_VARIABLES + CARTESIAN if q in wanted)


def _towers_preset(grid: int) -> BranchMapping:
    names = JET10 + tower_variables(grid)
    return BranchMapping(f"nanoaod-towers{grid}", "Events", {v: f"Jet_{v}" for v in names}, towers=grid)


_PRESET_MAPPINGS = {
    "nanoaod": BranchMapping("nanoaod", "Events", {v: f"Jet_{v}" for v in JET10}),
    # any tree: PHYSLITE is CollectionTree as a TTree but EventData as an RNTuple; its branch names are distinctive
    "physlite": BranchMapping(
        "physlite",
        None,
        {v: f"AnalysisJetsAuxDyn.{b}" for v, b in zip(JET4, ("pt", "eta", "phi", "m"))},
        {"pt": 1e-3, "mass": 1e-3},
    ),
    "delphes": BranchMapping("delphes", "Delphes", {v: f"Jet.{b}" for v, b in zip(JET4, ("PT", "Eta", "Phi", "Mass"))}),
    "pxpypze": BranchMapping("pxpypze", None, {q: f"Jet_{b}" for q, b in zip(CARTESIAN, ("Px", "Py", "Pz", "E"))}),
    **{f"nanoaod-towers{n}": _towers_preset(n) for n in TOWER_GRIDS},
}
PRESETS = tuple(_PRESET_MAPPINGS)


@dataclass(frozen=True)
class _Source:
    """One validated input file: which tree to read and which key holds each quantity."""

    path: str
    tree: str
    format: str  # "TTree" or "RNTuple"
    n_events: int
    keys: dict[str, str]  # quantity -> key as uproot names it in this tree


@dataclass(frozen=True)
class VariableStats:
    """Summary of one canonical variable over all jets of a file (min/max/mean over finite values, in GeV etc.)."""

    branch: str  # comma-separated components for values computed from a four-vector
    unit: str
    scale: float | None  # factor applied to the stored values (None: computed from a four-vector)
    min: float | None
    max: float | None
    mean: float | None
    nan: int
    inf: int


@dataclass(frozen=True)
class FileInspection:
    path: str
    format: str
    tree: str
    preset: str
    events: int
    jets: int
    variables: dict[str, VariableStats]
    towers: TowerStats | None = None

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "format": self.format,
            "tree": self.tree,
            "preset": self.preset,
            "events": self.events,
            "jets": self.jets,
            "variables": {name: asdict(stats) for name, stats in self.variables.items()},
            **({"towers": asdict(self.towers)} if self.towers else {}),
        }

    def format_text(self) -> str:
        header = f"{'variable':<14}{'branch':<44}{'unit':<7}{'min':>12}{'max':>12}{'mean':>12}{'nan':>7}{'inf':>7}"
        lines = [
            f"{self.path}: {self.format} '{self.tree}', preset {self.preset}, {self.events} events, {self.jets} jets",
            header,
            "-" * len(header),
        ]
        for name, s in self.variables.items():
            numbers = "".join(f"{'-' if x is None else f'{x:.5g}':>12}" for x in (s.min, s.max, s.mean))
            lines.append(f"{name:<14}{s.branch:<44}{s.unit:<7}{numbers}{s.nan:>7}{s.inf:>7}")
        if self.towers:
            lines.append(self.towers.format_text())
        return "\n".join(lines)


@dataclass(frozen=True)
class TowerStats:
    """The tower images of a file, summarised (their per-tower ranges would be N*N lines of the variable table)."""

    grid: int
    branches: str
    lsb_gev: float
    et_max_gev: float
    occupancy: float  # fraction of towers above zero
    saturated_towers: int  # towers at the 10-bit maximum
    mean_image_et_gev: float
    max_tower_et_gev: float
    nan: int
    inf: int

    def format_text(self) -> str:
        return (
            f"towers: {self.grid}\u00d7{self.grid} grid ({self.branches}), LSB {self.lsb_gev:g} GeV, "
            f"occupancy {100 * self.occupancy:.1f} %, {self.saturated_towers} saturated towers "
            f"(\u2265 {self.et_max_gev:g} GeV), mean image ET {self.mean_image_et_gev:.4g} GeV, "
            f"largest tower {self.max_tower_et_gev:.4g} GeV, nan {self.nan}, inf {self.inf}"
        )


def resolve_variables(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"jet4"``/``"jet10"``, a comma-separated string of variable names, or a list of names -> variable names."""
    if isinstance(spec, str):
        if spec in VARIABLE_SETS:
            return VARIABLE_SETS[spec]
        names = [s.strip() for s in spec.split(",") if s.strip()]
    else:
        names = list(spec)
    if not names:
        raise UserError(f"no variables given; use one of {', '.join(VARIABLE_SETS)} or a list of {', '.join(JET10)}")
    unknown = [n for n in names if n not in KNOWN_VARIABLES]
    if unknown:
        raise UserError(
            f"unknown variable(s) {', '.join(unknown[:5])}; known: {', '.join(JET10)}, tower_0 ... tower_255 "
            f"(sets: {', '.join(VARIABLE_SETS)})"
        )
    if len(set(names)) != len(names):
        raise UserError(f"variable listed twice in {', '.join(names[:20])}")
    try:
        tower_grid(tuple(names))
    except ValueError as error:
        raise UserError(str(error)) from None
    return tuple(names)


def load_mapping(path: str | Path) -> BranchMapping:
    """Read a custom mapping TOML file (format in the module docstring)."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"mapping file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"cannot read mapping file {path}: {exc}") from None
    unknown = set(doc) - {"name", "tree", "branches", "scale"}
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; allowed: name, tree, branches, scale")
    branches, scale, tree, name = (
        doc.get("branches", {}),
        doc.get("scale", {}),
        doc.get("tree"),
        doc.get("name", "custom"),
    )
    if not isinstance(branches, dict) or not all(isinstance(b, str) and b for b in branches.values()):
        raise UserError(f"{path}: [branches] must map quantities to branch names (strings)")
    if not isinstance(scale, dict) or not all(type(s) in (int, float) and s > 0 for s in scale.values()):
        raise UserError(f"{path}: [scale] must map quantities to positive numbers")
    if not isinstance(name, str) or (tree is not None and not isinstance(tree, str)):
        raise UserError(f"{path}: 'tree' and 'name' must be strings")
    quantities = JET10 + CARTESIAN
    unknown = [q for q in [*branches, *scale] if q not in quantities]
    if unknown:
        raise UserError(f"{path}: unknown quantity {', '.join(unknown)}; known: {', '.join(quantities)}")
    polar, cartesian = (sum(q in branches for q in group) for group in (JET4, CARTESIAN))
    if (polar, cartesian) not in ((4, 0), (0, 4)):
        raise UserError(
            f"{path}: [branches] needs all of {', '.join(JET4)} or all of {', '.join(CARTESIAN)}, not a mix"
        )
    unmapped = [q for q in scale if q not in branches]
    if unmapped:
        raise UserError(f"{path}: [scale] for {', '.join(unmapped)}, which has no entry in [branches]")
    return BranchMapping(name, tree, dict(branches), {q: float(s) for q, s in scale.items()})


def _refuse_not_a_file(path: str) -> None:
    if Path(path).is_dir():
        raise UserError(f"{path} is a directory; give a ROOT file (or a glob such as {Path(path) / '*.root'})")
    raise UserError(f"no such file: {path}")


def expand_paths(paths: str | Path | Iterable[str | Path]) -> list[str]:
    """File names and glob patterns -> existing file names, in the given order (each pattern sorted)."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise UserError("no input files given")
    files = []
    for item in map(str, items):
        if glob.has_magic(item):
            matches = sorted(glob.glob(item))
            if not matches:
                raise UserError(f"no files match {item!r}")
            files += matches
        elif not Path(item).is_file():
            _refuse_not_a_file(item)
        else:
            files.append(item)
    return files


def _damage(path: str, exc: Exception) -> UserError:
    reason = " ".join(str(exc).split())[:200] or type(exc).__name__  # uproot's messages span several lines
    return UserError(f"{path}: cannot read ROOT file, truncated or corrupt? ({reason})")


def _open(path: str):
    """The opened ROOT file (a context manager); a missing, non-ROOT or damaged file is a UserError."""
    if not Path(path).is_file():
        _refuse_not_a_file(path)
    with open(path, "rb") as f:
        if f.read(4) != b"root":
            raise UserError(f"{path} is not a ROOT file (it does not start with 'root')")
    root_file = None
    try:
        root_file = uproot.open(path)
        root_file.classnames()  # reads the whole directory: a truncated file fails here
        return root_file
    except _CORRUPT_FILE_ERRORS as exc:
        if root_file is not None:
            root_file.close()
        raise _damage(path, exc) from None


def _get_tree(root_file, path: str, name: str):
    try:
        return root_file[name]  # uproot caches it: asking again does not parse the metadata again
    except _CORRUPT_FILE_ERRORS as exc:
        raise _damage(path, exc) from None


def _trees(classnames: dict[str, str]) -> dict[str, str]:
    """Tree name (without ';cycle', all cycles of a name being the same tree) -> "TTree"/"RNTuple"."""
    return {key.rsplit(";", 1)[0]: _TREE_CLASSES[cls] for key, cls in classnames.items() if cls in _TREE_CLASSES}


def _describe_contents(classnames: dict[str, str], shown: int = 10) -> str:
    if not classnames:
        return "the file holds no objects"
    objects = list(dict.fromkeys(f"{key.rsplit(';', 1)[0]} ({cls})" for key, cls in classnames.items()))
    more = f" and {len(objects) - shown} more" if len(objects) > shown else ""
    return "found: " + ", ".join(objects[:shown]) + more


def _tree_keys(tree) -> list[str]:
    """All names uproot accepts for this tree's branches/fields (short and full paths, for nested Delphes branches)."""
    keys = tree.keys(recursive=True, full_paths=True)
    if isinstance(tree, uproot.TTree):
        keys += [k for k in tree.keys(recursive=True, full_paths=False) if k not in keys]
    return keys


def _find_key(branch: str, keys: list[str]) -> str | None:
    """The key for a mapped branch name, treating '.' and ':' alike (PHYSLITE RNTuples use ':')."""
    for candidate in (branch, branch.replace(".", ":"), branch.replace(":", ".")):
        if candidate in keys:
            return candidate
    return None


def _resolve_keys(mapping: BranchMapping, quantities: Iterable[str], keys: list[str]) -> dict[str, str | None]:
    return {q: _find_key(mapping.branches[q], keys) for q in quantities}


def _validate(
    root_file, path: str, mapping: BranchMapping, quantities: tuple[str, ...], optional: tuple[str, ...] = ()
) -> _Source:
    """Check that the file has the mapping's tree and branches (``optional`` ones are taken when present)."""
    classnames = root_file.classnames()
    trees = _trees(classnames)
    if not trees:
        raise UserError(f"{path}: no TTree or RNTuple in file; {_describe_contents(classnames)}")
    if mapping.tree is not None and mapping.tree not in trees:
        raise UserError(f"{path}: no TTree or RNTuple named {mapping.tree!r}; {_describe_contents(classnames)}")
    for name in list(trees) if mapping.tree is None else [mapping.tree]:
        tree = _get_tree(root_file, path, name)
        keys = _tree_keys(tree)
        resolved = _resolve_keys(mapping, quantities, keys)
        if all(resolved.values()):
            if mapping.towers and _find_key(f"Jet_tower_{mapping.towers**2}", keys):
                raise UserError(
                    f"{path}: its tower images are larger than {mapping.towers}x{mapping.towers} (it has "
                    f"Jet_tower_{mapping.towers**2}); read it with its own preset (detected when none is given)"
                )
            found = {q: k for q, k in _resolve_keys(mapping, optional, keys).items() if k is not None}
            return _Source(path, name, trees[name], int(tree.num_entries), resolved | found)
    if mapping.tree is None:
        wanted = ", ".join(mapping.branches[q] for q in quantities)
        raise UserError(f"{path}: no TTree or RNTuple has the branches {wanted}; {_describe_contents(classnames)}")
    missing = []
    for quantity in (q for q, key in resolved.items() if key is None):
        branch = mapping.branches[quantity]
        close = difflib.get_close_matches(branch, keys, n=3, cutoff=0.75)
        missing.append(f"{branch} (close matches: {', '.join(close)})" if close else branch)
    raise UserError(
        f"{path}: {trees[mapping.tree]} {mapping.tree!r} lacks branch(es) for preset {mapping.name}: "
        + "; ".join(missing)
    )


def _detect(root_file, path: str) -> str:
    classnames = root_file.classnames()
    trees = _trees(classnames)
    # the most specific preset first: a tower file is also a NanoAOD file, a 16x16 one has every 8x8 branch
    for name, mapping in sorted(_PRESET_MAPPINGS.items(), key=lambda item: -len(item[1].signature)):
        for tree_name in [t for t in trees if mapping.tree in (None, t)]:
            keys = _tree_keys(_get_tree(root_file, path, tree_name))
            if all(_resolve_keys(mapping, mapping.signature, keys).values()):
                log.info("preset detected: %s (%s '%s' in %s)", name, trees[tree_name], tree_name, path)
                return name
    raise UserError(
        f"cannot detect the jet format of {path} (known presets: {', '.join(PRESETS)}); "
        f"{_describe_contents(classnames)}; give a preset or a mapping file"
    )


def detect_preset(path: str | Path) -> str:
    """Name of the first preset whose tree and pt/eta/phi/mass (or px/py/pz/E) branches are in the file."""
    with _open(str(path)) as root_file:
        return _detect(root_file, str(path))


def _choose_mapping(root_file, path: str, preset: str | None, mapping: str | Path | BranchMapping | None):
    if preset is not None and mapping is not None:
        raise UserError("give either a preset or a mapping file, not both")
    if isinstance(mapping, BranchMapping):
        return mapping
    if mapping is not None:
        return load_mapping(mapping)
    if preset is None:
        preset = _detect(root_file, path)
    if preset not in _PRESET_MAPPINGS:
        raise UserError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    return _PRESET_MAPPINGS[preset]


def _pick(arrays: ak.Array, key: str) -> ak.Array:
    """The array for ``key``; RNTuple nested fields ('Jet.pt') come back as records to walk into."""
    if key in arrays.fields:
        return arrays[key]
    head, _, rest = key.partition(".")
    return _pick(arrays[head], rest)


def _flat_values_and_offsets(values: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    """One branch's values, one per jet, and where each entry's jets start (for flat branches: one jet per entry)."""
    if values.ndim == 1:
        return ak.to_numpy(values), np.arange(len(values) + 1)
    layout = values.layout
    if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(layout.content, ak.contents.NumpyArray):
        # uproot's usual layout, taken apart directly: ak.flatten and ak.num would double our share of reading time
        offsets = layout.offsets.data
        return layout.content.data[offsets[0] : offsets[-1]], offsets - offsets[0]
    counts = ak.to_numpy(ak.num(values, axis=1))
    return ak.to_numpy(ak.flatten(values)), np.concatenate([[0], np.cumsum(counts)])


def _read_chunks(root_file, source: _Source, mapping: BranchMapping, step_size) -> Iterator[tuple[np.ndarray, dict]]:
    """Per chunk: jets per entry, and quantity -> flat float array (scaled to GeV; float64 for four-vectors)."""
    dtype = np.float64 if mapping.cartesian else np.float32
    keys = list(dict.fromkeys(source.keys.values()))
    chunks = _get_tree(root_file, source.path, source.tree).iterate(keys, step_size=step_size)
    while True:
        try:
            arrays = next(chunks)
        except StopIteration:
            return
        except _CORRUPT_FILE_ERRORS as exc:
            raise _damage(source.path, exc) from None
        offsets, columns = None, {}
        for quantity, key in source.keys.items():
            column, branch_offsets = _flat_values_and_offsets(_pick(arrays, key))
            if offsets is None:
                offsets = branch_offsets
            elif not np.array_equal(offsets, branch_offsets):
                raise UserError(f"{source.path}: branch {key} has a different number of jets per event")
            column = column.astype(dtype, copy=False)
            scale = mapping.scale.get(quantity, 1.0)
            columns[quantity] = column * dtype(scale) if scale != 1.0 else column
        yield np.diff(offsets), columns


def _canonical(columns: dict[str, np.ndarray], mapping: BranchMapping) -> dict[str, np.ndarray]:
    """Stored quantities -> canonical variables (float32), computing pt/eta/phi/mass from four-vectors."""
    result = {q: c.astype(np.float32, copy=False) for q, c in columns.items() if q not in CARTESIAN}
    if mapping.cartesian:
        px, py, pz, energy = (columns[q] for q in CARTESIAN)
        pt = np.hypot(px, py)
        with np.errstate(divide="ignore", invalid="ignore"):  # pt = 0 has no eta: it becomes inf and is dropped
            eta = np.arcsinh(pz / pt)
        mass = np.sqrt(np.maximum(energy**2 - (pt**2 + pz**2), 0.0))
        for name, values in zip(JET4, (pt, eta, np.arctan2(py, px), mass)):
            result[name] = values.astype(np.float32)
    return result


def _leading_rows(event_index: np.ndarray, pt: np.ndarray, leading: int) -> np.ndarray:
    """Rows of the ``leading`` highest-pt jets of each event, ordered by event then decreasing pt."""
    order = np.lexsort((-pt, event_index))
    sorted_events = event_index[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_events, sorted_events, side="left")
    return order[rank < leading]


def _select(
    values: dict[str, np.ndarray],
    event_index: np.ndarray,
    needed: tuple[str, ...],
    pt_min: float,
    eta_max: float | None,
    leading: int | None,
    strict: bool,
    path: str,
) -> tuple[np.ndarray | slice, dict[str, int], int]:
    """Rows of the jets that pass the cuts, NaN/inf values per variable, and jets dropped for them."""
    finite = np.ones(len(event_index), dtype=bool)
    nonfinite = {}
    for name in needed:
        ok = np.isfinite(values[name])
        if not ok.all():
            n_bad = len(ok) - int(np.count_nonzero(ok))
            if strict:
                raise UserError(
                    f"{path}: {n_bad} jet(s) with NaN/inf {name} (strict mode); run without strict to drop them"
                )
            nonfinite[name] = n_bad
            finite &= ok
    keep = finite & (values["pt"] >= pt_min)
    if eta_max is not None:
        keep &= np.abs(values["eta"]) < eta_max
    if leading is None and keep.all():
        return slice(None), nonfinite, 0  # no copy of the common uncut chunk
    rows = np.flatnonzero(keep)
    if leading is not None:
        rows = rows[_leading_rows(event_index[rows], values["pt"][rows], leading)]
    return rows, nonfinite, int(len(finite) - np.count_nonzero(finite))


def _stack_columns(columns: list[np.ndarray]) -> np.ndarray:
    """(n, k) float32 table from k columns, filled in blocks of rows that stay in cache (twice as fast)."""
    table = np.empty((len(columns[0]), len(columns)), dtype=np.float32)
    for start in range(0, len(table), _ROWS_PER_BLOCK):
        block = slice(start, start + _ROWS_PER_BLOCK)
        for i, column in enumerate(columns):
            table[block, i] = column[block]
    return table


def _check_options(pt_min: float, eta_max: float | None, leading: int | None, step_size) -> None:
    if not np.isfinite(pt_min) or pt_min < 0:
        raise UserError(f"pt_min must be a finite number >= 0, not {pt_min}")
    if eta_max is not None and not eta_max > 0:
        raise UserError(f"eta_max must be > 0, not {eta_max}")
    if leading is not None and (isinstance(leading, bool) or not isinstance(leading, int) or leading < 1):
        raise UserError(f"leading must be a whole number >= 1, not {leading}")
    valid_step = (isinstance(step_size, int) and step_size > 0) or (
        isinstance(step_size, str) and _STEP_SIZE.fullmatch(step_size)
    )
    if not valid_step:
        raise UserError(f"step_size must be a number of events or a size like '100 MB', not {step_size!r}")


def iter_jets(
    paths,
    preset: str | None = None,
    variables: str | Iterable[str] = "jet4",
    mapping: str | Path | BranchMapping | None = None,
    pt_min: float = 0.0,
    eta_max: float | None = None,
    leading: int | None = None,
    strict: bool = False,
    step_size: int | str = "100 MB",
    progress: bool = False,
) -> Iterator[JetTable]:
    """Jets chunk by chunk (``step_size`` events or bytes per chunk), so no file has to fit in memory.

    All files are checked before the first chunk is read. Each chunk's ``n_events`` is the number of events it
    covers, ``extra["first_event"]`` the global index of its first event (its ``event_index`` values lie in
    ``[first_event, first_event + n_events)``), and ``sources`` the file it came from.
    """
    names = resolve_variables(variables)
    _check_options(pt_min, eta_max, leading, step_size)
    files = expand_paths(paths)
    # The first file stays open from detection to reading: parsing a NanoAOD tree's metadata takes about a second.
    with _open(files[0]) as first_file:
        jet_mapping = _choose_mapping(first_file, files[0], preset, mapping)
        unavailable = [v for v in names if v not in jet_mapping.variables]
        if unavailable:
            shown = ", ".join(unavailable[:5]) + (f" ... ({len(unavailable)} in all)" if len(unavailable) > 5 else "")
            raise UserError(
                f"variable(s) {shown} not available with preset {jet_mapping.name}; it has: "
                + ", ".join(v for v in jet_mapping.variables if not v.startswith("tower_"))
                + (f" and the {jet_mapping.towers}x{jet_mapping.towers} towers" if jet_mapping.towers else "")
            )
        if tower_grid(names) not in (None, jet_mapping.towers):
            raise UserError(
                f"tower variables of a {tower_grid(names)}x{tower_grid(names)} image asked of a file "
                f"with {jet_mapping.towers}x{jet_mapping.towers} towers (preset {jet_mapping.name})"
            )
        needed = tuple(dict.fromkeys(names + ("pt",) + (("eta",) if eta_max is not None else ())))
        quantities = jet_mapping.quantities_for(needed)
        sources = [_validate(first_file, files[0], jet_mapping, quantities)]
        for path in files[1:]:
            with _open(path) as root_file:
                sources.append(_validate(root_file, path, jet_mapping, quantities))

        first_event, jets_read, jets_kept, nonfinite = 0, 0, 0, dict.fromkeys(needed, 0)
        bar = tqdm(total=sum(s.n_events for s in sources), unit="event", file=sys.stderr, disable=not progress)
        with bar:
            for source in sources:
                bar.set_description(Path(source.path).name)
                with nullcontext(first_file) if source is sources[0] else _open(source.path) as root_file:
                    for counts, columns in _read_chunks(root_file, source, jet_mapping, step_size):
                        values = _canonical(columns, jet_mapping)
                        event_index = np.repeat(np.arange(first_event, first_event + len(counts)), counts)
                        rows, chunk_nonfinite, n_dropped = _select(
                            values, event_index, needed, pt_min, eta_max, leading, strict, source.path
                        )
                        kept_events = event_index[rows]
                        table = _stack_columns([values[name][rows] for name in names])
                        yield JetTable(
                            variables=names,
                            values=table,
                            event_index=kept_events,
                            n_events=len(counts),
                            preset=jet_mapping.name,
                            sources=(source.path,),
                            dropped_nonfinite=n_dropped,
                            extra={"first_event": first_event, "tree": source.tree, "format": source.format},
                        )
                        for name, n in chunk_nonfinite.items():
                            nonfinite[name] += n
                        jets_read += len(event_index)
                        jets_kept += len(kept_events)
                        first_event += len(counts)
                        bar.update(len(counts))
    dropped = {name: n for name, n in nonfinite.items() if n}
    if dropped:
        log.warning("dropped jets with NaN/inf values (%s)", ", ".join(f"{name}: {n}" for name, n in dropped.items()))
    if jets_kept == 0:
        raise UserError(
            f"no jets left: {jets_read} jet(s) in {first_event} event(s) read from {len(files)} file(s), "
            f"none passed pt_min={pt_min}, eta_max={eta_max} and the NaN/inf check"
        )


def load_jets(
    paths,
    preset: str | None = None,
    variables: str | Iterable[str] = "jet4",
    mapping: str | Path | BranchMapping | None = None,
    pt_min: float = 0.0,
    eta_max: float | None = None,
    leading: int | None = None,
    strict: bool = False,
    step_size: int | str = "100 MB",
    progress: bool = False,
) -> JetTable:
    """All jets of all files in one table (chunks of :func:`iter_jets` concatenated); see the module docstring."""
    chunks = list(iter_jets(paths, preset, variables, mapping, pt_min, eta_max, leading, strict, step_size, progress))
    return JetTable(
        variables=chunks[0].variables,
        values=np.concatenate([c.values for c in chunks]),
        event_index=np.concatenate([c.event_index for c in chunks]),
        n_events=sum(c.n_events for c in chunks),
        preset=chunks[0].preset,
        sources=tuple(dict.fromkeys(s for c in chunks for s in c.sources)),
        dropped_nonfinite=sum(c.dropped_nonfinite for c in chunks),
        extra={"pt_min": pt_min, "eta_max": eta_max, "leading": leading},
    )


def inspect_file(
    path: str | Path, preset: str | None = None, mapping: str | Path | BranchMapping | None = None
) -> FileInspection:
    """Events, jets and per-variable ranges (all variables the preset provides, no cuts, NaN/inf counted)."""
    path = str(path)
    with _open(path) as root_file:
        jet_mapping = _choose_mapping(root_file, path, preset, mapping)
        all_quantities = jet_mapping.quantities_for(jet_mapping.variables)
        source = _validate(root_file, path, jet_mapping, jet_mapping.quantities_for(JET4), all_quantities)
        present = [v for v in jet_mapping.variables if all(q in source.keys for q in jet_mapping.quantities_for([v]))]
        towers = tower_variables(jet_mapping.towers) if jet_mapping.towers else ()
        n_jets = 0
        totals = {v: {"min": np.inf, "max": -np.inf, "sum": 0.0, "finite": 0, "nan": 0, "inf": 0} for v in present}
        for counts, columns in _read_chunks(root_file, source, jet_mapping, "100 MB"):
            n_jets += int(counts.sum())
            canonical = _canonical(columns, jet_mapping)
            if towers:
                images = np.stack([canonical[name] for name in towers], axis=1)
                total = totals[towers[0]]
                total["occupied"] = total.get("occupied", 0) + int((images > 0).sum())
                total["saturated"] = total.get("saturated", 0) + int((images >= TOWER_ET_MAX_GEV).sum())
                total["image_et"] = total.get("image_et", 0.0) + float(np.nansum(images, dtype=np.float64))
            for name, values in canonical.items():
                total, finite = totals[name], values[np.isfinite(values)]
                total["nan"] += int(np.isnan(values).sum())
                total["inf"] += int(np.isinf(values).sum())
                if len(finite):
                    total["min"] = min(total["min"], float(finite.min()))
                    total["max"] = max(total["max"], float(finite.max()))
                    total["sum"] += float(finite.sum(dtype=np.float64))
                    total["finite"] += len(finite)
    tower_stats = _tower_stats(jet_mapping, source, totals, n_jets) if towers else None
    stats = {}
    for name, total in ((name, total) for name, total in totals.items() if name not in towers):
        quantities = jet_mapping.quantities_for([name])
        seen = total["finite"] > 0
        stats[name] = VariableStats(
            branch=",".join(source.keys[q] for q in quantities),
            unit=UNITS.get(name, "fraction"),
            scale=jet_mapping.scale.get(quantities[0], 1.0) if len(quantities) == 1 else None,
            min=total["min"] if seen else None,
            max=total["max"] if seen else None,
            mean=total["sum"] / total["finite"] if seen else None,
            nan=total["nan"],
            inf=total["inf"],
        )
    return FileInspection(
        path, source.format, source.tree, jet_mapping.name, source.n_events, n_jets, stats, tower_stats
    )


def _tower_stats(jet_mapping: BranchMapping, source: _Source, totals: dict, n_jets: int) -> TowerStats:
    """The summary of the per-tower totals that inspect_file gathered (counts in the first tower's entry)."""
    towers = tower_variables(jet_mapping.towers)
    first = totals[towers[0]]
    maxima = [totals[name]["max"] for name in towers if totals[name]["finite"]]
    return TowerStats(
        grid=jet_mapping.towers,
        branches=f"{source.keys[towers[0]]} ... {source.keys[towers[-1]]}",
        lsb_gev=TOWER_LSB_GEV,
        et_max_gev=TOWER_ET_MAX_GEV,
        occupancy=round(first.get("occupied", 0) / max(n_jets * len(towers), 1), 4),
        saturated_towers=first.get("saturated", 0),
        mean_image_et_gev=round(first.get("image_et", 0.0) / max(n_jets, 1), 3),
        max_tower_et_gev=max(maxima, default=0.0),
        nan=sum(totals[name]["nan"] for name in towers),
        inf=sum(totals[name]["inf"] for name in towers),
    )


@dataclass(frozen=True)
class JetSelection:
    """How jets are read and selected (the CLI's `jet selection` options), passed between stages as one record."""

    preset: str | None = None
    mapping: str | None = None
    pt_min: float = 0.0
    eta_max: float | None = None
    leading: int | None = None
    strict: bool = False

    def load(self, paths, variables: str | Iterable[str], progress: bool = False) -> JetTable:
        return load_jets(
            paths,
            preset=self.preset,
            variables=variables,
            mapping=self.mapping,
            pt_min=self.pt_min,
            eta_max=self.eta_max,
            leading=self.leading,
            strict=self.strict,
            progress=progress,
        )
