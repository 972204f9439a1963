"""Budget files and checking a report against them.

A budget is a TOML file (or a preset shipped in ``trigcomp/budgets/``, see ``budget_presets()``) with an optional
``description`` and one ``[limits]`` table. Every limit is an upper bound (value <= limit)::

    description = "what the budget is for"

    [limits]
    latency_ns = 50        # worst-case latency, ns (a number; the unit is in the key's name)
    latency_cycles = 10    # worst-case latency, clock cycles (whole number)
    ii = 1                 # initiation interval, clock cycles (whole number)
    clock_ns = 5.0         # estimated (HLS) or achieved (Vivado timing) clock period, ns
    LUT = "1%"             # resources LUT, FF, DSP, BRAM (18 Kb blocks), URAM: a count (DSP = 0)
    DSP = 0                #   or a percentage of the device as a string ("1%")

Resource keys are case-insensitive. ``check_budget`` gives one row per limit (value, limit, margin = limit - value,
passed); a quantity the reports do not give fails its row.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources as package_files
from pathlib import Path

from ..errors import UserError
from .combine import SynthesisReport
from .parsers.common import RESOURCES, is_number

NA = "n/a"


def format_number(value: float | None, digits: int = 6) -> str:
    """A number as short as it can be said: whole numbers without a point, else ``digits`` significant digits."""
    if value is None:
        return NA
    return str(int(value)) if float(value).is_integer() else f"{value:.{digits}g}"


_TIMING_LIMITS = {"latency_ns": "ns", "latency_cycles": "cycles", "ii": "cycles", "clock_ns": "ns"}
_WHOLE_LIMITS = ("latency_cycles", "ii")
_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*%\s*$")
_ALLOWED_LIMITS = ", ".join([*_TIMING_LIMITS, *RESOURCES])


@dataclass(frozen=True)
class Limit:
    quantity: str  # latency_ns, latency_cycles, ii, clock_ns, or a resource name (LUT, FF, DSP, BRAM, URAM)
    value: float
    percent: bool = False  # a resource limit in % of the device

    @property
    def unit(self) -> str:
        return "%" if self.percent else _TIMING_LIMITS.get(self.quantity, "count")


@dataclass(frozen=True)
class Budget:
    name: str  # preset name or file path
    description: str
    limits: tuple[Limit, ...]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "limits": {
                limit.quantity: f"{format_number(limit.value)}%" if limit.percent else limit.value
                for limit in self.limits
            },
        }


def _budget_dir():
    return package_files.files("trigcomp").joinpath("budgets")


def budget_presets() -> list[str]:
    return sorted(entry.name.removesuffix(".toml") for entry in _budget_dir().iterdir() if entry.name.endswith(".toml"))


def _parse_limit(budget: str, key: str, raw) -> Limit:
    quantity = key.upper() if key.upper() in RESOURCES else key.lower()
    if quantity not in RESOURCES and quantity not in _TIMING_LIMITS:
        raise UserError(f"budget {budget}: unknown limit {key!r}; allowed: {_ALLOWED_LIMITS}")
    if quantity in RESOURCES and isinstance(raw, str):
        match = _PERCENT.match(raw)
        if not match:
            raise UserError(
                f"budget {budget}: {key} = {raw!r} has an unknown unit; give a count ({key} = 0) "
                f'or a percentage of the device ({key} = "1%")'
            )
        value = float(match.group(1))
        if value > 100:
            raise UserError(f"budget {budget}: {key} = {raw!r} is more than the whole device")
        return Limit(quantity, value, percent=True)
    if not is_number(raw) or raw < 0:
        unit = _TIMING_LIMITS.get(quantity)
        expected = f"a plain number of {unit} (the unit is in the key's name)" if unit else 'a count or "N%"'
        raise UserError(f"budget {budget}: {key} = {raw!r}; expected {expected}, not negative")
    if quantity in _WHOLE_LIMITS and not float(raw).is_integer():
        raise UserError(f"budget {budget}: {key} = {raw!r}; expected a whole number of cycles")
    return Limit(quantity, float(raw))


def _parse_budget(text: str, name: str) -> Budget:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"budget {name}: malformed TOML ({err})") from None
    unknown = [key for key in data if key not in ("description", "limits")]
    if unknown:
        raise UserError(f"budget {name}: unknown key {unknown[0]!r}; allowed: description, [limits]")
    limits = data.get("limits")
    if not isinstance(limits, dict) or not limits:
        raise UserError(f"budget {name}: needs a [limits] table with at least one of {_ALLOWED_LIMITS}")
    parsed = [_parse_limit(name, key, raw) for key, raw in limits.items()]
    quantities = [limit.quantity for limit in parsed]
    repeated = sorted({q for q in quantities if quantities.count(q) > 1})
    if repeated:
        raise UserError(f"budget {name}: {', '.join(repeated)} limited twice (resource keys are case-insensitive)")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise UserError(f"budget {name}: description must be a string")
    return Budget(name=name, description=description, limits=tuple(parsed))


def load_budget(spec: str) -> Budget:
    """A budget from a preset name (see budget_presets()) or a TOML file path."""
    path = Path(spec)
    if path.is_file():
        try:
            return _parse_budget(path.read_text(), str(path))
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"cannot read budget file {path}: {err}") from None
    presets = budget_presets()
    if spec in presets:
        return _parse_budget(_budget_dir().joinpath(f"{spec}.toml").read_text(), spec)
    if path.suffix == ".toml" or "/" in spec or "\\" in spec:
        raise UserError(f"budget file not found: {spec}")
    raise UserError(f"unknown budget preset {spec!r}; presets: {', '.join(presets)} (or give a TOML file)")


@dataclass(frozen=True)
class BudgetRow:
    quantity: str
    unit: str  # ns, cycles, count or %
    value: float | None  # None: the reports do not give this quantity
    limit: float
    margin: float | None  # limit - value: headroom when >= 0
    passed: bool
    value_from: str | None

    def to_json(self) -> dict:
        return {
            "quantity": self.quantity,
            "unit": self.unit,
            "value": self.value,
            "limit": self.limit,
            "margin": self.margin,
            "passed": self.passed,
            "value_from": self.value_from,
        }


@dataclass(frozen=True)
class BudgetCheck:
    budget: Budget
    rows: tuple[BudgetRow, ...]

    @property
    def within_budget(self) -> bool:
        return all(row.passed for row in self.rows)

    def to_json(self) -> dict:
        return {
            **self.budget.to_json(),
            "rows": [row.to_json() for row in self.rows],
            "within_budget": self.within_budget,
        }


def _budget_value(report: SynthesisReport, limit: Limit) -> tuple[float | None, str | None]:
    timing_values = {
        "latency_ns": (report.latency_ns, report.latency_from),
        "latency_cycles": (report.latency_cycles_worst, report.latency_from),
        "ii": (report.ii, report.latency_from),
        "clock_ns": (report.clock_estimated_ns, report.clock_estimated_from),
    }
    if limit.quantity in timing_values:
        return timing_values[limit.quantity]
    used = report.resources.get(limit.quantity)
    if not limit.percent or used is None:
        return used, report.resources_from
    if limit.quantity not in report.resources_percent:
        raise UserError(
            f"budget limit {limit.quantity} = {format_number(limit.value)}% needs the device's {limit.quantity} total, "
            "which the reports do not give; pass --board NAME"
        )
    return report.resources_percent[limit.quantity], report.resources_from


def check_budget(report: SynthesisReport, budget: Budget) -> BudgetCheck:
    rows = []
    for limit in budget.limits:
        value, origin = _budget_value(report, limit)
        margin = None if value is None else limit.value - value
        # tolerance for float round-off only (e.g. 10 cycles x 5.0 ns against 50 ns)
        passed = margin is not None and margin >= -1e-9 * max(1.0, abs(limit.value))
        rows.append(BudgetRow(limit.quantity, limit.unit, value, limit.value, margin, passed, origin))
    return BudgetCheck(budget=budget, rows=tuple(rows))


def result_json(report: SynthesisReport, check: BudgetCheck | None) -> dict:
    return {
        **report.to_json(),
        "within_budget": None if check is None else check.within_budget,
        "budget": None if check is None else check.to_json(),
    }
