"""`trigcomp scan`: scan files, grid expansion and validation, the Pareto front, cached/resumed and failing points,
and real scans on a Dask LocalCluster (threads in the default suite, worker processes in the slow one)."""

import functools
import json
import logging
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from trigcomp.config import config_from_dict
from trigcomp.errors import CheckFailed, UserError
from trigcomp.records import JET10
from trigcomp.scan import OUTPUT_FILES, POINT_KEYS, PointOptions, ScanSpec, load_scan, pareto_front, run_scan, scan_keys
from trigcomp.targets import load_targets

from .conftest import synthetic_jets
from .test_cli import run_cli, write_config, write_nanoaod


def write_scan(tmp_path, body, base="tiny.toml"):
    """A scan file in tmp_path/scans whose base config lives beside it."""
    scans = tmp_path / "scans"
    scans.mkdir(exist_ok=True)
    write_config(scans / "tiny.toml")
    path = scans / "scan.toml"
    path.write_text(f'base = "{base}"\n{body}')
    return path


GRID = """
[grid]
"latent.bits" = [4, 6]
encoder.weight_bits = [6, 8]   # unquoted dotted keys mean the same
[fixed]
"training.epochs" = 1
"""


def test_grid_expansion_applies_fixed_and_point_overrides(tmp_path):
    spec = load_scan(write_scan(tmp_path, GRID))
    points = spec.grid_points()
    assert points == [
        {"latent.bits": 4, "encoder.weight_bits": 6},
        {"latent.bits": 4, "encoder.weight_bits": 8},
        {"latent.bits": 6, "encoder.weight_bits": 6},
        {"latent.bits": 6, "encoder.weight_bits": 8},
    ]
    config = spec.config(points[1])
    assert (config.latent.bits, config.encoder.weight_bits, config.training.epochs) == (4, 8, 1)
    assert config.encoder.hidden == (8,) and config.latent.size == 4  # untouched base values
    assert spec.base_path == (tmp_path / "scans" / "tiny.toml").resolve()  # relative to the scan file


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[grid]\n"latent.bitz" = [4]\n', "unknown grid key 'latent.bitz'; allowed keys: seed, input.bits"),
        ('[grid]\n"name" = ["a"]\n', "unknown grid key 'name'"),
        ('[fixed]\n"training.epoch" = 1\n[grid]\n"seed" = [1]\n', "unknown fixed key 'training.epoch'"),
        ('[grid]\n"latent.bits" = []\n', "must be a non-empty list"),
        ('[grid]\n"latent.bits" = 4\n', "must be a non-empty list"),
        ("", "empty [grid]"),
        ('[grid]\n"seed" = [1]\n[fixed]\n"seed" = 2\n', "in both [grid] and [fixed]"),
        ('[grid]\n"seed" = [1]\n[search]\nmode = "genetic"\n', "mode must be one of grid, random, bayes"),
        ('[search]\nmode = "random"\npoints = 3\n', "needs a non-empty [search.space]"),
        ('[search]\nmode = "bayes"\npoints = 0\n[search.space]\n"seed" = [1]\n', "points must be a positive"),
        ('[search]\nmode = "random"\npoints = 2\n[search.space]\n"latent.bits" = {low = 6, high = 2}\n', "low < high"),
        ('[grid]\n"seed" = [1]\n[search]\npoints = 2\n', "points/space need mode"),
        ('[grid]\n"seed" = [1]\n[search]\nmode = "random"\npoints = 2\n', "move the [grid] keys there"),
        ('bogus = 1\n[grid]\n"seed" = [1]\n', "unknown scan file key 'bogus'"),
    ],
)
def test_bad_scan_files_are_refused_with_the_key(tmp_path, body, message):
    with pytest.raises(UserError) as err:
        load_scan(write_scan(tmp_path, body))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_base_is_looked_up_beside_the_scan_file(tmp_path):
    with pytest.raises(UserError, match="relative to the scan file"):
        load_scan(write_scan(tmp_path, '[grid]\n"seed" = [1]\n', base="configs/jet4.toml"))


