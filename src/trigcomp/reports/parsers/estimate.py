"""``estimate.json``: latency and resources from the open tools (da4ml's cost model, Yosys), never a synthesis
result. ``Estimate`` is the one record every writer (``trigcomp hls``, ``trigcomp rtl``) and this reader use.

The JSON keys are a contract users rely on::

    {"schema_version": 1, "source": "estimate:da4ml", "clock_ns": 5.0,
     "latency_cycles": {"best": 8, "worst": 8}, "latency_ns": 40.0, "ii": 1,
     "resources": {"LUT": ..., "FF": ..., "DSP": 0, "BRAM": 0, "CARRY": ...},
     "part": "xcvu13p-flga2577-2-e", "logic_depth": 4, "note": "how the numbers were made"}

``source`` starts with ``estimate``; ``part``, ``logic_depth`` and ``note`` may be absent, and so may
``schema_version`` in files written before it existed (they are version 1).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import UserError
from .common import BASIC_RESOURCES, ESTIMATE_PREFIX, in_resource_order, is_number, read_json

KIND = "estimate"
FILE_NAME = "estimate.json"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Estimate:
    source: str  # "estimate:da4ml", "estimate:yosys+da4ml", ...
    clock_ns: float
    latency_cycles: tuple[int, int]  # best, worst
    latency_ns: float  # worst case
    ii: int
    resources: dict[str, int | float]  # LUT, FF, DSP, BRAM and tool-specific extras (CARRY)
    part: str | None = None
    logic_depth: int | None = None
    note: str | None = None
    path: Path | None = field(default=None, compare=False)  # where it was read from; not part of the JSON

    def __post_init__(self):
        if not self.source.startswith(ESTIMATE_PREFIX):
            raise ValueError(f"an estimate's source must start with {ESTIMATE_PREFIX!r}, got {self.source!r}")

    def to_json(self) -> dict[str, Any]:
        optional = {"part": self.part, "logic_depth": self.logic_depth, "note": self.note}
        return {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "clock_ns": self.clock_ns,
            "latency_cycles": {"best": self.latency_cycles[0], "worst": self.latency_cycles[1]},
            "latency_ns": self.latency_ns,
            "ii": self.ii,
            "resources": dict(self.resources),
        } | {key: value for key, value in optional.items() if value is not None}

    @classmethod
    def from_json(cls, data: Any, where: str = "estimate") -> Estimate:
        """The record from parsed JSON; a UserError naming ``where`` and every bad key otherwise."""
        if not isinstance(data, dict):
            raise UserError(f"{where}: estimate must be a JSON object")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise UserError(
                f"{where}: estimate schema_version {version!r}; this trigcomp reads version {SCHEMA_VERSION}"
            )
        cycles, resources = data.get("latency_cycles"), data.get("resources")
        expected = {
            "source": isinstance(data.get("source"), str),
            "clock_ns": is_number(data.get("clock_ns")),
            "latency_cycles.best": isinstance(cycles, dict) and is_number(cycles.get("best")),
            "latency_cycles.worst": isinstance(cycles, dict) and is_number(cycles.get("worst")),
            "latency_ns": is_number(data.get("latency_ns")),
            "ii": is_number(data.get("ii")),
            **{
                f"resources.{name}": isinstance(resources, dict) and is_number(resources.get(name))
                for name in BASIC_RESOURCES
            },
        }
        bad = [key for key, ok in expected.items() if not ok]
        if bad:
            raise UserError(f"{where}: estimate lacks or has non-numeric {', '.join(bad)}")
        if not data["source"].startswith(ESTIMATE_PREFIX):
            raise UserError(f"{where}: estimate source {data['source']!r} must start with '{ESTIMATE_PREFIX}'")
        depth = data.get("logic_depth")
        return cls(
            source=data["source"],
            clock_ns=float(data["clock_ns"]),
            latency_cycles=(int(cycles["best"]), int(cycles["worst"])),
            latency_ns=float(data["latency_ns"]),
            ii=int(data["ii"]),
            resources={name: value for name, value in resources.items() if is_number(value)},
            part=data.get("part"),
            logic_depth=int(depth) if is_number(depth) else None,
            note=data.get("note"),
        )

    def write(self, directory: Path) -> Path:
        """Write ``directory/estimate.json`` (sorted keys, so the same estimate gives the same bytes)."""
        path = Path(directory) / FILE_NAME
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def read(cls, directory: Path) -> Estimate:
        """Read ``directory/estimate.json`` (what write() wrote)."""
        return parse(Path(directory) / FILE_NAME)

    @property
    def standard_resources(self) -> dict[str, int | float]:
        """The resources a budget can limit (LUT, FF, DSP, BRAM, URAM), in that order."""
        return in_resource_order(self.resources)


def sniff(path: Path, head: str) -> bool:
    return path.suffix == ".json"


def parse(path: Path) -> Estimate:
    return dataclasses.replace(Estimate.from_json(read_json(path, "estimate"), where=str(path)), path=path)
