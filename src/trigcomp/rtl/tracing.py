"""Trace the encoder with da4ml 0.5.2 (numpy tracing; distributed arithmetic for the constant matrices).

QKeras rounds half to even and clips; da4ml offers only truncation (TRN) and half-up rounding (RND), so rounding
is built from primitives (see ``_round_half_even``). The trace is cached per encoder digest: estimate() and
write_rtl_project() on the same encoder solve the constant matrices once.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from decimal import Decimal
from importlib.metadata import version

import numpy as np

from ..errors import UserError
from ..ir import Dense, Encoder, FixedPoint, Quantize, from_keras

# numba (under da4ml's solver) would start a thread per core on a machine shared by several jobs; must be set
# before numba is first imported.
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

DA4ML_VERSION = version("da4ml")

#: ns -> da4ml cutoff. da4ml's latency unit with HWConfig(1, -1, -1) is one adder level, whatever its width.
#: On UltraScale+ (-2) one level is a LUT, a carry chain of ~16-24 bits and the route to the next adder: about
#: ADDER_LEVEL_NS. REGISTER_OVERHEAD_NS covers clock-to-out, setup and clock uncertainty. A 5 ns period thus
#: holds (5 - 0.5) / 1.0 -> 4 adder levels per stage. These are estimates until a vendor timing report exists.
ADDER_LEVEL_NS = 1.0
REGISTER_OVERHEAD_NS = 0.5
#: da4ml's hardware model: adder cost counted per bit, latency one unit per adder (see the note above).
_HWCONF = (1, -1, -1)
#: Extra adder depth the CMVM solver may add beyond the minimum to share more terms (da4ml's recommendation).
_SOLVER_OPTIONS = {"hard_dc": 2}


def cutoff_levels(pipeline_ns: float) -> int:
    """Adder levels allowed in one pipeline stage of pipeline_ns (at least one)."""
    return max(1, math.floor((pipeline_ns - REGISTER_OVERHEAD_NS) / ADDER_LEVEL_NS + 1e-9))


@dataclass(frozen=True)
class Traced:
    comb: object  # da4ml CombLogic of the whole encoder
    accumulators: tuple[dict, ...]  # per Dense step: the format da4ml derived for its output

    @property
    def levels(self) -> int:
        return int(self.comb.latency[1])

    def pipeline(self, pipeline_ns: float) -> Pipelined:
        """Split into stages of at most cutoff_levels(pipeline_ns) adder levels (da4ml then retimes them)."""
        from da4ml.trace import to_pipeline

        cutoff = cutoff_levels(pipeline_ns)
        return Pipelined(to_pipeline(self.comb, cutoff, verbose=False), cutoff)


@dataclass(frozen=True)
class Pipelined:
    pipe: object  # da4ml Pipeline
    cutoff_levels: int

    @property
    def stages(self) -> int:
        return len(self.pipe.solutions)

    @property
    def latency_cycles(self) -> int:
        # da4ml registers the input and each stage's output: the result leaves `stages` clocks after capture.
        return self.stages

    @property
    def deepest_stage_levels(self) -> int:
        """Adder levels in the deepest stage: each stage starts at the latency of its (registered) inputs."""
        return int(max(stage.latency[1] - min(stage.inp_latency, default=0.0) for stage in self.pipe.solutions))

    @property
    def register_bits(self) -> int:
        return int(self.pipe.reg_bits)


def _constant_matmul(x, kernel: np.ndarray):
    """``x @ kernel`` with the solution da4ml 0.5.2 finds for it, without compiling its ``parallel=True`` ``solve``.

    ``solve`` tries each decomposition depth with the serial ``jit_solve`` (in a numba parallel loop) and solves the
    cheapest again; this does the same loop in Python. On a machine without da4ml's numba cache, compiling
    ``solve`` costs about as much again as ``jit_solve`` alone, to run 2-4 solves on one thread.
    """
    from da4ml.cmvm.api import jit_solve
    from da4ml.trace import FixedVariableArray

    from .solver_inputs import solver_inputs

    options, hwconf = x.solver_options, x._vars.ravel()[0].hwconf
    hard_dc = options["hard_dc"]
    qintervals, latencies = solver_inputs(x._vars.ravel())
    # What da4ml's cmvm() hands to solve(), and solve() to jit_solve(): the array's solver options (filled with
    # solve()'s defaults, so the hardware's adder and carry sizes only where those are absent).
    arguments = {
        "qintervals": qintervals,
        "latencies": latencies,
        "method0": options["method0"],
        "method1": options["method1"],
        "hard_dc": hard_dc,
        "adder_size": options.get("adder_size", hwconf.adder_size),
        "carry_size": options.get("carry_size", hwconf.carry_size),
    }
    matrix = np.ascontiguousarray(np.asarray(kernel).astype(np.float32))
    depths = range(-1, min(hard_dc, math.ceil(math.log2(matrix.shape[0]))) + 1)
    costs = [_cost(jit_solve(matrix, decompose_dc=depth, **arguments)) for depth in depths]
    solution = jit_solve(matrix, decompose_dc=depths[int(np.argmin(costs))], **arguments)
    return FixedVariableArray(solution(x._vars), options)


def _cost(solution) -> float:
    """What solve() ranks the depths by: the solution's operation costs summed."""
    return sum(sum(op.cost for op in stage.ops) for stage in solution.solutions)