def test_cli_bad_grid_key_is_one_line_exit_2(capsys, tmp_path):
    scan = write_scan(tmp_path, '[grid]\n"latent.width" = [4]\n')
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "scan", "--grid", str(scan), "--data", "x.root", "--out", str(out))
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and "'latent.width'" in err and ", ".join(scan_keys()) in err
    assert not out.exists()


def test_an_invalid_grid_combination_is_refused_before_anything_runs(tmp_path):
    spec = load_scan(write_scan(tmp_path, '[grid]\n"latent.bits" = [3, 6]\n"latent.integer" = [2, 4]\n'))
    out = tmp_path / "out"
    with pytest.raises(UserError, match=r'grid point \{"latent.bits": 3, "latent.integer": 4\}: bad config'):
        run_scan(spec, synthetic_jets(50), out, workers=1, processes=False)
    assert not out.exists()


def _point(bits, lut, quality, latency=25.0, status="ok"):
    return {"status": status, "bits_per_jet": bits, "LUT": lut, "total_nmse": quality, "latency_ns": latency}


def test_pareto_front_on_hand_made_points():
    points = [
        _point(12, 4000, 0.5),  # front: fewest bits
        _point(24, 3000, 0.2),  # front: cheapest and best
        _point(24, 3500, 0.3),  # dominated by the one above
        _point(24, 3000, 0.2),  # an equal point is kept too
        _point(32, 5000, 0.1),  # front: best quality
        _point(32, 5000, 0.1, latency=20.0),  # dominates the one above (faster)
        _point(8, 100, 0.01, status="failed"),  # failed points are never on the front
    ]
    front = pareto_front(points, "total_nmse")
    assert [(p["bits_per_jet"], p["LUT"], p["total_nmse"], p["latency_ns"]) for p in front] == [
        (12, 4000, 0.5, 25.0),
        (24, 3000, 0.2, 25.0),
        (24, 3000, 0.2, 25.0),
        (32, 5000, 0.1, 20.0),
    ]


def _mtimes(out):
    return {p: p.stat().st_mtime_ns for p in sorted((out / "points").rglob("*")) if p.is_file()}


def test_real_scan_caches_resumes_and_records_a_failing_point(tmp_path):
    """Two real points on a thread LocalCluster: one trains, one fails (too few training jets); a resumed scan
    reuses the good point untouched (nothing trained for it) and retries only the failed one."""
    spec = load_scan(
        write_scan(
            tmp_path,
            '[grid]\n"training.max_jets" = [0, 10]\n[fixed]\n"training.epochs" = 1\n"latent.bits" = 4\n',
        )
    )
    jets = synthetic_jets(1500)
    targets = load_targets("l1-jets")
    out = tmp_path / "scan"
    first = run_scan(spec, jets, out, targets=targets, workers=1, processes=False)
    assert first.counts == {"points": 2, "ok": 1, "failed": 1, "cached": 0, "computed": 2}
    good, bad = first.points
    assert set(POINT_KEYS) <= set(good) and set(POINT_KEYS) <= set(bad)
    assert good["status"] == "ok" and good["bits_per_jet"] == 16 and good["DSP"] == 0
    assert good["LUT"] > 0 and good["FF"] > 0 and good["latency_ns"] > 0 and good["total_nmse"] > 0
    assert isinstance(good["meets_targets"], bool) and good["worst_ratio"] > 0
    assert bad["status"] == "failed" and "only" in bad["error"] and "training jets" in bad["error"]
    assert "\n" not in bad["error"] and bad["LUT"] is None
    saved = json.loads((out / "scan.json").read_text())
    assert [p["overrides"] for p in saved["points"]] == [{"training.max_jets": 0}, {"training.max_jets": 10}]
    assert saved["pareto"] == [good["key"]]
    assert json.loads((out / "pareto.json").read_text())["points"][0]["key"] == good["key"]
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert "| ★ | training.max_jets=0 | ok | 16 |" in (out / "summary.md").read_text()
    assert (out / "points" / good["key"] / "model" / "model.json").is_file()
    assert not (out / "points" / bad["key"]).exists()  # failures are not cached: a resume retries them

    with pytest.raises(UserError, match="pass --resume to continue it or --force"):
        run_scan(spec, jets, out, targets=targets, workers=1, processes=False)
    before = _mtimes(out)
    again = run_scan(spec, jets, out, targets=targets, workers=1, processes=False, resume=True)
    assert again.counts == {"points": 2, "ok": 1, "failed": 1, "cached": 1, "computed": 1}
    assert _mtimes(out) == before  # the good point's files were not rewritten
    assert {k: again.points[0][k] for k in POINT_KEYS} == {k: good[k] for k in POINT_KEYS}

    # Same data, other targets: a different point, computed afresh
    other = run_scan(replace(spec, grid={"training.max_jets": [0]}), jets, out, workers=1, processes=False, resume=True)
    assert other.counts["computed"] == 1 and other.points[0]["key"] != good["key"]
    assert other.points[0]["meets_targets"] is None and other.points[0]["total_nmse"] == pytest.approx(
        good["total_nmse"]
    )


