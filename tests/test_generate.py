"""trigcomp.generate: Pythia 8 + FastJet samples written as NanoAOD-style ROOT files, and the bundled samples."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot

from trigcomp.errors import UserError
from trigcomp.generate import BRANCHES, FRACTIONS, JET_ABS_ETA_MAX, METADATA_KEY, PROCESSES, generate

REPO = Path(__file__).parents[1]
HAVE_GENERATORS = all(importlib.util.find_spec(name) is not None for name in ("pythia8mc", "fastjet"))
needs_generators = pytest.mark.skipif(
    not HAVE_GENERATORS, reason="pythia8mc and fastjet are not installed (pip install 'trigcomp[generate]')"
)


def read_jets(path: Path) -> dict[str, np.ndarray]:
    """Branch name -> array: nJet per event, Jet_* flattened over events."""
    with uproot.open(path) as file:
        arrays = file["Events"].arrays(["nJet", *BRANCHES], library="np")
    return {name: np.concatenate(values) if name != "nJet" else values for name, values in arrays.items()}


@pytest.fixture(scope="module")
def qcd(tmp_path_factory):
    if not HAVE_GENERATORS:
        pytest.skip("pythia8mc and fastjet are not installed (pip install 'trigcomp[generate]')")
    out = tmp_path_factory.mktemp("generate") / "qcd.root"
    return generate("qcd", 20, seed=3, out=out, progress=False), out


@needs_generators
def test_file_is_nanoaod_like(qcd):
    result, out = qcd
    with uproot.open(out) as file:
        tree = file["Events"]
        assert tree.num_entries == 20
        assert set(tree.keys()) == {"nJet", *BRANCHES}
        types = tree.typenames()
        provenance = json.loads(file[METADATA_KEY])
    assert types["nJet"] == "int32_t" and types["Jet_nConstituents"] == "int32_t[]"
    assert all(types[name] == "float[]" for name in BRANCHES if name != "Jet_nConstituents")
    assert provenance["seed"] == 3 and provenance["process"] == "qcd"
    assert result.events == 20 and result.out == str(out) and result.bytes == out.stat().st_size
    assert not [path for path in out.parent.iterdir() if path.name.endswith(".tmp")]


@needs_generators
def test_jets_are_physical(qcd):
    result, out = qcd
    jets = read_jets(out)
    assert result.jets == len(jets["Jet_pt"]) == jets["nJet"].sum() > 0
    fractions = np.stack([jets[f"Jet_{name}"] for name in FRACTIONS])
    assert ((fractions >= 0) & (fractions <= 1 + 1e-6)).all()
    np.testing.assert_allclose(fractions.sum(axis=0), 1.0, atol=1e-5)
    assert (jets["Jet_pt"] > 20.0).all()
    assert (np.abs(jets["Jet_eta"]) < JET_ABS_ETA_MAX).all()
    assert (np.abs(jets["Jet_phi"]) <= np.pi).all()
    assert (jets["Jet_mass"] >= 0).all() and (jets["Jet_nConstituents"] >= 1).all()
    # pt-ordered within each event
    first = np.concatenate([[0], np.cumsum(jets["nJet"])[:-1]])
    for start, count in zip(first, jets["nJet"]):
        assert (np.diff(jets["Jet_pt"][start : start + count]) <= 0).all()


@needs_generators
def test_same_seed_same_jets_and_clean_stdout(qcd, tmp_path, capfd):
    _, reference = qcd
    generate("qcd", 20, seed=3, out=tmp_path / "again.root", progress=False)
    again = read_jets(tmp_path / "again.root")
    for name, values in read_jets(reference).items():
        np.testing.assert_array_equal(again[name], values, err_msg=name)
    assert capfd.readouterr().out == ""  # neither Pythia nor FastJet may print to stdout


@needs_generators
def test_different_seed_different_jets(qcd, tmp_path):
    _, reference = qcd
    generate("qcd", 20, seed=4, out=tmp_path / "other.root", progress=False)
    other, first = read_jets(tmp_path / "other.root"), read_jets(reference)
    assert len(other["Jet_pt"]) != len(first["Jet_pt"]) or not np.array_equal(other["Jet_pt"], first["Jet_pt"])


@needs_generators
@pytest.mark.parametrize("process", ["qcd", "qcd-highpt"])
def test_output_does_not_depend_on_the_number_of_processes(process, tmp_path):
    serial = generate(process, 10, seed=5, out=tmp_path / "one.root", block_events=5, progress=False)
    parallel = generate(process, 10, seed=5, out=tmp_path / "two.root", processes=2, block_events=5, progress=False)
    assert (serial.processes, parallel.processes) == (1, 2)
    one, two = read_jets(tmp_path / "one.root"), read_jets(tmp_path / "two.root")
    for name in one:
        np.testing.assert_array_equal(two[name], one[name], err_msg=name)


@needs_generators
@pytest.mark.parametrize("process", sorted(set(PROCESSES) - {"qcd"}))
def test_other_processes_generate_jets(process, tmp_path):
    result = generate(process, 4, seed=1, out=tmp_path / f"{process}.root", progress=False)
    jets = read_jets(tmp_path / f"{process}.root")
    assert result.jets == len(jets["Jet_pt"]) > 0 and (jets["Jet_pt"] > 20.0).all()
    if process == "zprime":  # the decay quarks of a >= 1 TeV resonance give hard jets
        assert jets["Jet_pt"].max() > 200.0


@needs_generators
def test_highpt_qcd_is_hard_and_reproducible(tmp_path):
    """pThat > 200 GeV with a (pThat/200)^6 bias: every event has a hard leading jet, and the same seed gives the
    same jets while another seed does not."""
    result = generate("qcd-highpt", 12, seed=7, out=tmp_path / "a.root", progress=False)
    generate("qcd-highpt", 12, seed=7, out=tmp_path / "b.root", progress=False)
    generate("qcd-highpt", 12, seed=8, out=tmp_path / "c.root", progress=False)
    first, again, other = (read_jets(tmp_path / f"{name}.root") for name in "abc")
    for name in first:
        np.testing.assert_array_equal(again[name], first[name], err_msg=name)
    assert not np.array_equal(other["Jet_pt"][:5], first["Jet_pt"][:5])
    leading = first["Jet_pt"][np.concatenate([[0], np.cumsum(first["nJet"])[:-1]])[first["nJet"] > 0]]
    assert result.events == 12 and (first["nJet"] > 0).mean() >= 0.75
    assert np.median(leading) > 200.0 and (leading > 100.0).all()


@needs_generators
def test_existing_output_needs_force(qcd, tmp_path):
    out = tmp_path / "kept.root"
    out.write_bytes(b"precious")
    with pytest.raises(UserError, match="exists"):
        generate("qcd", 2, seed=1, out=out, progress=False)
    assert out.read_bytes() == b"precious"
    generate("qcd", 2, seed=1, out=out, force=True, progress=False)
    assert uproot.open(out)["Events"].num_entries == 2


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"process": "higgs"}, "unknown process 'higgs'; known processes: qcd, qcd-highpt, ttbar"),
        ({"events": 0}, "number of events must be positive"),
        ({"processes": 0}, "number of processes must be at least 1"),
        ({"seed": -1}, "seed must be a non-negative"),
        ({"pt_min": 0.0}, "pt_min must be a positive"),
        ({"block_events": 0}, "block size must be at least 1"),
    ],
)
def test_bad_arguments_are_user_errors(tmp_path, arguments, message):
    call = {"process": "qcd", "events": 5, "seed": 1, "out": tmp_path / "x.root", "progress": False} | arguments
    with pytest.raises(UserError, match=message):
        generate(**call)
    assert not (tmp_path / "x.root").exists()


def test_directory_as_output_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="is a directory"):
        generate("qcd", 5, seed=1, out=tmp_path, progress=False)


def test_missing_generators_are_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pythia8mc", None)  # makes `import pythia8mc` raise ImportError
    with pytest.raises(UserError, match=r"pip install 'trigcomp\[generate\]'"):
        generate("qcd", 5, seed=1, out=tmp_path / "x.root", progress=False)


@pytest.mark.parametrize(
    "sample, minimum_jets, highest_pt",
    [("qcd", 100_000, 200.0), ("ttbar", 20_000, 500.0), ("qcd-highpt", 20_000, 2500.0), ("zprime", 20_000, 1000.0),
     ("wjets", 20_000, 200.0)],
)
def test_bundled_samples(sample, minimum_jets, highest_pt):
    path = REPO / "data" / f"{sample}.root"
    jets = read_jets(path)
    assert len(jets["Jet_pt"]) >= minimum_jets
    assert (jets["Jet_pt"] > 20.0).all() and jets["Jet_pt"].max() > highest_pt
    with uproot.open(path) as file:
        assert json.loads(file[METADATA_KEY])["process"] == sample
    if sample not in ("qcd", "ttbar"):  # the samples added for mixed-process training stay small
        assert path.stat().st_size <= 1_500_000
