"""trigcomp.anomaly: the score's fixed-point type, ROC/AUC/efficiency at fixed background acceptance, and the score
on the board: csim (HLS C++) and the open RTL path (da4ml Verilog under Verilator) against Σ code²."""

from __future__ import annotations

import itertools
import shutil

import numpy as np
import pytest

from trigcomp.anomaly import (
    BUNCH_CROSSING_HZ,
    ScoreFormat,
    auc,
    check_firmware_scores,
    efficiency_at,
    roc_curve,
    score_codes,
    signal_performance,
)
from trigcomp.config import FixedPoint


@pytest.mark.parametrize("n_latent, bits, integer", [(8, 6, 2), (1, 2, 0), (16, 4, 1), (5, 9, 3)])
def test_score_type_holds_every_sum_and_no_more(n_latent, bits, integer):
    fmt = ScoreFormat(n_latent, FixedPoint(bits, integer))
    extreme = np.full((1, n_latent), -(2 ** (bits - 1)))  # every code at the most negative word
    largest = int(score_codes(extreme)[0])
    assert largest < 2**fmt.bits and largest >= 2 ** (fmt.bits - 1)  # fits, and one bit fewer would not
    # the value scale: code sum x lsb = the sum of the squared latent values
    lsb = 2.0 ** -(bits - 1 - integer)
    assert largest * fmt.lsb == pytest.approx((extreme * lsb) @ (extreme * lsb).T)
    assert fmt.precision == f"ap_ufixed<{fmt.bits},{fmt.bits - 2 * (bits - 1 - integer)}>"


def test_auc_is_the_pairwise_probability_with_ties_halved():
    rng = np.random.default_rng(1)
    background, signal = rng.integers(0, 6, 40), rng.integers(2, 9, 30)
    pairs = [1.0 if s > b else 0.5 if s == b else 0.0 for s, b in itertools.product(signal, background)]
    assert auc(background, signal) == pytest.approx(np.mean(pairs))
    assert auc(background, background) == pytest.approx(0.5)


def test_efficiency_at_acceptance_counts_background_above_the_threshold():
    background = np.arange(20_000)  # distinct scores: exactly 20 lie above the 1e-3 threshold
    signal = np.array([19_978, 19_979, 19_980, 5, 19_999])
    entry = efficiency_at(background, signal, 1e-3)
    assert entry["threshold"] == 19_979 and entry["background_acceptance"] == 20 / 20_000
    assert entry["efficiency"] == 2 / 5 and entry["rate_hz"] == pytest.approx(BUNCH_CROSSING_HZ * 1e-3)
    # ties at the threshold stay below it: the acceptance is never exceeded
    tied = np.concatenate([np.zeros(19_970), np.full(30, 7.0)])  # 30 tied above 20 allowed
    assert efficiency_at(tied, np.array([7.0, 8.0]), 1e-3)["efficiency"] == 0.5


def test_too_few_background_events_give_null_and_a_note():
    performance = signal_performance(np.arange(20_000), np.arange(100))
    assert performance["efficiency"]["1e-3"] is not None
    assert performance["efficiency"]["1e-4"] is None and performance["efficiency"]["1e-5"] is None
    assert any("1e-4: 20000 background events" in note and "100,000" in note for note in performance["notes"])
    assert set(performance["efficiency"]) == {"1e-3", "1e-4", "1e-5"}


def test_roc_curve_runs_from_everything_to_nothing():
    accept, efficiency = roc_curve(np.array([1, 2, 3, 4]), np.array([3, 4, 5]))
    assert (accept[0], efficiency[0]) == (1.0, 1.0) and (accept[-1], efficiency[-1]) == (0.0, 0.0)
    assert (np.diff(accept) <= 0).all() and (np.diff(efficiency) <= 0).all()


def test_firmware_score_check_names_the_first_wrong_word():
    fmt = ScoreFormat(3, FixedPoint(4, 1))
    codes = np.array([[1, -2, 3], [-8, -8, -8], [0, 0, 0]])
    good = score_codes(codes)
    assert good.tolist() == [14, 192, 0]
    assert check_firmware_scores(fmt, good, codes)["mismatches"] == 0
    wrapped = good % 2 ** (fmt.bits - 1)  # a score type one bit short would wrap the largest sum
    result = check_firmware_scores(fmt, wrapped, codes)
    assert result["mismatches"] == 1 and result["first_mismatch"] == {"row": 1, "expected": 192, "firmware": 64}