def _format_of(array) -> dict:
    """The smallest common (signed, integer, fractional) holding every element of a traced array."""
    k, i, f = (int(np.max(part)) for part in array.kif)
    return {"signed": bool(k), "integer": i, "fractional": f, "bits": k + i + f}


def _round_half_even(value, fmt: FixedPoint):
    """value -> fmt with QKeras semantics: round half to even, then saturate (clip(round(x)), as QKeras does).

    With F fractional bits in and f < F out: floor(v + 2^-f/2 - 2^-F + odd * 2^-F) is round-half-even, where odd
    is v's bit of weight 2^-f (a tie rounds up only from an odd word).
    """
    k, i, f = int(fmt.signed), fmt.integer, fmt.fractional
    current_k, current_i, current_f = (int(part) for part in value.kif)
    if current_f > f:
        odd = value.quantize(0, 1 - f, f, "WRAP", "TRN")
        value = value + (2.0 ** (-f - 1) - 2.0**-current_f) + odd * 2.0 ** (f - current_f)
        current_k, current_i, _ = (int(part) for part in value.kif)
        value = value.quantize(current_k, current_i, f, "WRAP", "TRN")  # wide enough not to wrap: floor only
    return _saturate(value, fmt).quantize(k, i, f, "WRAP", "TRN")


def _saturate(value, fmt: FixedPoint):
    """Clip to fmt's word range with multiplexers against constants of scale 1.

    da4ml's own SAT (max_of / min_of) builds its bound constants at the operand's scale factor; after a few
    layers of constant matrices that factor is ~2^-37 and the constants are emitted wrongly (every jet of a
    10 -> 32 -> 16 -> 8 encoder with a 20-bit input differed). msb_mux makes its constant operands at scale 1.
    """
    low, high = (Decimal(word) * Decimal(fmt.lsb) for word in fmt.word_range)
    if value.high > high:  # key < 0 while value < high: keep value, else the bound
        value = (value - high).msb_mux(value, high, qint=(min(value.low, high), high, value.step))
    if value.low < low:  # key < 0 while value < low: the bound, else keep value
        value = (value - low).msb_mux(low, value, qint=(low, max(value.high, low), value.step))
    return value


def as_encoder_ir(encoder) -> Encoder:
    """The firmware description of ``encoder``: given as one (trigcomp.ir), or parsed from a QKeras model."""
    return encoder if isinstance(encoder, Encoder) else from_keras(encoder)


def _trace(spec: Encoder) -> Traced:
    from da4ml.trace import FixedVariableArray, FixedVariableArrayInput, HWConfig, comb_trace

    port = FixedVariableArrayInput((spec.n_inputs,), hwconf=HWConfig(*_HWCONF), solver_options=_SOLVER_OPTIONS)
    formats = spec.input.formats
    # The input port carries the already quantized input word, each value in its own format (simulate()
    # quantizes in software first): da4ml sizes the first layer's adders by these ranges.
    x = port.quantize([int(f.signed) for f in formats], [f.integer for f in formats], [f.fractional for f in formats])
    accumulators = []
    for step in spec.steps:
        if isinstance(step, Dense):
            kernel, bias = step.matrix()
            x = _constant_matmul(x, kernel) + bias
            accumulators.append({"layer": step.name, "format": _format_of(x)})
        elif isinstance(step, Quantize):
            x = FixedVariableArray(np.array([_round_half_even(v, step.format) for v in x._vars]), x.solver_options)
    comb = comb_trace(port, x)
    if comb.lookup_tables:
        raise UserError("the traced encoder uses lookup tables, which the Yosys flow does not read")
    return Traced(comb=comb, accumulators=tuple(accumulators))


_TRACES: dict[str, Traced] = {}


def trace(spec: Encoder) -> Traced:
    """The da4ml trace of spec, cached by the encoder digest (one encoder at a time keeps memory bounded)."""
    digest = spec.digest()
    if digest not in _TRACES:
        _TRACES.clear()
        _TRACES[digest] = _trace(spec)
    return _TRACES[digest]