def test_every_point_failing_is_exit_1_with_the_outputs_written(tmp_path):
    spec = load_scan(write_scan(tmp_path, '[grid]\n"training.max_jets" = [10, 20]\n'))
    out = tmp_path / "scan"
    with pytest.raises(CheckFailed, match="every point of the scan failed"):
        run_scan(spec, synthetic_jets(1500), out, workers=1, processes=False)
    saved = json.loads((out / "scan.json").read_text())
    assert [p["status"] for p in saved["points"]] == ["failed", "failed"] and saved["pareto"] == []


def _fake_point(calls, config_raw, jets, targets, options):
    """Stands in for training (orchestration test only): a result that depends on the config alone; each call is
    logged as a line in the file ``calls`` (the task may be serialised, so a list in the test would not see it)."""
    with open(calls, "a") as log:
        log.write(json.dumps(config_raw) + "\n")
    config = config_from_dict(config_raw)
    bits, lut = config.bits_per_jet, 100 * config.encoder.weight_bits
    return {
        "bits_per_jet": bits,
        "total_nmse": 1.0 / bits + lut * 1e-5,
        "LUT": lut,
        "FF": 10,
        "DSP": 0,
        "latency_ns": 25.0,
        "meets_targets": None,
        "worst_ratio": None,
        "area_source": "fake",
        "model_files": {"model.json": "{}"},
    }


@pytest.mark.parametrize("mode", ["random", "bayes"])
def test_search_modes_ask_points_reproducibly_and_resume_from_the_cache(tmp_path, monkeypatch, mode):
    from trigcomp import scan

    calls = tmp_path / "calls.log"
    calls.touch()
    monkeypatch.setattr(scan, "run_point", functools.partial(_fake_point, calls))
    body = (
        f'[search]\nmode = "{mode}"\npoints = 6\nseed = 7\nbatch = 3\n[search.space]\n'
        '"latent.bits" = {low = 3, high = 8}\n"encoder.weight_bits" = [4, 6, 8]\n"encoder.hidden" = [[8], [16, 8]]\n'
    )
    spec = load_scan(write_scan(tmp_path, body))
    assert isinstance(spec, ScanSpec) and spec.mode == mode
    jets = synthetic_jets(50)
    first = run_scan(spec, jets, tmp_path / "scan", workers=1, processes=False)
    assert first.counts["points"] == 6 and first.counts["ok"] == 6
    assert all(3 <= p["overrides"]["latent.bits"] <= 8 for p in first.points)
    assert {tuple(p["overrides"]["encoder.hidden"]) for p in first.points} <= {(8,), (16, 8)}
    assert len(calls.read_text().splitlines()) == first.counts["computed"] >= 1
    calls.write_text("")
    again = run_scan(spec, jets, tmp_path / "scan", workers=1, processes=False, resume=True)
    assert [p["overrides"] for p in again.points] == [p["overrides"] for p in first.points]
    assert calls.read_text() == "" and again.counts["computed"] == 0 and again.counts["cached"] == 6


def _scan_command(scan, data, out, *extra):
    """`trigcomp scan` on one local worker process, as a user runs it."""
    command = [sys.executable, "-m", "trigcomp.cli", "scan", "--grid", scan, "--data", data, "--out", out]
    return [*map(str, command), "--workers", "1", *extra]


