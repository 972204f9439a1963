"""Three implementations of one encoder agree word by word: the exact QKeras reference, the HLS C-simulation
(the project's C++ through g++) and the Verilator RTL (da4ml Verilog).

All three get the same stimulus, csim's: data jets resampled plus adversarial jets (zeros, extremes, just outside
the input range, rounding ties, random in range), float32-exact. The input quantizer of each implementation
(round half to even, saturate) turns them into the same input words.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .compare import Comparison, compare_words, to_words
from .csim import build_testbench, make_inputs, run_testbench, unpack_latent
from .errors import UserError
from .hls import HlsProject
from .hls import load_project as load_hls_project
from .model import EncoderModel
from .rtl import RtlProject, simulate
from .rtl import load_project as load_rtl_project

#: The pairs compared, each (a, b): "b against a".
PAIRS = (("qkeras", "csim"), ("qkeras", "rtl"), ("csim", "rtl"))


@dataclass(frozen=True)
class Agreement:
    jets: int
    mismatches: int  # jets on which any two implementations differ
    comparisons: dict[str, Comparison]  # "csim_vs_qkeras", "rtl_vs_qkeras", "rtl_vs_csim"
    seconds: dict[str, float]  # per implementation: "qkeras", "csim", "rtl"

    @property
    def jets_per_s(self) -> dict[str, float]:
        return {name: self.jets / max(seconds, 1e-9) for name, seconds in self.seconds.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "jets": self.jets,
            "mismatches": self.mismatches,
            "comparisons": {
                name: {"mismatches": c.mismatches, "mismatch_indices": list(c.mismatch_indices)}
                for name, c in self.comparisons.items()
            },
            "jets_per_s": {name: round(rate) for name, rate in self.jets_per_s.items()},
            "seconds": {name: round(seconds, 3) for name, seconds in self.seconds.items()},
        }

    def format_text(self) -> str:
        lines = [f"three-way agreement on {self.jets} jets (same stimulus for all):"]
        for name, comparison in self.comparisons.items():
            lines.append(f"  {name.replace('_vs_', ' vs ')}: {comparison.mismatches} jets differ")
        rates = ", ".join(f"{name} {rate:,.0f}" for name, rate in self.jets_per_s.items())
        lines.append(f"  jets/s: {rates}")
        return "\n".join(lines)


def check_same_model(model: EncoderModel, hls_project: HlsProject, rtl_project: RtlProject) -> None:
    for kind, project in (("HLS", hls_project), ("RTL", rtl_project)):
        if project.model_hash != model.hash:
            raise UserError(f"the {kind} project {project.path} was made from another model than {model.name}")


def agree(
    model: EncoderModel,
    hls_project: HlsProject,
    rtl_project: RtlProject,
    x: np.ndarray,
    processes: int = 2,
    variant: str = "pipelined",
) -> Agreement:
    """Run the jets ``x`` (float32-exact rows) through all three and compare every latent word of every jet."""
    check_same_model(model, hls_project, rtl_project)
    lsb = model.latent_lsb
    latent, seconds = {}, {}
    start = time.perf_counter()
    latent["qkeras"] = np.asarray(model.encode(x), dtype=np.float64)
    seconds["qkeras"] = time.perf_counter() - start

    binary, _ = build_testbench(hls_project)  # compiled (or taken from the cache) outside the timing
    start = time.perf_counter()
    words = run_testbench(binary, x, hls_project, processes)
    codes = unpack_latent(words, hls_project.n_latent, hls_project.latent_bits, hls_project.link_width)
    latent["csim"] = codes * lsb
    seconds["csim"] = time.perf_counter() - start

    simulate(rtl_project, x[:1], variant)  # builds the Verilator model once, outside the timing
    start = time.perf_counter()
    latent["rtl"] = simulate(rtl_project, x, variant, n_threads=processes)
    seconds["rtl"] = time.perf_counter() - start

    comparisons = {f"{b}_vs_{a}": compare_words(latent[a], latent[b], lsb) for a, b in PAIRS}
    words = {name: to_words(values, lsb) for name, values in latent.items()}
    # all three equal <=> csim and rtl both equal qkeras
    disagree = ((words["csim"] != words["qkeras"]) | (words["rtl"] != words["qkeras"])).any(axis=1)
    return Agreement(len(x), int(disagree.sum()), comparisons, seconds)


def rtl_against_csim(
    model: EncoderModel,
    rtl_project: RtlProject | Path,
    hls_dir: str | Path,
    data: np.ndarray,
    jets: int,
    seed: int = 0,
    processes: int = 2,
) -> Agreement:
    """``trigcomp rtl --against-csim HLS_PROJECT``: csim's stimulus (5 % adversarial) through all three."""
    x = make_inputs(data, model.input_quantizer, jets, min(50_000, jets // 20), seed)
    return agree(model, load_hls_project(hls_dir), load_rtl_project(rtl_project), x, processes)
