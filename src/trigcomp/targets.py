"""Physics targets: the yardstick for every codec — per-variable resolution and bias, overall and per pt bin.

A target says how well a variable must come back after compression: a resolution (σ, the 68 % half-width of the
residual, (q84 − q16) / 2, robust to tails) and a bias (|median residual|). Residuals are relative for pt and for
mass above 1 GeV, wrapped to (−π, π] for φ, whole units for counts (nConstituents), absolute otherwise. A codec meets
the targets on a sample when every variable passes overall and in every truth-pt bin holding enough jets to say so.

Targets come from a TOML file or a preset shipped with trigcomp (``target_presets()``), like resource budgets::

    name = "l1-jets"
    pt_bins = [20, 30, 50, 100, 200, 500]   # GeV; the last bin is open
    min_bin_jets = 100
    [variables.pt]
    sigma = 0.05
    bias = 0.01
"""

from __future__ import annotations

import importlib.resources as package_files
import itertools
import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError

DEFAULT_PT_BINS = (20.0, 30.0, 50.0, 100.0, 200.0, 500.0, math.inf)
MIN_BIN_JETS = 100
MIN_MASS_FOR_RELATIVE = 1.0  # GeV: relative mass residuals of near-massless jets say nothing
RELATIVE = ("pt", "mass", "et")  # et: the total ET of a tower image (trigcomp.images)
PRESET_PACKAGE = "target_presets"


# ---------------------------------------------------------------------------------------------------------------
# Residuals and resolution
# ---------------------------------------------------------------------------------------------------------------


def residual_kind(name: str) -> str:
    if name in RELATIVE:
        return "relative"
    if name == "phi":
        return "wrapped"
    if re.match(r"^n[A-Z]", name):  # counts: nConstituents, nMuons, ...
        return "integer"
    return "absolute"


def residuals(name: str, truth: np.ndarray, reco: np.ndarray) -> np.ndarray:
    """The residual of ``reco`` against ``truth`` in the variable's own kind (jets failing a relative cut dropped)."""
    kind = residual_kind(name)
    if kind == "relative":
        keep = truth > (MIN_MASS_FOR_RELATIVE if name == "mass" else 0.0)
        return (reco[keep] - truth[keep]) / truth[keep]
    if kind == "wrapped":
        return np.angle(np.exp(1j * (reco - truth)))
    if kind == "integer":
        return np.rint(reco) - np.rint(truth)
    return reco - truth


def resolution(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        nan = float("nan")
        return {"bias": nan, "median": nan, "sigma": nan, "rms": nan, "jets": 0}
    q16, q50, q84 = np.percentile(values, [16, 50, 84])
    return {
        "bias": float(np.mean(values)),
        "median": float(q50),
        "sigma": float((q84 - q16) / 2),
        "rms": float(np.sqrt(np.mean(values**2))),
        "jets": int(values.size),
    }


# ---------------------------------------------------------------------------------------------------------------
# Target definitions
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariableTarget:
    variable: str
    sigma: float  # largest allowed 68 % half-width of the residual
    bias: float | None  # largest allowed |median residual|; None: not checked
    kind: str  # residual_kind(variable)

    def to_json(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "bias": self.bias, "kind": self.kind}


@dataclass(frozen=True)
class Targets:
    name: str
    variables: dict[str, VariableTarget]
    pt_bins: tuple[float, ...] = DEFAULT_PT_BINS
    min_bin_jets: int = MIN_BIN_JETS
    description: str = ""

    def for_variables(self, names: Sequence[str]) -> Targets:
        return replace(self, variables={v: t for v, t in self.variables.items() if v in names})

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "pt_bins": [None if math.isinf(edge) else edge for edge in self.pt_bins],
            "min_bin_jets": self.min_bin_jets,
            "variables": {v: t.to_json() for v, t in self.variables.items()},
        }


def _preset_dir():
    return package_files.files("trigcomp").joinpath(PRESET_PACKAGE)


def target_presets() -> list[str]:
    return sorted(entry.name.removesuffix(".toml") for entry in _preset_dir().iterdir() if entry.name.endswith(".toml"))


