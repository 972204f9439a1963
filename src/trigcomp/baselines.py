"""Equal-bits-per-jet baselines for the autoencoder: per-variable fixed point and floats with a cut mantissa.

The question the product answers is "at B bits per jet, does the autoencoder beat simply quantizing each variable?".
Both baselines spend the same B bits per jet and choose how to split them between variables by exact dynamic
programming over a distortion table measured on the training jets (a one-bit-at-a-time greedy fails: a 1-bit
quantizer can be worse than sending nothing, so such a variable would never get its first bit).

Distortion is the normalised MSE: per variable, MSE divided by that variable's variance, summed over variables.
Bit allocation normalises by the training variance; the reported test numbers by the test variance.

Fixed point (``FixedPointCodec``): variable v gets b_v bits (0 = send nothing, decode the training mean). The quantizer
is uniform over the full training range [min, max] -- never a quantile clip, which hides the rare large values and
makes a misleading floor -- with values outside saturated to the edge and counted. Each variable with strictly
positive training values is also tried companded (uniform in log x); the better of linear/log on the training jets is
kept for each bit count. Decoding is the mid-point of the bin in value space (not the conditional mean of the training
jets in the bin), so a board decodes with the bin edges alone. Integer variables (nConstituents) are binned over their
integer values and decode to an integer, exactly once 2^b covers the range.

Float (``FloatMantissaCodec``): per variable an optional sign bit (only if the training minimum is negative), e = 2..8
exponent bits and m = 0..23 mantissa bits, IEEE-like with subnormals and no inf/NaN codes. The exponent bias puts the
top binade at the binade of the training maximum of |x| (or one higher, when that rounds the maximum better: with few
mantissa bits the largest finite value can be below the maximum, and such values then saturate -- counted). The
mantissa is rounded to nearest (ties to even). e and m are chosen per variable by the same dynamic programming; every
variable needs at least sign + 2 bits, so smaller budgets are impossible (``fit`` returns None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from trigcomp.errors import UserError

#: Budgets (bits per jet) of the default rate-distortion scan.
DEFAULT_BUDGETS = (32, 48, 64, 96, 128, 160)
#: Most bits one variable may get in fixed point.
MAX_FIXED_POINT_BITS = 24
#: Exponent widths tried for the float baseline (8 is float32's, which wastes bits on jet variables).
FLOAT_EXPONENT_BITS = range(2, 9)
#: Most mantissa bits: float32 precision.
MAX_MANTISSA_BITS = 23


# ---------------------------------------------------------------------------------------------- metrics


def nmse_per_variable(x: np.ndarray, x_hat: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """MSE of each column divided by its variance; a zero-variance column counts 0 if exact, else inf."""
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    variance = np.asarray(variance, dtype=np.float64)
    if x.shape != x_hat.shape or x.ndim != 2 or variance.shape != (x.shape[1],):
        raise UserError(
            f"nmse needs two (jets, variables) arrays and one variance per variable, got shapes "
            f"{x.shape}, {x_hat.shape}, {variance.shape}"
        )
    mse = np.mean((x - x_hat) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(variance > 0, mse / np.where(variance > 0, variance, 1.0), np.where(mse == 0, 0.0, np.inf))


def total_nmse(x: np.ndarray, x_hat: np.ndarray, variance: np.ndarray) -> float:
    """Sum over variables of MSE / variance (the "total NMSE" of the baselines note)."""
    return float(np.sum(nmse_per_variable(x, x_hat, variance)))


# ---------------------------------------------------------------------------------------------- fields


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
        """Bin indices (int64, 0 .. 2^bits - 1) and a mask of the values saturated to the training range."""
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
        """Mid-point of each bin in value space (integer variables: the middle integer of the bin)."""
        if self.bits == 0:
            value = round(self.mean) if self.integer else self.mean
            return np.full(indices.shape, float(value))
        if self.integer:
            count = self._integer_count
            first = (indices * count + (1 << self.bits) - 1) >> self.bits  # ceil(k * count / 2^b)
            last = (((indices + 1) * count + (1 << self.bits) - 1) >> self.bits) - 1
            return self.low + ((first + last) // 2).astype(np.float64)
        lo, span = self._domain()
        width = span / (1 << self.bits)
        lower = self._expand(lo + indices * width)
        upper = self._expand(lo + (indices + 1) * width)
        return 0.5 * (lower + upper)

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

    def to_json(self) -> dict:
        return {
            "variable": self.variable,
            "bits": self.bits,
            "companding": self.companding,
            "low": self.low,
            "high": self.high,
            "integer": self.integer,
        }


@dataclass(frozen=True)
class FloatField:
    """How one variable is sent as a small float: [sign] + exponent_bits + mantissa_bits."""

    variable: str
    sign: bool
    exponent_bits: int
    mantissa_bits: int
    top_exponent: int  # unbiased exponent of the top binade: floor(log2(max |x| on training))

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

    def roundtrip(self, column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Round to the nearest representable value; returns it and the mask of values clamped by the format."""
        magnitude = np.abs(column) if self.sign else np.maximum(column, 0.0)
        saturated = magnitude > self.largest
        if not self.sign:
            saturated |= column < 0
        _, exponent = np.frexp(magnitude)  # magnitude = f * 2^exponent, f in [0.5, 1)
        binade = np.maximum(exponent - 1, self.lowest_normal)  # subnormals share the lowest normal binade's step
        step = np.ldexp(1.0, binade - self.mantissa_bits)
        rounded = np.minimum(np.rint(magnitude / step) * step, self.largest)
        return (np.copysign(rounded, column) if self.sign else rounded), saturated

    def to_json(self) -> dict:
        return {
            "variable": self.variable,
            "bits": self.bits,
            "sign": self.sign,
            "exponent_bits": self.exponent_bits,
            "mantissa_bits": self.mantissa_bits,
            "bias": self.bias,
        }


