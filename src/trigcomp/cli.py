"""The ``trigcomp`` command line: one verb per stage, ``--json`` for machines.

Exit codes (a contract for CI scripts): 0 ok; 1 a check failed (csim mismatch, budget exceeded);
2 bad input or usage (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import logging
import math
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from .ci import csim_cases, design_name, report_cases, rtl_cases
from .errors import CheckFailed, UserError
from .junit import check_junit_path, write_junit

#: The bundled QCD sample and run's config are package data (data/qcd.root and configs/run.toml link to them),
#: so `trigcomp run` works from an installed wheel in any directory.
SAMPLES_DIR = Path(str(importlib.resources.files("trigcomp").joinpath("samples")))
DEFAULT_DATA = SAMPLES_DIR / "qcd.root"
DEFAULT_RUN_CONFIG = SAMPLES_DIR / "run.toml"
DATA_HELP = (
    "{what}: a ROOT file of jets (default: the bundled sample), or a table: .npy (N x inputs or N x input "
    "shape), .csv with a header row, .parquet (needs pyarrow); columns named like the model's inputs"
)

ANOMALY_SCORE_HELP = (
    "also compute the anomaly score on the board (sum of squared latent values, exact, never saturating), {where} "
    "(trigcomp.anomaly)"
)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are a UserError: one line (JSON with --json), exit 2, from one place."""

    def error(self, message: str):
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _int_at_least(minimum: int):
    def integer(text: str) -> int:
        value = int(text)  # a ValueError becomes argparse's "invalid integer value"
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return integer


def _finite(positive: bool = False):
    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value) or (positive and value <= 0):
            raise argparse.ArgumentTypeError(f"must be a finite{' positive' if positive else ''} number, got {text}")
        return value

    return number


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars and notices are for a person at a terminal; a script sees only results and the error line."""
    return not (args.json or args.quiet) and sys.stderr.isatty()


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, sort_keys=True, default=str))
    else:
        print(text)


def _junit_path(args: argparse.Namespace) -> Path | None:
    """``--junit FILE``, checked before the run so a long run does not end in a refusal."""
    return check_junit_path(args.junit) if args.junit else None


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
    if args.format == "darkmachines":  # whole events (trigcomp.eventgen): fixed object thresholds, no --pt-min
        from .eventgen import generate_events as make

        if args.towers is not None:
            raise UserError("--towers adds tower images to jets: it needs --format nanoaod")

        options = {}
    else:
        from .generate import generate as make

        options = {"pt_min": args.pt_min, "towers": args.towers}
    result = make(
        args.process,
        args.events,
        args.seed,
        args.out,
        processes=args.processes,
        force=args.force,
        progress=_progress(args),
        **options,
    )
    payload = result.to_json()
    if args.format == "darkmachines":
        objects = ", ".join(f"{name} {n}" for name, n in payload["objects"].items())
        text = f"wrote {payload['events']} {args.process} events ({objects}) to {args.out}"
    else:
        text = f"wrote {payload['jets']} jets from {payload['events']} {args.process} events to {args.out}"
    _emit(args, payload, text)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .data import inspect_file
    from .events import inspect_events, is_event_file

    if is_event_file(args.file) or Path(args.file).suffix.lower() == ".csv":
        inspection = inspect_events(args.file)
        _emit(args, inspection.to_json(), inspection.format_text())
        return 0
    inspection = inspect_file(args.file, preset=args.preset, mapping=args.mapping)
    _emit(args, inspection.to_json(), inspection.format_text())
    return 0


def _selection(args: argparse.Namespace):
    from .data import JetSelection

    return JetSelection(args.preset, args.mapping, args.pt_min, args.eta_max, args.leading, args.strict)


def _load(args: argparse.Namespace, paths: list[str], variables) -> Any:
    return _selection(args).load(paths, variables, progress=_progress(args))


def _train_and_save(config, jets, out: Path, force: bool, progress: bool):
    from .model import save_model, train
    from .staging import check_output

    check_output(out, force)  # refuse an existing model dir before spending minutes training
    start = time.perf_counter()
    model = train(config, jets, progress=progress)
    seconds = time.perf_counter() - start
    return save_model(model, out, force=force), seconds


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .model import resolve_model_variables

    config = load_config(args.config)
    jets = _load(args, args.data, resolve_model_variables(config.variables))
    model, seconds = _train_and_save(config, jets, Path(args.out), args.force, _progress(args))
    payload = {"model": str(model.path), "hash": model.hash, "seconds": round(seconds, 1)} | model.info
    metrics = model.info["metrics"]
    _emit(
        args,
        payload,
        f"trained {model.name} ({metrics['bits_per_jet']} bits/jet) in {seconds:.0f} s: "
        f"val loss {metrics['best_val_loss']:.4f} -> {model.path}",
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data import expand_paths
    from .evaluate import (
        check_evaluation_inputs,
        combine_samples,
        evaluate_files,
        evaluate_sample,
        locate_training_jets,
        render_markdown,
        sample_names,
        target_junit_cases,
        write_report,
    )
    from .events import is_event_model
    from .junit import write_junit
    from .model import load_model
    from .staging import check_output, staged_dir
    from .targets import load_targets

    if args.out:
        check_output(args.out, args.force)  # before minutes of evaluation, not after
    model = load_model(args.model)
    targets = load_targets(args.targets) if args.targets else None
    if is_event_model(model.variables):
        return _evaluate_events(args, model, targets)
    if args.signal:
        raise UserError('--signal scores whole events: it needs an event model (variables = "event")')
    if args.junit and targets is None:
        raise UserError("--junit writes one test case per target check: give --targets too")
    others = tuple(load_model(path) for path in args.compare or ())
    check_evaluation_inputs(model, others, targets)
    paths = expand_paths(args.data)
    located = None
    if args.training_data or len(model.training_sources) > 1:
        # read first: which of several training files an evaluated file is decides which of its jets are held out
        located = locate_training_jets(model, _selection(args), args.training_data or ())
    training_files = located[2] if located else None
    if args.workers is not None or args.scheduler:  # one Dask task per file; combined exactly as in-process
        samples = evaluate_files(
            args.model, paths, _selection(args), targets, args.workers, args.scheduler, training_files
        )
    else:
        samples = [
            evaluate_sample(model, _load(args, [path], model.variables), name, targets, training_files)
            for path, name in zip(paths, sample_names([(path,) for path in paths]))
        ]
    if located is None and all(sample.training_split is None for sample in samples):
        located = locate_training_jets(model, _selection(args))
    baselines = {"baseline_train": located[0], "baseline_source": located[1]} if located else {}
    evaluation = combine_samples(model, samples, others=others, targets=targets, **baselines)
    logging.getLogger("trigcomp").info("baselines fitted on %s", evaluation.baseline_training)
    if args.out:
        with staged_dir(args.out, args.force) as tmp:
            write_report(evaluation, tmp)
    if args.junit:
        write_junit(args.junit, f"trigcomp evaluate {model.name}", target_junit_cases(evaluation))
    _emit(args, evaluation.to_json(), render_markdown(evaluation))
    failing = evaluation.failing_samples()
    if failing:
        where = "; ".join(f"{s.name} ({', '.join(s.failing_variables())})" for s in failing)
        raise CheckFailed(f"targets {targets.name} not met on {where}")
    return 0


def _evaluate_events(args: argparse.Namespace, model, targets) -> int:
    """evaluate for an event model: per-object response and resolution, and the anomaly score on --signal files."""
    from .data import expand_paths
    from .eventeval import evaluate_events, render_markdown, write_event_report
    from .staging import staged_dir

    if args.junit or args.compare or args.training_data:
        raise UserError("--junit, --compare and --training-data are for jet models; an event model takes --signal")
    samples = [_load(args, [path], model.variables) for path in expand_paths(args.data)]
    signals = [_load(args, [path], model.variables) for path in expand_paths(args.signal or [])]
    evaluation = evaluate_events(model, samples, signals, targets)
    if args.out:
        with staged_dir(args.out, args.force) as tmp:
            write_event_report(evaluation, tmp)
    _emit(args, evaluation.to_json(), render_markdown(evaluation))
    failing = evaluation.failing()
    if failing:
        raise CheckFailed(f"targets {targets.name} not met: {'; '.join(failing[:6])}")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from .model import load_model, resolve_model_variables
    from .recommend import recommend, write_config
    from .targets import load_targets

    targets = load_targets(args.targets)
    if args.train and Path(args.train).resolve() in {Path(path).resolve() for path in args.data}:
        raise UserError(
            "the --train file is also a --data file: codecs would be judged on the jets they were fitted on"
        )
    models = [load_model(path) for path in args.models or ()]
    variables = models[0].variables if models else resolve_model_variables(args.variables)
    if any(m.variables != variables for m in models):
        raise UserError("the --models must all take the same variables")
    overlap = {Path(p).resolve() for p in args.left_out} & {Path(p).resolve() for p in [*args.data, args.train or ""]}
    if overlap:
        raise UserError(f"a --left-out file is also fitted on: {', '.join(sorted(map(str, overlap)))}")
    hybrids = [load_model(path) for path in args.hybrid or ()]
    samples = [_load(args, [path], variables) for path in args.data]
    left_out = [_load(args, [path], variables) for path in args.left_out]
    train = _load(args, [args.train], variables) if args.train else None
    result = recommend(targets, samples, models, train=train, margin=args.margin, left_out=left_out, hybrids=hybrids)
    payload, text = result.to_json(), result.format_text()
    if args.write_config and result.recommended is not None:
        write_config(result, Path(args.write_config), force=args.force)
        payload["config_file"] = args.write_config
        text += f"\nwrote the config of {result.recommended.name} to {args.write_config}"
    _emit(args, payload, text)
    if result.recommended is None:
        raise CheckFailed(f"no codec meets {targets.name} on every sample")
    return 0


def _board(args: argparse.Namespace):
    from .boards import board_for_part, get_board

    if args.part:
        return board_for_part(args.part)
    return get_board(args.board)


def _model_inputs(args: argparse.Namespace, model) -> Any:
    """The rows of input values a model's firmware stages are fed (ROOT jets, or .npy/.csv/.parquet tables)."""
    from .inputs import read_inputs

    return read_inputs(
        _default_data(args.data), model.variables, lambda paths: _load(args, paths, model.variables).values
    )


