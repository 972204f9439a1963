"""Reliability (issue 13): every bad input is one line and exit 2, nothing is clobbered or half-written, an
interrupt leaves nothing behind, csim's trace names the layer that is wrong, and the QKeras reference saturates
exactly as the firmware does."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from trigcomp import data, staging
from trigcomp.cli import main
from trigcomp.csim import build_testbench, make_inputs, run_testbench, trace_jet, unpack_latent
from trigcomp.errors import UserError
from trigcomp.hls import load_project

from .conftest import TEST_DATA
from .test_cli import write_config, write_nanoaod
from .test_data import write_rntuple, write_ttree


def tree_digest(path: Path) -> str | None:
    """Digest of a file or directory tree: names, bytes, symlink targets. None when it does not exist."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return None
    digest = hashlib.sha256()
    for item in sorted([path, *path.rglob("*")] if path.is_dir() and not path.is_symlink() else [path]):
        digest.update(str(item.relative_to(path)).encode() + b"\0")
        if item.is_symlink():
            digest.update(b"->" + os.readlink(item).encode())
        elif item.is_file():
            digest.update(item.read_bytes())
    return digest.hexdigest()


def leftovers(directory: Path) -> list[str]:
    """Hidden staging names (``.NAME.xxxx``) left beside outputs."""
    return sorted(p.name for p in Path(directory).iterdir() if p.name.startswith("."))


def cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, err: str, expected_code: int = 2) -> None:
    assert code == expected_code, err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert err.count("\n") == 1 and err.endswith("\n"), err


def test_main_gives_ctrl_c_back_and_forgets_it():
    before, before_hook = signal.getsignal(signal.SIGINT), sys.unraisablehook
    assert main(["inspect", "/nonexistent.root"]) == 2
    assert signal.getsignal(signal.SIGINT) is before and not staging.interrupted()
    assert sys.unraisablehook is before_hook


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model, tiny_project):
    """Inputs a hostile user would give: damaged model dirs and projects, files where directories belong."""
    d = tmp_path_factory.mktemp("world")
    paths = {
        "dir": d,
        "model": tiny_model.path,
        "project": tiny_project.path,
        "data": write_nanoaod(d / "jets.root", 300),
        "training": write_nanoaod(d / "training.root"),  # the synthetic jets tiny_model was trained on
    }
    paths["file"] = d / "plain.txt"
    paths["file"].write_text("keep me\n")
    (d / "target").mkdir()
    (d / "target" / "inside.txt").write_text("keep me too\n")
    paths["link"] = d / "link"
    paths["link"].symlink_to(d / "target")
    for name, (file, text) in {
        "model_list": ("model.json", "[1, 2, 3]"),
        "model_format_only": (
            "model.json",
            json.dumps({"format": json.loads((tiny_model.path / "model.json").read_text())["format"]}),
        ),
        "weights_null": ("weights.json", "null"),
        "model_truncated": ("model.json", (tiny_model.path / "model.json").read_text()[:100]),
    }.items():
        shutil.copytree(tiny_model.path, d / name)
        (d / name / file).write_text(text)
        paths[name] = d / name
    paths["project_truncated"] = d / "project_truncated"
    shutil.copytree(tiny_project.path, paths["project_truncated"])
    manifest = paths["project_truncated"] / "trigcomp.json"
    manifest.write_text(manifest.read_text()[:200])
    paths["latent9"] = d / "latent9.toml"
    paths["latent9"].write_text('name = "wide"\nvariables = "jet4"\n[latent]\nsize = 9\nbits = 8\n')
    paths["empty_config"] = d / "empty.toml"
    paths["empty_config"].write_text("")
    paths["existing"] = d / "existing-eval"
    paths["existing"].mkdir()
    (paths["existing"] / "evaluation.md").write_text("an earlier evaluation\n")
    return paths


