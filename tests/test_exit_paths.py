"""Exit codes of the checks, through the CLI: a failed check is exit 1, a passed one exit 0."""

import json
from pathlib import Path

import pytest

from .test_cli import run_cli

REPORT = Path(__file__).parent / "data" / "reports" / "vivado2020_hls4ml_testreport"  # latency 10 cycles, II 8


@pytest.mark.parametrize(
    ("limits", "exit_code"),
    [("latency_cycles = 10\nii = 8\n", 0), ("latency_cycles = 9\n", 1), ("ii = 7\n", 1), ("DSP = 65\n", 1)],
)
def test_report_budget_exit_code(capsys, tmp_path, limits, exit_code):
    budget = tmp_path / "budget.toml"
    budget.write_text("[limits]\n" + limits)
    code, out, err = run_cli(capsys, "report", str(REPORT), "--budget", str(budget), "--json")
    assert code == exit_code, err
    assert json.loads(out)["budget"]["within_budget"] is (exit_code == 0)
    assert ("over budget" in err) is (exit_code == 1)


def _fake_pipeline(csim: dict):
    def run_pipeline(args, load):
        out = Path(args.out)
        out.mkdir(parents=True)
        (out / "summary.md").write_text("summary\n")
        return {"csim": csim}

    return run_pipeline


@pytest.mark.parametrize(
    ("csim", "exit_code"),
    [
        ({"mismatches": 0, "passed": True, "weights": {"summary": "weights equal"}}, 0),
        ({"mismatches": 3, "passed": False, "weights": {"summary": "weights equal"}}, 1),
        ({"mismatches": 0, "passed": False, "weights": {"summary": "weights differ: w3.h[0]"}}, 1),
    ],
)
def test_run_exits_1_when_csim_fails(capsys, tmp_path, monkeypatch, csim, exit_code):
    """The stages are replaced (they are tested elsewhere); what is tested is the verdict on the csim result."""
    import trigcomp.run

    monkeypatch.setattr(trigcomp.run, "run_pipeline", _fake_pipeline(csim))
    code, _, err = run_cli(capsys, "run", "--out", str(tmp_path / "run"), "--json")
    assert code == exit_code
    if exit_code:
        assert "check failed" in err and ("3 mismatching" in err or "w3.h[0]" in err)
