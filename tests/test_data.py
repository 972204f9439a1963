"""trigcomp.data: presets, cuts, chunking, inspection and every bad-input path, on real and self-written ROOT files."""

import logging
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from trigcomp import data
from trigcomp.errors import UserError
from trigcomp.records import JET4, JET10

REPO = Path(__file__).parents[1]
TEST_DATA = REPO / "tests" / "data"
NANOAOD = TEST_DATA / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
HZZ = TEST_DATA / "uproot-HZZ.root"

RNTUPLE_WRITING = hasattr(uproot.writing.writable.WritableDirectory, "mkrntuple")
needs_rntuple_writing = pytest.mark.skipif(
    not RNTUPLE_WRITING, reason=f"uproot {uproot.__version__} cannot write RNTuple (no mkrntuple)"
)


def random_jets(seed: int, n_events: int = 300) -> dict[str, ak.Array]:
    """Jagged jets with 0-6 jets per event: pt in GeV, eta, phi, mass in GeV and a constituent count."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 7, n_events)
    n = int(counts.sum())
    per_jet = {
        "pt": rng.exponential(40.0, n) + 15.0,
        "eta": rng.uniform(-4.5, 4.5, n),
        "phi": rng.uniform(-np.pi, np.pi, n),
        "mass": rng.exponential(8.0, n),
        "nConstituents": rng.integers(1, 40, n),
    }
    return {
        k: ak.unflatten(v.astype(np.float32 if k != "nConstituents" else np.int32), counts) for k, v in per_jet.items()
    }


def write_ttree(path: Path, tree: str, branches: dict[str, ak.Array], counter: str) -> Path:
    with uproot.recreate(path) as f:
        t = f.mktree(tree, {name: a.type.content for name, a in branches.items()}, counter_name=lambda _: counter)
        t.extend(branches)
    return path


def write_rntuple(path: Path, name: str, fields: dict[str, ak.Array]) -> Path:
    with uproot.recreate(path) as f:
        f.mkrntuple(name, ak.Array(fields))
    return path


def flat(array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small files in the formats of each preset, written with uproot."""
    d = tmp_path_factory.mktemp("data")
    jets = random_jets(1)
    physlite_names = dict(zip(JET4, ("pt", "eta", "phi", "m")))
    physlite = {
        f"AnalysisJetsAuxDyn.{physlite_names[v]}": jets[v] * (1000.0 if v in ("pt", "mass") else 1.0) for v in JET4
    }
    delphes_names = dict(zip(JET4, ("PT", "Eta", "Phi", "Mass")))
    out = {
        "jets": jets,
        "physlite": write_ttree(d / "physlite.root", "CollectionTree", physlite, "nAnalysisJets"),
        "delphes": write_ttree(
            d / "delphes.root", "Delphes", {f"Jet.{delphes_names[v]}": jets[v] for v in JET4}, "Jet_size"
        ),
        "custom": write_ttree(
            d / "custom.root",
            "jets",
            {
                "jet_pt": jets["pt"] * 1000,
                "jet_eta": jets["eta"],
                "jet_phi": jets["phi"],
                "jet_m": jets["mass"] * 1000,
                "jet_nconst": jets["nConstituents"],
            },
            "njet",
        ),
    }
    bad = {v: ak.to_numpy(ak.flatten(jets[v])).copy() for v in JET4}
    bad["pt"][[0, 5]] = [np.nan, np.inf]
    bad["eta"][7] = -np.inf
    counts = ak.to_numpy(ak.num(jets["pt"]))
    out["nonfinite"] = write_ttree(
        d / "nonfinite.root", "Events", {f"Jet_{v}": ak.unflatten(bad[v], counts) for v in JET4}, "nJet"
    )
    with uproot.recreate(d / "histogram.root") as f:
        f["h"] = np.histogram(np.arange(10.0))
    out["histogram"] = d / "histogram.root"
    out["unrelated"] = write_ttree(d / "unrelated.root", "Events", {"Muon_pt": jets["pt"]}, "nMuon")
    if RNTUPLE_WRITING:
        out["rntuple"] = write_rntuple(d / "rntuple.root", "Events", {f"Jet_{v}": jets[v] for v in JET4})
        out["physlite_rntuple"] = write_rntuple(
            d / "physlite_rntuple.root", "CollectionTree", {k.replace(".", ":"): a for k, a in physlite.items()}
        )
    return out