# command -> exit code 2 and a phrase of the one stderr line; nothing in `world` may change
CASES = {
    "out under /proc": (
        ["hls", "--model", "{model}", "--board", "vu13p", "--out", "/proc/trigcomp-test/p", "--data", "{data}"],
        "cannot",
    ),
    "out under a file": (["hls", "--model", "{model}", "--board", "vu13p", "--out", "{file}/p"], "is not a directory"),
    "force onto a symlink": (
        ["hls", "--model", "{model}", "--board", "vu13p", "--out", "{link}", "--force"],
        "symbolic link",
    ),
    "force onto a plain file": (
        ["hls", "--model", "{model}", "--board", "vu13p", "--out", "{file}", "--force"],
        "refusing to replace",
    ),
    "hls clock inf": (
        ["hls", "--model", "{model}", "--board", "vu13p", "--out", "{dir}/p", "--clock-ns", "inf"],
        "--clock-ns",
    ),
    "hls tb-jets 0": (
        ["hls", "--model", "{model}", "--board", "vu13p", "--out", "{dir}/p", "--tb-jets", "0"],
        "--tb-jets",
    ),
    "hls tb-jets -1": (
        ["hls", "--model", "{model}", "--board", "vu13p", "--out", "{dir}/p", "--tb-jets", "-1"],
        "--tb-jets",
    ),
    "csim jets 0": (["csim", "{project}", "--jets", "0"], "--jets: must be >= 1"),
    "csim jets -5": (["csim", "{project}", "--jets", "-5"], "--jets: must be >= 1, got -5"),
    "csim processes 0": (["csim", "{project}", "--processes", "0"], "--processes"),
    "model.json a list": (
        ["hls", "--model", "{model_list}", "--board", "vu13p", "--out", "{dir}/p"],
        "unknown model format",
    ),
    "model.json only a format": (
        ["hls", "--model", "{model_format_only}", "--board", "vu13p", "--out", "{dir}/p"],
        "damaged",
    ),
    "weights.json null": (["hls", "--model", "{weights_null}", "--board", "vu13p", "--out", "{dir}/p"], "damaged"),
    "model.json truncated": (
        ["hls", "--model", "{model_truncated}", "--board", "vu13p", "--out", "{dir}/p"],
        "not valid JSON",
    ),
    "trigcomp.json truncated": (["csim", "{project_truncated}"], "not valid JSON"),
    "latent larger than inputs": (
        ["train", "--config", "{latent9}", "--data", "{data}", "--out", "{dir}/m"],
        "bottleneck",
    ),
    "empty config": (["train", "--config", "{empty_config}", "--data", "{data}", "--out", "{dir}/m"], "is empty"),
    "inspect a directory": (["inspect", "{dir}"], "is a directory"),
    "unknown flag": (["--bogus-flag"], "unrecognized arguments: --bogus-flag"),
    "unknown flag of a verb": (["csim", "{project}", "--bogus-flag"], "unrecognized arguments: --bogus-flag"),
    "evaluate onto an existing dir": (
        ["evaluate", "--model", "{model}", "--data", "{data}", "--out", "{existing}"],
        "already exists; pass --force",
    ),
}


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_touches_nothing(capsys, world, case, as_json):
    argv, phrase = CASES[case]
    argv = [a.format(**world) for a in argv] + (["--json"] if as_json else [])
    before = tree_digest(world["dir"]), tree_digest(world["model"]), tree_digest(world["project"])
    code, out, err = cli(capsys, argv)
    assert_one_line(code, err)
    assert err.startswith("trigcomp: error: ") and phrase in err, err
    if as_json:
        assert json.loads(out) == {"error": err.removeprefix("trigcomp: error: ").rstrip("\n"), "exit_code": 2}
    else:
        assert out == ""
    assert (tree_digest(world["dir"]), tree_digest(world["model"]), tree_digest(world["project"])) == before
    assert not Path("/proc/trigcomp-test").exists()