def _positive(where: str, key: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw <= 0:
        raise UserError(f"targets {where}: {key} = {raw!r}; expected a positive number")
    return float(raw)


def _parse_pt_bins(name: str, raw: Any) -> tuple[float, ...]:
    if raw is None:
        return DEFAULT_PT_BINS
    if not isinstance(raw, list) or len(raw) < 1:
        raise UserError(f"targets {name}: pt_bins must be a list of bin edges in GeV, e.g. [20, 30, 50]")
    edges = [_positive(name, "pt_bins", edge) for edge in raw]
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise UserError(f"targets {name}: pt_bins must increase, got {raw}")
    return (*edges, math.inf)


def _parse_targets(text: str, name: str) -> Targets:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"targets {name}: malformed TOML ({err})") from None
    unknown = [key for key in data if key not in ("name", "description", "pt_bins", "min_bin_jets", "variables")]
    if unknown:
        raise UserError(
            f"targets {name}: unknown key {unknown[0]!r}; allowed: name, description, pt_bins, "
            "min_bin_jets, [variables.NAME]"
        )
    raw_variables = data.get("variables")
    if not isinstance(raw_variables, dict) or not raw_variables:
        raise UserError(f"targets {name}: needs at least one [variables.NAME] table with sigma (and optionally bias)")
    variables = {}
    for variable, spec in raw_variables.items():
        where = f"{name}, variable {variable}"
        if not isinstance(spec, dict) or "sigma" not in spec:
            raise UserError(f"targets {where}: needs sigma = <largest 68 % half-width of the residual>")
        extra = [key for key in spec if key not in ("sigma", "bias")]
        if extra:
            raise UserError(f"targets {where}: unknown key {extra[0]!r}; allowed: sigma, bias")
        bias = spec.get("bias")
        variables[variable] = VariableTarget(
            variable=variable,
            sigma=_positive(where, "sigma", spec["sigma"]),
            bias=None if bias is None else _positive(where, "bias", bias),
            kind=residual_kind(variable),
        )
    min_jets = data.get("min_bin_jets", MIN_BIN_JETS)
    if isinstance(min_jets, bool) or not isinstance(min_jets, int) or min_jets < 1:
        raise UserError(f"targets {name}: min_bin_jets = {min_jets!r}; expected a whole number ≥ 1")
    title = data.get("name", name)
    if not isinstance(title, str):
        raise UserError(f"targets {name}: name must be a string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise UserError(f"targets {name}: description must be a string")
    return Targets(
        name=title,
        variables=variables,
        pt_bins=_parse_pt_bins(name, data.get("pt_bins")),
        min_bin_jets=min_jets,
        description=description,
    )


def load_targets(spec: str | Path) -> Targets:
    """Targets from a preset name (see target_presets()) or a TOML file path."""
    path = Path(spec)
    if path.is_file():
        try:
            return _parse_targets(path.read_text(), path.stem)
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"cannot read targets file {path}: {err}") from None
    presets = target_presets()
    if str(spec) in presets:
        return _parse_targets(_preset_dir().joinpath(f"{spec}.toml").read_text(), str(spec))
    if path.suffix == ".toml" or "/" in str(spec):
        raise UserError(f"targets file not found: {spec}")
    raise UserError(f"unknown targets preset {str(spec)!r}; presets: {', '.join(presets)} (or give a TOML file)")


# ---------------------------------------------------------------------------------------------------------------
# Checking a reconstruction against targets
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class TargetCheck:
    variable: str
    scope: str  # "all" or "pt 20-30", "pt 500-inf"
    jets: int
    sigma: float
    bias: float  # the median residual, signed
    target_sigma: float
    target_bias: float | None
    worst_ratio: float
    pt_low: float | None = None
    pt_high: float | None = None

    @property
    def passed(self) -> bool:
        return self.worst_ratio <= 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "jets": self.jets,
            "sigma": self.sigma,
            "bias": self.bias,
            "worst_ratio": self.worst_ratio,
            "pass": self.passed,
        }


def _scope_name(low: float, high: float) -> str:
    return f"pt {low:g}-{'inf' if math.isinf(high) else f'{high:g}'}"