# ---- real files -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variable_set", ["jet4", "jet10"])
def test_nanoaod_values_match_direct_uproot_read(variable_set, caplog):
    with caplog.at_level(logging.INFO, logger="trigcomp"):
        table = data.load_jets(NANOAOD, variables=variable_set)
    assert "preset detected: nanoaod" in caplog.text
    names = data.resolve_variables(variable_set)
    raw = uproot.open(NANOAOD)["Events"].arrays([f"Jet_{v}" for v in names] + ["nJet"])
    assert table.preset == "nanoaod" and table.variables == names
    assert table.values.dtype == np.float32 and table.values.shape == (len(flat(raw["Jet_pt"])), len(names))
    for i, v in enumerate(names):
        np.testing.assert_array_equal(table.values[:, i], flat(raw[f"Jet_{v}"]).astype(np.float32))
    np.testing.assert_array_equal(table.event_index, np.repeat(np.arange(len(raw)), ak.to_numpy(raw["nJet"])))
    assert table.n_events == len(raw) and table.dropped_nonfinite == 0


def test_pxpypze_conversion_matches_polar_angle_math():
    table = data.load_jets(HZZ)
    assert table.preset == "pxpypze"
    raw = uproot.open(HZZ)["events"].arrays(["Jet_Px", "Jet_Py", "Jet_Pz", "Jet_E"])
    px, py, pz, energy = (flat(raw[b]).astype(np.float64) for b in ("Jet_Px", "Jet_Py", "Jet_Pz", "Jet_E"))
    p = np.sqrt(px**2 + py**2 + pz**2)
    theta = np.arccos(pz / p)
    expected = {
        "pt": p * np.sin(theta),
        "eta": -np.log(np.tan(theta / 2)),
        "phi": np.arctan2(py, px),
        "mass": np.sqrt(np.clip(energy**2 - p**2, 0, None)),
    }
    for name, values in expected.items():
        np.testing.assert_allclose(table.column(name), values, rtol=2e-5, atol=2e-4, err_msg=name)
    assert table.n_events == len(raw)


def test_cuts_and_leading_match_awkward_selection():
    table = data.load_jets(NANOAOD, pt_min=20.0, eta_max=2.4, leading=2)
    raw = uproot.open(NANOAOD)["Events"].arrays(["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass"])
    selected = raw[(raw.Jet_pt >= 20.0) & (abs(raw.Jet_eta) < 2.4)]
    ordered = selected[ak.argsort(selected.Jet_pt, ascending=False, stable=True)][:, :2]
    np.testing.assert_array_equal(table.column("pt"), flat(ordered.Jet_pt))
    np.testing.assert_array_equal(table.column("phi"), flat(ordered.Jet_phi))
    event_of_jet = ak.broadcast_arrays(ak.local_index(ordered.Jet_pt, axis=0), ordered.Jet_pt)[0]
    np.testing.assert_array_equal(table.event_index, flat(event_of_jet))
    assert 0 < len(table) < 537 and np.bincount(table.event_index).max() == 2


