"""`evaluate` on Dask: one task per file, combined into the same evaluation as in one process."""

import json

from .conftest import REPO
from .test_cli import run_cli, write_nanoaod

JET4_MODEL = REPO / "models" / "jet4"


def test_dask_evaluation_equals_the_in_process_one(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    files = [str(write_nanoaod(inputs / f"f{i}.root", 300, seed=i)) for i in range(2)]
    code, alone, err = run_cli(capsys, "evaluate", "--model", str(JET4_MODEL), "--data", *files, "--json")
    assert code == 0, err
    code, spread, err = run_cli(
        capsys, "evaluate", "--model", str(JET4_MODEL), "--data", str(inputs / "*.root"), "--workers", "2", "--json"
    )
    assert code == 0, err
    alone, spread = json.loads(alone), json.loads(spread)
    assert alone["schema_version"] == 1 and [s["sample"] for s in alone["samples"]] == ["f0", "f1"]
    assert alone["samples"][0]["variables"] != alone["samples"][1]["variables"]  # two files, not one twice
    assert spread == alone  # every number, the per-sample ones and the combined ones


def test_dask_evaluation_refuses_a_bad_worker_count(tmp_path, capsys):
    data = str(write_nanoaod(tmp_path / "f.root", 50))
    code, _, err = run_cli(capsys, "evaluate", "--model", str(JET4_MODEL), "--data", data, "--workers", "0")
    assert code == 2 and "--workers must be at least 1" in err
