"""Energy fractions coded jointly: one field holding a point of the simplex lattice {q / N : q integer, sum q = N}.

The fractions of a jet sum to 1 (or to at most 1: then a ``slack`` part 1 - sum is added), so they live on a simplex
and coding each on its own wastes the codes of impossible combinations. Rounding to the nearest lattice point (floor,
then the missing units to the largest remainders) keeps every fraction within 1/N, sends exact zeros exactly, and
the lattice has C(N + k - 1, k - 1) points for k parts: the field is the point's rank in the combinatorial number
system (stars and bars), ceil(log2(count)) bits. Values outside [0, 1], or fractions not summing to 1 (more than
1 without slack) are clamped and counted.

The rounding is done in exact integer arithmetic on a 2^-24 grid (``GRID_BITS``): fractions are rounded to it, then
scaled, floored and ranked by their integer remainders, so a board whose input type has at most 24 fractional bits
computes the same lattice point with integer adders, dividers and comparators (``firmware/codec/trigcomp_codec.h``):
the floor and the order of the remainders do not change when every share is scaled by the same power of two.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import UserError

#: A jet's fractions may miss a sum of 1 by this much (float32 rounding) before it counts as clamped.
SUM_TOLERANCE = 1e-3
MAX_LEVELS = 4096
#: Fractions are rounded to multiples of 2^-GRID_BITS before the exact integer rounding onto the lattice.
GRID_BITS = 24
#: Fractional bits of the board's default input types (ap_fixed<20,12>, ap_fixed<21,13>), for the area model.
INPUT_FRACTIONAL_BITS = 8
#: Yosys synth_xilinx LUTs per datapath unit, fitted by benchmarks/calibrate_codec_area.py.
LUTS_PER_LATTICE_UNIT = 1.898


@dataclass(frozen=True)
class SimplexField:
    variables: tuple[str, ...]  # the fractions, in the codec's variable order
    levels: int  # N: every fraction is a multiple of 1/N
    slack: bool  # a hidden part 1 - sum, for fractions summing to less than 1

    @property
    def parts(self) -> int:
        return len(self.variables) + int(self.slack)

    @property
    def count(self) -> int:
        return math.comb(self.levels + self.parts - 1, self.parts - 1)

    @property
    def bits(self) -> int:
        return max(1, math.ceil(math.log2(self.count)))

    def _binomials(self) -> np.ndarray:
        """table[c, j] = C(c, j) for c < N + parts - 1, j < parts."""
        rows = self.levels + self.parts - 1
        return np.array([[math.comb(c, j) for j in range(self.parts)] for c in range(rows)], dtype=np.int64)

    def encode(self, fractions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lattice ranks (int64) and the mask of jets whose fractions were clamped or renormalised."""
        fractions = np.asarray(fractions, dtype=np.float64)
        clipped = np.clip(fractions, 0.0, 1.0)
        total = clipped.sum(axis=1)
        saturated = np.any(clipped != fractions, axis=1) | (total > 1 + SUM_TOLERANCE)
        if not self.slack:
            saturated |= total < 1 - SUM_TOLERANCE
        shares = np.rint(clipped * (1 << GRID_BITS)).astype(np.int64)
        if self.slack:
            shares = np.column_stack([shares, np.maximum((1 << GRID_BITS) - shares.sum(axis=1), 0)])
        units = self.lattice_units(shares)
        positions = np.cumsum(units[:, :-1], axis=1) + np.arange(self.parts - 1)  # strictly increasing
        binomials = self._binomials()
        ranks = sum(binomials[positions[:, j], j + 1] for j in range(self.parts - 1))
        return np.asarray(ranks, dtype=np.int64), saturated

    def lattice_units(self, shares: np.ndarray) -> np.ndarray:
        """Integer shares (jets, parts) -> lattice units summing to ``levels``: floor(share * N / total), then one
        unit each to the largest remainders (ties: the first part); all-zero shares count as equal ones."""
        shares = np.where(shares.sum(axis=1, keepdims=True) > 0, shares, 1)
        total = shares.sum(axis=1, keepdims=True)
        units, remainders = np.divmod(shares * self.levels, total)
        missing = self.levels - units.sum(axis=1)
        order = np.argsort(-remainders, axis=1, kind="stable")
        rows = np.arange(len(units))
        for k in range(self.parts):
            units[rows, order[:, k]] += missing > k
        return units

    def decode(self, ranks: np.ndarray) -> np.ndarray:
        """Fractions (jets, len(variables)) of the lattice points with these ranks."""
        remaining = np.asarray(ranks, dtype=np.int64).copy()
        binomials = self._binomials()
        positions = np.zeros((len(remaining), self.parts - 1), dtype=np.int64)
        for j in range(self.parts - 1, 0, -1):  # greedy: the largest c with C(c, j) <= rank
            positions[:, j - 1] = np.searchsorted(binomials[:, j], remaining, side="right") - 1
            remaining -= binomials[positions[:, j - 1], j]
        cumulative = positions - np.arange(self.parts - 1)
        edges = np.column_stack(
            [np.zeros(len(cumulative), dtype=np.int64), cumulative, np.full(len(cumulative), self.levels)]
        )
        return (np.diff(edges, axis=1) / self.levels)[:, : len(self.variables)]

    def datapath_units(self, fractional_bits: int = INPUT_FRACTIONAL_BITS) -> int:
        """Bit slices of the firmware's lattice datapath (``firmware/rtl/codec/trigcomp_codec.v``) on an input with
        ``fractional_bits``: clipping and the total, share * N as shift-adds, the restoring division (a
        compare-subtract per quotient bit), a comparator per remainder pair, a binomial table and adder per boundary.
        """
        share = fractional_bits + 1 + math.ceil(math.log2(self.parts))
        quotient = self.levels.bit_length()
        product = share + quotient
        rows = self.levels + self.parts - 1
        pairs = self.parts * (self.parts - 1) // 2
        return (
            self.parts * share
            + self.parts * product * (self.levels.bit_count() - 1)
            + self.parts * quotient * product
            + pairs * share
            + (self.parts - 1) * self.bits * (1 + math.ceil(rows / 32))
        )

    def area_luts(self, fractional_bits: int = INPUT_FRACTIONAL_BITS) -> int:
        """Yosys LUTs of the lattice field: its datapath units times a factor fitted on Yosys runs."""
        return math.ceil(LUTS_PER_LATTICE_UNIT * self.datapath_units(fractional_bits))

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"variables": list(self.variables), "bits": self.bits}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SimplexField:
        try:
            field = cls(tuple(str(v) for v in raw["variables"]), int(raw["levels"]), bool(raw["slack"]))
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"simplex field {raw!r}: missing or bad key {err}") from None
        if not 1 <= field.levels <= MAX_LEVELS or field.parts < 2:
            raise UserError(f"simplex field: 1..{MAX_LEVELS} levels and at least 2 parts, got {raw!r}")
        return field
