"""``trigcomp run``: the whole chain on one dataset, left to right, into one output directory.

jets -> train (model/) -> evaluate (evaluation/) -> hls (hls_project/) -> csim on every held-out jet -> report,
then summary.md and summary.json. Written in a temporary directory and renamed into place at the end.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import JetSelection
from .errors import UserError

STAGES = ("load", "train", "evaluate", "hls", "csim", "report")


def _stage(index: int, name: str, quiet: bool) -> None:
    if not quiet:
        print(f"[{index + 1}/{len(STAGES)}] {name}", file=sys.stderr, flush=True)


def _resource_summary(project_dir: Path) -> dict[str, Any]:
    from .reports import read_report

    try:
        report = read_report(project_dir)
    except UserError as err:
        return {"source": None, "note": str(err)}
    payload = report.to_json()
    return {
        key: payload[key]
        for key in (
            "source",
            "estimate",
            "latency_cycles",
            "latency_ns",
            "ii",
            "resources",
            "resources_percent",
            "note",
        )
    }


@dataclass(frozen=True)
class RunOptions:
    """Everything `trigcomp run` needs; ``jets`` = 0 means every held-out jet."""

    out: Path
    config: Path
    data: tuple[str, ...]
    board: str = "vu13p"
    force: bool = False
    jets: int = 0
    adversarial: int = 20_000
    processes: int = 2
    seed: int = 0
    selection: JetSelection = field(default_factory=JetSelection)
    quiet: bool = False
    targets: str = "l1-jets"  # physics targets reported on the held-out jets (evaluate --targets is the CI gate)


def run_pipeline(options: RunOptions) -> dict[str, Any]:
    from .boards import get_board
    from .config import load_config
    from .csim import run_csim
    from .evaluate import evaluate, write_report
    from .hls import HlsOptions, write_hls_project
    from .model import resolve_model_variables, save_model, split_events, train
    from .staging import check_output, staged_dir
    from .targets import load_targets

    quiet, adversarial = options.quiet, options.adversarial
    check_output(options.out, options.force)
    config = load_config(options.config)
    board = get_board(options.board)
    if options.jets < 0 or adversarial < 0:
        raise UserError("--jets and --adversarial must be >= 0")
    if options.processes < 1:
        raise UserError(f"--processes must be >= 1, got {options.processes}")
    seconds: dict[str, float] = {}
    with staged_dir(options.out, options.force) as tmp:
        clock = time.perf_counter()
        _stage(0, "load jets", quiet)
        jets = options.selection.load(options.data, resolve_model_variables(config.variables), progress=not quiet)
        seconds["load"] = time.perf_counter() - clock

        clock = time.perf_counter()
        _stage(1, f"train {config.name} ({config.bits_per_jet} bits/jet)", quiet)
        model = save_model(train(config, jets, progress=not quiet), tmp / "model")
        seconds["train"] = time.perf_counter() - clock

        clock = time.perf_counter()
        _stage(2, "evaluate on held-out jets against equal-bit baselines", quiet)
        evaluation = evaluate(model, jets, targets=load_targets(options.targets))
        write_report(evaluation, tmp / "evaluation")
        seconds["evaluate"] = time.perf_counter() - clock

        clock = time.perf_counter()
        _stage(3, f"HLS project (encoder, {board.part}, bit_exact)", quiet)
        project = write_hls_project(
            model, tmp / "hls_project", HlsOptions(board=board, clock_ns=board.clock_ns), jets.values[:1000]
        )
        seconds["hls"] = time.perf_counter() - clock

        clock = time.perf_counter()
        cfg = config.training
        _, _, test = split_events(jets.event_index, config.seed, cfg.validation_fraction, cfg.test_fraction)
        test_jets = jets.values[test]
        n_data = options.jets or len(test_jets)
        _stage(4, f"csim: {n_data} held-out jets + {adversarial} adversarial vs QKeras", quiet)
        csim = run_csim(
            project,
            model,
            test_jets,
            jets=n_data + adversarial,
            adversarial=adversarial,
            processes=options.processes,
            seed=options.seed,
            progress=not quiet,
        )
        seconds["csim"] = time.perf_counter() - clock

        _stage(5, "report", quiet)
        resources = _resource_summary(project.path)
        summary = {
            "model": {"name": model.name, "hash": model.hash, "path": "model"},
            "data": {
                "sources": list(jets.sources),
                "jets": len(jets),
                "events": jets.n_events,
                "test_jets": len(test_jets),
            },
            "bits_per_jet": model.bits_per_jet,
            "variables": {
                name: {k: v[k] for k in ("bias", "sigma", "rms", "kind")} for name, v in evaluation.variables.items()
            },
            "physics_targets": _targets_summary(evaluation),
            "total_nmse": evaluation.total_nmse,
            "best_baseline_at_budget": evaluation.best_baseline_at_budget,
            "autoencoder_wins": evaluation.autoencoder_wins,
            "hls_project": "hls_project",
            "board": board.name,
            "part": board.part,
            "csim": {k: v for k, v in csim.to_json().items() if k != "project"},
            "resources": resources,
            "seconds": {k: round(v, 1) for k, v in seconds.items()},
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        (tmp / "summary.md").write_text(render_summary(summary))
    return summary


def _targets_line(t: dict[str, Any]) -> str:
    verdict = "met" if t["meets_targets"] else f"**NOT met** (failing: {', '.join(t['failing_variables'])})"
    return f"- physics targets `{t['targets']}` on held-out jets: {verdict}; worst ratio to target {t['worst_ratio']:.3g}"


def _targets_summary(evaluation) -> dict[str, Any]:
    (sample,) = evaluation.samples  # run evaluates one data set, on its held-out split
    report = sample.targets
    return {
        "targets": report.targets,
        "meets_targets": report.meets_targets,
        "worst_ratio": report.worst_ratio,
        "failing_variables": sample.failing_variables(),
    }


def render_summary(s: dict[str, Any]) -> str:
    csim, res = s["csim"], s["resources"]
    best = s["best_baseline_at_budget"]
    lines = [
        f"# trigcomp run: `{s['model']['name']}` — {s['bits_per_jet']} bits per jet",
        "",
        f"- data: {', '.join(s['data']['sources'])} ({s['data']['jets']} jets, {s['data']['test_jets']} held out)",
        _targets_line(s["physics_targets"]),
        f"- total normalised MSE on held-out jets (secondary view): {s['total_nmse']:.4g}"
        + (
            f" (best equal-bit baseline, {best['codec']}: {best['total_nmse']:.4g} → "
            f"{'autoencoder wins' if s['autoencoder_wins'] else 'baseline wins'})"
            if best
            else ""
        ),
        f"- HLS project: `{s['hls_project']}/` ({s['part']})",
        (
            f"- csim: **{csim['mismatches']} mismatches** in {csim['jets']} jets "
            f"({csim['adversarial_jets']} adversarial); {csim['jets_per_s']:,.0f} jets/s; "
            f"saturated {csim['saturated']}"
        ),
        "",
        "| variable | residual | bias | σ | RMS |",
        "|---|---|---|---|---|",
    ]
    for name, v in s["variables"].items():
        lines.append(f"| {name} | {v['kind']} | {v['bias']:.4g} | {v['sigma']:.4g} | {v['rms']:.4g} |")
    lines += ["", "## Latency and resources", ""]
    if res.get("source") is None:
        lines.append(f"No vendor report and no estimate: {res.get('note')}")
    else:
        label = "ESTIMATE (not a synthesis result)" if res.get("estimate") else "vendor report"
        lines.append(f"Source: `{res['source']}` — {label}.")
        lines.append(
            f"Latency {res['latency_cycles']} cycles, {res['latency_ns']} ns, II {res['ii']}; "
            f"resources {res['resources']}"
        )
    lines += ["", "Stage times [s]: " + ", ".join(f"{k} {v}" for k, v in s["seconds"].items()), ""]
    return "\n".join(lines)