def test_chunks_cover_the_same_jets_as_one_load():
    whole = data.load_jets(NANOAOD, variables="jet10")
    chunks = list(data.iter_jets(NANOAOD, variables="jet10", step_size=37))
    assert len(chunks) == -(-whole.n_events // 37)
    np.testing.assert_array_equal(np.concatenate([c.values for c in chunks]), whole.values)
    for chunk in chunks:
        first = chunk.extra["first_event"]
        assert np.all((chunk.event_index >= first) & (chunk.event_index < first + chunk.n_events))
    assert sum(c.n_events for c in chunks) == whole.n_events


def test_several_files_and_globs_count_events_across_files(tmp_path, capsys):
    copy = tmp_path / "copy.root"
    copy.write_bytes(NANOAOD.read_bytes())
    single = data.load_jets(NANOAOD)
    both = data.load_jets([NANOAOD, str(tmp_path / "*.root")], step_size="1 MB", progress=True)
    assert "copy.root" in capsys.readouterr().err  # the progress bar names the file being read
    assert both.n_events == 2 * single.n_events and len(both) == 2 * len(single)
    np.testing.assert_array_equal(both.event_index[len(single) :], single.event_index + single.n_events)
    assert both.sources == (str(NANOAOD), str(copy))


def test_inspect_nanoaod_reports_ranges_of_all_variables():
    report = data.inspect_file(NANOAOD)
    doc = report.to_json()
    assert {"events", "jets", "preset", "variables", "tree", "format"} <= doc.keys()
    assert (doc["events"], doc["preset"], doc["tree"], doc["format"]) == (200, "nanoaod", "Events", "TTree")
    assert list(doc["variables"]) == list(JET10)
    pt = flat(uproot.open(NANOAOD)["Events"]["Jet_pt"].array())
    assert doc["jets"] == len(pt)
    stats = doc["variables"]["pt"]
    assert (stats["branch"], stats["unit"], stats["min"], stats["max"]) == ("Jet_pt", "GeV", pt.min(), pt.max())
    assert stats["mean"] == pytest.approx(pt.mean(dtype=np.float64)) and stats["nan"] == stats["inf"] == 0
    text = report.format_text()
    assert "Events" in text and "Jet_nConstituents" in text and len(text.splitlines()) == 3 + len(JET10)


# ---- presets on self-written files ------------------------------------------------------------------------------


def test_physlite_mev_branches_are_converted_to_gev(files, caplog):
    with caplog.at_level(logging.INFO, logger="trigcomp"):
        table = data.load_jets(files["physlite"])
    assert table.preset == "physlite" and "preset detected: physlite" in caplog.text
    for name in JET4:
        np.testing.assert_allclose(table.column(name), flat(files["jets"][name]), rtol=1e-6, err_msg=name)


def test_physlite_jet10_lists_what_exists(files):
    with pytest.raises(UserError, match=r"chHEF.*not available with preset physlite; it has: pt, eta, phi, mass"):
        data.load_jets(files["physlite"], variables="jet10")


def test_delphes_branches(files):
    table = data.load_jets(files["delphes"])
    assert table.preset == "delphes"
    np.testing.assert_array_equal(table.values, np.column_stack([flat(files["jets"][v]) for v in JET4]))


@needs_rntuple_writing
def test_rntuple_reads_like_ttree(files):
    table = data.load_jets(files["rntuple"])
    assert table.preset == "nanoaod"
    np.testing.assert_array_equal(table.values, np.column_stack([flat(files["jets"][v]) for v in JET4]))
    assert data.inspect_file(files["rntuple"]).format == "RNTuple"


@needs_rntuple_writing
def test_physlite_rntuple_colon_names(files):
    table = data.load_jets(files["physlite_rntuple"], step_size=50)
    assert table.preset == "physlite"
    np.testing.assert_allclose(table.column("pt"), flat(files["jets"]["pt"]), rtol=1e-6)


@needs_rntuple_writing
def test_rntuple_nested_record_fields(files, tmp_path):
    path = write_rntuple(tmp_path / "nested.root", "jets", {"Jet": ak.zip({v: files["jets"][v] for v in JET4})})
    mapping = tmp_path / "nested.toml"
    mapping.write_text('[branches]\npt = "Jet.pt"\neta = "Jet.eta"\nphi = "Jet.phi"\nmass = "Jet.mass"\n')
    table = data.load_jets(path, mapping=mapping, step_size=100)
    np.testing.assert_array_equal(table.values, np.column_stack([flat(files["jets"][v]) for v in JET4]))
    assert data.inspect_file(path, mapping=mapping).variables["eta"].branch == "Jet.eta"


def test_custom_mapping_from_toml(files, tmp_path):
    mapping = tmp_path / "map.toml"
    mapping.write_text((REPO / "configs" / "mapping-example.toml").read_text())
    table = data.load_jets(files["custom"], mapping=mapping, variables="pt,mass,nConstituents")
    assert table.preset == "my-ntuple" and table.variables == ("pt", "mass", "nConstituents")
    np.testing.assert_allclose(table.column("pt"), flat(files["jets"]["pt"]), rtol=1e-6)
    np.testing.assert_allclose(table.column("mass"), flat(files["jets"]["mass"]), rtol=1e-6)
    np.testing.assert_array_equal(table.column("nConstituents"), flat(files["jets"]["nConstituents"]))


def test_custom_mapping_flat_tree_without_tree_name(tmp_path):
    path = tmp_path / "flat.root"
    rng = np.random.default_rng(3)
    columns = {name: rng.uniform(1, 100, 50).astype(np.float32) for name in ("a", "b", "c", "d")}
    with uproot.recreate(path) as f:
        f.mktree("ntuple", {k: np.float32 for k in columns}).extend(columns)
    mapping = tmp_path / "flat.toml"
    mapping.write_text('[branches]\npt = "a"\neta = "b"\nphi = "c"\nmass = "d"\n')
    table = data.load_jets(path, mapping=mapping)
    assert table.preset == "custom"
    np.testing.assert_array_equal(table.column("eta"), columns["b"])
    np.testing.assert_array_equal(table.event_index, np.arange(50))


def test_nonfinite_jets_are_dropped_with_warning(files, caplog):
    with caplog.at_level(logging.WARNING, logger="trigcomp"):
        table = data.load_jets(files["nonfinite"])
    assert table.dropped_nonfinite == 3 and len(table) == len(flat(files["jets"]["pt"])) - 3
    assert np.isfinite(table.values).all()
    assert "NaN/inf" in caplog.text and "pt: 2" in caplog.text and "eta: 1" in caplog.text


def test_nonfinite_jets_strict_is_an_error(files):
    with pytest.raises(UserError, match=r"NaN/inf pt \(strict mode\)"):
        data.load_jets(files["nonfinite"], strict=True)


def test_inspect_counts_nan_and_inf(files):
    stats = data.inspect_file(files["nonfinite"]).variables
    assert (stats["pt"].nan, stats["pt"].inf, stats["eta"].nan, stats["eta"].inf) == (1, 1, 0, 1)
    assert np.isfinite(stats["pt"].max)


def test_resolve_variables():
    assert data.resolve_variables("jet4") == JET4
    assert data.resolve_variables("jet10") == JET10
    assert data.resolve_variables("pt, muEF") == ("pt", "muEF")
    assert data.resolve_variables(["eta", "pt"]) == ("eta", "pt")
    assert set(data.PRESETS) == {"nanoaod", "physlite", "delphes", "pxpypze", "nanoaod-towers8", "nanoaod-towers16"}


def test_detect_preset(files):
    assert [data.detect_preset(files[k]) for k in ("physlite", "delphes")] == ["physlite", "delphes"]


def test_custom_fourvector_mapping_in_mev(tmp_path):
    path = tmp_path / "fourvectors.root"
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 4, 100)
    px, py, pz = (rng.normal(0, 50_000, counts.sum()) for _ in range(3))
    mass = rng.uniform(0, 20_000, counts.sum())
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    branches = {name: ak.unflatten(v, counts) for name, v in zip(("jx", "jy", "jz", "je"), (px, py, pz, energy))}
    write_ttree(path, "t", branches, "nj")
    mapping = tmp_path / "fourvectors.toml"
    mapping.write_text(
        'name = "fv"\n[branches]\npx = "jx"\npy = "jy"\npz = "jz"\nE = "je"\n'
        "[scale]\npx = 0.001\npy = 0.001\npz = 0.001\nE = 0.001\n"
    )
    table = data.load_jets(path, mapping=mapping)
    assert table.preset == "fv"
    np.testing.assert_allclose(table.column("pt"), np.hypot(px, py) / 1000, rtol=1e-6)
    np.testing.assert_allclose(table.column("mass"), mass / 1000, rtol=1e-3, atol=1e-3)