USAGE_ERRORS = {
    "unknown flag": (["csim", "p", "--bogus"], "unrecognized arguments: --bogus"),
    "missing required options": (["train", "--config", "c.toml"], "required: --out, --data"),
    "missing positional": (["inspect"], "required: file"),
    "bad choice": (["generate", "--process", "qcd", "--events", "1", "--out", "o.root", "--format", "xml"], "'xml'"),
    "bad number": (["rtl", "--out", "o", "--jets", "0"], "argument --jets: must be >= 1, got 0"),
    "missing option value": (["scan", "--grid"], "argument --grid: expected one argument"),
    "json flag given to the top level": (["inspect", "x.root"], "unrecognized arguments: --json"),
    "a command's own error": (["inspect", "/nonexistent.root"], "no such file: /nonexistent.root"),
}


@pytest.mark.parametrize("json_flag", ["--json", "--js"], ids=["json", "abbreviated"])
@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_usage_errors_with_json_are_reported_like_every_other_error(capsys, case, json_flag):
    """argparse's errors (any verb) and a command's own UserError, with --json: the same one line on stderr, the
    same line as JSON on stdout, exit 2; --js is argparse's abbreviation of --json, so it asks for JSON too."""
    argv, phrase = USAGE_ERRORS[case]
    argv = [json_flag, *argv] if case == "json flag given to the top level" else [*argv, json_flag]
    if case == "json flag given to the top level":
        phrase = phrase.replace("--json", json_flag)
    code, out, err = cli(capsys, argv)
    assert_one_line(code, err)
    assert err.startswith("trigcomp: error: ") and phrase in err, err
    assert json.loads(out) == {"error": err.removeprefix("trigcomp: error: ").rstrip("\n"), "exit_code": 2}


def test_a_file_named_json_after_double_dash_is_no_json_request(capsys):
    code, out, err = cli(capsys, ["inspect", "--", "--json"])
    assert_one_line(code, err)
    assert out == "" and "no such file: --json" in err


def test_read_only_file_system_is_one_line(capsys, world, tmp_path, monkeypatch):
    """No read-only mount can be made here (no mount privileges), so the OS refusal is injected where it comes."""

    def read_only(*args, dir=None, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))

    monkeypatch.setattr(staging.tempfile, "mkdtemp", read_only)
    code, out, err = cli(
        capsys, ["hls", "--model", world["model"], "--board", "vu13p", "--out", tmp_path / "p", "--data", world["data"]]
    )
    assert_one_line(code, err)
    assert "Read-only file system" in err and out == "" and os.listdir(tmp_path) == []


# ---- evaluate --out: refused without --force, staged, interrupt-safe ---------------------------------------------


def test_evaluate_out_is_staged_and_interrupt_safe(capsys, world, tmp_path, monkeypatch):
    import trigcomp.evaluate

    out = tmp_path / "eval"
    argv = ["evaluate", "--model", world["model"], "--data", world["data"], "--training-data", world["training"]]
    code, _, err = cli(capsys, [*argv, "--out", out])
    assert code == 0, err
    assert {"evaluation.md", "evaluation.json"} <= set(os.listdir(out)) and leftovers(tmp_path) == []
    (out / "stale.txt").write_text("from an earlier run")
    before = tree_digest(out)

    real_write_report = trigcomp.evaluate.write_report

    def interrupted_half_way(evaluation, where):
        (where / "evaluation.md").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(trigcomp.evaluate, "write_report", interrupted_half_way)
    argv = [*argv, "--out", out, "--force"]
    code, _, err = cli(capsys, argv)
    assert code == 130 and err == "trigcomp: interrupted\n"
    assert tree_digest(out) == before and leftovers(tmp_path) == []

    monkeypatch.setattr(trigcomp.evaluate, "write_report", real_write_report)
    code, _, err = cli(capsys, argv)
    assert code == 0, err
    assert not (out / "stale.txt").exists() and (out / "evaluation.json").is_file() and leftovers(tmp_path) == []


