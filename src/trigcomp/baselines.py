"""Equal-bits-per-jet baselines for the autoencoder: the rate-distortion table of ``evaluate``.

The question it answers is "at B bits per jet, does the autoencoder beat simply quantizing each variable?". Every
codec of the registry that can be fitted at a budget (``trigcomp.codecs.budget_codecs()``: per-variable fixed point
and float truncation) is fitted on the training jets at each budget and evaluated on the test jets; how each chooses
its bits is described in ``trigcomp.codecs.fixed_point`` and ``trigcomp.codecs.float_truncation``.

Distortion is the normalised MSE: per variable, MSE divided by that variable's variance, summed over variables.
Bit allocation normalises by the training variance; the reported test numbers by the test variance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .codecs import Codec, budget_codecs
from .codecs.base import as_table, check_variables
from .errors import UserError

#: Budgets (bits per jet) of the default rate-distortion scan.
DEFAULT_BUDGETS = (32, 48, 64, 96, 128, 160)


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


# ---------------------------------------------------------------------------------------------- rate-distortion


def _json_float(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class BaselinePoint:
    """One codec at one budget, evaluated on the test jets (NMSE normalised by the test variance)."""

    codec: str  # the codec's kind: "fixed_point" | "float_mantissa"
    budget: int
    possible: bool
    bits_per_jet: int | None = None  # bits actually used, <= budget
    allocation: tuple = ()  # the codec's fields
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


def _evaluate(codec: Codec, test: np.ndarray, out_of_range: int) -> BaselinePoint:
    codes, saturated = codec.encode(test)
    nmse = nmse_per_variable(test, codec.decode(codes), np.var(test, axis=0))
    return BaselinePoint(
        codec=codec.kind,
        budget=codec.budget,
        possible=True,
        bits_per_jet=codec.bits_per_jet,
        allocation=codec.fields,
        total_nmse=float(np.sum(nmse)),
        nmse={v: float(e) for v, e in zip(codec.variables, nmse)},
        saturated=int(saturated.sum()),
        saturated_per_variable={v: int(s) for v, s in zip(codec.field_names, saturated)},
        out_of_training_range=out_of_range,
        train_total_nmse=codec.train_nmse,
    )


def rate_distortion(
    train: np.ndarray, test: np.ndarray, variables: tuple[str, ...], budgets: Sequence[int] = DEFAULT_BUDGETS
) -> list[BaselinePoint]:
    """Every budget codec fitted on ``train`` at every budget and evaluated on ``test``, codec by codec in registry
    order (fixed point first, then float)."""
    variables = check_variables(variables)
    train = as_table(train, variables, "training")
    test = as_table(test, variables, "test")
    out_of_range = int(np.sum((test < train.min(axis=0)) | (test > train.max(axis=0))))
    points = []
    for codec_class in budget_codecs():
        for budget, codec in zip(budgets, codec_class.fit_budgets(train, variables, budgets)):
            if codec is None:
                points.append(
                    BaselinePoint(
                        codec=codec_class.kind, budget=int(budget), possible=False, out_of_training_range=out_of_range
                    )
                )
            else:
                points.append(_evaluate(codec, test, out_of_range))
    return points