# ---------------------------------------------------------------------------------------------- allocation


def allocate_bits(distortion: np.ndarray, budget: int) -> tuple[np.ndarray, float] | None:
    """Exact minimum of sum_v distortion[v, b_v] subject to sum_v b_v <= budget (inf entries are not allowed).

    Returns the bits per variable (fewest total bits among equal optima) and the minimum, or None if no allocation
    within the budget has finite distortion.
    """
    n_vars, n_options = distortion.shape
    best = np.full(budget + 1, np.inf)  # best[c]: least distortion of the variables so far using exactly c bits
    best[0] = 0.0
    choices = np.zeros((n_vars, budget + 1), dtype=np.int64)
    bits = np.arange(n_options)
    used = np.arange(budget + 1)
    for v in range(n_vars):
        before = used[:, None] - bits[None, :]
        candidates = np.where(before >= 0, best[np.maximum(before, 0)] + distortion[v][None, :], np.inf)
        choices[v] = np.argmin(candidates, axis=1)
        best = candidates[used, choices[v]]
    total = int(np.argmin(best))
    if not np.isfinite(best[total]):
        return None
    allocation = np.zeros(n_vars, dtype=np.int64)
    for v in reversed(range(n_vars)):
        allocation[v] = choices[v, total]
        total -= allocation[v]
    return allocation, float(np.sum(distortion[np.arange(n_vars), allocation]))


# ---------------------------------------------------------------------------------------------- input checks