def test_an_os_error_without_text_is_named(capsys, world, monkeypatch):
    """A bare TimeoutError (an OSError: e.g. asyncio's) once printed "trigcomp: error: " and nothing else."""
    import trigcomp.data

    def times_out(*args, **kwargs):
        raise TimeoutError()

    monkeypatch.setattr(trigcomp.data, "inspect_file", times_out)
    code, _, err = cli(capsys, ["inspect", world["data"]])
    assert_one_line(code, err)
    assert err == "trigcomp: error: TimeoutError\n"


# ---- interrupts during hls ---------------------------------------------------------------------------------------


def _hls_argv(world, out):
    return [
        "hls",
        "--model",
        world["model"],
        "--board",
        "vu13p",
        "--out",
        out,
        "--data",
        world["data"],
        "--tb-jets",
        "20",
    ]


def test_interrupt_during_hls_leaves_nothing(capsys, world, tmp_path, monkeypatch):
    import trigcomp.hls

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trigcomp.hls, "_make_deterministic", interrupt)
    code, out, err = cli(capsys, _hls_argv(world, tmp_path / "p"))
    assert code == 130 and err == "trigcomp: interrupted\n" and out == ""
    assert os.listdir(tmp_path) == []


class _InterruptsInItsFinalizer:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10_000):  # the handler runs between these bytecodes, inside __del__
            pass


def test_interrupt_swallowed_in_a_finalizer_still_stops_hls(capsys, world, tmp_path, monkeypatch):
    """The hostile-user report: Ctrl-C landing in a finalizer was printed as "Exception ignored" and the run
    completed. Now the interrupt is remembered and the project is not put in place."""
    import trigcomp.hls

    real = trigcomp.hls._make_deterministic

    def with_a_finalizer(*args, **kwargs):
        real(*args, **kwargs)
        _InterruptsInItsFinalizer()  # created and collected at once: its __del__ gets the Ctrl-C

    monkeypatch.setattr(trigcomp.hls, "_make_deterministic", with_a_finalizer)
    code, out, err = cli(capsys, _hls_argv(world, tmp_path / "p"))
    assert code == 130 and err == "trigcomp: interrupted\n" and out == ""
    assert os.listdir(tmp_path) == []


def test_interrupt_turned_into_a_library_error_still_stops_hls(capsys, world, tmp_path, monkeypatch):
    """The CI report: Ctrl-C landing while TensorFlow's pybind11 layer handled a C++ exception came back as
    "RuntimeError: ... REPLACED BY KeyboardInterrupt", printed as a traceback with exit 1."""
    import trigcomp.hls

    def rewraps_the_interrupt(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10_000):  # the handler raises KeyboardInterrupt between these bytecodes
                pass
        except KeyboardInterrupt:
            raise RuntimeError("pybind11::error_already_set: MISMATCH ... REPLACED BY KeyboardInterrupt") from None

    monkeypatch.setattr(trigcomp.hls, "_make_deterministic", rewraps_the_interrupt)
    code, out, err = cli(capsys, _hls_argv(world, tmp_path / "p"))
    assert code == 130 and err == "trigcomp: interrupted\n" and out == ""
    assert os.listdir(tmp_path) == []


def test_an_error_without_an_interrupt_is_not_called_one(capsys, world, tmp_path, monkeypatch):
    import trigcomp.hls

    def fails(*args, **kwargs):
        raise RuntimeError("a genuine bug")

    monkeypatch.setattr(trigcomp.hls, "_make_deterministic", fails)
    with pytest.raises(RuntimeError, match="a genuine bug"):
        cli(capsys, _hls_argv(world, tmp_path / "p"))