@pytest.mark.slow
def test_cli_scan_on_worker_processes(tmp_path):
    """The real distributed path: the console script, a LocalCluster with 1 worker process, 2 points, --json."""
    data = write_nanoaod(tmp_path / "jets.root", n_events=1500)
    scan = write_scan(tmp_path, '[grid]\n"latent.bits" = [3, 5]\n[fixed]\n"training.epochs" = 1\n')
    out = tmp_path / "scan"
    command = _scan_command(scan, data, out, "--targets", "l1-jets", "--json")
    completed = subprocess.run(command, check=False, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stderr[-2000:]
    payload = json.loads(completed.stdout)
    assert payload["counts"] == {"points": 2, "ok": 2, "failed": 0, "cached": 0, "computed": 2}
    assert [p["bits_per_jet"] for p in payload["points"]] == [12, 20]
    assert payload == json.loads((out / "scan.json").read_text())
    assert completed.stderr.count("Traceback") == 0

    resumed = subprocess.run(command + ["--resume"], check=False, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout)["counts"]["cached"] == 2

    # A point's model is the model `trigcomp train` makes from the same config (one TensorFlow thread per
    # point on the worker, the default pools here): same config + seed -> same model
    from trigcomp.data import load_jets
    from trigcomp.model import load_model, train

    spec = load_scan(scan)
    point = payload["points"][1]
    trained = train(spec.config(point["overrides"]), load_jets([str(data)], variables=JET10))
    assert trained.hash == load_model(out / point["model"]).hash == point["model_hash"]


def test_a_base_config_that_is_not_toml_is_one_line(tmp_path):
    scan = write_scan(tmp_path, '[grid]\n"seed" = [1]\n')
    (scan.parent / "tiny.toml").write_text("[encoder\n")
    with pytest.raises(UserError, match=r"^base config .*tiny.toml is not valid TOML"):
        load_scan(scan)


@pytest.mark.parametrize("kind", ["file", "symlink", "other directory"])
def test_the_scan_directory_is_never_a_file_a_symlink_or_someone_elses(tmp_path, kind):
    spec = load_scan(write_scan(tmp_path, '[grid]\n"seed" = [1]\n'))
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("keep me")
    elif kind == "symlink":
        (tmp_path / "target").mkdir()
        out.symlink_to(tmp_path / "target")
    else:
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="refusing|not a scan directory"):
        run_scan(spec, synthetic_jets(50), out, workers=1, processes=False, resume=True)
    assert out.exists() and (out.is_symlink() or out.is_file() or (out / "notes.txt").is_file())


@pytest.mark.slow
@pytest.mark.rtl
def test_yosys_area_for_a_point(tmp_path):
    """--yosys: the area comes from Yosys synth_xilinx of the point's pipelined Verilog, labelled as such."""
    if shutil.which("yosys") is None:
        pytest.skip("yosys not installed")
    spec = load_scan(write_scan(tmp_path, '[grid]\n"latent.bits" = [4]\n[fixed]\n"training.epochs" = 1\n'))
    jets = synthetic_jets(1500)
    with_yosys = run_scan(spec, jets, tmp_path / "yosys", workers=1, processes=False, options=PointOptions(yosys=True))
    estimated = run_scan(spec, jets, tmp_path / "da4ml", workers=1, processes=False)
    (point,), (estimate,) = with_yosys.points, estimated.points
    assert point["status"] == "ok" and point["area_source"] == "yosys" and estimate["area_source"] == "estimate:da4ml"
    assert point["model_hash"] == estimate["model_hash"] and point["key"] != estimate["key"]
    assert point["LUT"] > 0 and point["LUT"] != estimate["LUT"] and point["latency_ns"] > 0


