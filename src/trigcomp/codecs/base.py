"""The codec interface: what every way of sending a jet in B bits provides, whatever it does inside.

A codec is fitted on training jets (``(jets, variables)`` in physical units: GeV, radians, fractions, counts), turns
jets into integer codes — one column per transmitted field, each field an unsigned integer of ``field_bits[i]`` bits,
so a board packs them into one word of ``bits_per_jet`` bits — and decodes codes back to jets. Values a codec cannot
represent are clamped and *counted* per field by ``encode`` (saturation is never silent). ``to_json`` describes the
codec completely; ``from_json`` rebuilds it so that it gives identical codes.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..errors import UserError

#: Width of the board's input word the area model assumes (the default ``[input]`` type, ap_fixed<20,12>).
INPUT_WORD_BITS = 20
AREA_MODEL = "estimate:comparator-model"


class Encoding(NamedTuple):
    """Integer codes (jets, fields) as int64 in [0, 2^field_bits) and the number of clamped values per field."""

    codes: np.ndarray
    saturated: np.ndarray


class Codec(ABC):
    """One way of sending a jet; subclasses register themselves in ``trigcomp.codecs.CODECS`` under ``kind``."""

    kind: ClassVar[str]  # registry key and the "codec" value of to_json
    label: ClassVar[str]  # for tables and plot legends
    firmware: ClassVar[str | None] = None  # the command that puts it on the board, None when it has no firmware
    variables: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.kind

    @property
    @abstractmethod
    def field_names(self) -> tuple[str, ...]:
        """One name per transmitted field (a code column)."""

    @property
    @abstractmethod
    def field_bits(self) -> tuple[int, ...]:
        """Width in bits of each transmitted field."""

    @property
    def bits_per_jet(self) -> int:
        return int(sum(self.field_bits))

    @abstractmethod
    def encode(self, x: np.ndarray) -> Encoding:
        """Jets (jets, variables) -> integer codes and saturation counts per field."""

    @abstractmethod
    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Integer codes (jets, fields) -> jets (jets, variables) in physical units."""

    def roundtrip(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """Decoded jets and the total number of clamped values."""
        codes, saturated = self.encode(x)
        return self.decode(codes), int(np.sum(saturated))

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """Everything needed to rebuild the codec; ``"codec"`` holds ``kind``."""

    @classmethod
    @abstractmethod
    def from_json(cls, raw: dict[str, Any]) -> Codec:
        """The codec ``to_json`` described (identical codes)."""

    def area_estimate(self) -> dict[str, Any] | None:
        """A rough LUT count of the board-side encoder (``source`` says which model), or None when unknown."""
        return None

    def _check_codes(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != len(self.field_bits) or not np.issubdtype(codes.dtype, np.integer):
            raise UserError(
                f"{self.name}: codes must be an integer (jets, {len(self.field_bits)} fields) array, "
                f"got {codes.dtype} {codes.shape}"
            )
        return codes.astype(np.int64)


@dataclasses.dataclass(frozen=True)
class PerVariableCodec(Codec):
    """A codec with one field per variable (``fields[i]`` sends ``variables[i]``): fixed point, float truncation.

    A field has ``bits``, ``encode(column) -> (codes, clamped mask)``, ``decode(codes)``, ``area_luts()``, ``to_json()``
    and ``from_json(raw)``.
    """

    field_type: ClassVar[type]
    area_note: ClassVar[str]

    variables: tuple[str, ...]
    fields: tuple
    budget: int  # the budget it was fitted at (bits_per_jet <= budget), or its bits when fitted at targets
    train_nmse: float | None = None  # total NMSE on the training jets, when fitted at a budget (what the DP minimised)
    targets: str | None = None  # the targets the bits were chosen for

    @property
    def allocation(self) -> tuple:
        return self.fields

    @property
    def field_names(self) -> tuple[str, ...]:
        return self.variables

    @property
    def field_bits(self) -> tuple[int, ...]:
        return tuple(f.bits for f in self.fields)

    def encode(self, x: np.ndarray) -> Encoding:
        """Integer codes (jets, variables) and the number of clamped values per variable."""
        x = as_table(x, self.variables, "input", min_jets=0)
        pairs = [field.encode(x[:, v]) for v, field in enumerate(self.fields)]
        return Encoding(np.stack([p[0] for p in pairs], axis=1), np.array([int(p[1].sum()) for p in pairs]))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = self._check_codes(codes)
        return np.stack([field.decode(codes[:, v]) for v, field in enumerate(self.fields)], axis=1)

    def area_estimate(self) -> dict[str, Any]:
        return {"luts": sum(f.area_luts() for f in self.fields), "source": AREA_MODEL, "note": self.area_note}

    def to_json(self) -> dict[str, Any]:
        return {
            "codec": self.kind,
            "variables": list(self.variables),
            "bits_per_jet": self.bits_per_jet,
            "budget": self.budget,
            "train_nmse": self.train_nmse,
            "targets": self.targets,
            "fields": [f.to_json() for f in self.fields],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any], **extra: Any) -> PerVariableCodec:
        try:
            variables = check_variables(raw["variables"])
            fields = tuple(cls.field_type.from_json(f) for f in raw["fields"])
        except (KeyError, TypeError) as err:
            raise UserError(f"{cls.kind} codec: missing or bad key {err}") from None
        if tuple(f.variable for f in fields) != variables:
            raise UserError(f"{cls.kind} codec: fields {[f.variable for f in fields]} do not match {variables}")
        return cls(
            variables=variables,
            fields=fields,
            budget=int(raw.get("budget", sum(f.bits for f in fields))),
            train_nmse=raw.get("train_nmse"),
            targets=raw.get("targets"),
            **extra,
        )


# ---------------------------------------------------------------------------------------------- input checks

_SCALARS = {"str": str, "int": int, "float": float, "bool": bool}


def record_from_json(cls, raw: dict[str, Any], what: str):
    """A frozen dataclass of scalars from its ``asdict`` form (extra keys ignored), each value converted to the
    declared type; a missing or bad key is a UserError naming it."""
    try:
        return cls(**{f.name: _SCALARS[f.type](raw[f.name]) for f in dataclasses.fields(cls)})
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{what} {raw!r}: missing or bad key {err}") from None


def as_table(values: np.ndarray, variables: Sequence[str], what: str, min_jets: int = 2) -> np.ndarray:
    table = np.asarray(values, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != len(variables):
        raise UserError(f"{what} jets must be a (jets, {len(variables)} variables) array, got shape {table.shape}")
    if table.shape[0] < min_jets:
        raise UserError(f"{what} jets: need at least {min_jets} jets, got {table.shape[0]}")
    bad = ~np.all(np.isfinite(table), axis=0)
    if np.any(bad):
        names = ", ".join(v for v, b in zip(variables, bad) if b)
        raise UserError(f"{what} jets have non-finite values in: {names}")
    return table


def check_variables(variables: Sequence[str]) -> tuple[str, ...]:
    variables = tuple(variables)
    if not variables or len(set(variables)) != len(variables):
        raise UserError(f"variables must be a non-empty list of distinct names, got {variables}")
    return variables


def check_budget(budget: int) -> int:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
        raise UserError(f"bits per jet must be a non-negative integer, got {budget!r}")
    return int(budget)


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