@pytest.fixture(scope="module")
def hls_run_seconds(world, tmp_path_factory):
    """How long the whole `trigcomp hls` of the tiny model takes on this machine (~5 s idle here, 6–7 s loaded)."""
    start = time.monotonic()
    finished = subprocess.run(
        _hls_command(world, tmp_path_factory.mktemp("timed") / "p"), capture_output=True, check=False
    )
    assert finished.returncode == 0, finished.stderr
    return time.monotonic() - start


def _hls_command(world, out) -> list[str]:
    return [sys.executable, "-m", "trigcomp.cli", *map(str, _hls_argv(world, out))]


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.7])
def test_ctrl_c_to_a_real_hls_process(world, tmp_path, hls_run_seconds, fraction):
    """Ctrl-C at several moments of a real run (TensorFlow's import, the model's first prediction, the conversion;
    fractions of the measured run time, before the project is committed at ~85 %): each once ended in a traceback
    or a death by SIGINT instead of the one line and 130."""
    out = tmp_path / "p"
    process = subprocess.Popen(_hls_command(world, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(fraction * hls_run_seconds)
    assert process.poll() is None, "the run ended before the interrupt: this test no longer interrupts it"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr == "trigcomp: interrupted\n" and stdout == ""
    assert os.listdir(tmp_path) == []


def test_ctrl_c_after_the_run_finished_keeps_its_result(world, tmp_path):
    """Once the result is printed the project is committed; a Ctrl-C during the interpreter's teardown used to kill
    the process by SIGINT (exit -2, nothing said) after a run that succeeded. It now exits with the run's code."""
    out = tmp_path / "p"
    process = subprocess.Popen(
        [*_hls_command(world, out), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    printed, line = "", ""
    while line != "}\n":  # the result is printed last, in one write; indent 2 puts its closing brace alone
        line = process.stdout.readline()
        assert line, process.stderr.read()
        printed += line
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert json.loads(printed + stdout)["path"] == str(out) and (out / "trigcomp.json").is_file()
    assert stderr == ""


# ---- csim: the trace names the faulty layer ----------------------------------------------------------------------


def _weight_files_by_layer(project: Path) -> dict[str, str]:
    """weights file -> layer, from hls4ml's own calls `nnet::dense<...>(in, out, w3, b3); // enc_dense0`."""
    source = (project / "firmware" / "myproject.cpp").read_text()
    mapping = {}
    for weights, biases, layer in re.findall(r"nnet::dense<[^;]*,\s*(w\d+),\s*(b\d+)\);\s*//\s*(\w+)", source):
        mapping[weights] = mapping[biases] = layer
    return mapping


def _inject_fault(project: Path, stem: str) -> None:
    """Change one value of a weights file: negate the largest-magnitude one (stays inside its type's range)."""
    path = project / "firmware" / "weights" / f"{stem}.txt"
    values = [float(v) for v in path.read_text().split(",") if v.strip()]
    index = int(np.argmax(np.abs(values)))
    values[index] = -values[index] if values[index] else 0.25
    path.write_text(", ".join(repr(v) for v in values))


@pytest.fixture(scope="module", params=["parallel", "stream"])
def io_project(request, tmp_path_factory, tiny_model, tiny_project, jets):
    """The tiny project in both io types: hls4ml traces arrays and streams through different helpers."""
    if request.param == "parallel":
        return tiny_project
    from trigcomp.boards import get_board
    from trigcomp.hls import HlsOptions, write_hls_project

    out = tmp_path_factory.mktemp("stream") / "tiny"
    return write_hls_project(tiny_model, out, HlsOptions(get_board("vu13p"), 5.0, io="stream"), jets.values[:50])


def test_every_weight_file_fault_is_traced_to_its_layer(tmp_path, io_project, tiny_model, jets):
    layers = _weight_files_by_layer(io_project.path)
    assert sorted(set(layers.values())) == ["enc_dense0", "enc_latent"] and len(layers) == 4
    # Weights are read at run time from firmware/weights (relative to the project), so one binary of the clean
    # project runs every faulty copy: a fault in w*.txt is exactly what changes between them.
    binary, _ = build_testbench(io_project)
    x = make_inputs(jets.values, tiny_model.config.input_quantizer, 3000, 100, seed=0)
    reference = np.rint(tiny_model.encode(x) / tiny_model.latent_lsb).astype(np.int64)
    for stem, layer in sorted(layers.items()):
        faulty = tmp_path / stem
        shutil.copytree(io_project.path, faulty)
        _inject_fault(faulty, stem)
        project = load_project(faulty)
        codes = unpack_latent(
            run_testbench(binary, x, project), project.n_latent, project.latent_bits, project.link_width
        )
        bad = np.flatnonzero((codes != reference).any(axis=1))
        assert len(bad), stem
        trace = trace_jet(binary, project, tiny_model, x[bad[0]])
        first = trace["first_divergence"]
        assert trace["first_divergent_layer"] == first["layer"] == layer, stem
        assert first["firmware"] != first["qkeras"]
        names = [entry["layer"] for entry in trace["layers"]]
        assert all(entry["equal"] for entry in trace["layers"][: names.index(layer)]), stem
        assert any(value != 0 for entry in trace["layers"] for value in entry["firmware"])  # hooks compiled in


def test_trace_of_a_clean_project_finds_no_divergence(tiny_project, tiny_model, jets):
    binary, _ = build_testbench(tiny_project)
    trace = trace_jet(binary, tiny_project, tiny_model, jets.values[0])
    assert trace["first_divergent_layer"] is None and all(entry["equal"] for entry in trace["layers"])
    assert [entry["layer"] for entry in trace["layers"]] == [
        "input_q",
        "enc_dense0",
        "enc_relu0",
        "enc_latent",
        "latent",
    ]


def test_trace_of_a_project_without_hooks_says_so(tmp_path, tiny_project, tiny_model, jets):
    """Projects written before the hooks were compiled in traced zeros and blamed the first layer."""
    old = tmp_path / "old"
    shutil.copytree(tiny_project.path, old)
    source = old / "firmware" / "myproject.cpp"
    source.write_text("".join(line for line in source.read_text().splitlines(True) if "save_layer_output" not in line))
    project = load_project(old)
    binary, _ = build_testbench(project)
    trace = trace_jet(binary, project, tiny_model, jets.values[0])
    assert [entry["layer"] for entry in trace["layers"]] == ["input_q", "latent"]
    assert trace["first_divergent_layer"] is None and "no per-layer trace hooks" in trace["note"]


# ---- huge, infinite and NaN inputs -------------------------------------------------------------------------------

HUGE = [1e19, 1e20, -1e20, 1e30, 3e38, 1e39, 1e300, -1e300, np.inf, -np.inf]


def test_reference_saturates_like_the_firmware_for_every_finite_and_infinite_value(tiny_project, tiny_model, jets):
    binary, _ = build_testbench(tiny_project)
    median = np.median(jets.values.astype(np.float64), axis=0)
    rows = []
    for column in range(jets.values.shape[1]):
        for value in HUGE:
            row = median.copy()
            row[column] = value
            rows.append(row)
    x = np.array(rows)
    codes = unpack_latent(
        run_testbench(binary, x, tiny_project), tiny_project.n_latent, tiny_project.latent_bits, tiny_project.link_width
    )
    reference = np.rint(tiny_model.encode(x) / tiny_model.latent_lsb).astype(np.int64)
    np.testing.assert_array_equal(codes, reference)
    # and saturation really happened: a huge value gives the same words as the range's end
    q = tiny_model.config.input_quantizer
    ends = np.where(x > q.max, q.max, np.where(x < q.min, q.min, x))
    np.testing.assert_array_equal(tiny_model.encode(ends), tiny_model.encode(x))


def test_nan_is_refused_by_the_reference(tiny_model, jets):
    x = jets.values[:3].copy()
    x[1, 0] = np.nan
    with pytest.raises(UserError, match="NaN"):
        tiny_model.encode(x)


# ---- PHYSLITE in any tree or RNTuple -----------------------------------------------------------------------------


def _physlite_jets(separator: str) -> dict[str, ak.Array]:
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 4, 40)
    n = int(counts.sum())
    columns = {
        "pt": rng.uniform(20e3, 200e3, n),
        "eta": rng.uniform(-2, 2, n),
        "phi": rng.uniform(-3, 3, n),
        "m": rng.uniform(1e3, 30e3, n),
    }
    return {f"AnalysisJetsAuxDyn{separator}{k}": ak.unflatten(v.astype(np.float32), counts) for k, v in columns.items()}


@pytest.mark.parametrize("kind", ["RNTuple", "TTree"])
def test_physlite_is_found_by_its_branches_in_any_tree(tmp_path, kind):
    if kind == "RNTuple":
        columns = _physlite_jets(":")
        path = write_rntuple(tmp_path / "physlite.root", "EventData", columns)
    else:
        columns = _physlite_jets(".")
        path = write_ttree(tmp_path / "physlite.root", "EventData", columns, "nAnalysisJets")
    pt = ak.to_numpy(ak.flatten(next(iter(columns.values())))) * 1e-3
    for preset in (None, "physlite"):
        table = data.load_jets(path, preset=preset)
        assert table.preset == "physlite"
        np.testing.assert_allclose(table.column("pt"), pt, rtol=1e-6)
    assert data.detect_preset(path) == "physlite"


# ---- the staging helper itself -----------------------------------------------------------------------------------


def test_staged_file_and_dir_never_half_written(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), staging.staged_file(target, force=False) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []
    with staging.staged_file(target, force=False) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"
    with pytest.raises(UserError, match="already exists"), staging.staged_file(target, force=False):
        pass
    with pytest.raises(UserError, match="it is a file"), staging.staged_dir(target, force=True):
        pass
    assert os.listdir(tmp_path) == ["out.txt"] and target.read_text() == "whole"


# ---- bounded fuzz over the CLI -----------------------------------------------------------------------------------

FUZZ_SEED = 13
FUZZ_CASES = 60
FUZZ_SECONDS = 240.0
INTS = ["0", "-1", "-5", "1", "3", "17", "1e3", "abc", "", "0x10"]
FLOATS = ["0", "-0", "-1", "nan", "inf", "-inf", "1e308", "1e-320", "x", "5", "2.5"]
# Values that would make a valid run take hours (--jets 2**40) are bounded on purpose: the fuzz is about bad input.
VERBS = {
    "inspect": (["inspect", "{root}"], {"--preset": ["nanoaod", "physlite", "delphes", "pxpypze", "zzz", ""]}),
    "csim": (
        ["csim", "{project}", "--data", "{root}"],
        {
            "--jets": INTS,
            "--adversarial": INTS,
            "--processes": ["0", "-1", "1", "2", "x"],
            "--seed": INTS,
            "--pt-min": FLOATS,
            "--eta-max": FLOATS,
            "--leading": INTS,
        },
    ),
    "hls": (
        ["hls", "--model", "{model}", "--board", "vu13p", "--out", "{out}", "--data", "{root}"],
        {
            "--clock-ns": FLOATS,
            "--reuse": INTS,
            "--tb-jets": INTS,
            "--link-width": ["16", "32", "64", "7", "-64", "x"],
            "--strategy": ["latency", "resource", "bogus", ""],
            "--io": ["parallel", "stream", "serial"],
        },
    ),
    "report": (["report", "{report}"], {"--budget": ["l1t-encoder", "nonexistent", "{root}"]}),
    "train": (["train", "--config", "{config}", "--data", "{root}", "--out", "{out}"], {"--pt-min": FLOATS}),
}


def _corrupt_bytes(path: Path, rng: random.Random) -> None:
    raw = bytearray(path.read_bytes())
    if rng.random() < 0.5:
        raw = raw[: rng.randrange(len(raw) + 1)]
    else:
        for _ in range(rng.randint(1, 20)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
    path.write_bytes(bytes(raw))


def _corrupt_json(path: Path, rng: random.Random) -> None:
    choice = rng.random()
    if choice < 0.4:
        _corrupt_bytes(path, rng)
    elif choice < 0.7:
        path.write_text(json.dumps(rng.choice([None, 1, "x", [1, 2, 3], {}, {"format": 1}, {"kind": "hls"}])))
    else:
        raw = json.loads(path.read_text())
        if isinstance(raw, dict) and raw:
            del raw[rng.choice(sorted(raw))]
        path.write_text(json.dumps(raw))


def _fuzz_inputs(case_dir: Path, world, rng: random.Random) -> dict[str, Path]:
    """Fresh copies of a model, a project, a ROOT file, a report and a config; one of them damaged at random."""
    paths = {"out": case_dir / "out"}
    paths["model"] = case_dir / "model"
    shutil.copytree(world["model"], paths["model"])
    paths["project"] = case_dir / "project"
    shutil.copytree(world["project"], paths["project"])
    paths["root"] = case_dir / "jets.root"
    shutil.copyfile(world["data"], paths["root"])
    reports = sorted(p for p in (TEST_DATA / "reports").rglob("*") if p.is_file() and p.suffix in (".xml", ".rpt"))
    paths["report"] = case_dir / rng.choice(reports).name
    shutil.copyfile(rng.choice(reports), paths["report"])
    paths["config"] = write_config(case_dir / "config.toml", epochs=1)
    target = rng.choice(["model", "project", "root", "report", "config", "none"])
    if target == "model":
        _corrupt_json(paths["model"] / rng.choice(["model.json", "weights.json"]), rng)
    elif target == "project":
        if rng.random() < 0.5:
            _corrupt_json(paths["project"] / "trigcomp.json", rng)
        else:
            weights = sorted((paths["project"] / "firmware" / "weights").glob("*.txt"))
            rng.choice(weights).write_text(rng.choice(["", "1, 2, x", "nan, inf"]))
    elif target in ("root", "report", "config"):
        _corrupt_bytes(paths[target], rng)
    return paths


def test_fuzz_cli(capsys, world, tmp_path):
    rng = random.Random(FUZZ_SEED)
    start = time.monotonic()
    ran = 0
    for case in range(FUZZ_CASES):
        if time.monotonic() - start > FUZZ_SECONDS:
            break
        case_dir = tmp_path / f"case{case}"
        case_dir.mkdir()
        paths = _fuzz_inputs(case_dir, world, rng)
        verb = rng.choice(sorted(VERBS))
        template, flags = VERBS[verb]
        argv = [a.format(**paths) for a in template]
        for flag in rng.sample(sorted(flags), k=rng.randint(0, min(3, len(flags)))):
            argv += [flag, rng.choice(flags[flag]).format(**paths)]
        if verb == "csim" and "--jets" not in argv:
            argv += ["--jets", "200"]
        if rng.random() < 0.3:
            argv.append("--json")
        code, out, err = cli(capsys, argv)
        ran += 1
        context = f"case {case}: trigcomp {' '.join(argv)}\n{err}"
        assert code in (0, 1, 2), context
        assert "Traceback" not in err and "Exception ignored" not in err, context
        if code == 2:
            assert err.count("\n") == 1, context
            if "--json" in argv:
                assert json.loads(out)["exit_code"] == 2, context
        out_dir = paths["out"]
        assert not out_dir.exists() or code == 0, context  # nothing written on failure
        assert leftovers(case_dir) == [], context  # no staging leftovers, whatever happened
    assert ran >= 10