def test_an_existing_scheduler_runs_the_points(tmp_path, monkeypatch):
    """--scheduler: the points go to a cluster the scan did not start (here a thread cluster in this process)."""
    from distributed import LocalCluster

    from trigcomp import scan

    calls = tmp_path / "calls.log"
    monkeypatch.setattr(scan, "run_point", functools.partial(_fake_point, calls))
    spec = load_scan(write_scan(tmp_path, '[grid]\n"latent.bits" = [4, 6]\n'))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        result = run_scan(spec, synthetic_jets(50), tmp_path / "scan", scheduler=cluster.scheduler_address)
        assert len(cluster.scheduler.workers) == 1  # the scan's client left the cluster running as it found it
    assert result.counts["ok"] == 2 and len(calls.read_text().splitlines()) == 2


@pytest.mark.slow
def test_an_unreachable_scheduler_is_bad_input(tmp_path):
    spec = load_scan(write_scan(tmp_path, '[grid]\n"latent.bits" = [4]\n'))
    with pytest.raises(UserError, match="cannot reach the Dask scheduler tcp://127.0.0.1:9"):
        run_scan(spec, synthetic_jets(50), tmp_path / "scan", scheduler="tcp://127.0.0.1:9")
    assert not (tmp_path / "scan").exists()


@pytest.mark.slow
def test_an_interrupt_stops_the_scan_with_130_and_leaves_nothing_without_points(tmp_path):
    data = write_nanoaod(tmp_path / "jets.root", n_events=1500)
    scan = write_scan(
        tmp_path, '[grid]\n"latent.bits" = [4]\n[fixed]\n"training.epochs" = 5000\n"training.patience" = 5000\n'
    )
    out = tmp_path / "scan"
    command = _scan_command(scan, data, out)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "points").is_dir() and time.monotonic() < deadline:  # the scan has started
        time.sleep(0.5)
    time.sleep(10)  # the worker is training the (long) point
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "trigcomp: interrupted" in err and "Traceback" not in err
    assert not out.exists()


def _outputs_when_the_cluster_closes(out, close_hooks) -> list:
    """The scan outputs in ``out`` when the cluster begins to close, one sorted list per close."""
    seen = []
    close_hooks.append(lambda: seen.append(sorted(p.name for p in out.glob("*.*"))))
    return seen


def test_a_cluster_close_that_times_out_loses_no_result(tmp_path, monkeypatch, caplog, cluster_close_times_out):
    from trigcomp import scan

    seen = _outputs_when_the_cluster_closes(tmp_path / "scan", cluster_close_times_out)
    monkeypatch.setattr(scan, "run_point", functools.partial(_fake_point, tmp_path / "calls.log"))
    spec = load_scan(write_scan(tmp_path, '[grid]\n"latent.bits" = [4, 6]\n'))
    result = run_scan(spec, synthetic_jets(50), tmp_path / "scan", workers=1, processes=False)
    assert seen == [sorted(OUTPUT_FILES)]  # written whole before the cluster began to close
    assert result.counts == {"points": 2, "ok": 2, "failed": 0, "cached": 0, "computed": 2}
    assert json.loads((tmp_path / "scan" / "scan.json").read_text())["counts"] == result.counts
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.startswith("the Dask local cluster did not shut down cleanly (TimeoutError") and "\n" not in warning


def test_cli_scan_whose_cluster_close_times_out_exits_0(tmp_path, monkeypatch, capsys, cluster_close_times_out):
    """Complete results and a cluster that did not close cleanly: exit 0 (the warning is on stderr), no traceback."""
    from trigcomp import scan

    monkeypatch.setattr(scan, "run_point", functools.partial(_fake_point, tmp_path / "calls.log"))
    monkeypatch.setattr(scan, "run_scan", functools.partial(scan.run_scan, processes=False))
    data = write_nanoaod(tmp_path / "jets.root", n_events=200)
    grid = write_scan(tmp_path, '[grid]\n"latent.bits" = [4]\n')
    out = tmp_path / "scan"
    seen = _outputs_when_the_cluster_closes(out, cluster_close_times_out)
    code, stdout, err = run_cli(capsys, "scan", "--grid", str(grid), "--data", str(data), "--out", str(out), "--json")
    assert code == 0 and "Traceback" not in err and seen == [sorted(OUTPUT_FILES)]
    assert json.loads(stdout) == json.loads((out / "scan.json").read_text())
