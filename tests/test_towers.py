"""Calorimeter-tower images: binning and quantization (generate --towers), the tower presets and the bundled samples."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from trigcomp import data
from trigcomp.errors import UserError
from trigcomp.generate import METADATA_KEY, generate, quantize_towers, tower_images
from trigcomp.records import JET10, VARIABLE_SETS, tower_variables

REPO = Path(__file__).parents[1]
SAMPLES = ("qcd", "qcd-highpt", "ttbar", "zprime", "wjets")
#: more training images of the three training processes, new seeds (data/README.md, "Tower images")
EXTRA_TRAINING = {"qcd-2": "qcd", "ttbar-2": "ttbar", "qcd-highpt-2": "qcd-highpt"}
HAVE_GENERATORS = all(importlib.util.find_spec(name) is not None for name in ("pythia8mc", "fastjet"))
needs_generators = pytest.mark.skipif(not HAVE_GENERATORS, reason="pythia8mc and fastjet are not installed")


def test_constituents_land_in_the_towers_counted_by_hand():
    # one jet at eta 1.0, phi 3.1 (near the wrap); an 8x8 grid spans +-4 towers of 0.087 around it
    jet_eta, jet_phi = np.array([1.0]), np.array([3.1])
    d_eta = np.array([0.01, -0.01, 0.2, 0.0, 0.0, 0.5])
    d_phi = np.array([0.01, -0.01, 0.02, 0.3, -0.348 + 1e-6, 0.0])  # 0.3 crosses +pi; the last is outside in eta
    pt = np.array([10.0, 3.0, 7.25, 600.0, 1.0, 5.0])
    phi = np.remainder(jet_phi[0] + d_phi + np.pi, 2 * np.pi) - np.pi
    images, total, outside = tower_images(8, jet_eta, jet_phi, np.zeros(6, int), pt, jet_eta[0] + d_eta, phi, 1)
    image = images.reshape(8, 8)
    expected = np.zeros((8, 8))
    expected[4, 4] = 10.0  # just above the axis in both
    expected[3, 3] = 3.0  # just below
    expected[6, 4] = 7.0  # 0.2 / 0.087 = 2.3 towers up in eta; 7.25 truncated to the 0.5 GeV LSB
    expected[4, 7] = 511.5  # 0.3 / 0.087 = 3.4 towers in phi across the wrap; 600 GeV saturates
    expected[4, 0] = 1.0  # the lowest phi tower
    np.testing.assert_array_equal(image, expected)
    assert images.dtype == np.float32
    assert total[0] == pytest.approx(pt.sum()) and outside[0] == pytest.approx(5.0)


def test_quantization_truncates_to_the_lsb_and_saturates():
    np.testing.assert_array_equal(
        quantize_towers([0.0, 0.49, 0.5, 1.99, 511.4, 511.5, 511.9, 1e9]), [0, 0, 0.5, 1.5, 511.0, 511.5, 511.5, 511.5]
    )


def test_variable_sets_and_whole_images_only():
    assert VARIABLE_SETS["towers8"] == tuple(f"tower_{k}" for k in range(64))
    assert len(VARIABLE_SETS["towers16"]) == 256
    assert data.resolve_variables("towers8") == tower_variables(8)
    assert data.resolve_variables(["pt", *tower_variables(8)])[0] == "pt"
    with pytest.raises(UserError, match="whole image"):
        data.resolve_variables("tower_0,tower_1")
    with pytest.raises(UserError, match="unknown variable"):
        data.resolve_variables("tower_256")


def write_tower_file(path: Path, grid: int, seed: int = 1, n_events: int = 50) -> tuple[Path, np.ndarray]:
    """A NanoAOD-style file with jet10 and an N x N image per jet; returns it and the images (jets x N*N)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 4, n_events)
    n = int(counts.sum())
    images = quantize_towers(rng.exponential(3.0, (n, grid * grid)) * (rng.random((n, grid * grid)) < 0.2))
    images[0, 0] = 511.5
    columns = {name: rng.uniform(0.0, 1.0, n).astype(np.float32) for name in JET10}
    columns["pt"] = (rng.exponential(40.0, n) + 20.0).astype(np.float32)
    columns["nConstituents"] = rng.integers(1, 40, n).astype(np.int32)
    columns |= dict(zip(tower_variables(grid), images.T))
    jets = ak.zip({name: ak.unflatten(values, counts) for name, values in columns.items()})
    with uproot.recreate(path) as file:
        file.mktree("Events", {"Jet": jets}, title="Events")
    return path, images


def test_tower_files_are_detected_read_and_inspected(tmp_path):
    path8, images8 = write_tower_file(tmp_path / "t8.root", 8)
    path16, images16 = write_tower_file(tmp_path / "t16.root", 16, seed=2)
    assert data.detect_preset(path8) == "nanoaod-towers8" and data.detect_preset(path16) == "nanoaod-towers16"
    table = data.load_jets(path8, variables="towers8")
    np.testing.assert_array_equal(table.values, images8)
    np.testing.assert_array_equal(data.load_jets(path16, variables="towers16").values, images16)
    assert data.load_jets(path8, variables="jet10").values.shape == (len(images8), 10)

    inspection = data.inspect_file(path8)
    towers = inspection.to_json()["towers"]
    assert towers["grid"] == 8 and towers["lsb_gev"] == 0.5 and towers["saturated_towers"] == 1
    assert towers["occupancy"] == pytest.approx((images8 > 0).mean(), abs=1e-4)
    assert towers["mean_image_et_gev"] == pytest.approx(images8.sum(axis=1).mean(), rel=1e-4)
    assert "towers: 8\u00d78 grid" in inspection.format_text() and "LSB 0.5 GeV" in inspection.format_text()
    assert not any(name.startswith("tower_") for name in inspection.variables)