def test_generic_awkward_layouts_are_flattened_like_uproot_ones():
    jagged = ak.Array([[1.0, 2.0], [], [3.0]])
    reordered = jagged[[2, 1, 0]]  # a ListArray, not uproot's usual ListOffsetArray
    values, offsets = data._flat_values_and_offsets(reordered)
    np.testing.assert_array_equal(values, [3.0, 1.0, 2.0])
    np.testing.assert_array_equal(offsets, [0, 1, 1, 3])
    values, offsets = data._flat_values_and_offsets(jagged[1:])  # offsets not starting at 0
    np.testing.assert_array_equal(values, [3.0])
    np.testing.assert_array_equal(offsets, [0, 0, 1])


# ---- bad input --------------------------------------------------------------------------------------------------


def one_line_error(call, match: str) -> str:
    with pytest.raises(UserError, match=match) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    one_line_error(lambda: data.load_jets(tmp_path / "nope.root"), "no such file")
    one_line_error(lambda: data.inspect_file(tmp_path / "nope.root"), "no such file")
    one_line_error(lambda: data.load_jets(str(tmp_path / "*.root")), "no files match")


def test_not_a_root_file(tmp_path):
    path = tmp_path / "text.root"
    path.write_text("hello, this is not ROOT\n" * 20)
    one_line_error(lambda: data.load_jets(path), "is not a ROOT file")
    path.write_bytes(b"")
    one_line_error(lambda: data.inspect_file(path), "is not a ROOT file")


def test_truncated_file(files, tmp_path):
    path = tmp_path / "truncated.root"
    path.write_bytes(files["delphes"].read_bytes()[:5000])
    one_line_error(lambda: data.load_jets(path), "truncated or corrupt")