def cmd_import(args: argparse.Namespace) -> int:
    from .imported import import_keras

    model = import_keras(args.keras, args.out, input_type=args.input_type, names=args.names, force=args.force)
    payload = {"model": str(model.path), "hash": model.hash} | model.info
    _emit(
        args,
        payload,
        f"imported {model.name}: {len(model.variables)} inputs ({model.info['input_type']}, from "
        f"{model.info['input_type_from']}) -> {model.n_latent} x {model.latent_quantizer.bits}-bit latent, "
        f"sha256 {model.info['sha256'][:16]}… -> {model.path}",
    )
    return 0


def cmd_hls(args: argparse.Namespace) -> int:
    from .hls import HlsOptions, write_hls_project
    from .imported import load_encoder_model
    from .staging import check_output

    check_output(args.out, args.force)  # before the model and jets are loaded
    board = _board(args)
    options = HlsOptions(
        board=board,
        clock_ns=args.clock_ns if args.clock_ns is not None else board.clock_ns,
        backend=args.backend,
        strategy=args.strategy,
        reuse=args.reuse,
        io=args.io,
        link_width=args.link_width,
        anomaly_score=args.anomaly_score,
    )
    options.check()
    if args.codec:
        return _codec_hls(args, options)
    model = load_encoder_model(args.model)
    inputs = _model_inputs(args, model)
    project = write_hls_project(model, Path(args.out), options, inputs[: args.tb_jets], force=args.force)
    _emit(
        args,
        project.to_json(),
        f"wrote {options.backend} HLS project for {board.part} "
        f"({options.strategy}, {options.clock_ns} ns) to {project.path}",
    )
    return 0


def _codec_hls(args: argparse.Namespace, options) -> int:
    """hls --codec: strategy, reuse and io type are the encoder's options; a codec is always one pipeline stage
    of comparators, II=1."""
    from .codec_hls import BoardInput, write_codec_project
    from .codecs import load_codec

    codec = load_codec(args.codec)
    board = BoardInput.parse(args.input_type)
    if codec.kind == "hybrid":  # fields + the hls4ml encoder of its latent, one top
        from .hybrid_hls import check_hybrid_board, write_hybrid_project

        check_hybrid_board(codec, board)  # before the jets are read
        jets = _load(args, _default_data(args.data), codec.variables).values[: args.tb_jets]
        project = write_hybrid_project(codec, Path(args.out), options, board, jets, force=args.force)
    elif codec.kind == "float_mantissa":  # leading-one position + shift per field
        from .float_hls import write_float_project

        project = write_float_project(codec, Path(args.out), options, board, force=args.force)
    else:
        project = write_codec_project(codec, Path(args.out), options, board, force=args.force)
    _emit(
        args,
        project.to_json(),
        f"wrote {options.backend} HLS project of the {codec.bits_per_jet}-bit {codec.name} codec for "
        f"{options.board.part} "
        f"({options.clock_ns} ns, input {args.input_type}) to {project.path}",
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
        progress=_progress(args),
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
            _divergence_text(fm),
        ]
    return "\n".join(lines)


