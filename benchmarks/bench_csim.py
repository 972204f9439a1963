"""csim harness throughput vs hls4ml's own predict(), side by side in one run.

    python benchmarks/bench_csim.py [--model models/jet10] [--jets 1000000] [--predict-jets 200000]

Targets (issue 7): harness >= 2x faster than hls_model.predict() on the same jets, and 1 M jets in <= 20 s wall
on 2 cores for the jet10 encoder (wall = compile (cached) + firmware + QKeras reference + comparison).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from trigcomp.boards import get_board
from trigcomp.csim import make_inputs, run_csim
from trigcomp.data import load_jets
from trigcomp.hls import HlsOptions, convert_encoder, write_hls_project
from trigcomp.model import load_model

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(REPO / "models" / "jet10"))
    parser.add_argument("--data", default=str(REPO / "data" / "qcd.root"))
    parser.add_argument("--jets", type=int, default=1_000_000)
    parser.add_argument("--predict-jets", type=int, default=200_000)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()

    model = load_model(args.model)
    jets = load_jets(args.data, variables=model.variables)
    with tempfile.TemporaryDirectory() as tmp:
        options = HlsOptions(get_board("vu13p"), 5.0)
        project = write_hls_project(model, Path(tmp) / "prj", options, jets.values[:100])
        run_csim(project, model, jets.values, jets=20_000, adversarial=1_000)  # compile (cached afterwards)

        start = time.perf_counter()
        result = run_csim(
            project, model, jets.values, jets=args.jets, adversarial=args.jets // 20, processes=args.processes
        )
        wall = time.perf_counter() - start

        hls_model = convert_encoder(model.firmware_encoder(), options, Path(tmp) / "predict")
        hls_model.compile()
        x = make_inputs(jets.values, model.config.input_quantizer, args.predict_jets, 0, seed=1)
        start = time.perf_counter()
        predicted = hls_model.predict(x.astype(np.float32))
        predict_s = time.perf_counter() - start
        assert np.array_equal(predicted.reshape(len(x), -1), model.encode(x)), "predict() is not bit-exact"

    predict_rate = args.predict_jets / predict_s
    print(f"model {model.name}: {args.jets:,} jets, {result.mismatches} mismatches")
    print(f"csim harness, whole run (cached compile): {wall:6.1f} s wall  -> {args.jets / wall:10,.0f} jets/s")
    print(
        f"csim harness, firmware only ({args.processes} proc):   {result.seconds['firmware']:6.1f} s       -> "
        f"{result.jets_per_s:10,.0f} jets/s"
    )
    print(
        f"hls_model.predict() ({args.predict_jets:,} jets):    {predict_s:6.1f} s       -> {predict_rate:10,.0f} jets/s"
    )
    print(f"ratio harness (whole run) / predict: {args.jets / wall / predict_rate:.2f}x  (target >= 2x)")
    print(
        f"1 M jets wall target <= 20 s: {'met' if wall * 1e6 / args.jets <= 20 else 'NOT met'} "
        f"({wall * 1e6 / args.jets:.1f} s per 1 M jets)"
    )


if __name__ == "__main__":
    main()