def test_corrupt_basket(tmp_path):
    repeated = ak.unflatten(np.tile(np.arange(10, dtype=np.float32), 300), np.full(300, 10))  # compresses well
    path = write_ttree(
        tmp_path / "corrupt.root", "Delphes", {f"Jet.{b}": repeated for b in ("PT", "Eta", "Phi", "Mass")}, "n"
    )
    branch = uproot.open(path)["Delphes"]["Jet.Eta"]
    start, size = int(branch.member("fBasketSeek")[0]), int(branch.member("fBasketBytes")[0])
    content = bytearray(path.read_bytes())
    content[start + size - 30 : start + size - 10] = b"\xff" * 20  # inside the compressed basket
    path.write_bytes(content)
    one_line_error(lambda: data.load_jets(path), "truncated or corrupt")


def test_no_tree_lists_contents(files):
    one_line_error(lambda: data.load_jets(files["histogram"], preset="nanoaod"), r"no TTree or RNTuple.*h \(TH1D\)")


def test_wrong_tree_name_lists_trees(files):
    one_line_error(lambda: data.load_jets(files["delphes"], preset="nanoaod"), r"named 'Events'.*Delphes \(TTree\)")


def test_detection_failure_lists_trees(files):
    one_line_error(lambda: data.load_jets(files["unrelated"]), r"cannot detect.*Events \(TTree\)")


def test_missing_branch_suggests_close_matches(files, tmp_path):
    mapping = tmp_path / "typo.toml"
    mapping.write_text(
        'tree = "Delphes"\n[branches]\npt = "Jet.Pt"\neta = "Jet.Eta"\nphi = "Jet.Phi"\nmass = "Jet.M"\n'
    )
    message = one_line_error(lambda: data.load_jets(files["delphes"], mapping=mapping), "lacks branch")
    assert "Jet.Pt (close matches: Jet.PT" in message and "Jet.M (close matches: Jet.Mass" in message


def test_branches_with_different_jet_counts(tmp_path):
    path = tmp_path / "mixed.root"
    jets = ak.Array([[1.0], [2.0, 3.0]])
    with uproot.recreate(path) as f:
        f.mktree("t", {"a": jets.type.content, "b": jets.type.content}, counter_name=lambda name: f"n{name}").extend(
            {"a": jets, "b": jets[[1, 0]]}
        )
    mapping = tmp_path / "mixed.toml"
    mapping.write_text('[branches]\npt = "a"\neta = "b"\nphi = "a"\nmass = "a"\n')
    one_line_error(lambda: data.load_jets(path, mapping=mapping), "branch b has a different number of jets")


def test_nothing_left_after_cuts(files):
    one_line_error(lambda: data.load_jets(files["delphes"], pt_min=1e9), r"no jets left.*pt_min=1000000000.0")


def test_unknown_preset_and_variable(files):
    one_line_error(lambda: data.load_jets(files["delphes"], preset="cms"), "unknown preset 'cms'; known: nanoaod")
    one_line_error(lambda: data.load_jets(files["delphes"], variables="pt,energy"), "unknown variable.*energy")
    one_line_error(lambda: data.resolve_variables("jet7"), "unknown variable.*jet7")
    one_line_error(lambda: data.resolve_variables("pt,pt"), "twice")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pt_min": -1.0}, "pt_min"),
        ({"eta_max": 0}, "eta_max"),
        ({"leading": 0}, "leading"),
        ({"step_size": "lots"}, "step_size"),
        ({"preset": "delphes", "mapping": "x.toml"}, "not both"),
    ],
)
def test_bad_options(files, kwargs, match):
    one_line_error(lambda: data.load_jets(files["delphes"], **kwargs), match)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (None, "mapping file not found"),
        ("[branches\n", "cannot read mapping file"),
        ('[branches]\npt = "a"\n', "needs all of pt, eta, phi, mass or all of px"),
        ('[branches]\npt = "a"\neta = "b"\nphi = "c"\nmass = "d"\npx = "e"\n', "not a mix"),
        ("scale = 3\n", r"\[scale\] must map"),
        ('[branches]\npt = "a"\neta = "b"\nphi = "c"\nmass = "d"\nenergy = "e"\n', "unknown quantity energy"),
        ('[branches]\npt = "a"\neta = "b"\nphi = "c"\nmass = "d"\n[scale]\npt = -1\n', "positive numbers"),
        ('trees = "x"\n', "unknown key"),
    ],
)
def test_bad_mapping_files(tmp_path, text, match):
    path = tmp_path / "mapping.toml"
    if text is not None:
        path.write_text(text)
    one_line_error(lambda: data.load_mapping(path), match)
