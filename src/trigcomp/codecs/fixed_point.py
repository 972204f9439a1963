"""Per-variable fixed point: each variable gets b_v bits, uniform over a range, linear or in log x.

Two ways to choose the fields:

* **At a budget** (``fit_budgets``, the equal-bit baseline of ``evaluate``): the range is the full training range
  [min, max] -- never a quantile clip, which hides the rare large values and makes a misleading floor -- and the
  split of B bits between variables minimises the total normalised MSE on the training jets, by exact dynamic
  programming (a one-bit-at-a-time greedy fails: a 1-bit quantizer can be worse than sending nothing, so such a
  variable would never get its first bit). Each variable with strictly positive training values is also tried
  companded (uniform in log x); the better of linear/log is kept for each bit count.
* **At physics targets** (``fit_targets``): the range is set by physics (``physics.PHYSICS_RANGES``: what the board
  can see), and each variable gets the fewest bits, over its log and linear codings, whose worst target ratio on the
  training jets (overall and in every full pt bin) is <= 1. The energy fractions sum to 1, which two options exploit
  when they cost fewer bits in total: one fraction sent with no bits at all and decoded as the remainder
  1 - (sum of the others), or all of them coded jointly as a point of the simplex lattice (``simplex``).

Values outside the range saturate to its edge and are counted. Decoding is the mid-point of the bin in the companded
domain (the geometric mid-point of a log bin, which keeps relative residuals unbiased), so a board or an offline
decoder needs the bin edges alone. Integer variables (nConstituents) are binned over their integer values and decode
to the middle integer of the bin, exactly once 2^b covers the range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..errors import UserError
from ..targets import Targets
from .base import (
    Encoding,
    PerVariableCodec,
    allocate_bits,
    as_table,
    check_budget,
    check_variables,
    record_from_json,
)
from .physics import ENERGY_FRACTIONS, MAX_TARGET_BITS, TargetScorer, cheapest_passing, physics_ranges
from .simplex import MAX_LEVELS, SUM_TOLERANCE, SimplexField

#: Yosys synth_xilinx LUTs of a comparator ladder on a 21-bit input word (firmware/rtl/codec/trigcomp_codec.v): per
#: comparator (evenly spaced linear thresholds share more logic than log ones) and per code bit, fitted by
#: benchmarks/calibrate_codec_area.py.
LUTS_PER_COMPARATOR = {"linear": 1.017, "log": 2.823}
LUTS_PER_CODE_BIT = 10.583

#: Most bits one variable may get in fixed point.
MAX_FIXED_POINT_BITS = 24


@dataclass(frozen=True)
class FixedPointField:
    """How one variable is sent in fixed point: ``bits`` bits uniform over [low, high], linear or in log x."""

    variable: str
    bits: int
    companding: str  # "linear" | "log"
    low: float
    high: float
    mean: float  # decoded value when bits == 0
    integer: bool

    def encode(self, column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bin indices (int64, 0 .. 2^bits - 1) and a mask of the values saturated to the range."""
        if self.integer:
            column = np.rint(column)
        saturated = (column < self.low) | (column > self.high)
        if self.bits == 0:
            return np.zeros(column.shape, dtype=np.int64), saturated
        levels = 1 << self.bits
        clipped = np.clip(column, self.low, self.high)
        if self.integer:
            offset = (clipped - self.low).astype(np.int64)
            return (offset << self.bits) // self._integer_count, saturated
        lo, span = self._domain()
        if span == 0:
            return np.zeros(column.shape, dtype=np.int64), saturated
        position = (self._compand(clipped) - lo) / span * levels
        return np.clip(np.floor(position).astype(np.int64), 0, levels - 1), saturated

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """Mid-point of each bin in the companded domain (integer variables: the middle integer of the bin)."""
        if self.bits == 0:
            value = round(self.mean) if self.integer else self.mean
            return np.full(indices.shape, float(value))
        if self.integer:
            count = self._integer_count
            first = (indices * count + (1 << self.bits) - 1) >> self.bits  # ceil(k * count / 2^b)
            last = (((indices + 1) * count + (1 << self.bits) - 1) >> self.bits) - 1
            return self.low + ((first + last) // 2).astype(np.float64)
        lo, span = self._domain()
        return self._expand(lo + (indices + 0.5) * (span / (1 << self.bits)))

    def roundtrip(self, column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        indices, saturated = self.encode(column)
        return self.decode(indices), saturated

    @property
    def _integer_count(self) -> int:
        return round(self.high - self.low) + 1

    def _domain(self) -> tuple[float, float]:
        lo, hi = self._compand(np.array([self.low, self.high]))
        return float(lo), float(hi - lo)

    def _compand(self, values: np.ndarray) -> np.ndarray:
        return np.log(values) if self.companding == "log" else values

    def _expand(self, values: np.ndarray) -> np.ndarray:
        return np.exp(values) if self.companding == "log" else values

    def area_luts(self) -> int:
        """Every field is a comparator ladder on the board (``codec_hls``): 2^bits - 1 constant comparators and a
        thermometer-to-binary encoder; LUTs per comparator and per code bit fitted on Yosys runs."""
        if self.bits == 0:
            return 0
        comparators = (1 << self.bits) - 1
        return math.ceil(LUTS_PER_COMPARATOR[self.companding] * comparators + LUTS_PER_CODE_BIT * self.bits)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FixedPointField:
        field = record_from_json(cls, raw, "fixed-point field")
        if field.companding not in ("linear", "log") or not 0 <= field.bits <= 32 or not field.low <= field.high:
            raise UserError(f"fixed-point field {field.variable}: bad bits, companding or range: {raw!r}")
        if field.companding == "log" and field.low <= 0:
            raise UserError(f"fixed-point field {field.variable}: log companding needs low > 0, got {field.low}")
        return field


def _integer_flags(train: np.ndarray, variables: tuple[str, ...], integer_variables) -> np.ndarray:
    """Which variables decode to integers: given by name, or (None) those integral on all training jets."""
    if integer_variables is None:
        return np.all(train == np.rint(train), axis=0)
    unknown = set(integer_variables) - set(variables)
    if unknown:
        raise UserError(f"integer variables not among the variables: {', '.join(sorted(unknown))}")
    return np.array([v in integer_variables for v in variables])


class _FixedPointDesign:
    """Training statistics and the distortion table D[v, b] (normalised MSE on training jets, best companding)."""

    def __init__(self, train: np.ndarray, variables: tuple[str, ...], max_bits: int, integer_variables) -> None:
        if isinstance(max_bits, bool) or not isinstance(max_bits, (int, np.integer)) or not 1 <= max_bits <= 32:
            raise UserError(f"bits per variable must be an integer in 1..32, got {max_bits!r}")
        self.variables = variables
        integer = _integer_flags(train, variables, integer_variables)
        variance = np.var(train, axis=0)
        weight = np.where(variance > 0, 1.0 / np.where(variance > 0, variance, 1.0), 0.0)
        self.fields: list[list[FixedPointField]] = []
        self.distortion = np.empty((len(variables), max_bits + 1))
        for v, name in enumerate(variables):
            column = train[:, v]
            low, high = float(column.min()), float(column.max())
            if integer[v]:
                low, high = float(round(low)), float(round(high))
            companding = ("linear", "log") if low > 0 and not integer[v] else ("linear",)
            best_fields = []
            for bits in range(max_bits + 1):
                # with 0 bits the decoded value is the mean whatever the companding
                trials = [
                    FixedPointField(name, bits, c, low, high, float(column.mean()), bool(integer[v]))
                    for c in (companding if bits else ("linear",))
                ]
                errors = [np.mean((f.roundtrip(column)[0] - column) ** 2) * weight[v] for f in trials]
                best_fields.append(trials[int(np.argmin(errors))])
                self.distortion[v, bits] = min(errors)
            self.fields.append(best_fields)

    def codec(self, bits: Sequence[int], budget: int) -> FixedPointCodec:
        fields = tuple(self.fields[v][b] for v, b in enumerate(bits))
        train_nmse = float(np.sum(self.distortion[np.arange(len(bits)), bits]))
        return FixedPointCodec(variables=self.variables, fields=fields, budget=budget, train_nmse=train_nmse)


@dataclass(frozen=True)
class FixedPointCodec(PerVariableCodec):
    """Per-variable uniform fixed point (one field per variable; a remainder fraction is a 0-bit field)."""

    kind: ClassVar[str] = "fixed_point"
    label: ClassVar[str] = "per-variable fixed point"
    firmware: ClassVar[str] = "trigcomp hls --codec"
    field_type: ClassVar[type] = FixedPointField
    area_note: ClassVar[str] = (
        "Yosys-fitted: per field a ladder of 2^bits - 1 comparators; the lattice field's datapath (residual in the README)"
    )

    remainder: str | None = None  # an energy fraction decoded as 1 - sum(remainder_of)
    remainder_of: tuple[str, ...] = ()
    simplex: SimplexField | None = None  # fractions sent jointly in one extra field (their own fields have 0 bits)

    # ------------------------------------------------------------------------------------------ fitting

    @classmethod
    def fit(
        cls,
        train: np.ndarray,
        variables: Sequence[str],
        bits_per_jet: int,
        *,
        max_bits: int = MAX_FIXED_POINT_BITS,
        integer_variables: Sequence[str] | None = None,
    ) -> FixedPointCodec:
        """The allocation of at most ``bits_per_jet`` bits with the least total NMSE on ``train``."""
        return cls.fit_budgets(
            train, variables, (bits_per_jet,), max_bits=max_bits, integer_variables=integer_variables
        )[0]

    @classmethod
    def fit_budgets(
        cls,
        train: np.ndarray,
        variables: Sequence[str],
        budgets: Sequence[int],
        *,
        max_bits: int = MAX_FIXED_POINT_BITS,
        integer_variables: Sequence[str] | None = None,
    ) -> list[FixedPointCodec]:
        """One codec per budget; the distortion table is measured once."""
        variables = check_variables(variables)
        budgets = [check_budget(b) for b in budgets]
        design = _FixedPointDesign(as_table(train, variables, "training"), variables, max_bits, integer_variables)
        # sending nothing is always allowed, so every budget has an allocation
        return [design.codec(allocate_bits(design.distortion, b)[0], b) for b in budgets]

    @classmethod
    def from_bits(
        cls,
        train: np.ndarray,
        variables: Sequence[str],
        bits: Sequence[int],
        *,
        integer_variables: Sequence[str] | None = None,
    ) -> FixedPointCodec:
        """A codec with a given number of bits per variable (companding still chosen on ``train``)."""
        variables = check_variables(variables)
        bits = [check_budget(b) for b in bits]
        if len(bits) != len(variables):
            raise UserError(f"need one bit count per variable ({len(variables)}), got {len(bits)}")
        design = _FixedPointDesign(
            as_table(train, variables, "training"), variables, max(max(bits), 1), integer_variables
        )
        return design.codec(bits, sum(bits))

    @classmethod
    def fit_targets(
        cls,
        train: np.ndarray | Sequence[np.ndarray],
        variables: Sequence[str],
        targets: Targets,
        *,
        fraction_relations: Sequence[str] = ("remainder", "simplex"),
        max_bits: int = MAX_TARGET_BITS,
        margin: float = 1.0,
    ) -> FixedPointCodec | None:
        """The fewest bits per variable meeting ``targets`` on ``train`` (worst ratio <= ``margin``), or None.

        ``train``: one array of jets, or several (e.g. one per process), each of which must meet the targets.
        Variables without a target get 0 bits (decoded as their training mean). ``fraction_relations``: how the
        energy fractions' sum may be used, whichever saves the most bits -- "remainder" (one fraction decoded as
        1 - the sum of the others) and "simplex" (all of them coded jointly on the simplex lattice).
        """
        search = _TargetSearch(TargetScorer(train, variables, targets), max_bits, margin)
        fields = search.fields_per_variable()
        if fields is None:
            return None
        codec = cls(
            variables=search.variables, fields=tuple(fields), budget=sum(f.bits for f in fields), targets=targets.name
        )
        unknown = set(fraction_relations) - {"remainder", "simplex"}
        if unknown:
            raise UserError(f"unknown fraction relations {sorted(unknown)}; known: remainder, simplex")
        candidates = [codec] + [getattr(search, f"with_{relation}")(codec) for relation in fraction_relations]
        return min(candidates, key=lambda c: c.bits_per_jet)

    # ------------------------------------------------------------------------------------------ the interface

    @property
    def field_names(self) -> tuple[str, ...]:
        return self.variables + (("+".join(self.simplex.variables),) if self.simplex else ())

    @property
    def field_bits(self) -> tuple[int, ...]:
        return super().field_bits + ((self.simplex.bits,) if self.simplex else ())

    def encode(self, x: np.ndarray) -> Encoding:
        codes, saturated = super().encode(x)
        if self.simplex is None:
            return Encoding(codes, saturated)
        columns = [self.variables.index(v) for v in self.simplex.variables]
        ranks, clamped = self.simplex.encode(np.asarray(x, dtype=np.float64)[:, columns])
        return Encoding(np.column_stack([codes, ranks]), np.append(saturated, int(clamped.sum())))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        x_hat = super().decode(codes)
        if self.remainder is not None:
            parts = [self.variables.index(p) for p in self.remainder_of]
            x_hat[:, self.variables.index(self.remainder)] = np.clip(1.0 - x_hat[:, parts].sum(axis=1), 0.0, 1.0)
        if self.simplex is not None:
            columns = [self.variables.index(v) for v in self.simplex.variables]
            x_hat[:, columns] = self.simplex.decode(np.asarray(codes)[:, -1])
        return x_hat

    def area_estimate(self) -> dict[str, Any]:
        estimate = super().area_estimate()
        if self.simplex is not None:
            estimate["luts"] += self.simplex.area_luts()
        return estimate

    def to_json(self) -> dict[str, Any]:
        return super().to_json() | {
            "remainder": self.remainder,
            "remainder_of": list(self.remainder_of),
            "simplex": None if self.simplex is None else self.simplex.to_json(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FixedPointCodec:
        remainder, remainder_of = raw.get("remainder"), tuple(raw.get("remainder_of", ()))
        variables = raw.get("variables") or ()
        if remainder is not None and (remainder not in variables or not set(remainder_of) <= set(variables)):
            raise UserError(f"fixed-point codec: remainder {remainder} of {remainder_of} is not among the variables")
        simplex = SimplexField.from_json(raw["simplex"]) if raw.get("simplex") else None
        if simplex is not None and not set(simplex.variables) <= set(variables):
            raise UserError(f"fixed-point codec: simplex fractions {simplex.variables} are not among the variables")
        return super().from_json(raw, remainder=remainder, remainder_of=remainder_of, simplex=simplex)


class _TargetSearch:
    """The target-driven choice of fields: per variable alone, then the energy-fraction remainder."""

    def __init__(self, scorer: TargetScorer, max_bits: int, margin: float):
        self.scorer, self.max_bits, self.margin = scorer, max_bits, margin
        self.variables, self.targets, self.train = scorer.variables, scorer.targets, scorer.train
        self.ratio = scorer.ratio

    def _decoded(self, field: FixedPointField) -> np.ndarray:
        return field.roundtrip(self.scorer.column(field.variable))[0]

    def fields_per_variable(self) -> list[FixedPointField] | None:
        fields = []
        for v, name in enumerate(self.variables):
            column = self.train[:, v]
            codings = physics_ranges(name, column)
            mean = float(column.mean())
            first = codings[0]
            nothing = FixedPointField(name, 0, first.companding, first.low, first.high, mean, first.integer)
            if name not in self.targets.variables:
                fields.append(nothing)
                continue
            options = [(0, nothing)] + [
                (bits, FixedPointField(name, bits, c.companding, c.low, c.high, mean, c.integer))
                for c in codings
                for bits in range(1, self.max_bits + 1)
            ]
            found = cheapest_passing(options, lambda f: self.ratio(f.variable, self._decoded(f)), self.margin)
            if found is None:
                return None
            fields.append(found[0])
        return fields

    def _fractions(self) -> list[str]:
        return [v for v in self.variables if v in ENERGY_FRACTIONS]

    def _fraction_sums(self) -> np.ndarray:
        return self.train[:, [self.variables.index(f) for f in self._fractions()]].sum(axis=1)

    def with_simplex(self, codec: FixedPointCodec) -> FixedPointCodec:
        """``codec`` with the energy fractions coded jointly on the simplex lattice with the fewest levels meeting
        their targets (or ``codec`` when there is nothing to gain)."""
        fractions = self._fractions()
        if len(fractions) < 2 or np.any(self._fraction_sums() > 1 + SUM_TOLERANCE):
            return codec
        slack = bool(np.any(self._fraction_sums() < 1 - SUM_TOLERANCE))
        columns = [self.variables.index(f) for f in fractions]
        targeted = [f for f in fractions if f in self.targets.variables]
        for levels in range(1, MAX_LEVELS + 1):
            field = SimplexField(tuple(fractions), levels, slack)
            if field.bits >= sum(codec.fields[c].bits for c in columns):
                return codec
            decoded = field.decode(field.encode(self.train[:, columns])[0])
            if all(self.ratio(f, decoded[:, fractions.index(f)]) <= self.margin for f in targeted):
                fields = tuple(replace(f, bits=0) if f.variable in fractions else f for f in codec.fields)
                return replace(codec, fields=fields, budget=sum(f.bits for f in fields) + field.bits, simplex=field)
        return codec

    def with_remainder(self, codec: FixedPointCodec) -> FixedPointCodec:
        """The cheapest codec with one energy fraction sent as the remainder of the others (or ``codec``)."""
        fractions = self._fractions()
        if len(fractions) < 2 or np.any(self._fraction_sums() > 1 + SUM_TOLERANCE):
            return codec
        best = codec
        for remainder in fractions:
            if remainder not in self.targets.variables:
                continue
            trial = self._remainder_codec(codec, remainder, [f for f in fractions if f != remainder])
            if trial is not None and trial.bits_per_jet < best.bits_per_jet:
                best = trial
        return best

    def _remainder_codec(self, codec: FixedPointCodec, remainder: str, parts: list[str]) -> FixedPointCodec | None:
        """Greedy: add a bit to the part that helps the remainder most until it meets its target, then drop every
        bit that is not needed."""
        fields = {f.variable: f for f in codec.fields}
        decoded = {p: self._decoded(fields[p]) for p in parts}

        def remainder_ratio(candidate: dict[str, np.ndarray]) -> float:
            return self.ratio(remainder, np.clip(1.0 - sum(candidate.values()), 0.0, 1.0))

        def own_ratio(field: FixedPointField, values: np.ndarray) -> float:
            return self.ratio(field.variable, values) if field.variable in self.targets.variables else 0.0

        ratio = remainder_ratio(decoded)
        for _ in range(2 * len(parts) + 4):
            if ratio <= self.margin:
                break
            steps = []
            for p in parts:
                if fields[p].bits < self.max_bits:
                    finer = replace(fields[p], bits=fields[p].bits + 1)
                    values = self._decoded(finer)
                    steps.append((remainder_ratio(decoded | {p: values}), p, finer, values))
            if not steps:
                break
            ratio, p, fields[p], decoded[p] = min(steps, key=lambda s: s[0])
        if ratio > self.margin:
            return None
        pruned = True
        while pruned:
            pruned = False
            for p in parts:
                if fields[p].bits == 0:
                    continue
                coarser = replace(fields[p], bits=fields[p].bits - 1)
                values = self._decoded(coarser)
                trial = decoded | {p: values}
                if own_ratio(coarser, values) <= self.margin and remainder_ratio(trial) <= self.margin:
                    fields[p], decoded, pruned = coarser, trial, True
        fields[remainder] = replace(fields[remainder], bits=0)
        new_fields = tuple(fields[v] for v in self.variables)
        return replace(
            codec,
            fields=new_fields,
            budget=sum(f.bits for f in new_fields),
            remainder=remainder,
            remainder_of=tuple(parts),
        )
