"""The anomaly score on the open RTL path: Σ latent² traced with da4ml into its own small Verilog project.

``trigcomp rtl --anomaly-score`` writes it under ``<out>/anomaly_score/`` (pipelined and combinational
variants, as for the encoder): N latent words in (the encoder's output format), the score out. Verilator runs it
on the latent words the encoder's own Verilog produced, and every score is compared with Σ code² of those words
(trigcomp.anomaly.score_codes): the chain encoder -> score is checked word for word on the same jets. da4ml
derives the output format from the value range (0 .. N · 2^(2B−2) LSB²), so the score never wraps or saturates.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..anomaly import ScoreFormat, check_firmware_scores
from ..ir import Encoder, FixedPoint
from ..records import SCHEMA_VERSION, ProjectHeader
from ..staging import staged_dir, write_json
from .project import MANIFEST, VARIANTS, RtlProject, _io_word, _write_variant
from .simulate import simulate
from .tracing import _HWCONF, _SOLVER_OPTIONS, cutoff_levels

if TYPE_CHECKING:
    from . import RtlResult

SCORE_DIR = "anomaly_score"
SCORE_PROJECT_NAME = "trigcomp_anomaly_score"


def score_format(spec: Encoder) -> ScoreFormat:
    fmt = spec.output_format
    return ScoreFormat(spec.n_outputs, FixedPoint(fmt.bits, fmt.integer))


def write_score_project(spec: Encoder, out: Path, encoder: RtlProject) -> RtlProject:
    """The score project of ``spec``'s latent, beside the ``encoder`` project: same board, part, clock and stage
    delay, so that every reader (``trigcomp report`` too) takes it as it takes the encoder's."""
    from da4ml.trace import FixedVariableArray, FixedVariableArrayInput, HWConfig, comb_trace, to_pipeline

    header = ProjectHeader.from_json(encoder.manifest, str(encoder.path / MANIFEST))
    clock_ns, pipeline_ns = header.clock_ns, encoder.pipeline_ns
    fmt = spec.output_format
    port = FixedVariableArrayInput((spec.n_outputs,), hwconf=HWConfig(*_HWCONF), solver_options=_SOLVER_OPTIONS)
    latent = port.quantize(int(fmt.signed), fmt.integer, fmt.fractional)
    squares = latent * latent
    score = FixedVariableArray(np.array([np.sum(squares._vars)]), latent.solver_options)
    comb = comb_trace(port, score)
    pipe = to_pipeline(comb, cutoff_levels(pipeline_ns), verbose=False)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "kind": "rtl",
        "project_name": SCORE_PROJECT_NAME,
        "board": header.board,
        "part": header.part,
        "clock_ns": clock_ns,
        "pipeline_ns": pipeline_ns,
        "pipeline_stages": len(pipe.solutions),
        "latency_cycles": len(pipe.solutions),
        "latency_ns": len(pipe.solutions) * clock_ns,
        "variants": {variant: f"{variant}/src/{SCORE_PROJECT_NAME}.v" for variant in VARIANTS},
        "inputs": spec.n_outputs,
        "outputs": 1,
        "layers": [{"class": "latent", "format": fmt.to_json()}],
        "io": {"input": _io_word(comb, "input"), "output": _io_word(comb, "output")},
        "anomaly_score": score_format(spec).to_json(),
    }
    with staged_dir(out, force=True) as tmp:
        _write_variant(pipe, tmp / "pipelined", SCORE_PROJECT_NAME, clock_ns, header.part)
        _write_variant(comb, tmp / "combinational", SCORE_PROJECT_NAME, clock_ns, header.part)
        write_json(tmp / MANIFEST, manifest)
    return RtlProject(out, manifest)


def check_score_rtl(project: RtlProject, spec: Encoder, latent: np.ndarray) -> dict:
    """Both variants of the score project on ``latent`` (the encoder Verilog's latent values)."""
    fmt = score_format(spec)
    codes = np.rint(latent / spec.output_format.lsb).astype(np.int64)
    result = {"project": str(project.path), "latency_cycles": project.latency_cycles}
    for variant in VARIANTS:
        words = np.rint(simulate(project, latent, variant)[:, 0] / fmt.lsb).astype(np.int64)
        result[variant] = check_firmware_scores(fmt, words, codes)
    result["mismatches"] = sum(result[variant]["mismatches"] for variant in VARIANTS)
    return result


def run_score_rtl(model, rtl: RtlResult, synthesize: bool) -> dict:
    """``trigcomp rtl --anomaly-score``, after the encoder's check ``rtl``: the score project beside the encoder's,
    run on the latent the encoder's pipelined Verilog gives for the jets that check ran, and its Yosys cell count."""
    from .synth import synthesize as yosys

    spec, project = model.firmware_ir, rtl.project
    latent = simulate(project, spec.quantize_inputs(rtl.test_jets)[0], "pipelined")
    score_project = write_score_project(spec, project.path / SCORE_DIR, project)
    result = check_score_rtl(score_project, spec, latent)
    if synthesize:
        result["yosys"] = yosys(score_project).to_json()
    return result