def _check(target: VariableTarget, truth: np.ndarray, reco: np.ndarray, scope: str) -> TargetCheck | None:
    r = residuals(target.variable, truth, reco)
    if r.size == 0:
        return None
    stats = resolution(r)
    ratio = stats["sigma"] / target.sigma
    if target.bias is not None:
        ratio = max(ratio, abs(stats["median"]) / target.bias)
    return TargetCheck(
        variable=target.variable,
        scope=scope,
        jets=stats["jets"],
        sigma=stats["sigma"],
        bias=stats["median"],
        target_sigma=target.sigma,
        target_bias=target.bias,
        worst_ratio=float(ratio),
    )


def _variable_checks(
    target: VariableTarget,
    truth: np.ndarray,
    reco: np.ndarray,
    pt: np.ndarray | None,
    pt_bins: Sequence[float],
    min_bin_jets: int,
) -> list[TargetCheck]:
    checks = [_check(target, truth, reco, "all")]
    if pt is not None:
        for low, high in itertools.pairwise(pt_bins):
            in_bin = (pt >= low) & (pt < high)
            if in_bin.sum() < min_bin_jets:
                continue
            check = _check(target, truth[in_bin], reco[in_bin], _scope_name(low, high))
            if check is not None:
                check.pt_low, check.pt_high = low, (None if math.isinf(high) else high)
                checks.append(check)
    return [c for c in checks if c is not None]


def variable_worst_ratio(
    target: VariableTarget,
    truth: np.ndarray,
    reco: np.ndarray,
    pt: np.ndarray | None,
    pt_bins: Sequence[float] = DEFAULT_PT_BINS,
    min_bin_jets: int = MIN_BIN_JETS,
) -> float:
    """The worst σ/target or |bias|/target of one variable over all jets and every full pt bin (≤ 1: met)."""
    checks = _variable_checks(target, truth, reco, pt, pt_bins, min_bin_jets)
    return max((c.worst_ratio for c in checks), default=math.inf)


@dataclass
class TargetReport:
    sample: str
    targets: str
    checks: list[TargetCheck] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # variables with a target but absent from the sample

    @property
    def meets_targets(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def worst_ratio(self) -> float:
        return max((c.worst_ratio for c in self.checks), default=math.inf)

    def failures(self) -> list[TargetCheck]:
        return [c for c in self.checks if not c.passed]

    def to_json(self) -> dict[str, Any]:
        variables: dict[str, Any] = {}
        for check in self.checks:
            entry = variables.setdefault(
                check.variable,
                {"target": {"sigma": check.target_sigma, "bias": check.target_bias}, "pt_bins": []},
            )
            if check.scope == "all":
                entry.update(check.to_json())
            else:
                entry["pt_bins"].append({"pt_low": check.pt_low, "pt_high": check.pt_high} | check.to_json())
        for variable, entry in variables.items():
            ratios = [c.worst_ratio for c in self.checks if c.variable == variable]
            entry["worst_ratio"] = max(ratios)
            entry["pass"] = all(r <= 1.0 for r in ratios)
        return {
            "sample": self.sample,
            "targets": self.targets,
            "meets_targets": self.meets_targets,
            "worst_ratio": self.worst_ratio,
            "variables": variables,
            "unchecked": self.unchecked,
        }


def check_targets(
    targets: Targets, variables: Sequence[str], truth: np.ndarray, reco: np.ndarray, sample: str = ""
) -> TargetReport:
    """Check a reconstruction (jets × variables, physical units) against ``targets``; pt bins use the truth pt."""
    variables = list(variables)
    if truth.shape != reco.shape or truth.ndim != 2 or truth.shape[1] != len(variables):
        raise ValueError(f"truth {truth.shape} and reco {reco.shape} must both be (jets, {len(variables)})")
    pt = truth[:, variables.index("pt")] if "pt" in variables else None
    report = TargetReport(sample=sample, targets=targets.name)
    for name, target in targets.variables.items():
        if name not in variables:
            report.unchecked.append(name)
            continue
        j = variables.index(name)
        report.checks += _variable_checks(target, truth[:, j], reco[:, j], pt, targets.pt_bins, targets.min_bin_jets)
    return report
