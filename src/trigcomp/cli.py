"""The ``trigcomp`` command line: one verb per stage, ``--json`` for machines.

Exit codes (a contract for CI scripts): 0 ok; 1 a check failed (csim mismatch, budget exceeded);
2 bad input or usage (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from .errors import CheckFailed, UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT / "data" / "qcd.root"
DEFAULT_RUN_CONFIG = REPO_ROOT / "configs" / "run.toml"


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, sort_keys=True, default=str))
    else:
        print(text)


def _process_help() -> str:
    try:
        from .generate import describe_processes
    except ImportError:  # the generate extra is not installed: the verb itself says so
        return "qcd, ttbar, zprime, wjets"
    return describe_processes().replace("\n", "; ")


def _default_data(value: str | None) -> list[str]:
    if value:
        return [value]
    if not DEFAULT_DATA.is_file():
        raise UserError(f"no --data given and the bundled sample {DEFAULT_DATA} is missing")
    return [str(DEFAULT_DATA)]


# ---------------------------------------------------------------------------------------------------------------
# Verbs
# ---------------------------------------------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> int:
    from .generate import generate

    result = generate(
        args.process,
        args.events,
        args.seed,
        args.out,
        processes=args.processes,
        force=args.force,
        progress=not args.json,
        pt_min=args.pt_min,
    )
    payload = result.to_json()
    _emit(args, payload, f"wrote {payload['jets']} jets from {payload['events']} {args.process} events to {args.out}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .data import inspect_file

    inspection = inspect_file(args.file, preset=args.preset, mapping=args.mapping)
    _emit(args, inspection.to_json(), inspection.format_text())
    return 0


def _load(args: argparse.Namespace, paths: list[str], variables) -> Any:
    from .data import load_jets

    return load_jets(
        paths,
        preset=args.preset,
        variables=variables,
        mapping=args.mapping,
        pt_min=args.pt_min,
        eta_max=args.eta_max,
        leading=args.leading,
        strict=args.strict,
        progress=not args.json,
    )


def _train_and_save(config, jets, out: Path, force: bool, progress: bool):
    from .model import prepare_output_dir, save_model, train

    prepare_output_dir(out, force).rmdir()  # refuse an existing model dir before spending minutes training
    start = time.perf_counter()
    model = train(config, jets, progress=progress)
    seconds = time.perf_counter() - start
    return save_model(model, out, force=force), seconds


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .model import resolve_model_variables

    config = load_config(args.config)
    jets = _load(args, args.data, resolve_model_variables(config.variables))
    model, seconds = _train_and_save(config, jets, Path(args.out), args.force, not args.json)
    payload = {"model": str(model.path), "hash": model.hash, "seconds": round(seconds, 1)} | model.info
    metrics = model.info["metrics"]
    _emit(
        args,
        payload,
        f"trained {model.name} ({metrics['bits_per_jet']} bits/jet) in {seconds:.0f} s: "
        f"val loss {metrics['best_val_loss']:.4f} -> {model.path}",
    )
    return 0


def _baseline_training_jets(model, args):
    """The model's own training jets (for fitting baselines), when its training files are still there."""
    from .model import split_events

    sources = [s for s in model.info.get("training", {}).get("sources", []) if Path(s).is_file()]
    if not sources:
        return None
    jets = _load(args, sources, model.variables)
    cfg = model.config.training
    train_mask, _, _ = split_events(jets.event_index, model.config.seed, cfg.validation_fraction, cfg.test_fraction)
    return jets.values[train_mask]


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate, render_markdown, write_report
    from .model import load_model

    model = load_model(args.model)
    jets = _load(args, args.data, model.variables)
    others = tuple(load_model(path) for path in args.compare or ())
    evaluation = evaluate(model, jets, baseline_train=_baseline_training_jets(model, args), others=others)
    if args.out:
        write_report(evaluation, model, jets, Path(args.out))
    _emit(args, evaluation.to_json(), render_markdown(evaluation))
    return 0


def _board(args: argparse.Namespace):
    from .boards import board_for_part, get_board

    if args.part:
        return board_for_part(args.part)
    return get_board(args.board)


