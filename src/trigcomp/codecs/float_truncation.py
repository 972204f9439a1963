"""Float truncation: per variable a small float, [sign] + exponent + mantissa bits (the float-truncation prior work).

IEEE-like with subnormals and no inf/NaN codes: field value 0 of the exponent is the subnormal binade, the top
exponent value is a normal binade. The mantissa is rounded to nearest (ties to even); values beyond the largest
float (or negative ones without a sign bit) are clamped and counted.

Two ways to choose the fields:

* **At a budget** (``fit_budgets``, the equal-bit baseline of ``evaluate``): a sign bit only if the training minimum is
  negative, e = 2..8 exponent bits (8 is float32's, which wastes bits on jet variables), m = 0..23 mantissa bits; the
  exponent bias puts the top binade at the binade of the training maximum of |x| (or one higher, when that rounds the
  maximum better). e and m are split between variables by the same exact dynamic programming as fixed point; every
  variable needs at least sign + 2 bits, so smaller budgets are impossible (``fit`` returns None).
* **At physics targets** (``fit_targets``): the top binade is that of the physics range's maximum (``physics``), a
  sign bit when the range has negative values, and per variable the fewest sign + e + m bits (e = 1..8, at most 16
  in all) whose worst target ratio on the training jets is <= 1.
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
    INPUT_WORD_BITS,
    PerVariableCodec,
    allocate_bits,
    as_table,
    check_budget,
    check_variables,
    record_from_json,
)
from .physics import MAX_TARGET_BITS, TargetScorer, cheapest_passing, physics_ranges

#: Exponent widths tried for the float baseline (8 is float32's, which wastes bits on jet variables).
FLOAT_EXPONENT_BITS = range(2, 9)
#: Exponent widths tried for the target-driven floats (1: one normal binade plus the subnormal one).
TARGET_EXPONENT_BITS = range(1, 9)
#: Most mantissa bits: float32 precision.
MAX_MANTISSA_BITS = 23


@dataclass(frozen=True)
class FloatField:
    """How one variable is sent as a small float: [sign] + exponent_bits + mantissa_bits."""

    variable: str
    sign: bool
    exponent_bits: int
    mantissa_bits: int
    top_exponent: int  # unbiased exponent of the top binade

    @property
    def bits(self) -> int:
        return int(self.sign) + self.exponent_bits + self.mantissa_bits

    @property
    def bias(self) -> int:
        """Exponent bias of the stored field (field value 0 is the subnormal binade, as in IEEE 754)."""
        return (1 << self.exponent_bits) - 1 - self.top_exponent

    @property
    def lowest_normal(self) -> int:
        """Unbiased exponent of the lowest normal binade."""
        return self.top_exponent - ((1 << self.exponent_bits) - 2)

    @property
    def largest(self) -> float:
        return math.ldexp(2.0 - 2.0**-self.mantissa_bits, self.top_exponent)

    def encode(self, column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Codes sign | exponent field | mantissa (int64) and the mask of values clamped by the format."""
        column = np.asarray(column, dtype=np.float64)
        magnitude = np.abs(column) if self.sign else np.maximum(column, 0.0)
        saturated = magnitude > self.largest
        if not self.sign:
            saturated |= column < 0
        m = self.mantissa_bits
        _, exponent = np.frexp(magnitude)  # magnitude = f * 2^exponent, f in [0.5, 1)
        binade = np.maximum(exponent - 1, self.lowest_normal)  # subnormals share the lowest normal binade's step
        rounded = np.minimum(np.rint(np.ldexp(magnitude, m - binade)) * np.ldexp(1.0, binade - m), self.largest)
        # rounding can carry into the next binade: take the exponent of the rounded value
        _, exponent = np.frexp(rounded)
        normal = (rounded > 0) & (exponent - 1 >= self.lowest_normal)
        binade = np.where(normal, exponent - 1, self.lowest_normal)
        exponent_field = np.where(normal, binade - self.lowest_normal + 1, 0).astype(np.int64)
        mantissa = np.rint(np.ldexp(rounded, m - binade)).astype(np.int64) - np.where(normal, 1 << m, 0)
        codes = (exponent_field << m) | mantissa
        if self.sign:
            codes |= np.signbit(column).astype(np.int64) << (self.exponent_bits + m)
        return codes, saturated

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes, dtype=np.int64)
        m = self.mantissa_bits
        mantissa = codes & ((1 << m) - 1)
        exponent_field = (codes >> m) & ((1 << self.exponent_bits) - 1)
        normal = exponent_field > 0
        significand = np.where(normal, mantissa + (1 << m), mantissa).astype(np.float64)
        binade = np.where(normal, exponent_field - 1 + self.lowest_normal, self.lowest_normal)
        value = np.ldexp(significand, binade - m)
        if self.sign:
            value = np.where((codes >> (self.exponent_bits + m)) & 1, -value, value)
        return value

    def roundtrip(self, column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Round to the nearest representable value; returns it and the mask of values clamped by the format."""
        codes, saturated = self.encode(column)
        return self.decode(codes), saturated

    def area_luts(self, word_bits: int = INPUT_WORD_BITS) -> int:
        """Leading-one detector, a barrel shifter (log2 W stages of W muxes) and the rounding adder."""
        if self.bits == 0:
            return 0
        return word_bits + math.ceil(word_bits * math.log2(word_bits) / 2) + self.mantissa_bits + self.exponent_bits

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"bits": self.bits, "bias": self.bias}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FloatField:
        field = record_from_json(cls, raw, "float field")
        if not 1 <= field.exponent_bits <= 11 or not 0 <= field.mantissa_bits <= 52:
            raise UserError(f"float field {field.variable}: exponent bits 1..11, mantissa bits 0..52: {raw!r}")
        return field


class _FloatDesign:
    """Distortion table F[v, c]: least training NMSE of variable v over (e, m) with sign + e + m == c bits."""

    def __init__(self, train: np.ndarray, variables: tuple[str, ...]) -> None:
        self.variables = variables
        variance = np.var(train, axis=0)
        weight = np.where(variance > 0, 1.0 / np.where(variance > 0, variance, 1.0), 0.0)
        max_cost = 1 + max(FLOAT_EXPONENT_BITS) + MAX_MANTISSA_BITS
        self.distortion = np.full((len(variables), max_cost + 1), np.inf)
        self.fields: list[dict[int, FloatField]] = []
        for v, name in enumerate(variables):
            column = train[:, v]
            sign = bool(column.min() < 0)
            magnitude = np.abs(column)
            peak = float(magnitude.max())
            binade = math.frexp(peak)[1] - 1 if peak > 0 else 0
            smallest_binade = int(np.frexp(magnitude[magnitude > 0].min())[1]) - 1 if peak > 0 else 0
            by_cost: dict[int, FloatField] = {}
            for exponent_bits in FLOAT_EXPONENT_BITS:
                for mantissa_bits in range(MAX_MANTISSA_BITS + 1):
                    field = FloatField(name, sign, exponent_bits, mantissa_bits, binade)
                    # if the training maximum exceeds the largest float, also try the bias one binade higher: it
                    # loses the lowest binade, saturating the top ones may cost more
                    trials = [field, replace(field, top_exponent=binade + 1)] if peak > field.largest else [field]
                    for trial in trials:
                        error = np.mean((trial.roundtrip(column)[0] - column) ** 2) * weight[v]
                        if error < self.distortion[v, trial.bits]:
                            self.distortion[v, trial.bits] = error
                            by_cost[trial.bits] = trial
                if binade + 1 - ((1 << exponent_bits) - 2) <= smallest_binade:
                    break  # the normal binades cover every training value: wider exponents only cost bits
            self.fields.append(by_cost)

    def codec(self, budget: int) -> FloatMantissaCodec | None:
        found = allocate_bits(self.distortion, budget)
        if found is None:
            return None
        bits, train_nmse = found
        fields = tuple(self.fields[v][int(b)] for v, b in enumerate(bits))
        return FloatMantissaCodec(variables=self.variables, fields=fields, budget=budget, train_nmse=train_nmse)


@dataclass(frozen=True)
class FloatMantissaCodec(PerVariableCodec):
    """Per-variable small floats (sign?, e exponent bits, m mantissa bits)."""

    kind: ClassVar[str] = "float_mantissa"
    label: ClassVar[str] = "float, cut mantissa"
    firmware: ClassVar[str] = "trigcomp hls --codec"
    field_type: ClassVar[type] = FloatField
    area_note: ClassVar[str] = "per field: leading-one detector, barrel shifter, rounding adder"

    @classmethod
    def fit(cls, train: np.ndarray, variables: Sequence[str], bits_per_jet: int) -> FloatMantissaCodec | None:
        """The best per-variable floats within ``bits_per_jet`` bits, or None if the budget cannot hold them."""
        return cls.fit_budgets(train, variables, (bits_per_jet,))[0]

    @classmethod
    def fit_budgets(
        cls, train: np.ndarray, variables: Sequence[str], budgets: Sequence[int]
    ) -> list[FloatMantissaCodec | None]:
        variables = check_variables(variables)
        budgets = [check_budget(b) for b in budgets]
        design = _FloatDesign(as_table(train, variables, "training"), variables)
        return [design.codec(b) for b in budgets]

    @classmethod
    def fit_targets(
        cls,
        train: np.ndarray | Sequence[np.ndarray],
        variables: Sequence[str],
        targets: Targets,
        *,
        max_bits: int = MAX_TARGET_BITS,
        margin: float = 1.0,
    ) -> FloatMantissaCodec | None:
        """The fewest sign + exponent + mantissa bits (at most ``max_bits``) per variable meeting ``targets`` on
        ``train`` (one array of jets, or several that must each meet them), or None.

        Variables without a target are not sent (a 0-bit field is not a float): such codecs are refused.
        """
        scorer = TargetScorer(train, variables, targets)
        missing = [v for v in scorer.variables if v not in scorer.targets.variables]
        if missing:
            raise UserError(f"float codec at targets: no target for {', '.join(missing)}")
        fields = []
        for name in scorer.variables:
            column = scorer.column(name)
            codings = physics_ranges(name, column)
            low = min(c.low for c in codings)
            high = max(max(c.high, -c.low) for c in codings)
            top = math.frexp(high)[1] - 1
            options = [
                (field.bits, field)
                for e in TARGET_EXPONENT_BITS
                for m in range(MAX_MANTISSA_BITS + 1)
                for field in [FloatField(name, low < 0, e, m, top)]
                if field.bits <= max_bits
            ]
            found = cheapest_passing(options, lambda f, c=column: scorer.ratio(f.variable, f.roundtrip(c)[0]), margin)
            if found is None:
                return None
            fields.append(found[0])
        variables = scorer.variables
        return cls(variables, tuple(fields), sum(f.bits for f in fields), targets=targets.name)
