"""A non-editable install works from any directory: templates, boards, budgets and targets are package data."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_the_templates_and_runs_hls_and_csim_elsewhere(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "wheel", REPO],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "wheel").glob("trigcomp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    in_repo = {f"trigcomp/{p.relative_to(REPO / 'src/trigcomp')}" for p in (REPO / "src/trigcomp/firmware").rglob("*")}
    assert {n for n in in_repo if "." in Path(n).name} <= names  # every template file, not only some
    assert {"trigcomp/boards.toml", "trigcomp/budgets/l1t-encoder.toml", "trigcomp/target_presets/l1-jets.toml"} <= names

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, wheel], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = os.environ | {"PYTHONPATH": str(site)}  # the installed copy, not the source tree, comes first

    def trigcomp(*argv):
        command = [sys.executable, "-m", "trigcomp.cli", *map(str, argv)]
        return subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, check=False)

    where = trigcomp("--help")
    assert where.returncode == 0
    located = subprocess.run(
        [sys.executable, "-c", "import trigcomp.hls as h; print(h.FIRMWARE_DIR)"], cwd=elsewhere, env=env,
        capture_output=True, text=True, check=True,
    )
    assert Path(located.stdout.strip()).is_relative_to(site)
    hls = trigcomp("hls", "--model", REPO / "models/jet4", "--board", "vu13p", "--out", "p", "--data",
                   REPO / "data/ttbar.root", "--json")
    assert hls.returncode == 0, hls.stderr
    csim = trigcomp("csim", "p", "--data", REPO / "data/ttbar.root", "--jets", 20_000, "--json")
    assert csim.returncode == 0, csim.stderr
    assert json.loads(csim.stdout)["mismatches"] == 0