def _divergence_text(mismatch: dict[str, Any]) -> str:
    first = mismatch.get("first_divergence")
    if first is None:
        return f"first diverging layer: none found ({mismatch.get('note', 'every traced layer agrees')})"
    return (
        f"first diverging layer: {first['layer']} (output {first['index']}: firmware {first['firmware']:.17g}, "
        f"QKeras {first['qkeras']:.17g})"
    )


def cmd_csim(args: argparse.Namespace) -> int:
    from .hls import load_project
    from .imported import load_encoder_model

    junit = _junit_path(args)
    project = load_project(args.project)
    if project.codec_kind is not None:
        return _codec_csim(args, project, junit)
    model = load_encoder_model(project.model_dir)
    result = _csim(project, model, _model_inputs(args, model), args)
    _emit(args, result.to_json(), _csim_text(result))
    if junit:
        write_junit(junit, "trigcomp csim", csim_cases(result, model.name))
    if result.mismatches:
        raise CheckFailed(f"csim: {result.mismatches} of {result.jets} jets differ from the QKeras model")
    if not result.passed:
        raise CheckFailed(f"csim: {result.weights['summary']}")
    return 0


def _codec_csim(args: argparse.Namespace, project, junit: Path | None) -> int:
    from .codec_hls import run_codec_csim
    from .float_hls import run_float_csim
    from .hybrid_hls import run_hybrid_csim

    jets = _load(args, _default_data(args.data), project.input_variables)
    runs = {"hybrid": run_hybrid_csim, "float_mantissa": run_float_csim}
    result = runs.get(project.codec_kind, run_codec_csim)(
        project,
        jets.values.astype(float),
        jets=args.jets,
        adversarial=args.adversarial if args.adversarial is not None else min(50_000, args.jets // 20),
        processes=args.processes,
        seed=args.seed,
        progress=_progress(args),
    )
    saturated = result.saturated
    lines = [
        (
            f"{result.jets} jets ({result.data_jets} data, {result.adversarial_jets} adversarial, of which "
            f"{result.tie_jets} threshold ties): {result.mismatches} mismatches vs the Python codec"
        ),
        f"fields: {', '.join(result.fields)}",
        (
            f"saturated: input {saturated['input_values']} values in {saturated['input_jets']} jets; "
            f"codec {saturated['codec_values']} values"
        ),
        f"firmware throughput: {result.jets_per_s:,.0f} jets/s ({'cached' if result.compiled_from_cache else 'compiled'})",
    ]
    if result.tie_jets_left_out:
        lines.append(f"WARNING: {result.tie_jets_left_out} threshold ties did not fit; raise --adversarial")
    weights = getattr(result, "weights", None)  # a hybrid's encoder weights: .h (synthesis) = .txt (csim) = model
    if weights:
        lines.append(f"encoder weights: {weights['summary']}")
    first = result.first_mismatch
    if first:
        lines.append(
            f"FIRST MISMATCH at jet {first['row']}: "
            + "; ".join(f"field {f['field']}: python {f['python']}, firmware {f['firmware']}" for f in first["fields"])
            + f" (board input {first['board_input']})"
        )
    _emit(args, result.to_json(), "\n".join(lines))
    if junit:
        write_junit(junit, "trigcomp csim", csim_cases(result, result.codec))
    if result.mismatches:
        where = f"; first: jet {first['row']}, field {first['field']}" if first else ""
        raise CheckFailed(f"csim: {result.mismatches} of {result.jets} jets differ from the Python codec{where}")
    if not result.passed:
        raise CheckFailed(f"csim: {weights['summary']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .reports import check_budget, load_budget, read_report, render_markdown, render_text, result_json

    junit = _junit_path(args)
    board = _board(args) if (args.board or args.part) else None
    report = read_report(Path(args.path), board=board, force=args.force)
    check = check_budget(report, load_budget(args.budget)) if args.budget else None
    render = render_markdown if args.markdown else render_text
    _emit(args, result_json(report, check), render(report, check))
    if junit:
        write_junit(junit, "trigcomp report", report_cases(report, check, design_name(args.path)))
    if check is not None and not check.within_budget:
        raise CheckFailed("over budget")
    return 0


def cmd_rtl(args: argparse.Namespace) -> int:
    from .imported import load_encoder_model
    from .rtl import run_rtl

    junit = _junit_path(args)
    if args.codec:
        return _codec_rtl(args, junit)
    model = load_encoder_model(args.model)
    inputs = _model_inputs(args, model)
    result = run_rtl(
        model,
        Path(args.out),
        inputs,
        clock_ns=args.clock_ns,
        pipeline_ns=args.pipeline_ns,
        jets=args.jets,
        synthesize=not args.no_synth,
        force=args.force,
    )
    payload, text = result.to_json(), result.format_text()
    score_mismatches = 0
    if args.anomaly_score:
        from .rtl.score import run_score_rtl

        score = run_score_rtl(model, result, synthesize=not args.no_synth)
        score_mismatches = score["mismatches"]
        payload["anomaly_score"] = score
        text += f"\n  anomaly score (Verilator, both variants): {score_mismatches} of {2 * args.jets} scores differ"
    if args.against_csim:
        from .agreement import rtl_against_csim

        agreement = rtl_against_csim(model, result.project, args.against_csim, inputs, args.jets)
        payload, text = payload | {"against_csim": agreement.to_json()}, text + "\n" + agreement.format_text()
    _emit(args, payload, text)
    if junit:
        write_junit(junit, "trigcomp rtl", rtl_cases(result, model.name))
    if result.mismatches:
        raise CheckFailed(f"rtl: {result.mismatches} jets differ from the QKeras model")
    if score_mismatches:
        raise CheckFailed(f"rtl: {score_mismatches} anomaly scores differ from the sum of squared latent words")
    if args.against_csim and agreement.mismatches:
        raise CheckFailed(f"rtl --against-csim: QKeras, csim and Verilator disagree on {agreement.mismatches} jets")
    return 0


def cmd_compress(args: argparse.Namespace) -> int:
    from .storage import compress_files

    results = compress_files(
        args.model,
        args.data,
        args.out,
        engine=args.engine,
        workers=args.workers,
        scheduler=args.scheduler,
        layout=args.layout,
        compression=args.compression,
        step_size=args.step_events,
        force=args.force,
        selection=_selection(args),
    )
    files = [r.to_json() for r in results]
    jets, size = sum(r.jets for r in results), sum(r.bytes for r in results)
    payload = files[0] if len(files) == 1 else {"files": files, "jets": jets, "bytes": size}
    lines = [
        f"{r.source}: {r.jets:,} jets in {r.events:,} events -> {r.out} "
        f"({r.bytes_per_jet:.2f} bytes/jet, {r.to_json()['jets_per_s'] or 0:,} jets/s, "
        f"saturated {sum(r.extra['saturated'].values())})"
        for r in results
    ]
    _emit(args, payload, "\n".join(lines))
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    from .storage import decompress_file

    result = decompress_file(
        args.file, args.out, args.model, compression=args.compression, step_size=args.step_events, force=args.force
    )
    _emit(
        args,
        result.to_json(),
        f"{result.jets:,} jets in {result.events:,} events decoded with {result.extra['codec']} -> {result.out}",
    )
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from .model import resolve_model_variables
    from .scan import PointOptions, load_scan, run_scan
    from .targets import load_targets

    spec = load_scan(args.grid)
    targets = load_targets(args.targets) if args.targets else None
    jets = _load(args, args.data, resolve_model_variables(spec.config({}).variables))
    result = run_scan(
        spec,
        jets,
        Path(args.out),
        targets=targets,
        workers=args.workers,
        scheduler=args.scheduler,
        resume=args.resume,
        force=args.force,
        options=PointOptions(clock_ns=args.clock_ns, yosys=args.yosys),
    )
    counts = result.counts
    _emit(
        args,
        result.to_json(),
        f"{counts['ok']} of {counts['points']} points ok ({counts['cached']} cached, {counts['failed']} failed), "
        f"{len(result.pareto)} on the Pareto front -> {result.out}/summary.md",
    )
    return 0


def _codec_rtl(args: argparse.Namespace, junit: Path | None) -> int:
    from .codec_hls import BoardInput
    from .codec_rtl import run_codec_rtl
    from .codecs import load_codec
    from .float_rtl import run_float_rtl
    from .hybrid_hls import check_hybrid_board
    from .hybrid_rtl import run_hybrid_rtl
    from .staging import check_output
    from .stimulus import verilator_adversarial

    check_output(args.out, args.force)
    codec = load_codec(args.codec)
    board = BoardInput.parse(args.input_type)
    if codec.kind == "hybrid":
        check_hybrid_board(codec, board)  # before the jets are read
    jets = _load(args, _default_data(args.data), codec.variables)
    runs = {"hybrid": run_hybrid_rtl, "float_mantissa": run_float_rtl}  # the same options, the same result
    result = runs.get(codec.kind, run_codec_rtl)(
        codec,
        Path(args.out),
        board,
        jets.values.astype(float),
        jets=args.jets,
        adversarial=verilator_adversarial(args.jets),
        synthesize=not args.no_synth,
        force=args.force,
    )
    _emit(
        args, result.to_json(), "\n".join((_hybrid_rtl_lines if codec.kind == "hybrid" else _codec_rtl_lines)(result))
    )
    if junit:
        write_junit(junit, "trigcomp rtl", csim_cases(result, result.codec, stage="rtl"))
    if not result.passed:
        raise CheckFailed(f"rtl: {result.mismatches} of {result.jets} jets differ from the Python codec")
    return 0


def _codec_rtl_lines(result) -> list[str]:
    from .codec_rtl import CLOCK_NS

    lines = [
        f"Verilator: {result.jets} jets ({result.adversarial_jets} adversarial, {result.tie_jets} threshold ties): "
        + f"{result.mismatches} mismatches vs the Python codec (fields {', '.join(result.fields)})"
    ]
    if result.first_mismatch:
        lines.append(f"FIRST MISMATCH at jet {result.first_mismatch['row']}: {result.first_mismatch['fields']}")
    if result.yosys:
        y = result.yosys
        lines.append(
            f"Yosys synth_xilinx -family xcup: {y['lut']:,} LUT, {y['ff']:,} FF, {y['carry']} CARRY, {y['dsp']} DSP, "
            f"logic depth {y['logic_depth']} per stage ({y['yosys_version']})"
        )
    lines.append(
        f"Pipeline: {result.latency_cycles} stages = {result.latency_ns:g} ns at {CLOCK_NS:g} ns per cycle, II = 1"
    )
    return lines


def _hybrid_rtl_lines(result) -> list[str]:
    """A hybrid's parts, checked side by side on the same jets: mismatches, latency and Yosys per part."""
    parts, latency = result.mismatches_per_part, result.latency
    lines = [
        (
            f"Verilator, fields and encoder side by side on the same {result.jets} jets ({result.adversarial_jets} "
            f"adversarial, {result.tie_jets} threshold ties): {result.mismatches} packed words differ from the "
            f"Python codec ({parts['fields']} field values, {parts['latent']} latent words)"
        ),
        (
            f"Latency: fields {latency['fields']['cycles']} cycles, encoder {latency['encoder']['cycles']} cycles "
            f"({latency['encoder']['pipeline_stages']} pipeline stages) at {latency['clock_ns']:g} ns, II = 1"
        ),
    ]
    if result.first_mismatch:
        lines.append(f"FIRST MISMATCH at jet {result.first_mismatch['row']}: {result.first_mismatch['fields']}")
    if result.yosys:
        lines += [
            f"Yosys synth_xilinx -family xcup, {name}: {y['lut']:,} LUT, {y['ff']:,} FF, {y['carry']} CARRY, "
            f"{y['dsp']} DSP"
            for name, y in result.yosys.items()
        ]
    return lines


def cmd_run(args: argparse.Namespace) -> int:
    from .run import RunOptions, run_pipeline
    from .targets import load_targets

    load_targets(args.targets)  # a bad --targets is refused before minutes of training
    options = RunOptions(
        out=Path(args.out),
        config=Path(args.config),
        data=tuple(_default_data(args.data)),
        board=args.board,
        force=args.force,
        jets=args.jets,
        adversarial=20_000 if args.adversarial is None else args.adversarial,
        processes=args.processes,
        seed=args.seed,
        selection=_selection(args),
        quiet=not _progress(args),
        targets=args.targets,
    )
    summary = run_pipeline(options)
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
    g.add_argument(
        "--preset",
        help="input format: nanoaod, nanoaod-towers8, nanoaod-towers16, physlite, delphes, pxpypze (default: detected)",
    )
    g.add_argument("--mapping", help="custom branch mapping TOML (see configs/mapping-example.toml)")
    g.add_argument("--pt-min", type=_finite(), default=0.0, help="keep jets with pt above this [GeV] (default 0)")
    g.add_argument("--eta-max", type=_finite(positive=True), help="keep jets with |eta| below this")
    g.add_argument("--leading", type=_int_at_least(1), help="keep the N leading jets per event")
    g.add_argument("--strict", action="store_true", help="NaN/inf values are an error instead of being dropped")


def _add_dask_options(p: argparse.ArgumentParser, title: str, workers_default: str) -> None:
    g = p.add_argument_group(title)
    g.add_argument("--workers", type=int, help=f"local Dask worker processes, 1 thread each ({workers_default})")
    g.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="an existing Dask scheduler (shared file system)")


def _add_board_options(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--board", help="named board: vu9p, vu13p, ku15p")
    g.add_argument("--part", help="any Xilinx part, e.g. xcvu13p-flga2577-2-e")


def _add_csim_options(p: argparse.ArgumentParser, jets: int) -> None:
    p.add_argument(
        "--jets",
        type=_int_at_least(0 if jets == 0 else 1),
        default=jets,
        help=f"jets to simulate in total (default {jets:,})",
    )
    p.add_argument(
        "--adversarial",
        type=_int_at_least(0),
        default=None,
        help="of those, edge-case jets: zeros, extremes, just out of range, rounding ties "
        "(default: 5 %%, at most 50,000; with run: 20,000)",
    )
    p.add_argument("--processes", type=_int_at_least(1), default=2, help="parallel test-bench processes (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed for resampling and adversarial jets")


def _add_model_or_codec_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", help="model directory (an autoencoder)")
    g.add_argument(
        "--codec",
        help="codec config (TOML or JSON, from recommend --write-config): fixed point, float truncation, or a "
        "hybrid (fixed-point fields + an autoencoder latent; its board input is the encoder's input type)",
    )
    p.add_argument(
        "--input-type",
        default="ap_fixed<21,13>",
        help="with --codec: the board's input type (default ap_fixed<21,13>: up to 4 TeV, LSB 1/256, covers every "
        "bundled jet; ap_fixed<20,12> saturates high-pt QCD)",
    )


def _add_junit_option(p: argparse.ArgumentParser, cases: str) -> None:
    p.add_argument(
        "--junit",
        metavar="FILE",
        help=f"also write JUnit XML for CI test reports ({cases}); replaces an earlier JUnit file only",
    )


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="trigcomp",
        formatter_class=fmt,
        description="Trigger jets -> quantization-aware autoencoder -> bit-exact FPGA compression firmware.",
        epilog="Exit codes: 0 ok, 1 a check failed (csim mismatch, budget exceeded), 2 bad input or usage.\n"
        "Start with `trigcomp run` (the whole chain on the bundled sample), then each verb's --help.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (to stderr)")
    # not required=True: argparse would then answer an unknown option with "a verb is required"; main() checks
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    def verb(name: str, help_: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=description, formatter_class=fmt)
        p.add_argument("--json", action="store_true", help="print a JSON result on stdout instead of text")
        p.add_argument(
            "-q", "--quiet", action="store_true", help="no progress bars or notices (shown only on a terminal anyway)"
        )
        return p

    p = verb(
        "generate",
        "generate jets with Pythia 8 + FastJet",
        "In: a process name, events, seed. Out: a NanoAOD-"
        "style ROOT file (Events tree, nJet, Jet_pt/eta/phi/mass/energy fractions/nConstituents).\n"
        "Needs the generate extra: pip install 'trigcomp[generate]'.\n\n"
        "example: trigcomp generate --process qcd --events 2000 --seed 1 --out qcd.root --processes 2\n"
        "whole events (jets, b-jets, e, mu, photons, MET; DarkMachines CSV, MeV, or the same as ROOT):\n"
        "  trigcomp generate --process ttbar --events 2000 --format darkmachines --out ttbar.csv",
    )
    p.add_argument("--process", required=True, help="one of: " + _process_help())
    p.add_argument("--events", type=_int_at_least(1), required=True, help="number of events")
    p.add_argument("--seed", type=int, default=1, help="random seed: same seed, same jets")
    p.add_argument("--out", required=True, help="output ROOT file")
    p.add_argument("--processes", type=_int_at_least(1), default=1, help="worker processes (default 1)")
    p.add_argument("--pt-min", type=_finite(positive=True), default=20.0, help="jet pt threshold [GeV] (default 20)")
    p.add_argument(
        "--towers",
        type=int,
        nargs="?",
        const=8,
        metavar="N",
        help="also write each jet's N x N calorimeter-tower image (0.087 x 0.087 L1 towers around the jet axis, "
        "0.5 GeV LSB, 10 bits) as Jet_tower_<k> branches; N is 8 (the default with --towers) or 16",
    )
    p.add_argument(
        "--format",
        choices=("nanoaod", "darkmachines"),
        default="nanoaod",
        help="nanoaod: jets (default); darkmachines: whole events as object lists, .csv or .root "
        "(trigcomp.eventgen; --pt-min does not apply, the object thresholds are fixed)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=cmd_generate)

    p = verb(
        "inspect",
        "summarise the jets in a ROOT file",
        "In: a ROOT file (TTree or RNTuple). Out: events, jets, "
        "the format preset and, per variable, branch, unit, range, mean and NaN/inf counts.\n\n"
        "example: trigcomp inspect data/qcd.root --json",
    )
    p.add_argument("file", help="ROOT file of jets, or an event file (DarkMachines .csv, or its ROOT twin)")
    p.add_argument(
        "--preset", help="nanoaod, nanoaod-towers8, nanoaod-towers16, physlite, delphes, pxpypze (default: detected)"
    )
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
        "resolution against physics targets and equal-bit baselines",
        "In: a model dir and jets, each file a separate sample (process). Out: per sample and variable the bias, "
        "sigma (68 % half-width) and RMS on held-out jets (the test split of the model's training file, every jet "
        "of other files), also in pt bins; with --targets, a pass/fail check per variable, overall and per pt bin, "
        "on every sample (exit 1 when any fails); the same at equal bits per jet for per-variable fixed point and "
        "float with a cut mantissa, fitted on the model's training split (found from model.json, checked by hash; "
        "exit 2 when it cannot be found).\nWith --out: evaluation.md, evaluation.json, plots (response and "
        "resolution vs pt per sample, target band shaded) and reconstructed.root (TTree Jets: <v>, <v>_reco, "
        "event, sample = index into the TObjString sample_names).\n\n"
        "example: trigcomp evaluate --model models/jet10 --data data/qcd.root data/ttbar.root --targets l1-jets "
        "--out out/eval\n         trigcomp evaluate --model models/jet10 --data 'data/*.root' --workers 2   "
        "# one Dask task per file",
    )
    p.add_argument("--model", required=True, help="model directory")
    p.add_argument("--out", help="directory for the Markdown report, JSON, plots and reconstructed.root (atomic)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out directory")
    p.add_argument(
        "--targets",
        help="physics targets: a preset (l1-jets) or a TOML file; checked on every sample, overall and per pt bin "
        "(exit 1 when not met)",
    )
    p.add_argument("--junit", metavar="FILE", help="with --targets: JUnit XML, one test case per target check")
    p.add_argument(
        "--training-data",
        nargs="+",
        metavar="FILE",
        help="the model's training file(s), when moved (default: found from model.json; checked by data hash)",
    )
    p.add_argument(
        "--compare", nargs="+", metavar="MODEL", help="more model dirs to place on the rate-distortion curve"
    )
    p.add_argument(
        "--signal",
        nargs="+",
        metavar="FILE",
        help="event models: signal event files (DarkMachines .csv or ROOT); the anomaly score's ROC, AUC and "
        "efficiency at background acceptances 1e-3, 1e-4, 1e-5 (x 40 MHz = trigger rate) against the --data "
        "background, per file; e.g. trigcomp evaluate --model models/event --data data/events/qcd.csv "
        "--signal data/events/ttbar.csv data/events/zprime.csv --out out/event",
    )
    _add_data_options(
        p, "ROOT file(s) or globs to evaluate on; each file is a separate sample (process)", required=True
    )
    _add_dask_options(p, "Dask (one task per file)", "default: no Dask, every file in this process")
    p.set_defaults(func=cmd_evaluate)

    p = verb(
        "recommend",
        "the cheapest codec that meets physics targets",
        "In: targets (preset or TOML) and one or more ROOT files (each a sample, e.g. one per process), optionally "
        "trained models. Fits per-variable fixed point and float truncation with the fewest bits meeting the "
        "targets (on the training split of every --data file, or on --train), evaluates them and the models on "
        "the held-out jets of every file, and lists bits per jet, meets_targets, worst ratio and a labelled area "
        "estimate (for an autoencoder da4ml's, whose first use on a fresh machine compiles da4ml: minutes). The "
        "cheapest codec meeting the targets on every file is recommended; --write-config writes what builds it (a "
        "codec TOML, or the model config). Exit 1 when no codec meets the targets (a CI gate)."
        "\n\nexample: trigcomp recommend --targets l1-jets --data data/qcd.root data/ttbar.root "
        "--models models/jet10 --write-config out/codec.toml",
    )
    p.add_argument("--targets", required=True, help="physics targets: a preset (l1-jets, ...) or a TOML file")
    p.add_argument("--models", nargs="+", metavar="MODEL", help="trained autoencoder dirs to compare")
    p.add_argument(
        "--hybrid",
        nargs="+",
        metavar="MODEL",
        help="autoencoder dirs of some of the variables (e.g. the energy fractions): each becomes a hybrid codec, "
        "its latent plus the fewest fixed-point bits meeting the targets for the other variables",
    )
    p.add_argument(
        "--variables", default="jet10", help="jet4, jet10 or a comma list (default jet10; with --models: theirs)"
    )
    p.add_argument("--train", help="ROOT file to fit the classical codecs on (default: training split of --data)")
    p.add_argument(
        "--left-out",
        nargs="+",
        metavar="FILE",
        default=[],
        help="processes never fitted on: judged on all their jets (a generalisation check), flagged as left out",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=0.95,
        help="worst target ratio the classical codecs must reach on their training jets, so that they hold on "
        "held-out jets (default 0.95)",
    )
    p.add_argument("--write-config", metavar="FILE", help="write the recommended codec's config here")
    p.add_argument("--force", action="store_true", help="overwrite an existing --write-config file")
    _add_data_options(p, "ROOT files to meet the targets on, one sample each", required=True)
    p.set_defaults(func=cmd_recommend)

    p = verb(
        "import",
        "bring your own QKeras encoder",
        "In: a QKeras encoder saved with Keras (.h5 or .keras) that starts with an input quantizer "
        "QActivation(quantized_bits(...)) or is given --input-type, and ends in a quantized_bits latent. Every layer "
        "is checked to be one hls4ml converts bit-exactly (QDense, QConv1D/2D, QActivation with quantized_bits or "
        "quantized_relu, Reshape, Flatten); any other is refused by name. Out: a model dir (the file byte for byte, "
        "its sha256, model.json) that hls, csim and rtl take: an encoder only, inputs x0, x1, ... or --names.\n\n"
        "example: trigcomp import --keras econ_t.h5 --out models/econ_t\n"
        "         trigcomp hls --model models/econ_t --board vu13p --data cells.npy --out hls_projects/econ_t\n"
        "(econ_t.h5 and cells.npy: python examples/econ_t_encoder.py --kind conv --out econ_t.h5, and --cells)",
    )
    p.add_argument("--keras", required=True, metavar="FILE", help="QKeras model file (.h5 or .keras)")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="model directory to write")
    p.add_argument(
        "--input-type",
        metavar="'ap_fixed<W,I>'",
        help="the board's input type, when the model has no leading input quantizer (I counts the sign bit)",
    )
    p.add_argument("--names", metavar="a,b,...", help="one name per input value (default x0, x1, ...)")
    p.add_argument("--force", action="store_true", help="overwrite an existing model directory")
    p.set_defaults(func=cmd_import)

    p = verb(
        "hls",
        "write an HLS project for a board",
        "In: a model dir and a board. Out: an hls4ml project of the "
        "encoder (bit_exact), trigcomp's top level and test bench, test-bench data and a manifest "
        "trigcomp.json. Byte-identical for the same inputs; written atomically. With --codec (a file from "
        "`trigcomp recommend --write-config`): a project of a per-variable fixed-point codec, every field a ladder "
        "of comparators on the input word, top trigcomp_codec_top; of a float-truncation codec (leading-one "
        "position + rounding shift per field, top trigcomp_float_top); or of a hybrid codec (those fields and the "
        "hls4ml encoder of its latent, packed into one word by trigcomp_hybrid_top; --data feeds its test bench).\n\n"
        "example: trigcomp hls --model models/jet10 --board vu13p --out hls_projects/jet10\n"
        "example: trigcomp hls --codec configs/jet10-l1.toml --board vu13p --out hls_projects/jet10-l1\n"
        "example: trigcomp hls --codec configs/jet10-hybrid.toml --board vu13p --out hls_projects/jet10-hybrid",
    )
    _add_model_or_codec_options(p)
    _add_board_options(p, required=True)
    p.add_argument("--clock-ns", type=_finite(positive=True), help="clock period in ns (default: the board's)")
    p.add_argument("--backend", default="vivado", help="vivado or vitis (default vivado)")
    p.add_argument("--strategy", default="latency", help="latency, resource or distributed_arithmetic")
    p.add_argument("--reuse", type=_int_at_least(1), default=1, help="reuse factor (default 1: fully parallel)")
    p.add_argument("--io", default="parallel", help="io type: parallel or stream (default parallel)")
    p.add_argument("--link-width", type=int, default=64, help="output link word width in bits: 16, 32 or 64")
    p.add_argument(
        "--anomaly-score",
        action="store_true",
        help=ANOMALY_SCORE_HELP.format(where="packed after the latent; csim checks every score word"),
    )
    p.add_argument("--out", required=True, help="project directory, e.g. hls_projects/NAME")
    p.add_argument("--force", action="store_true", help="overwrite an existing project")
    p.add_argument(
        "--tb-jets", type=_int_at_least(1), default=1000, help="jets written as test-bench data (default 1000)"
    )
    _add_data_options(p, DATA_HELP.format(what="test-bench inputs"))
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
    _add_junit_option(p, "mismatches on all, data and adversarial jets; saturation accounting")
    _add_data_options(p, DATA_HELP.format(what="inputs"))
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
    p.add_argument(
        "--force",
        action="store_true",
        help="read a project's report of another top or part (refused otherwise), with a warning",
    )
    _add_junit_option(p, "one test case per budget line")
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
        "example: trigcomp rtl --model models/jet10 --out hls_projects/jet10-rtl --against-csim hls_projects/jet10\n"
        "example: trigcomp rtl --model models/event --out hls_projects/event-rtl --anomaly-score   (the score "
        "sum of squared latent values as its own Verilog, checked on the encoder Verilog's latent)\n"
        "example: trigcomp rtl --codec configs/jet10-l1.toml --out hls_projects/jet10-l1-rtl   (a fixed-point "
        "codec: comparator ladders and the lattice field, pipelined at 200 MHz, II = 1)\n"
        "example: trigcomp rtl --codec configs/jet10-hybrid.toml --out hls_projects/jet10-hybrid-rtl --no-synth   (a "
        "hybrid: the fields' Verilog and the encoder's da4ml Verilog side by side on the same jets, one packed word)",
    )
    _add_model_or_codec_options(p)
    p.add_argument("--out", required=True, help="output project directory")
    p.add_argument("--clock-ns", type=_finite(positive=True), default=5.0, help="clock period in ns (default 5)")
    p.add_argument(
        "--pipeline-ns", type=_finite(positive=True), help="combinational delay per pipeline stage (default: the clock)"
    )
    p.add_argument(
        "--jets", type=_int_at_least(1), default=100_000, help="jets simulated with Verilator (default 100,000)"
    )
    p.add_argument("--no-synth", action="store_true", help="skip Yosys synthesis")
    p.add_argument(
        "--against-csim",
        metavar="HLS_PROJECT",
        help="also run this HLS project's C-simulation on the same --jets jets and compare it with Verilator and QKeras",
    )
    p.add_argument(
        "--anomaly-score",
        action="store_true",
        help=ANOMALY_SCORE_HELP.format(
            where="as its own Verilog "
            "in OUT/anomaly_score, fed the encoder Verilog's latent; Verilator checks every score"
        ),
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing project")
    _add_junit_option(p, "per Verilog variant: mismatches and QKeras agreement")
    _add_data_options(p, DATA_HELP.format(what="inputs"))
    p.set_defaults(func=cmd_rtl)

    p = verb(
        "scan",
        "design-space scan on Dask: the Pareto front",
        "In: a scan file (TOML: base = a model config relative to the scan file; [grid] of dotted config keys "
        "with lists of values, or [search] mode = random|bayes with [search.space]; [fixed] overrides) and jets. "
        "Each point is trained, evaluated (targets with --targets, total NMSE otherwise) and costed (da4ml "
        "estimate; Yosys with --yosys) on a Dask LocalCluster or on --scheduler. Points are cached in "
        "DIR/points/<hash>/: --resume reruns only what is missing or failed. Out: scan.json, pareto.json, "
        "pareto.png, summary.md. Exit 1 when every point failed.\n\n"
        "example: trigcomp scan --grid configs/scan-jet4.toml --data data/qcd.root --targets l1-jets --out out/scan",
    )
    p.add_argument("--grid", required=True, metavar="SCAN.toml", help="scan file (see configs/scan-jet4.toml)")
    p.add_argument("--targets", help="physics targets: preset (l1-jets) or TOML file; default: rank by total NMSE")
    p.add_argument("--out", required=True, help="scan directory")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, default=2, help="local Dask worker processes, 1 thread each (default 2)")
    g.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="an existing Dask scheduler instead of local workers")
    g2 = p.add_mutually_exclusive_group()
    g2.add_argument("--resume", action="store_true", help="continue a scan in an existing DIR (cached points kept)")
    g2.add_argument("--force", action="store_true", help="remove an existing DIR and start over")
    p.add_argument("--yosys", action="store_true", help="area from Yosys synth_xilinx (slow), not da4ml's estimate")
    p.add_argument("--clock-ns", type=float, default=5.0, help="clock period for latency (default 5)")
    _add_data_options(p, "ROOT file(s) with the jets every point trains and evaluates on", required=True)
    p.set_defaults(func=cmd_scan)

    p = verb(
        "compress",
        "store jets offline with a codec",
        "In: a codec (--model: an autoencoder model dir, or a codec file as `recommend --write-config` writes it) "
        "and ROOT files of jets. Out: per input, a ROOT file with every jet's codes (Jets tree), the "
        "jets per event (Events/nJet) and metadata (codec, its hash, variables, input hash, trigcomp version); "
        "`decompress` turns it back into jets, exactly the ones `evaluate` judged. Streams in chunks. An "
        "autoencoder's encoder runs natively (numpy, bit-exact with QKeras) unless --engine tensorflow. Several "
        "inputs (or a glob) go into the --out directory, one task per file on Dask.\n\n"
        "example: trigcomp compress --model models/jet10 --data data/qcd.root --out out/qcd.trigcomp.root\n"
        "         trigcomp compress --model out/codec.toml --data 'data/*.root' --out out/compressed --workers 2",
    )
    p.add_argument("--model", required=True, help="autoencoder model dir or codec file (TOML/JSON)")
    p.add_argument("--out", required=True, help="output file (one input) or directory (several inputs)")
    p.add_argument("--engine", default="native", help="autoencoder encoder: native (default) or tensorflow")
    p.add_argument(
        "--layout",
        default="fields",
        help="fields: one branch per field, smallest unsigned type (default: smaller on disk for fixed point and "
        "float); packed: all fields bit-packed densely per jet (smaller for an autoencoder)",
    )
    p.add_argument("--compression", default="zstd:5", help="ROOT compression: zstd, lzma, zlib, lz4 or none[:LEVEL]")
    p.add_argument("--step-events", type=int, default=200_000, help="events per chunk (default 200,000)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    _add_dask_options(p, "Dask (several inputs)", "default 2 for several")
    _add_data_options(p, "ROOT file(s) or globs with jets", required=True)
    p.set_defaults(func=cmd_compress)

    p = verb(
        "decompress",
        "decode a compressed file into NanoAOD-style jets",
        "In: a file written by `trigcomp compress`. Out: a ROOT file with an Events tree of nJet and float32 "
        "Jet_<variable> branches, decoded with the file's codec. --model is needed for an autoencoder whose model "
        "dir is not where it was at compression; it must match the file's codec hash (else exit 2).\n\n"
        "example: trigcomp decompress out/qcd.trigcomp.root --model models/jet10 --out out/qcd.reco.root",
    )
    p.add_argument("file", help="compressed ROOT file")
    p.add_argument("--model", help="the autoencoder model dir or codec file it was compressed with")
    p.add_argument("--out", required=True, help="output ROOT file")
    p.add_argument("--compression", default="zstd:5", help="ROOT compression of the output (default zstd:5)")
    p.add_argument("--step-events", type=int, default=200_000, help="events per chunk (default 200,000)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(func=cmd_decompress)

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
    p.add_argument(
        "--targets",
        default="l1-jets",
        help="physics targets reported on the held-out jets: preset or TOML (default l1-jets; "
        "`trigcomp evaluate --targets` is the exit-1 gate)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output directory")
    _add_csim_options(p, 0)
    _add_data_options(p, "ROOT file(s) with jets (default: the bundled QCD sample)")
    p.set_defaults(func=cmd_run)
    return parser


def _fail(err: UserError | OSError, as_json: bool) -> int:
    # the file system said no (permissions, read-only, full), or a bare TimeoutError (an OSError with no text)
    if isinstance(err, OSError):
        message = f"{err.strerror or str(err) or type(err).__name__}" + (f": {err.filename}" if err.filename else "")
    else:
        message = str(err)
    print(f"trigcomp: error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": message, "exit_code": 2}))
    return 2


