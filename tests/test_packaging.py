"""A non-editable install works from any directory: templates, boards, budgets, targets and the bundled sample are
package data."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_install(tmp_path_factory):
    """The wheel built from the source tree, installed into its own directory; (wheel, site, runner elsewhere)."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "wheel", REPO],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp / "wheel").glob("trigcomp-*.whl")
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, wheel], check=True)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = os.environ | {"PYTHONPATH": str(site)}  # the installed copy, not the source tree, comes first

    def trigcomp(*argv):
        command = [sys.executable, "-m", "trigcomp.cli", *map(str, argv)]
        return subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, check=False)

    return wheel, site, elsewhere, env, trigcomp


@pytest.mark.slow
def test_wheel_carries_the_templates_and_runs_hls_and_csim_elsewhere(wheel_install):
    wheel, site, elsewhere, env, trigcomp = wheel_install
    names = set(zipfile.ZipFile(wheel).namelist())
    in_repo = {f"trigcomp/{p.relative_to(REPO / 'src/trigcomp')}" for p in (REPO / "src/trigcomp/firmware").rglob("*")}
    assert {n for n in in_repo if "." in Path(n).name} <= names  # every template file, not only some
    assert {"trigcomp/boards.toml", "trigcomp/budgets/l1t-encoder.toml", "trigcomp/target_presets/l1-jets.toml"} <= names

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


@pytest.mark.slow
def test_wheel_runs_the_whole_chain_on_its_bundled_sample_without_data(wheel_install):
    wheel, site, elsewhere, _, trigcomp = wheel_install
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"trigcomp/samples/qcd.root", "trigcomp/samples/run.toml"} <= names
    # the repository's paths are links to the package's copies, so both read the same bytes
    assert (REPO / "data/qcd.root").read_bytes() == (site / "trigcomp/samples/qcd.root").read_bytes()
    run = trigcomp("run", "--out", "X", "--jets", 2_000, "--adversarial", 1_000, "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads((elsewhere / "X" / "summary.json").read_text())
    assert summary["data"]["sources"] == [str(site / "trigcomp/samples/qcd.root")]
    assert summary["data"]["jets"] == 112_790  # every jet of the bundled sample (data/README.md)
    assert summary["csim"]["mismatches"] == 0
