"""Three implementations agree: exact QKeras, HLS C-simulation and Verilator RTL, word by word on the same jets.

    PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/bench_three_way.py [--jets 10000000] [--model models/jet4 ...]

For each reference model (default: every model under models/ used in CI, jet4 and jet10): an HLS project and an
RTL project are written to a temporary directory, then --jets jets (data resampled + 5 % adversarial, csim's
stimulus, in chunks of --chunk jets with a new seed each) go through all three. Prints jets/s of each
implementation and the jets on which any two differ; exit 1 on any disagreement. Issue 15 asks for >= 10 M jets
per model (the default); not run in CI (about an hour per model on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from trigcomp.agreement import PAIRS, agree
from trigcomp.boards import get_board
from trigcomp.csim import make_inputs
from trigcomp.data import load_jets
from trigcomp.hls import HlsOptions, write_hls_project
from trigcomp.model import load_model
from trigcomp.rtl import write_rtl_project

REPO = Path(__file__).resolve().parents[1]


def bench_model(model_dir: Path, data: Path, jets: int, chunk: int, processes: int) -> int:
    model = load_model(model_dir)
    values = load_jets(str(data), variables=model.variables).values
    with tempfile.TemporaryDirectory(prefix="trigcomp-three-way-") as tmp:
        hls = write_hls_project(model, Path(tmp) / "hls", HlsOptions(get_board("vu13p"), 5.0), values[:100])
        rtl = write_rtl_project(model.firmware_encoder(), Path(tmp) / "rtl", manifest={"model": {"hash": model.hash}})
        seconds = dict.fromkeys(("qkeras", "csim", "rtl"), 0.0)
        differ = dict.fromkeys((f"{b}_vs_{a}" for a, b in PAIRS), 0)
        disagree, done, start = 0, 0, time.perf_counter()
        for seed, first in enumerate(range(0, jets, chunk)):
            n = min(chunk, jets - first)
            x = make_inputs(values, model.config.input_quantizer, n, n // 20, seed)
            result = agree(model, hls, rtl, x, processes)
            disagree += result.mismatches
            for name, comparison in result.comparisons.items():
                differ[name] += comparison.mismatches
            for name, value in result.seconds.items():
                seconds[name] += value
            done += n
            print(f"  {model.name}: {done:,} jets, {disagree} disagreeing", file=sys.stderr, flush=True)
        wall = time.perf_counter() - start
    print(f"model {model.name}: {done:,} jets (5 % adversarial), {wall:.0f} s wall")
    for name, value in seconds.items():
        print(f"  {name:7s} {value:8.1f} s  -> {done / max(value, 1e-9):12,.0f} jets/s")
    print("  " + ", ".join(f"{name.replace('_vs_', ' vs ')}: {count} differ" for name, count in differ.items()))
    return disagree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", default=[str(REPO / "models" / m) for m in ("jet4", "jet10")])
    parser.add_argument("--data", default=str(REPO / "data" / "qcd.root"))
    parser.add_argument("--jets", type=int, default=10_000_000, help="jets per model (default 10 M)")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="jets per pass (bounds the memory)")
    parser.add_argument("--processes", type=int, default=2, help="csim processes and Verilator threads")
    args = parser.parse_args()
    disagree = sum(bench_model(Path(m), Path(args.data), args.jets, args.chunk, args.processes) for m in args.model)
    print("all three agree on every jet" if not disagree else f"DISAGREEMENT on {disagree} jets")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
