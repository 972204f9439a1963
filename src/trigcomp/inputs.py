"""The input values a model's firmware stages (hls, csim, rtl) are fed: rows of ``len(variables)`` values.

* ``.npy``: an N x inputs array, or N x the model's input shape (flattened in C order, as the board sees it);
* ``.csv``: a header row naming the columns, then numbers; the model's inputs are picked by name;
* ``.parquet``: columns by name, read with pyarrow when it is installed;
* ROOT files: jets through trigcomp.data (a preset or a branch mapping); the inputs must be jet variables
  (``pt``, ``eta``, ... — import a model with ``--names`` to name them so).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import UserError
from .records import KNOWN_VARIABLES

TABLE_SUFFIXES = (".npy", ".csv", ".parquet")


def _checked(values: np.ndarray, path: Path, n_inputs: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim < 2 or int(np.prod(values.shape[1:])) != n_inputs:
        raise UserError(f"{path}: shape {values.shape} is not N x {n_inputs} inputs (or N x the input shape)")
    values = values.reshape(len(values), n_inputs)
    if np.isnan(values).any():
        raise UserError(f"{path}: {int(np.isnan(values).any(axis=1).sum())} row(s) hold NaN, which is no input value")
    return values


def _pick_columns(header: list[str], path: Path, variables: tuple[str, ...]) -> list[int]:
    missing = [name for name in variables if name not in header]
    if missing:
        raise UserError(f"{path}: no column(s) {', '.join(missing[:5])} (columns: {', '.join(header[:10])})")
    return [header.index(name) for name in variables]


def _read_csv(path: Path, variables: tuple[str, ...]) -> np.ndarray:
    with path.open() as handle:
        header = [name.strip() for name in handle.readline().strip().split(",")]
    columns = _pick_columns(header, path, variables)
    try:
        return np.loadtxt(path, delimiter=",", skiprows=1, usecols=columns, ndmin=2, dtype=np.float64)
    except ValueError as err:
        raise UserError(f"{path}: not a numeric CSV table with a header row ({err})") from None


def _read_parquet(path: Path, variables: tuple[str, ...]) -> np.ndarray:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(
            f"{path}: reading Parquet needs pyarrow, which is not installed; convert the table to .npy or .csv"
        ) from None
    table = pq.read_table(path)
    _pick_columns(table.column_names, path, variables)
    return np.column_stack([table.column(name).to_numpy() for name in variables])


def _read_table(path: Path, variables: tuple[str, ...]) -> np.ndarray:
    if not path.is_file():
        raise UserError(f"input file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            values = np.load(path, allow_pickle=False)
        elif suffix == ".csv":
            values = _read_csv(path, variables)
        else:
            values = _read_parquet(path, variables)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read it as {suffix[1:]} ({str(err).splitlines()[0]})") from None
    return _checked(values, path, len(variables))


def read_inputs(
    paths: list[str], variables: tuple[str, ...], read_jets: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """Rows of input values (N x len(variables), float64) from tables, or from ROOT files through ``read_jets``
    (paths -> the jets' values in ``variables`` order: trigcomp.data with the command's preset or mapping)."""
    tables = [Path(p).suffix.lower() in TABLE_SUFFIXES for p in paths]
    if all(tables):
        return np.concatenate([_read_table(Path(p), variables) for p in paths])
    if any(tables):
        raise UserError("give either tables (.npy, .csv, .parquet) or ROOT files, not both")
    not_jet = [name for name in variables if name not in KNOWN_VARIABLES]
    if not_jet:
        raise UserError(
            f"the model's inputs ({', '.join(not_jet[:3])}, ...) are not jet variables, so no ROOT jets can feed "
            "it: give --data FILE.npy/.csv/.parquet with those columns, or import the model with --names pt,eta,..."
        )
    return read_jets(paths)
