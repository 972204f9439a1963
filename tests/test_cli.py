"""The CLI contract: verbs, --help that teaches, --json keys, exit codes 0/1/2 and one-line errors."""

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import awkward as ak
import numpy as np
import pytest
import uproot

from trigcomp.cli import build_parser, main

from .conftest import TEST_DATA, TINY_CONFIG, synthetic_jets
from .test_csim import _inject_one_lsb_fault

VERBS = (
    "generate",
    "inspect",
    "train",
    "evaluate",
    "recommend",
    "import",
    "hls",
    "build",
    "csim",
    "report",
    "rtl",
    "scan",
    "compress",
    "decompress",
    "run",
)


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def junit_failures(path) -> dict[str, str]:
    """The failed test cases of a JUnit file: name -> failure message (every case must carry a name)."""
    cases = ET.parse(path).getroot().iter("testcase")
    return {case.get("name"): case.find("failure").get("message") for case in cases if case.find("failure") is not None}


def write_nanoaod(path, n_events=2000, seed=0):
    """A NanoAOD-style file (Events tree, nJet, Jet_*) with the synthetic jets."""
    table = synthetic_jets(n_events, seed)
    counts = np.bincount(table.event_index, minlength=n_events)
    jets = {name: ak.unflatten(table.values[:, j], counts) for j, name in enumerate(table.variables)}
    jets["nConstituents"] = ak.values_astype(jets["nConstituents"], np.int32)
    with uproot.recreate(path) as f:
        f.mktree("Events", {"Jet": ak.zip(jets).type.content})
        f["Events"].extend({"Jet": ak.zip(jets)})
    return path


def write_config(path, **training):
    lines = [f'name = "{TINY_CONFIG["name"]}"', 'variables = "jet10"', f"seed = {TINY_CONFIG['seed']}"]
    for section in ("encoder", "latent", "decoder", "training"):
        values = TINY_CONFIG[section] | (training if section == "training" else {})
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_every_verb_has_a_teaching_help(capsys):
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    assert tuple(verbs) == VERBS
    for verb in VERBS:
        with pytest.raises(SystemExit) as exit_info:
            main([verb, "--help"])
        out = capsys.readouterr().out
        assert exit_info.value.code == 0
        assert "example: trigcomp" in out and "--json" in out, verb


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["inspect", "/nonexistent/file.root"], "file.root"),
        (["hls", "--model", "/nonexistent", "--board", "vu13p", "--out", "x"], "not a trigcomp model directory"),
        (["csim", "/nonexistent"], "project directory not found"),
        (["report", "/nonexistent"], "nonexistent"),
        (["build", "/nonexistent"], "project directory not found"),
        (["train", "--config", "/nonexistent.toml", "--data", "x.root", "--out", "m"], "config file not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert out == ""
    assert code == 2
    assert err.startswith("trigcomp: error: ") and err.count("\n") == 1 and message in err
    assert "Traceback" not in err


def test_hls_bad_board_part_and_clock(capsys, tiny_model, tmp_path):
    for extra, message in (
        (["--board", "vu99p"], "unknown board 'vu99p'"),
        (["--part", "vu13p"], "malformed Xilinx part"),
        (["--board", "vu13p", "--clock-ns", "0"], "--clock-ns: must be a finite positive number"),
    ):
        code, _, err = run_cli(capsys, "hls", "--model", str(tiny_model.path), "--out", str(tmp_path / "p"), *extra)
        assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "p").exists()


def test_build_without_vendor_tools_exits_2(capsys, tiny_project):
    if shutil.which("vivado_hls"):
        pytest.skip("vivado_hls is installed here")
    code, _, err = run_cli(capsys, "build", str(tiny_project.path), "--csynth")
    assert code == 2 and "vivado_hls is not on PATH" in err


