"""Bit-exact comparison of firmware outputs with the QKeras reference, shared by csim and rtl.

Outputs are compared as integer fixed-point words (value / LSB), never as floats with a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Comparison:
    jets: int
    mismatches: int  # jets with at least one output word different from the reference
    mismatch_indices: tuple[int, ...]  # the first few mismatching jets (row indices)
    max_lsb_vs_float: float  # max |firmware - float model| in output LSB
    mean_lsb_vs_float: float

    @property
    def first_mismatch(self) -> int | None:
        return self.mismatch_indices[0] if self.mismatch_indices else None


def _rows(values: np.ndarray) -> np.ndarray:
    """One row per jet, every output of the jet in it."""
    return np.asarray(values).reshape(len(values), -1)


def to_words(values: np.ndarray, lsb: float) -> np.ndarray:
    """Fixed-point values -> their integer words. Raises if a value is off the LSB grid."""
    scaled = np.asarray(values, dtype=np.float64) / lsb
    words = np.rint(scaled)
    off_grid = np.abs(scaled - words) > 1e-6
    if off_grid.any():
        row = int(np.argwhere(off_grid)[0][0])
        raise ValueError(f"value {_rows(values)[row]} of row {row} is not on the {lsb} grid")
    return words.astype(np.int64)


def lsb_distance(values: np.ndarray, float_model: np.ndarray, lsb: float) -> tuple[float, float]:
    """Max and mean |values - float model| in LSB (NaN for no rows)."""
    if not len(values):
        return float("nan"), float("nan")
    values = _rows(values)
    distance = np.abs(values - np.asarray(float_model).reshape(values.shape)) / lsb
    return float(distance.max()), float(distance.mean())


def compare_words(
    reference: np.ndarray,
    firmware: np.ndarray,
    lsb: float,
    float_model: np.ndarray | None = None,
    keep: int = 10,
) -> Comparison:
    """Compare firmware output with the quantized reference word by word (and with the float model in LSB)."""
    reference, firmware = _rows(reference), _rows(firmware)
    if reference.shape != firmware.shape:
        raise ValueError(f"shape mismatch: reference {reference.shape} vs firmware {firmware.shape}")
    differs = (to_words(reference, lsb) != to_words(firmware, lsb)).any(axis=1)
    bad = np.flatnonzero(differs)
    max_lsb, mean_lsb = lsb_distance(firmware, float_model, lsb) if float_model is not None else (np.nan, np.nan)
    return Comparison(
        jets=len(reference),
        mismatches=int(bad.size),
        mismatch_indices=tuple(int(i) for i in bad[:keep]),
        max_lsb_vs_float=float(max_lsb),
        mean_lsb_vs_float=float(mean_lsb),
    )
