"""Verilator emulator build: CPU seconds of the build and images/s of the result, per set of Verilator flags.

    cd /work/main && PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/bench_verilator_build.py \
        --model models/towers8-conv --variant pipelined --flags "-Wall" "-Wall --output-split-cfuncs 1000"

Each flag set builds the emulator of one RTL project (written once, copied per flag set) from scratch, then runs
the same 100 k random inputs through it: the sha256 of the outputs must agree between flag sets (bit for bit).
CPU seconds are the build's children (verilator, make, g++), so they hold on a loaded machine where wall time does not.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from trigcomp.model import load_model
from trigcomp.rtl import load_project, write_rtl_project

simulate_module = importlib.import_module("trigcomp.rtl.simulate")  # the package re-exports simulate() by this name


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(project_dir: Path, variant: str, flags: str, inputs: np.ndarray) -> dict:
    simulate_module.VERILATOR_FLAGS = tuple(flags.split())
    project = load_project(project_dir)
    before = children_cpu()
    simulate_module.emulator(project, variant)
    build_cpu = children_cpu() - before
    start = time.process_time()
    latent = simulate_module.simulate(project, inputs, variant)
    run_cpu = time.process_time() - start
    return {
        "flags": flags,
        "build_cpu_s": round(build_cpu, 1),
        "images_per_cpu_s": round(len(inputs) / run_cpu),
        "outputs_sha256": hashlib.sha256(latent.tobytes()).hexdigest()[:16],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--variant", default="pipelined", choices=("pipelined", "combinational"))
    parser.add_argument("--flags", nargs="+", default=["-Wall", " ".join(simulate_module.VERILATOR_FLAGS)])
    parser.add_argument("--inputs", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-verilator-") as tmp:
        written = write_rtl_project(load_model(args.model).firmware_ir, Path(tmp) / "project")
        # exponential tower-like values; the harness quantizes them as the input port does
        inputs = np.round(np.random.default_rng(0).exponential(8.0, (args.inputs, written.n_inputs)) * 2) / 2
        for index, flags in enumerate(args.flags):
            copy = Path(tmp) / f"build{index}"
            shutil.copytree(written.path, copy)
            print(measure(copy, args.variant, flags, inputs), flush=True)


if __name__ == "__main__":
    main()
