"""Exit codes of the checks, through the CLI: a failed check is exit 1, a passed one exit 0."""

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from trigcomp.errors import CheckFailed, UserError

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


@pytest.mark.parametrize("markdown", [False, True])
def test_report_text_or_markdown(capsys, markdown):
    code, out, _ = run_cli(capsys, "report", str(REPORT), *(["--markdown"] if markdown else []))
    assert code == 0 and ("| --- |" in out) is markdown


def _fake_pipeline(csim: dict):
    def run_pipeline(options):
        out = Path(options.out)
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


@pytest.mark.parametrize(
    ("error", "exit_code", "message"),
    [
        (KeyboardInterrupt(), 130, "trigcomp: interrupted"),
        (BrokenPipeError(), 141, ""),
        (UserError("bad input"), 2, "trigcomp: error: bad input"),
        (CheckFailed("over budget"), 1, "trigcomp: check failed: over budget"),
    ],
)
def test_main_turns_exceptions_into_exit_codes(capsys, monkeypatch, error, exit_code, message):
    import trigcomp.cli

    def fail(args):
        raise error

    monkeypatch.setattr(trigcomp.cli, "cmd_inspect", fail)
    redirected = []
    if isinstance(error, BrokenPipeError):  # main points stdout at /dev/null for the rest of the process: record it
        fake_os = SimpleNamespace(
            environ=os.environ,
            open=os.open,
            devnull=os.devnull,
            O_WRONLY=os.O_WRONLY,
            dup2=lambda fd, to: redirected.append(to) or os.close(fd),
        )
        monkeypatch.setattr(trigcomp.cli, "os", fake_os)
        fake_sys = SimpleNamespace(stdout=SimpleNamespace(fileno=lambda: 1), stderr=sys.stderr, argv=sys.argv)
        monkeypatch.setattr(trigcomp.cli, "sys", fake_sys)
    code, _, err = run_cli(capsys, "inspect", "jets.root")
    assert code == exit_code and err.strip() == message
    assert redirected == ([1] if isinstance(error, BrokenPipeError) else [])


class _FakeRtl:
    """What cmd_rtl reads from run_rtl's result."""

    def __init__(self, mismatches):
        self.mismatches, self.project = mismatches, Path("rtl")

    def to_json(self):
        return {"mismatches": self.mismatches}

    def format_text(self):
        return "rtl"


class _FakeAgreement:
    def __init__(self, mismatches):
        self.mismatches = mismatches

    def to_json(self):
        return {"mismatches": self.mismatches}

    def format_text(self):
        return "three-way"


@pytest.mark.parametrize(
    ("rtl_mismatches", "csim_mismatches", "exit_code", "message"),
    [(0, 0, 0, ""), (2, 0, 1, "rtl: 2 jets differ"), (0, 5, 1, "disagree on 5 jets"), (0, None, 0, "")],
)
def test_rtl_exit_codes(capsys, monkeypatch, rtl_mismatches, csim_mismatches, exit_code, message):
    """The Verilator check and --against-csim each fail the command (the stages are tested in test_rtl and
    test_agreement; here only the verdict)."""
    import trigcomp.agreement
    import trigcomp.cli
    import trigcomp.model
    import trigcomp.rtl

    monkeypatch.setattr(trigcomp.model, "load_model", lambda path: SimpleNamespace(variables=("pt",)))
    monkeypatch.setattr(trigcomp.cli, "_load", lambda args, data, variables: SimpleNamespace(values=None))
    calls = []
    monkeypatch.setattr(
        trigcomp.rtl, "run_rtl", lambda *args, **kwargs: calls.append(kwargs) or _FakeRtl(rtl_mismatches)
    )
    monkeypatch.setattr(trigcomp.agreement, "rtl_against_csim", lambda *args: _FakeAgreement(csim_mismatches))
    against = ["--against-csim", "hls_project"] if csim_mismatches is not None else []
    code, out, err = run_cli(capsys, "rtl", "--model", "m", "--out", "o", *against, "--json")
    assert code == exit_code and message in err
    assert calls[0]["synthesize"] is True and calls[0]["jets"] == 100_000  # the defaults: Yosys runs
    payload = json.loads(out)
    assert payload["mismatches"] == rtl_mismatches
    assert payload.get("against_csim") == (None if csim_mismatches is None else {"mismatches": csim_mismatches})


@pytest.mark.parametrize(("verbose", "level", "others"), [([], "WARNING", "WARNING"), (["-v"], "DEBUG", "INFO")])
def test_trigcomp_notes_level(capsys, monkeypatch, verbose, level, others):
    """Notes are for a person at a terminal (stderr here is not one) or with -v; other libraries' only with -v."""
    import logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.WARNING)  # restored afterwards: -v raises it for the process
    run_cli(capsys, *verbose, "report", str(REPORT))
    assert logging.getLevelName(logging.getLogger("trigcomp").level) == level
    assert logging.getLevelName(root.level) == others


@pytest.mark.parametrize("option", [["--board", "vu13p"], ["--part", "xcvu13p-flga2577-2-e"]])
def test_report_board_or_part_gives_the_device_totals(capsys, option):
    galapagos = REPORT.parent / "vivado2018_hls4ml_galapagos"  # a csynth for another part
    code, out, err = run_cli(capsys, "report", str(galapagos), *option, "--json")
    assert code == 0, err
    assert set(json.loads(out)["resources_available_from"].values()) == {"board:vu13p"}