@pytest.mark.slow
def test_csim_checks_the_score_words(tmp_path, tiny_model, jets):
    from trigcomp.boards import get_board
    from trigcomp.csim import run_csim
    from trigcomp.hls import HlsOptions, write_hls_project

    options = HlsOptions(get_board("vu13p"), 5.0, link_width=16, anomaly_score=True)
    project = write_hls_project(tiny_model, tmp_path / "scored", options, jets.values[:200])
    fmt = ScoreFormat(tiny_model.n_latent, tiny_model.latent_quantizer)
    assert project.manifest["anomaly_score"]["bits"] == fmt.bits
    assert project.n_link_words == -(-(tiny_model.n_latent * tiny_model.latent_quantizer.bits + fmt.bits) // 16)
    result = run_csim(project, tiny_model, jets.values, jets=5_000, adversarial=500, processes=2)
    assert result.passed and result.anomaly_score["mismatches"] == 0 and result.anomaly_score["saturated"] == 0
    assert result.anomaly_score["max_code_sum"] > 0

    # the same project with the score computed from all but the last latent value: csim must say so
    faulty = tmp_path / "faulty"
    shutil.copytree(project.path, faulty)
    header = faulty / "firmware" / "trigcomp_anomaly.h"
    header.write_text(
        header.read_text().replace(
            "i < TRIGCOMP_N_LATENT; i++) {\n        #pragma HLS UNROLL\n        score",
            "i < TRIGCOMP_N_LATENT - 1; i++) {\n        #pragma HLS UNROLL\n        score",
        )
    )
    from trigcomp.hls import load_project

    broken = run_csim(load_project(faulty), tiny_model, jets.values, jets=5_000, adversarial=500, processes=2)
    assert not broken.passed and broken.mismatches == 0 and broken.anomaly_score["mismatches"] > 0


def test_signal_needs_an_event_model():
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).parents[1]
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "trigcomp.cli",
            "evaluate",
            "--model",
            str(repo / "models" / "jet4"),
            "--data",
            str(repo / "data" / "qcd.root"),
            "--signal",
            str(repo / "data" / "zprime.root"),
            "--json",
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert "--signal scores whole events: it needs an event model" in json.loads(completed.stdout)["error"]


def test_anomaly_score_rtl_project_is_read_like_every_rtl_project(tmp_path):
    """The score project carries schema_version and the encoder project's board, part, clock and stage delay:
    load_project and the reports' ProjectHeader read it, and a later layout is refused in one line."""
    import json

    from trigcomp.errors import UserError
    from trigcomp.model import load_model
    from trigcomp.records import SCHEMA_VERSION, ProjectHeader
    from trigcomp.rtl import RtlProject, load_project
    from trigcomp.rtl.score import SCORE_DIR, write_score_project

    from .conftest import REPO

    header = {"kind": "rtl", "project_name": "encoder", "board": "vu13p", "part": "xcvu13p-flga2577-2-e"}
    encoder = RtlProject(tmp_path, header | {"schema_version": SCHEMA_VERSION, "clock_ns": 4.0, "pipeline_ns": 2.0})
    written = write_score_project(load_model(REPO / "models" / "jet4").firmware_ir, tmp_path / SCORE_DIR, encoder)
    project = load_project(tmp_path / SCORE_DIR)
    assert project.manifest == written.manifest and project.manifest["schema_version"] == SCHEMA_VERSION
    read = ProjectHeader.from_json(project.manifest, "score")
    assert (read.board, read.part, read.clock_ns, project.pipeline_ns) == ("vu13p", header["part"], 4.0, 2.0)
    later = project.manifest | {"schema_version": SCHEMA_VERSION + 1}
    (tmp_path / SCORE_DIR / "trigcomp.json").write_text(json.dumps(later))
    with pytest.raises(UserError, match=f"schema_version {SCHEMA_VERSION + 1}"):
        load_project(tmp_path / SCORE_DIR)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
def test_rtl_anomaly_score_is_checked_on_the_encoders_own_latent(tmp_path, capsys):
    """`trigcomp rtl --anomaly-score`: the score's da4ml Verilog, run on the latent words of the encoder's Verilog,
    gives Σ code² for every jet in both variants; the score project records its latency."""
    import json
    from pathlib import Path

    from trigcomp.cli import main
    from trigcomp.rtl import load_project

    repo = Path(__file__).parents[1]
    args = ["rtl", "--model", str(repo / "models" / "jet4"), "--out", str(tmp_path / "rtl"), "--anomaly-score"]
    assert main([*args, "--data", str(repo / "data" / "qcd.root"), "--jets", "2000", "--no-synth", "--json"]) == 0
    score = json.loads(capsys.readouterr().out)["anomaly_score"]
    assert score["mismatches"] == 0 and score["latency_cycles"] >= 1
    for variant in ("pipelined", "combinational"):
        assert score[variant]["mismatches"] == 0 and score[variant]["saturated"] == 0
        assert score[variant]["max_code_sum"] > 0  # real latent words went through, not zeros
    assert load_project(tmp_path / "rtl" / "anomaly_score").project_name == "trigcomp_anomaly_score"