def test_tower_grid_mismatches_are_user_errors(tmp_path):
    path8, _ = write_tower_file(tmp_path / "t8.root", 8)
    path16, _ = write_tower_file(tmp_path / "t16.root", 16)
    with pytest.raises(UserError, match="not available with preset nanoaod-towers8"):
        data.load_jets(path8, variables="towers16")
    with pytest.raises(UserError, match="8x8 image asked of a file with 16x16"):
        data.load_jets(path16, variables="towers8")
    with pytest.raises(UserError, match="larger than 8x8"):
        data.load_jets(path16, preset="nanoaod-towers8", variables="towers8")
    with pytest.raises(UserError, match="not available with preset nanoaod"):
        data.load_jets(REPO / "data" / "ttbar.root", variables="towers8")


@needs_generators
def test_generate_towers_adds_images_to_the_same_jets(tmp_path):
    plain = generate("ttbar", 30, seed=7, out=tmp_path / "plain.root", progress=False)
    result = generate("ttbar", 30, seed=7, out=tmp_path / "towers.root", progress=False, towers=8)
    assert result.jets == plain.jets > 0
    assert result.towers["grid"] == 8 and result.towers["lsb_gev"] == 0.5
    with uproot.open(tmp_path / "towers.root") as file:
        tree = file["Events"]
        types = tree.typenames()
        assert all(types[f"Jet_{name}"] == "float[]" for name in tower_variables(8))
        assert "Jet_tower_64" not in types
        provenance = json.loads(file[METADATA_KEY])
    assert provenance["towers"] == result.towers
    jets = data.load_jets(tmp_path / "towers.root", variables=JET10 + tower_variables(8))
    np.testing.assert_array_equal(jets.values[:, :10], data.load_jets(tmp_path / "plain.root", variables=JET10).values)
    images = jets.values[:, 10:]
    assert (np.remainder(images, 0.5) == 0).all() and images.max() <= 511.5
    # the image holds the jet's ET near its axis: at most its pt (scalar sum >= vector sum), rarely much less
    image_et = images.sum(axis=1)
    assert np.median(image_et / jets.column("pt")) > 0.85
    assert result.towers["saturated_towers"] == int((images >= 511.5).sum())
    assert result.towers["occupancy"] == pytest.approx((images > 0).mean(), abs=1e-4)


def test_bad_tower_grid_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="tower grid must be one of 8, 16"):
        generate("qcd", 5, seed=1, out=tmp_path / "x.root", progress=False, towers=4)


@pytest.mark.parametrize("sample", SAMPLES)
def test_bundled_tower_samples(sample):
    path = REPO / "data" / "towers" / f"{sample}.root"
    assert data.detect_preset(path) == "nanoaod-towers8"
    jets = data.load_jets(path, variables=("pt", *tower_variables(8)))
    assert len(jets) >= 20_000
    with uproot.open(path) as file:
        provenance = json.loads(file[METADATA_KEY])
    assert provenance["process"] == sample and provenance["towers"]["grid"] == 8
    # the same events as the bundled jet sample of the process: its first jets, value for value
    plain = data.load_jets(REPO / "data" / f"{sample}.root", variables=("pt",))
    np.testing.assert_array_equal(jets.values[:, 0], plain.values[: len(jets), 0])


def _tower_provenance(name: str) -> dict:
    with uproot.open(REPO / "data" / "towers" / f"{name}.root") as file:
        return json.loads(file[METADATA_KEY])


@pytest.mark.parametrize(("name", "process"), EXTRA_TRAINING.items())
def test_extra_training_tower_samples_are_new_events_of_their_process(name, process):
    extra, first = _tower_provenance(name), _tower_provenance(process)
    assert extra["process"] == process and extra["towers"]["grid"] == 8
    assert extra["pythia_settings"] == first["pythia_settings"] and extra["pt_min"] == first["pt_min"]
    assert extra["seed"] not in {_tower_provenance(sample)["seed"] for sample in SAMPLES}
    jets = data.load_jets(REPO / "data" / "towers" / f"{name}.root", variables=("pt",))
    assert len(jets) >= 10_000


def test_bundled_tower_samples_stay_small():
    assert sum(path.stat().st_size for path in (REPO / "data" / "towers").glob("*.root")) <= 15_000_000


def test_cli_towers_flag_and_inspect(tmp_path, capsys):
    from trigcomp.cli import main

    code = main(
        ["generate", "--process", "qcd", "--events", "5", "--out", str(tmp_path / "x.root"), "--towers", "4", "--json"]
    )
    assert code == 2
    assert json.loads(capsys.readouterr().out)["error"].startswith("the tower grid must be one of 8, 16")
    assert not (tmp_path / "x.root").exists()
    path, _ = write_tower_file(tmp_path / "t8.root", 8)
    assert main(["inspect", str(path)]) == 0
    assert "towers: 8\u00d78 grid (Jet_tower_0 ... Jet_tower_63), LSB 0.5 GeV, occupancy" in capsys.readouterr().out
    assert main(["inspect", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["preset"] == "nanoaod-towers8"