def _configure_logging(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, format="trigcomp: %(message)s")
    # trigcomp's own notes (e.g. which input preset was detected) are for a person at a terminal, or with -v;
    # other libraries' only with -v
    notes = args.verbose or _progress(args)
    logging.getLogger("trigcomp").setLevel(
        logging.DEBUG if args.verbose else logging.INFO if notes else logging.WARNING
    )
    if args.verbose:
        logging.getLogger().setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    from .staging import catching_interrupts

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not for users
    # QKeras quantizers trip a Keras serialisation warning on every model build; it is harmless here
    warnings.filterwarnings("ignore", message=".*keras.constraints.serialize.*")
    argv = sys.argv[1:] if argv is None else list(argv)
    with catching_interrupts():
        return _run(build_parser(), argv)


def _asks_for_json(argv: list[str]) -> bool:
    """Whether argparse would read ``--json`` in argv: the flag, ``--json=…`` or an abbreviation it accepts
    (``--js``, ``--jso``; ``--j`` could also be ``--jets`` or ``--junit``), before a bare ``--``. Known without
    parsing, so that a usage error is reported as JSON exactly when the command's own errors would be."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return any(len(name) >= len("--js") and "--json".startswith(name) for name in (a.split("=")[0] for a in options))


def _run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    from .staging import interrupted

    as_json = _asks_for_json(argv)
    try:
        args = parser.parse_args(argv)
        as_json = getattr(args, "json", False)  # what argparse read decides, once it has read it
        if args.verb is None:
            parser.error("a verb is required")
        _configure_logging(args)
        code = args.func(args)
        if interrupted():  # a Ctrl-C swallowed inside a library: the run was not meant to finish
            raise KeyboardInterrupt
        return code
    except UserError as err:
        return _fail(err, as_json)
    except CheckFailed as err:
        print(f"trigcomp: check failed: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return _report_interrupt()
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly, as other command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as err:
        return _fail(err, as_json)
    except Exception:
        # A library may turn the KeyboardInterrupt into its own error: TensorFlow's pybind11 layer raises
        # "RuntimeError: ... REPLACED BY KeyboardInterrupt" when Ctrl-C lands while it handles a C++ exception.
        if interrupted():
            return _report_interrupt()
        raise


def _report_interrupt() -> int:
    print("trigcomp: interrupted", file=sys.stderr)
    _forget_unhandled_interrupt()
    return 130


def _forget_unhandled_interrupt() -> None:
    """The interrupt was handled: exit with 130, not by SIGINT. CPython sets ``_Py_UnhandledKeyboardInterrupt``
    when a KeyboardInterrupt leaves any ``PyRun_String`` call (TensorFlow's pybind11 code makes such calls) and,
    at exit, kills the process with SIGINT if it is still set, whatever ``sys.exit`` asked for."""
    import ctypes

    try:
        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0
    except (AttributeError, ValueError):  # another interpreter: it has no such flag to clear
        pass


def run_as_program() -> None:
    """The ``trigcomp`` command: ``main()``, then exit with its code."""
    code = main()
    # The run is over and its output committed. A Ctrl-C during the interpreter's teardown (TensorFlow's takes about
    # half a second) would kill the process by SIGINT, without a word, after a run that succeeded: ignore it.
    # SIG_IGN outlives Python's finalization, which resets only handlers written in Python.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    run_as_program()