def test_csim_exit_codes_and_json(capsys, tiny_project, tmp_path):
    data = write_nanoaod(tmp_path / "jets.root")
    junit = tmp_path / "csim.xml"
    code, out, _ = run_cli(
        capsys, "csim", str(tiny_project.path), "--data", str(data), "--jets", "5000", "--adversarial", "500", "--json",
        "--junit", str(junit),
    )  # fmt: skip
    result = json.loads(out)
    assert code == 0
    assert {"jets", "mismatches", "max_lsb_vs_float", "saturated", "jets_per_s"} <= set(result)
    assert (result["jets"], result["mismatches"]) == (5000, 0)
    assert junit_failures(junit) == {}

    faulty = tmp_path / "faulty"
    shutil.copytree(tiny_project.path, faulty)
    _inject_one_lsb_fault(faulty)
    code, out, err = run_cli(
        capsys, "csim", str(faulty), "--data", str(data), "--jets", "5000", "--json", "--junit", str(junit)
    )
    assert code == 1 and json.loads(out)["mismatches"] > 0 and "check failed" in err
    failures = junit_failures(junit)
    assert "mismatches" in failures and f"{json.loads(out)['mismatches']} of 5000 jets" in failures["mismatches"]


def test_inspect_json_keys(capsys, tmp_path):
    data = write_nanoaod(tmp_path / "jets.root", n_events=50)
    code, out, _ = run_cli(capsys, "inspect", str(data), "--json")
    payload = json.loads(out)
    assert code == 0 and payload["preset"] == "nanoaod" and payload["events"] == 50
    assert {"events", "jets", "preset", "variables"} <= set(payload) and "nConstituents" in payload["variables"]


def test_run_end_to_end(tmp_path):
    """`trigcomp run` through the real console script on a tiny sample: summary written, 0 mismatches."""
    data = write_nanoaod(tmp_path / "jets.root")
    config = write_config(tmp_path / "tiny.toml", epochs=2)
    targets = tmp_path / "targets.toml"  # pt: loose enough for 2 epochs; eta: no codec meets 1e-9
    targets.write_text("[variables.pt]\nsigma = 10.0\n[variables.eta]\nsigma = 1e-9\n")
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "trigcomp.cli",
        "run",
        "--data",
        str(data),
        "--config",
        str(config),
        "--out",
        str(out),
        "--adversarial",
        "2000",
        "--targets",
        str(targets),
        "--json",
    ]
    completed = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]  # targets are reported by run, gated by evaluate
    summary = json.loads(completed.stdout)
    assert summary["physics_targets"]["targets"] == "targets"
    assert summary["physics_targets"]["failing_variables"] == ["eta"]
    assert summary["physics_targets"]["meets_targets"] is False
    assert summary["csim"]["mismatches"] == 0
    assert summary["csim"]["jets"] == summary["data"]["test_jets"] + 2000
    assert summary["bits_per_jet"] == 24
    assert set(summary["variables"]) == {
        "pt",
        "eta",
        "phi",
        "mass",
        "chHEF",
        "neHEF",
        "chEmEF",
        "neEmEF",
        "muEF",
        "nConstituents",
    }
    assert (out / "summary.md").is_file() and (out / "hls_project" / "trigcomp.json").is_file()
    assert json.loads((out / "summary.json").read_text()) == summary

    again = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "already exists; pass --force" in again.stderr


def test_csim_refuses_data_without_the_model_variables(capsys, tiny_project):
    hzz = TEST_DATA / "uproot-HZZ.root"
    code, _, err = run_cli(capsys, "csim", str(tiny_project.path), "--data", str(hzz), "--jets", "1000", "--json")
    assert code == 2 and "not available with preset pxpypze" in err and err.count("\n") == 1


def test_csim_shows_the_first_compiler_error(capsys, tiny_project, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_project.path, broken)
    top = broken / "firmware" / "trigcomp_top.cpp"
    top.write_text(top.read_text().replace("myproject(jet, latent);", "myproject(jet, latent) this is not C++;"))
    data = write_nanoaod(tmp_path / "j.root", 100)
    code, _, err = run_cli(capsys, "csim", str(broken), "--data", str(data), "--json")
    assert code == 2 and "g++ failed to compile" in err and "error:" in err and err.count("\n") == 1


def test_detected_preset_is_reported_with_verbose_not_to_scripts(tmp_path):
    data = write_nanoaod(tmp_path / "jets.root", n_events=50)
    command = [sys.executable, "-m", "trigcomp.cli", "inspect", str(data)]
    quiet = subprocess.run(command, check=False, capture_output=True, text=True)  # stderr is no terminal here
    assert quiet.returncode == 0 and quiet.stderr == ""
    verbose = subprocess.run(command[:3] + ["-v"] + command[3:], check=False, capture_output=True, text=True)
    assert verbose.returncode == 0 and "trigcomp: preset detected: nanoaod" in verbose.stderr
