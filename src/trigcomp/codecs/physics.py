"""What the board can see: physics ranges of the jet variables, and the target-driven search shared by the codecs.

Ranges come from physics, not from a training sample's min/max, so a code fitted on soft QCD still covers a 1.5 TeV
Z' jet: pt up to 2048 GeV (the board's input word), |eta| up to 5 (the forward calorimeters), the full phi circle,
masses up to 512 GeV, fractions in [0, 1] and up to 127 constituents. Values outside saturate and are counted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..targets import Targets, variable_worst_ratio
from .base import as_table, check_variables

log = logging.getLogger("trigcomp")

ENERGY_FRACTIONS = ("chHEF", "neHEF", "chEmEF", "neEmEF", "muEF")
#: Most bits the target-driven search spends on one variable (more is hardly compression).
MAX_TARGET_BITS = 16


@dataclass(frozen=True)
class PhysicsRange:
    """One way to code a variable: ``companding`` ("log" or "linear") over [low, high]; integers decode to integers."""

    companding: str
    low: float
    high: float
    integer: bool = False


#: Per variable, the codings the target-driven search tries (cheapest wins).
PHYSICS_RANGES: dict[str, tuple[PhysicsRange, ...]] = {
    "pt": (PhysicsRange("log", 20.0, 2048.0), PhysicsRange("linear", 0.0, 2048.0)),
    "eta": (PhysicsRange("linear", -5.0, 5.0),),
    "phi": (PhysicsRange("linear", -math.pi, math.pi),),
    "mass": (PhysicsRange("log", 1.0, 512.0), PhysicsRange("linear", 0.0, 512.0)),
    "nConstituents": (PhysicsRange("linear", 0.0, 127.0, integer=True),),
} | {fraction: (PhysicsRange("linear", 0.0, 1.0),) for fraction in ENERGY_FRACTIONS}


def physics_ranges(variable: str, column: np.ndarray) -> tuple[PhysicsRange, ...]:
    """The physics codings of ``variable``; for a variable trigcomp has no physics range for, the training range."""
    if variable in PHYSICS_RANGES:
        return PHYSICS_RANGES[variable]
    low, high = float(column.min()), float(column.max())
    integer = bool(np.all(column == np.rint(column)))
    log.warning("no physics range known for %s: coding it over its training range [%g, %g]", variable, low, high)
    ranges = [PhysicsRange("linear", low, high, integer)]
    if low > 0 and not integer:
        ranges.insert(0, PhysicsRange("log", low, high))
    return tuple(ranges)


def cheapest_passing(
    options: Iterable[tuple[int, object]], worst_ratio: Callable[[object], float], margin: float = 1.0
) -> tuple[object, float] | None:
    """Among ``(bits, option)`` pairs, the option with the fewest bits whose worst ratio is <= ``margin``.

    Options are tried in order of bits; among equal bits the lowest ratio wins. None when no option passes.
    """
    by_bits: dict[int, list[object]] = {}
    for bits, option in options:
        by_bits.setdefault(bits, []).append(option)
    for bits in sorted(by_bits):
        scored = [(worst_ratio(option), i) for i, option in enumerate(by_bits[bits])]
        ratio, best = min(scored)
        if ratio <= margin:
            return by_bits[bits][best], ratio
    return None


class TargetScorer:
    """Training jets in groups (e.g. one per process) and the targets they must meet, each group on its own.

    ``ratio(variable, decoded)`` is the worst target ratio of a decoded column (all groups, concatenated) over every
    group, overall and in every full pt bin: a code chosen with it meets the targets on each process, not just on
    their mixture (where a rare process's tails would be outvoted).
    """

    def __init__(self, train: np.ndarray | Sequence[np.ndarray], variables: Sequence[str], targets: Targets) -> None:
        self.variables = check_variables(variables)
        groups = [train] if isinstance(train, np.ndarray) else list(train)
        if not groups:
            raise UserError("no training jets given")
        groups = [as_table(g, self.variables, "training") for g in groups]
        self.train = np.concatenate(groups)
        self.slices = [slice(end - len(g), end) for g, end in zip(groups, np.cumsum([len(g) for g in groups]))]
        self.targets = targets.for_variables(self.variables)
        self.pt = self.train[:, self.variables.index("pt")] if "pt" in self.variables else None

    def column(self, variable: str) -> np.ndarray:
        return self.train[:, self.variables.index(variable)]

    def ratio(self, variable: str, decoded: np.ndarray) -> float:
        truth, target = self.column(variable), self.targets.variables[variable]
        return max(
            variable_worst_ratio(
                target,
                truth[group],
                decoded[group],
                None if self.pt is None else self.pt[group],
                self.targets.pt_bins,
                self.targets.min_bin_jets,
            )
            for group in self.slices
        )
