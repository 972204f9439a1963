"""Open RTL path benchmark: Yosys resources, pipeline, latency, Verilator vs da4ml-interpreter throughput.

    cd /work/main && PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/bench_rtl.py [--model models/jet10 ...]

Encoders: every trained model in models/ (or those given with --model), and always three synthetic encoders built
with trigcomp.rtl.synthetic (as the tests do): 4 -> 3, and 10 -> 32 -> 16 -> 8 with an 8-bit latent in two flavours
(the probe's 12-bit input, and a 20-bit input with a wide first layer as when the input normalisation is folded in).
Target for a jet10 encoder: <= 1 % of VU13P LUTs, 0 DSP, <= 50 ns at 200 MHz.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
from trigcomp.boards import get_board
from trigcomp.reports import Estimate
from trigcomp.rtl import parse_encoder, simulate, synthesize, verify, write_rtl_project
from trigcomp.rtl.synthetic import EncoderConfig, build_encoder, verification_inputs
from trigcomp.rtl.tracing import trace

SYNTHETIC = {
    "synthetic 4->3": EncoderConfig((4, 3), input_q=(12, 6), latent_q=(8, 3)),
    "synthetic 10->32->16->8 (12-bit in)": EncoderConfig((10, 32, 16, 8), seed=3),
    "synthetic 10->32->16->8 (20-bit in, wide first layer)": EncoderConfig(
        (10, 32, 16, 8),
        input_q=(20, 11),
        first_kernel_q=(16, 3),
        first_bias_q=(16, 8),
        kernel_q=(8, 0),
        bias_q=(12, 4),
        hidden_q=(8, 3),
        seed=4,
    ),
}
TARGET_LUT_FRACTION = 0.01
TARGET_LATENCY_NS = 50.0
THROUGHPUT_JETS = 1_000_000
CHECK_JETS = 100_000


def _encoders(model_paths: list[Path]) -> dict:
    encoders = {name: build_encoder(config) for name, config in SYNTHETIC.items()}
    for path in model_paths:
        if (path / "model.json").is_file():
            from trigcomp.model import load_model

            encoders[f"model {path.name}"] = load_model(path).firmware_encoder()
        else:
            print(f"(skipping {path}: no trained model there)", file=sys.stderr)
    return encoders


def _rate(function, jets: int) -> float:
    start = time.perf_counter()
    function()
    return jets / (time.perf_counter() - start)


def bench_one(name: str, encoder, workdir: Path) -> dict:
    spec = parse_encoder(encoder)
    start = time.perf_counter()
    project = write_rtl_project(encoder, workdir / name.replace(" ", "_").replace(">", ""), force=True)
    write_s = time.perf_counter() - start
    comb = trace(spec).comb

    start = time.perf_counter()
    check = verify(encoder, project, verification_inputs(encoder, CHECK_JETS))  # also builds the emulator
    verify_s = time.perf_counter() - start
    jets = spec.quantize_inputs(verification_inputs(encoder, THROUGHPUT_JETS)[:THROUGHPUT_JETS])[0]
    verilator_rate = _rate(lambda: simulate(project, jets, n_threads=1), len(jets))
    interpreter_rate = _rate(lambda: comb.predict(jets, n_threads=1), len(jets))

    start = time.perf_counter()
    yosys = synthesize(project)
    yosys_s = time.perf_counter() - start
    estimate = Estimate.read(project.path)
    return {
        "encoder": name,
        "shape": f"{spec.n_inputs}->{spec.n_outputs}",
        "da4ml_cost_LUT": round(comb.cost),
        "LUT": yosys.lut,
        "FF": yosys.ff,
        "CARRY": yosys.carry,
        "DSP": yosys.dsp,
        "logic_depth": yosys.logic_depth,
        "stages": project.pipeline_stages,
        "latency_ns": estimate.latency_ns,
        "verilator_jets_per_s": verilator_rate,
        "interpreter_jets_per_s": interpreter_rate,
        "mismatches": check.mismatches,
        "qkeras_inexact_jets": check.qkeras_inexact_jets,
        "firmware_errors": check.firmware_errors,
        "checked_jets": check.jets,
        "seconds": {"write": write_s, "verilator_build_and_check": verify_s, "yosys": yosys_s},
    }


def _table(rows: list[dict]) -> str:
    header = (
        "| encoder | Yosys LUT | FF | CARRY4 | DSP | depth | da4ml LUT | stages | latency ns | Verilator jets/s "
        "| da4ml interp. jets/s | ratio | vs QKeras (QKeras inexact) | firmware errors |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        lines.append(
            f"| {row['encoder']} ({row['shape']}) | {row['LUT']:,} | {row['FF']:,} | {row['CARRY']:,} | {row['DSP']} "
            f"| {row['logic_depth']} | {row['da4ml_cost_LUT']:,} | {row['stages']} | {row['latency_ns']:g} "
            f"| {row['verilator_jets_per_s']:,.0f} | {row['interpreter_jets_per_s']:,.0f} "
            f"| {row['verilator_jets_per_s'] / row['interpreter_jets_per_s']:.2f} "
            f"| {row['mismatches']} / {row['checked_jets']:,} ({row['qkeras_inexact_jets']}) | {row['firmware_errors']} |"
        )
    return "\n".join(lines)


def _target(rows: list[dict]) -> str:
    vu13p_luts = get_board("vu13p").totals["LUT"]
    budget = TARGET_LUT_FRACTION * vu13p_luts
    lines = [f"\nTarget (jet10-like encoders): LUT <= {budget:,.0f} (1 % of VU13P), 0 DSP, <= {TARGET_LATENCY_NS:g} ns"]
    for row in rows:
        if not row["shape"].startswith("10->"):
            continue
        met = row["LUT"] <= budget and row["DSP"] == 0 and row["latency_ns"] <= TARGET_LATENCY_NS
        lines.append(
            f"- {row['encoder']}: {row['LUT']:,} LUT ({100 * row['LUT'] / vu13p_luts:.2f} %), {row['DSP']} DSP, "
            f"{row['latency_ns']:g} ns -> {'met' if met else 'NOT met'}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", type=Path, help="trained model dir (repeatable; default: models/*)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    models = args.model if args.model is not None else sorted(p.parent for p in (REPO / "models").glob("*/model.json"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_rtl.") as tmp:
        for name, encoder in _encoders(models).items():
            print(f"... {name}", file=sys.stderr, flush=True)
            rows.append(bench_one(name, encoder, Path(tmp)))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(_table(rows))
    print(_target(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