def _as_table(values: np.ndarray, variables: Sequence[str], what: str) -> np.ndarray:
    table = np.asarray(values, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != len(variables):
        raise UserError(f"{what} jets must be a (jets, {len(variables)} variables) array, got shape {table.shape}")
    if table.shape[0] < 2:
        raise UserError(f"{what} jets: need at least 2 jets, got {table.shape[0]}")
    bad = ~np.all(np.isfinite(table), axis=0)
    if np.any(bad):
        names = ", ".join(v for v, b in zip(variables, bad) if b)
        raise UserError(f"{what} jets have non-finite values in: {names}")
    return table


def _check_variables(variables: Sequence[str]) -> tuple[str, ...]:
    variables = tuple(variables)
    if not variables or len(set(variables)) != len(variables):
        raise UserError(f"variables must be a non-empty list of distinct names, got {variables}")
    return variables


def _check_budget(budget: int) -> int:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
        raise UserError(f"bits per jet must be a non-negative integer, got {budget!r}")
    return int(budget)


def _integer_flags(train: np.ndarray, variables: tuple[str, ...], integer_variables) -> np.ndarray:
    """Which variables decode to integers: given by name, or (None) those integral on all training jets."""
    if integer_variables is None:
        return np.all(train == np.rint(train), axis=0)
    unknown = set(integer_variables) - set(variables)
    if unknown:
        raise UserError(f"integer variables not among the variables: {', '.join(sorted(unknown))}")
    return np.array([v in integer_variables for v in variables])


# ---------------------------------------------------------------------------------------------- fixed point


class _FixedPointDesign:
    """Training statistics and the distortion table D[v, b] (normalised MSE on training jets, best companding)."""

    def __init__(self, train: np.ndarray, variables: tuple[str, ...], max_bits: int, integer_variables) -> None:
        if isinstance(max_bits, bool) or not isinstance(max_bits, (int, np.integer)) or not 1 <= max_bits <= 32:
            raise UserError(f"bits per variable must be an integer in 1..32, got {max_bits!r}")
        self.variables = variables
        self.train = train
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
class FixedPointCodec:
    """Per-variable uniform fixed point at a bit allocation chosen by dynamic programming."""

    variables: tuple[str, ...]
    fields: tuple[FixedPointField, ...]
    budget: int
    train_nmse: float  # total NMSE on the training jets (normalised by training variance): what the DP minimised

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
        variables = _check_variables(variables)
        budgets = [_check_budget(b) for b in budgets]
        design = _FixedPointDesign(_as_table(train, variables, "training"), variables, max_bits, integer_variables)
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
        variables = _check_variables(variables)
        bits = [_check_budget(b) for b in bits]
        if len(bits) != len(variables):
            raise UserError(f"need one bit count per variable ({len(variables)}), got {len(bits)}")
        design = _FixedPointDesign(
            _as_table(train, variables, "training"), variables, max(max(bits), 1), integer_variables
        )
        return design.codec(bits, sum(bits))

    @property
    def allocation(self) -> tuple[FixedPointField, ...]:
        return self.fields

    @property
    def bits_per_jet(self) -> int:
        return sum(f.bits for f in self.fields)

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integer codes (jets, variables) and the number of saturated values per variable."""
        x = _as_table(x, self.variables, "input")
        pairs = [field.encode(x[:, v]) for v, field in enumerate(self.fields)]
        return np.stack([p[0] for p in pairs], axis=1), np.array([int(p[1].sum()) for p in pairs])

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return np.stack([field.decode(codes[:, v]) for v, field in enumerate(self.fields)], axis=1)

    def roundtrip(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """Decoded jets and the number of values saturated to the training range."""
        codes, saturated = self.encode(x)
        return self.decode(codes), int(saturated.sum())


# ---------------------------------------------------------------------------------------------- float


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
class FloatMantissaCodec:
    """Per-variable small floats (sign?, e exponent bits, m mantissa bits), e and m chosen by dynamic programming."""

    variables: tuple[str, ...]
    fields: tuple[FloatField, ...]
    budget: int
    train_nmse: float

    @classmethod
    def fit(cls, train: np.ndarray, variables: Sequence[str], bits_per_jet: int) -> FloatMantissaCodec | None:
        """The best per-variable floats within ``bits_per_jet`` bits, or None if the budget cannot hold them."""
        return cls.fit_budgets(train, variables, (bits_per_jet,))[0]

    @classmethod
    def fit_budgets(
        cls, train: np.ndarray, variables: Sequence[str], budgets: Sequence[int]
    ) -> list[FloatMantissaCodec | None]:
        variables = _check_variables(variables)
        budgets = [_check_budget(b) for b in budgets]
        design = _FloatDesign(_as_table(train, variables, "training"), variables)
        return [design.codec(b) for b in budgets]

    @property
    def allocation(self) -> tuple[FloatField, ...]:
        return self.fields

    @property
    def bits_per_jet(self) -> int:
        return sum(f.bits for f in self.fields)

    def roundtrip(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """Decoded jets and the number of values clamped (beyond the largest float, or negative without sign)."""
        x = _as_table(x, self.variables, "input")
        pairs = [field.roundtrip(x[:, v]) for v, field in enumerate(self.fields)]
        return np.stack([p[0] for p in pairs], axis=1), int(sum(p[1].sum() for p in pairs))


# ---------------------------------------------------------------------------------------------- rate-distortion


def _json_float(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class BaselinePoint:
    """One codec at one budget, evaluated on the test jets (NMSE normalised by the test variance)."""

    codec: str  # "fixed_point" | "float_mantissa"
    budget: int
    possible: bool
    bits_per_jet: int | None = None  # bits actually used, <= budget
    allocation: tuple[FixedPointField | FloatField, ...] = ()
    total_nmse: float | None = None
    nmse: dict[str, float] | None = None
    saturated: int = 0  # test values clamped by the codec (fixed point: exactly those outside the training range)
    saturated_per_variable: dict[str, int] | None = None
    out_of_training_range: int = 0  # test values outside the training [min, max], whatever the codec
    train_total_nmse: float | None = None

    def to_json(self) -> dict:
        return {
            "codec": self.codec,
            "budget": self.budget,
            "possible": self.possible,
            "bits_per_jet": self.bits_per_jet,
            "allocation": [f.to_json() for f in self.allocation],
            "total_nmse": _json_float(self.total_nmse),
            "nmse": None if self.nmse is None else {k: _json_float(v) for k, v in self.nmse.items()},
            "saturated": self.saturated,
            "saturated_per_variable": self.saturated_per_variable,
            "out_of_training_range": self.out_of_training_range,
            "train_total_nmse": _json_float(self.train_total_nmse),
        }


def _evaluate(
    name: str, codec: FixedPointCodec | FloatMantissaCodec, test: np.ndarray, out_of_range: int
) -> BaselinePoint:
    columns = [f.roundtrip(test[:, v]) for v, f in enumerate(codec.fields)]
    test_hat = np.stack([c[0] for c in columns], axis=1)
    saturated = [int(c[1].sum()) for c in columns]
    nmse = nmse_per_variable(test, test_hat, np.var(test, axis=0))
    return BaselinePoint(
        codec=name,
        budget=codec.budget,
        possible=True,
        bits_per_jet=codec.bits_per_jet,
        allocation=codec.fields,
        total_nmse=float(np.sum(nmse)),
        nmse={v: float(e) for v, e in zip(codec.variables, nmse)},
        saturated=sum(saturated),
        saturated_per_variable=dict(zip(codec.variables, saturated)),
        out_of_training_range=out_of_range,
        train_total_nmse=codec.train_nmse,
    )


def rate_distortion(
    train: np.ndarray,
    test: np.ndarray,
    variables: tuple[str, ...],
    budgets: Sequence[int] = DEFAULT_BUDGETS,
    *,
    integer_variables: Sequence[str] | None = None,
) -> list[BaselinePoint]:
    """Both baselines fitted on ``train`` at every budget and evaluated on ``test``: fixed point first, then float."""
    variables = _check_variables(variables)
    train = _as_table(train, variables, "training")
    test = _as_table(test, variables, "test")
    out_of_range = int(np.sum((test < train.min(axis=0)) | (test > train.max(axis=0))))
    fixed = FixedPointCodec.fit_budgets(train, variables, budgets, integer_variables=integer_variables)
    floats = FloatMantissaCodec.fit_budgets(train, variables, budgets)
    points = [_evaluate("fixed_point", codec, test, out_of_range) for codec in fixed]
    for budget, codec in zip(budgets, floats):
        if codec is None:
            points.append(
                BaselinePoint(
                    codec="float_mantissa", budget=int(budget), possible=False, out_of_training_range=out_of_range
                )
            )
        else:
            points.append(_evaluate("float_mantissa", codec, test, out_of_range))
    return points
