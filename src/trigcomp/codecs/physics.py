"""What the board can see: physics ranges of the jet variables, and the target-driven search shared by the codecs.

Ranges come from physics, not from a training sample's min/max, so a code fitted on soft QCD still covers a 1.5 TeV
Z' jet: pt up to 2048 GeV (the board's input word), |eta| up to 5 (the forward calorimeters), the full phi circle,
masses up to 512 GeV, fractions in [0, 1] and up to 127 constituents. Values outside saturate and are counted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

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
