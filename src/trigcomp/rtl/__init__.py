"""The open firmware path, no vendor tool: QKeras encoder -> da4ml 0.5.2 -> Verilog -> Verilator and Yosys.

* ``write_rtl_project(encoder, out, ...) -> RtlProject``: combinational and pipelined Verilog plus trigcomp.json
  (deterministic, atomic). ``encoder`` here and below: a QKeras encoder, or its description (trigcomp.ir.Encoder,
  e.g. ``model.firmware_ir``, which keeps per-variable input formats).
* ``simulate(project, inputs) -> latent`` and ``verify(encoder, project, inputs) -> RtlComparison``: Verilator,
  bit-exact against QKeras with ``trigcomp.compare.compare_words``.
* ``synthesize(project) -> YosysResult``: Yosys ``synth_xilinx -family xcup``; writes estimate.json.
* ``estimate(encoder) -> Estimate``: da4ml's cost model only (fast, no Yosys), the record of estimate.json.
* ``run_rtl(model, out, jets, ...) -> RtlResult``: all of the above for ``trigcomp rtl``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..ir import from_keras as parse_encoder
from ..reports.parsers.estimate import Estimate
from ..stimulus import counted_inputs, latent_ties, tie_rows, verilator_adversarial
from . import synth as _synth
from .project import VARIANTS, RtlProject, da4ml_estimate, load_project, write_rtl_project
from .simulate import RtlComparison, emulator, simulate, verify
from .synth import YosysResult, synthesize
from .tracing import as_encoder_ir, trace

__all__ = [
    "RtlComparison",
    "RtlProject",
    "RtlResult",
    "YosysResult",
    "estimate",
    "load_project",
    "parse_encoder",
    "rtl_stimulus",
    "run_rtl",
    "simulate",
    "synthesize",
    "verify",
    "write_rtl_project",
]

DEFAULT_PART = "xcvu13p-flga2577-2-e"
#: The ``stimulus`` keys of ``rtl --json`` (users' CI reads them: add keys, never rename one) -> the kinds of rows
#: of ``trigcomp.stimulus.counted_inputs`` they count.
STIMULUS_KEYS = {
    "real": "data",
    "jittered": "rounding_ties",
    "uniform": "uniform",
    "edges": "edges",
    "latent_ties": "extra",
}


def estimate(encoder, clock_ns: float = 5.0, pipeline_ns: float | None = None, part: str = DEFAULT_PART) -> Estimate:
    """da4ml's latency/resource estimate (source "estimate:da4ml"), no synthesis.

    The first call in a fresh environment compiles da4ml's serial solver with numba (~70 s CPU, cached afterwards).
    """
    traced = trace(as_encoder_ir(encoder))
    return da4ml_estimate(traced, traced.pipeline(clock_ns if pipeline_ns is None else pipeline_ns), clock_ns, part)


def rtl_stimulus(model, inputs: np.ndarray, jets: int) -> tuple[np.ndarray, dict[str, int]]:
    """The ``jets`` jets ``trigcomp rtl`` checks, from ``trigcomp.stimulus`` as every bit-exactness check's: the
    ``inputs`` resampled, then a fifth adversarial (at most 20,000; up to three quarters of them exact ties at the
    latent quantizer, the rest the input type's edge cases), and how many of each kind, the ``stimulus`` of
    ``rtl --json``: "real" (data jets), "jittered" (data jets moved onto a half-LSB rounding tie of the input
    type), "uniform" (random in the input range), "edges" (zeros, extremes, one-hot, just outside, huge, +-inf),
    "latent_ties"."""
    if not len(inputs):
        raise UserError("the RTL check needs at least one real jet")
    adversarial = verilator_adversarial(jets)
    ties = latent_ties(model, inputs, tie_rows(adversarial)) if adversarial else None
    x, counts = counted_inputs(inputs, model.input_quantizer, jets, adversarial, seed=0, extra_adversarial=ties)
    return x, {key: counts[kind] for key, kind in STIMULUS_KEYS.items()}


@dataclass
class RtlResult:
    project: RtlProject
    comparisons: dict[str, RtlComparison]
    stimulus: dict[str, int]
    synthesis: YosysResult | None
    estimate: Estimate
    seconds: dict[str, float] = field(default_factory=dict)
    test_jets: np.ndarray | None = field(default=None, repr=False)  # the checked jets (``stimulus`` counts them)

    @property
    def mismatches(self) -> int:
        """Jets whose firmware latent is wrong: differing from QKeras, except where QKeras's float32 arithmetic is
        itself inexact and the firmware matches exact fixed-point arithmetic (see RtlComparison)."""
        return sum(comparison.firmware_errors for comparison in self.comparisons.values())

    @property
    def qkeras_mismatches(self) -> int:
        return sum(comparison.mismatches for comparison in self.comparisons.values())

    def to_json(self) -> dict:
        return {
            "project": str(self.project.path),
            "pipeline_stages": self.project.pipeline_stages,
            "latency_cycles": self.project.latency_cycles,
            "clock_ns": self.project.clock_ns,
            "mismatches": self.mismatches,
            "qkeras_mismatches": self.qkeras_mismatches,
            "comparisons": {variant: comparison.to_json() for variant, comparison in self.comparisons.items()},
            "stimulus": self.stimulus,
            "synthesis": self.synthesis.to_json() if self.synthesis else None,
            "estimate": self.estimate.to_json(),
            "seconds": self.seconds,
        }

    def format_text(self) -> str:
        resources = self.estimate.resources
        lines = [
            (
                f"RTL project {self.project.path}: {self.project.pipeline_stages} pipeline stages, latency "
                f"{self.project.latency_cycles} cycles = {self.estimate.latency_ns:g} ns at "
                f"{self.project.clock_ns:g} ns"
            )
        ]
        for variant, comparison in self.comparisons.items():
            lines.append(
                f"  Verilator {variant}: {comparison.mismatches} of {comparison.jets} jets differ from QKeras, "
                f"{comparison.exact_mismatches} from exact fixed-point arithmetic ({comparison.saturated_jets} jets "
                "with saturated inputs)"
            )
            if comparison.qkeras_inexact_jets:
                lines.append(
                    f"    QKeras's float32 sums are inexact on {comparison.qkeras_inexact_jets} jets (accumulators "
                    "wider than 24 bits); those are not counted against the firmware where it matches exact arithmetic"
                )
        lines.append(
            f"  {self.estimate.source}: LUT {resources['LUT']}, FF {resources['FF']}, CARRY {resources['CARRY']},"
            f" DSP {resources['DSP']}, logic depth {self.estimate.logic_depth}"
        )
        return "\n".join(lines)


def run_rtl(
    model,
    out: Path,
    inputs: np.ndarray,
    clock_ns: float = 5.0,
    pipeline_ns: float | None = None,
    jets: int = 100_000,
    synthesize: bool = True,
    force: bool = False,
    board: str = "vu13p",
) -> RtlResult:
    """``trigcomp rtl``: write the project of a trained model's firmware encoder, check both variants bit-exactly
    in Verilator on ``jets`` jets built from ``inputs`` (raw jets), and synthesise the pipelined one with Yosys."""
    if jets < 1:
        raise UserError(f"--jets must be at least 1, got {jets}")
    seconds = {}
    start = time.monotonic()
    spec = model.firmware_ir
    project = write_rtl_project(
        spec,
        out,
        clock_ns=clock_ns,
        pipeline_ns=pipeline_ns,
        manifest={"model": {"name": model.name, "hash": model.hash, "variables": list(model.variables)}},
        force=force,
        board=board,
    )
    seconds["write"] = time.monotonic() - start
    start = time.monotonic()
    test_jets, parts = rtl_stimulus(model, inputs, jets)
    seconds["stimulus"] = time.monotonic() - start
    # The float model sees the same (saturated) inputs as the firmware, so the distance in LSB measures the
    # model's quantization, not the saturation of the far out-of-range test jets.
    float_latent = model.encode_float(spec.quantize_inputs(test_jets)[0])
    comparisons = {}
    for variant in VARIANTS:
        start = time.monotonic()
        emulator(project, variant)
        seconds[f"verilator_build_{variant}"] = time.monotonic() - start
        start = time.monotonic()
        comparisons[variant] = verify(model.firmware_encoder(), project, test_jets, variant, spec, float_latent)
        seconds[f"verilator_{variant}"] = time.monotonic() - start
    synthesis = None
    if synthesize:
        start = time.monotonic()
        synthesis = _synth.synthesize(project)
        seconds["yosys"] = time.monotonic() - start
    return RtlResult(
        project=project,
        comparisons=comparisons,
        stimulus=parts,
        synthesis=synthesis,
        estimate=Estimate.read(project.path),
        seconds={name: round(value, 1) for name, value in seconds.items()},
        test_jets=test_jets,
    )