def cmd_hls(args: argparse.Namespace) -> int:
    from .hls import HlsOptions, write_hls_project
    from .model import load_model

    model = load_model(args.model)
    board = _board(args)
    options = HlsOptions(
        board=board,
        clock_ns=args.clock_ns if args.clock_ns is not None else board.clock_ns,
        backend=args.backend,
        strategy=args.strategy,
        reuse=args.reuse,
        io=args.io,
        link_width=args.link_width,
    )
    options.check()
    jets = _load(args, _default_data(args.data), model.variables)
    project = write_hls_project(model, Path(args.out), options, jets.values[: args.tb_jets], force=args.force)
    _emit(
        args,
        project.to_json(),
        f"wrote {options.backend} HLS project for {board.part} "
        f"({options.strategy}, {options.clock_ns} ns) to {project.path}",
    )
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from .hls import build_project, load_project

    result = build_project(load_project(args.project), csynth=args.csynth, vsynth=args.vsynth)
    _emit(args, result, f"{result['tool']} finished: reports are under {args.project}")
    return 0


def _csim(project, model, data_values, args):
    from .csim import run_csim

    return run_csim(
        project,
        model,
        data_values,
        jets=args.jets,
        adversarial=args.adversarial if args.adversarial is not None else min(50_000, args.jets // 20),
        processes=args.processes,
        seed=args.seed,
        progress=not args.json,
    )


def _csim_text(result) -> str:
    lines = [
        (
            f"{result.jets} jets ({result.data_jets} data, {result.adversarial_jets} adversarial): "
            f"{result.mismatches} mismatches vs QKeras"
        ),
        (
            f"distance to the float model (data jets): max {result.max_lsb_vs_float:.3g} LSB, "
            f"mean {result.mean_lsb_vs_float:.3g} LSB"
        ),
        f"saturated: {result.saturated}",
        result.weights["summary"],
        f"firmware throughput: {result.jets_per_s:,.0f} jets/s ({'cached' if result.compiled_from_cache else 'compiled'})",
    ]
    if result.first_mismatch:
        fm = result.first_mismatch
        lines += [
            f"FIRST MISMATCH at row {fm['row']}: expected {fm['expected_words']}, firmware {fm['firmware_words']}",
            f"first diverging layer: {fm['first_divergent_layer']}",
        ]
    return "\n".join(lines)


def cmd_csim(args: argparse.Namespace) -> int:
    from .hls import load_project
    from .model import load_model

    project = load_project(args.project)
    model = load_model(project.path / project.manifest["model"]["dir"])
    jets = _load(args, _default_data(args.data), model.variables)
    result = _csim(project, model, jets.values, args)
    _emit(args, result.to_json(), _csim_text(result))
    if result.mismatches:
        raise CheckFailed(f"csim: {result.mismatches} of {result.jets} jets differ from the QKeras model")
    if not result.passed:
        raise CheckFailed(f"csim: {result.weights['summary']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .reports import check_budget, load_budget, read_report, render_markdown, render_text, result_json

    board = _board(args) if (args.board or args.part) else None
    report = read_report(Path(args.path), board=board)
    check = check_budget(report, load_budget(args.budget)) if args.budget else None
    render = render_markdown if args.markdown else render_text
    _emit(args, result_json(report, check), render(report, check))
    if check is not None and not check.within_budget:
        raise CheckFailed("over budget")
    return 0


def cmd_rtl(args: argparse.Namespace) -> int:
    from .model import load_model
    from .rtl import run_rtl

    model = load_model(args.model)
    jets = _load(args, _default_data(args.data), model.variables)
    result = run_rtl(
        model,
        Path(args.out),
        jets.values,
        clock_ns=args.clock_ns,
        pipeline_ns=args.pipeline_ns,
        jets=args.jets,
        synthesize=not args.no_synth,
        force=args.force,
    )
    payload, text = result.to_json(), result.format_text()
    if args.against_csim:
        from .agreement import rtl_against_csim

        agreement = rtl_against_csim(model, result.project, args.against_csim, jets.values, args.jets)
        payload, text = payload | {"against_csim": agreement.to_json()}, text + "\n" + agreement.format_text()
    _emit(args, payload, text)
    if result.mismatches:
        raise CheckFailed(f"rtl: {result.mismatches} jets differ from the QKeras model")
    if args.against_csim and agreement.mismatches:
        raise CheckFailed(f"rtl --against-csim: QKeras, csim and Verilator disagree on {agreement.mismatches} jets")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .run import run_pipeline

    summary = run_pipeline(args, _load)
    _emit(args, summary, (Path(args.out) / "summary.md").read_text())
    if not summary["csim"]["passed"]:
        csim = summary["csim"]
        raise CheckFailed(f"csim: {csim['mismatches']} mismatching jets; {csim['weights']['summary']}")
    return 0


# ---------------------------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------------------------


def _add_data_options(p: argparse.ArgumentParser, data_help: str | None = None, required: bool = False) -> None:
    if data_help is not None:
        p.add_argument("--data", nargs="+" if required else None, required=required, help=data_help)
    g = p.add_argument_group("jet selection")
    g.add_argument("--preset", help="input format: nanoaod, physlite, delphes, pxpypze (default: detected)")
    g.add_argument("--mapping", help="custom branch mapping TOML (see configs/mapping-example.toml)")
    g.add_argument("--pt-min", type=float, default=0.0, help="keep jets with pt above this [GeV] (default 0)")
    g.add_argument("--eta-max", type=float, help="keep jets with |eta| below this")
    g.add_argument("--leading", type=int, help="keep the N leading jets per event")
    g.add_argument("--strict", action="store_true", help="NaN/inf values are an error instead of being dropped")


def _add_board_options(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--board", help="named board: vu9p, vu13p, ku15p")
    g.add_argument("--part", help="any Xilinx part, e.g. xcvu13p-flga2577-2-e")


def _add_csim_options(p: argparse.ArgumentParser, jets: int) -> None:
    p.add_argument("--jets", type=int, default=jets, help=f"jets to simulate in total (default {jets:,})")
    p.add_argument(
        "--adversarial",
        type=int,
        default=None,
        help="of those, edge-case jets: zeros, extremes, just out of range, rounding ties "
        "(default: 5 %%, at most 50,000; with run: 20,000)",
    )
    p.add_argument("--processes", type=int, default=2, help="parallel test-bench processes (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed for resampling and adversarial jets")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="trigcomp",
        formatter_class=fmt,
        description="Trigger jets -> quantization-aware autoencoder -> bit-exact FPGA compression firmware.",
        epilog="Exit codes: 0 ok, 1 a check failed (csim mismatch, budget exceeded), 2 bad input or usage.\n"
        "Start with `trigcomp run` (the whole chain on the bundled sample), then each verb's --help.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (to stderr)")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, help_: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=description, formatter_class=fmt)
        p.add_argument("--json", action="store_true", help="print a JSON result on stdout instead of text")
        return p

    p = verb(
        "generate",
        "generate jets with Pythia 8 + FastJet",
        "In: a process name, events, seed. Out: a NanoAOD-"
        "style ROOT file (Events tree, nJet, Jet_pt/eta/phi/mass/energy fractions/nConstituents).\n"
        "Needs the generate extra: pip install 'trigcomp[generate]'.\n\n"
        "example: trigcomp generate --process qcd --events 2000 --seed 1 --out qcd.root --processes 2",
    )
    p.add_argument("--process", required=True, help="one of: " + _process_help())
    p.add_argument("--events", type=int, required=True, help="number of events")
    p.add_argument("--seed", type=int, default=1, help="random seed: same seed, same jets")
    p.add_argument("--out", required=True, help="output ROOT file")
    p.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--pt-min", type=float, default=20.0, help="jet pt threshold [GeV] (default 20)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=cmd_generate)

    p = verb(
        "inspect",
        "summarise the jets in a ROOT file",
        "In: a ROOT file (TTree or RNTuple). Out: events, jets, "
        "the format preset and, per variable, branch, unit, range, mean and NaN/inf counts.\n\n"
        "example: trigcomp inspect data/qcd.root --json",
    )
    p.add_argument("file", help="ROOT file")
    p.add_argument("--preset", help="nanoaod, physlite, delphes, pxpypze (default: detected)")
    p.add_argument("--mapping", help="custom branch mapping TOML")
    p.set_defaults(func=cmd_inspect)

    p = verb(
        "train",
        "train a quantization-aware autoencoder",
        "In: a model config (TOML) and jets. Out: a self-"
        "describing model dir (model.json with config, normalisation, data hash, versions; weights.json; "
        "metrics.json).\nSame config + seed -> same weights.\n\n"
        "example: trigcomp train --config configs/jet10.toml --data data/qcd.root --out models/jet10",
    )
    p.add_argument("--config", required=True, help="model config TOML (see configs/)")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing model directory")
    _add_data_options(p, "ROOT file(s) or globs with the training jets", required=True)
    p.set_defaults(func=cmd_train)

    p = verb(
        "evaluate",
        "resolution and equal-bit baselines",
        "In: a model dir and jets. Out: per-variable bias, "
        "sigma (68 % half-width) and RMS on held-out jets, also in pt bins; the same at equal bits per jet for "
        "per-variable fixed point and float with a cut mantissa; a rate-distortion table.\nWith --out: "
        "evaluation.md, evaluation.json and plots.\n\n"
        "example: trigcomp evaluate --model models/jet10 --data data/ttbar.root --out out/eval-ttbar",
    )
    p.add_argument("--model", required=True, help="model directory")
    p.add_argument("--out", help="directory for the Markdown report, JSON and plots")
    p.add_argument(
        "--compare", nargs="+", metavar="MODEL", help="more model dirs to place on the rate-distortion curve"
    )
    _add_data_options(p, "ROOT file(s) to evaluate on", required=True)
    p.set_defaults(func=cmd_evaluate)

    p = verb(
        "hls",
        "write an HLS project for a board",
        "In: a model dir and a board. Out: an hls4ml project of the "
        "encoder (bit_exact), trigcomp's top level and test bench, test-bench data and a manifest "
        "trigcomp.json. Byte-identical for the same inputs; written atomically.\n\n"
        "example: trigcomp hls --model models/jet10 --board vu13p --out hls_projects/jet10",
    )
    p.add_argument("--model", required=True, help="model directory")
    _add_board_options(p, required=True)
    p.add_argument("--clock-ns", type=float, help="clock period in ns (default: the board's)")
    p.add_argument("--backend", default="vivado", help="vivado or vitis (default vivado)")
    p.add_argument("--strategy", default="latency", help="latency, resource or distributed_arithmetic")
    p.add_argument("--reuse", type=int, default=1, help="reuse factor (default 1: fully parallel)")
    p.add_argument("--io", default="parallel", help="io type: parallel or stream (default parallel)")
    p.add_argument("--link-width", type=int, default=64, help="output link word width in bits: 16, 32 or 64")
    p.add_argument("--out", required=True, help="project directory, e.g. hls_projects/NAME")
    p.add_argument("--force", action="store_true", help="overwrite an existing project")
    p.add_argument("--tb-jets", type=int, default=1000, help="jets written as test-bench data (default 1000)")
    _add_data_options(p, "ROOT file with test-bench jets (default: the bundled sample)")
    p.set_defaults(func=cmd_hls)

    p = verb(
        "build",
        "run vendor HLS synthesis",
        "In: a project dir. Runs vivado_hls or vitis_hls (and vivado with "
        "--vsynth) when on PATH; otherwise says so and exits 2.\n\nexample: trigcomp build hls_projects/jet10 "
        "--csynth",
    )
    p.add_argument("project", help="project directory made by `trigcomp hls`")
    p.add_argument("--csynth", action="store_true", help="C synthesis")
    p.add_argument("--vsynth", action="store_true", help="Vivado logic synthesis after C synthesis")
    p.set_defaults(func=cmd_build)

    p = verb(
        "csim",
        "prove the firmware bit-exact against QKeras",
        "In: a project dir. Compiles its C++ with g++ "
        "-O2 (cached), runs N jets (data resampled + adversarial), compares every latent word with the QKeras "
        "encoder and measures the distance to the float model. Exit 0 only with 0 mismatches, 1 otherwise; on a "
        "mismatch the first bad jet is traced layer by layer.\n\nexample: trigcomp csim hls_projects/jet10 "
        "--jets 1000000 --json",
    )
    p.add_argument("project", help="project directory made by `trigcomp hls`")
    _add_csim_options(p, 1_000_000)
    _add_data_options(p, "ROOT file with jets (default: the bundled sample)")
    p.set_defaults(func=cmd_csim)

    p = verb(
        "report",
        "latency and resources against a budget",
        "In: a project dir, report dir or report file "
        "(Vivado HLS / Vitis HLS csynth .xml/.rpt, Vivado utilization/timing .rpt). Out: latency, II, clock, "
        "LUT/FF/DSP/BRAM/URAM and % of the board; with --budget, a pass/fail table (exit 1 when over). Without "
        "a vendor report, a clearly labelled estimate (JSON `source` says which).\n\n"
        "example: trigcomp report hls_projects/jet10 --budget l1t-encoder",
    )
    p.add_argument("path", help="project dir, report dir or report file")
    p.add_argument("--budget", help="budget TOML file or preset (l1t-encoder, ...)")
    _add_board_options(p, required=False)
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(func=cmd_report)

    p = verb(
        "rtl",
        "open path: Verilog, Verilator, Yosys",
        "In: a model dir. Out: the quantized encoder as Verilog "
        "(da4ml), simulated bit-exactly with Verilator against QKeras, synthesised with Yosys (LUT/FF/CARRY/DSP) "
        "and an estimate.json that `trigcomp report` reads as a labelled estimate. Needs the rtl extra.\n"
        "With --against-csim HLS_PROJECT, the same jets (csim's stimulus: data + adversarial) also go through the "
        "HLS project's C-simulation, and QKeras, csim and Verilator are compared word by word, pair by pair.\n\n"
        "example: trigcomp rtl --model models/jet10 --out hls_projects/jet10-rtl\n"
        "example: trigcomp rtl --model models/jet10 --out hls_projects/jet10-rtl --against-csim hls_projects/jet10",
    )
    p.add_argument("--model", required=True, help="model directory")
    p.add_argument("--out", required=True, help="output project directory")
    p.add_argument("--clock-ns", type=float, default=5.0, help="clock period in ns (default 5)")
    p.add_argument("--pipeline-ns", type=float, help="combinational delay per pipeline stage (default: the clock)")
    p.add_argument("--jets", type=int, default=100_000, help="jets simulated with Verilator (default 100,000)")
    p.add_argument("--no-synth", action="store_true", help="skip Yosys synthesis")
    p.add_argument(
        "--against-csim",
        metavar="HLS_PROJECT",
        help="also run this HLS project's C-simulation on the same --jets jets and compare it with Verilator and QKeras",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing project")
    _add_data_options(p, "ROOT file with jets (default: the bundled sample)")
    p.set_defaults(func=cmd_rtl)

    p = verb(
        "run",
        "the whole chain end to end",
        "Load jets -> train -> evaluate -> HLS project (encoder, VU13P, "
        "bit_exact) -> csim on every held-out jet -> report. Out: DIR/summary.md and DIR/summary.json (bits per "
        "jet, per-variable resolution, mismatches, project path, where latency/resources come from).\n\n"
        "example: trigcomp run --out out/run",
    )
    p.add_argument("--out", default="out/run", help="output directory (default out/run)")
    p.add_argument("--config", default=str(DEFAULT_RUN_CONFIG), help="model config (default configs/run.toml)")
    p.add_argument("--board", default="vu13p", help="board (default vu13p)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output directory")
    _add_csim_options(p, 0)
    _add_data_options(p, "ROOT file(s) with jets (default: the bundled QCD sample)")
    p.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not for users
    # QKeras quantizers trip a Keras serialisation warning on every model build; it is harmless here
    warnings.filterwarnings("ignore", message=".*keras.constraints.serialize.*")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="trigcomp: %(message)s")
    # trigcomp's own notes (e.g. which input preset was detected) are shown; other libraries' only with -v
    logging.getLogger("trigcomp").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if args.verbose:
        logging.getLogger().setLevel(logging.INFO)
    try:
        return args.func(args)
    except UserError as err:
        print(f"trigcomp: error: {err}", file=sys.stderr)
        return err.exit_code
    except CheckFailed as err:
        print(f"trigcomp: check failed: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("trigcomp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly, as other command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
