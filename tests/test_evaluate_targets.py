"""evaluate against physics targets: per-sample checks, the CI exit code, JUnit, reconstructed.root, and baselines
that are fitted on the model's training jets or not at all."""

import json
import shutil
import xml.etree.ElementTree as ET
from dataclasses import replace

import awkward as ak
import numpy as np
import pytest
import uproot

from trigcomp.cli import main
from trigcomp.errors import UserError
from trigcomp.evaluate import SampleEvaluation
from trigcomp.targets import check_targets, load_targets, residuals, resolution

from .conftest import REPO

JET4_MODEL = REPO / "models" / "jet4"
QCD, TTBAR = REPO / "data" / "qcd.root", REPO / "data" / "ttbar.root"


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_targets(path, **sigmas):
    lines = ['name = "test"', "pt_bins = [20, 30, 50, 100]", "min_bin_jets = 100"]
    for variable, sigma in sigmas.items():
        lines += [f"[variables.{variable}]", f"sigma = {sigma}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_binned_stats_skip_bins_with_too_few_jets_and_match_the_target_checks():
    rng = np.random.default_rng(1)
    # 150 jets in 20-30, 99 in 30-50 (too few), 100 in 50-100 (just enough)
    pt = np.concatenate([rng.uniform(20, 30, 150), rng.uniform(30, 50, 99), rng.uniform(50, 100, 100)])
    eta = rng.uniform(-2, 2, pt.size)
    truth = np.column_stack([pt, eta])
    reco = truth * np.column_stack([1 + rng.normal(0, 0.03, pt.size), np.ones(pt.size)])
    reco[:, 1] += rng.normal(0, 0.01, pt.size)
    edges = (20.0, 30.0, 50.0, 100.0, np.inf)
    sample = SampleEvaluation("s", "", "", ("pt", "eta"), truth, reco, np.arange(pt.size), 0, edges, 100)
    bins = sample.binned_stats
    assert [(b["pt_low"], b["pt_high"], b["jets"]) for b in bins] == [(20.0, 30.0, 150), (50.0, 100.0, 100)]
    targets = replace(load_targets("l1-jets"), pt_bins=sample.pt_bins, min_bin_jets=sample.min_bin_jets)
    report = check_targets(targets, ("pt", "eta"), truth, reco, "s")
    scopes = {(c.variable, c.scope): c for c in report.checks}
    assert set(scopes) == {(v, s) for v in ("pt", "eta") for s in ("all", "pt 20-30", "pt 50-100")}
    # the plotted numbers are the checked numbers
    assert scopes[("pt", "pt 50-100")].sigma == bins[1]["variables"]["pt"]["sigma"]
    assert bins[1]["variables"]["pt"]["response"] == pytest.approx(1 + scopes[("pt", "pt 50-100")].bias)


@pytest.fixture(scope="module")
def remapped(tmp_path_factory):
    """Two small samples of ttbar jets in another format (tree `jets`, one jet per entry, MeV), read with
    --mapping: the model's training file (NanoAOD) must still be read in its own format."""
    out = tmp_path_factory.mktemp("remapped")
    with uproot.open(TTBAR) as f:
        events = f["Events"].arrays(["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass"], entry_stop=2000)
    flat = {name: ak.to_numpy(ak.flatten(events[f"Jet_{name}"])) for name in ("pt", "eta", "phi", "mass")}
    half = len(flat["pt"]) // 2
    paths = []
    for name, rows in (("ttbar-a", slice(0, half)), ("ttbar-b", slice(half, None))):
        paths.append(out / f"{name}.root")
        with uproot.recreate(paths[-1]) as f:
            f["jets"] = {
                "j_pt": flat["pt"][rows] * 1000,
                "j_eta": flat["eta"][rows],
                "j_phi": flat["phi"][rows],
                "j_m": flat["mass"][rows] * 1000,
            }
    mapping = out / "mapping.toml"
    mapping.write_text(
        'name = "flat-mev"\ntree = "jets"\n[branches]\npt = "j_pt"\neta = "j_eta"\nphi = "j_phi"\nmass = "j_m"\n'
        "[scale]\npt = 0.001\nmass = 0.001\n"
    )
    return paths, mapping


def test_targets_met_exit_0_with_junit_plots_and_a_reconstructed_root_file(capsys, tmp_path, monkeypatch, remapped):
    """Two samples, evaluated separately; loose targets pass on both. Run from another directory with --mapping for
    the evaluation files, the baselines are still fitted on the model's training split (found relative to the model,
    read in its own format, checked by hash). Every number can be recomputed from reconstructed.root."""
    monkeypatch.chdir(tmp_path)
    (a, b), mapping = remapped
    loose = write_targets(tmp_path / "loose.toml", pt=0.5, eta=2.0, phi=4.0, mass=1.0)
    out, junit = tmp_path / "eval", tmp_path / "junit.xml"
    argv = ("evaluate", "--model", JET4_MODEL, "--data", a, b, "--mapping", mapping, "--targets", loose)
    code, stdout, err = run_cli(capsys, *argv, "--out", out, "--junit", junit, "--json")
    assert code == 0, err
    payload = json.loads(stdout)
    assert payload["meets_targets"] is True and payload["failing_samples"] == []
    assert [s["sample"] for s in payload["samples"]] == ["ttbar-a", "ttbar-b"]
    assert all(s["held_out"].startswith("all jets") for s in payload["samples"])
    source = payload["baseline_training"]
    assert str(QCD.resolve()) in source and "data hash 39c5bccb89cf4169 verified" in source
    pt = payload["targets"]["ttbar-b"]["variables"]["pt"]
    assert pt["pass"] is True and pt["target"]["sigma"] == 0.5 and pt["pt_bins"]
    assert set(payload) >= {"variables", "total_nmse", "pt_bins", "baselines", "held_out"}  # the keys users had
    assert payload["jets"] == sum(s["jets"] for s in payload["samples"])

    # JUnit: one case per check (variable x scope x sample), none failing
    suite = ET.parse(junit).getroot()
    n_checks = sum(1 + len(v["pt_bins"]) for s in payload["targets"].values() for v in s["variables"].values())
    assert suite.get("tests") == str(n_checks) and suite.get("failures") == "0"

    for name in ("response_vs_pt.png", "resolution_vs_pt.png", "residuals.png", "evaluation.md"):
        assert (out / name).stat().st_size > 0

    # reconstructed.root: recomputing sigma and the median from the file gives the JSON numbers
    with uproot.open(out / "reconstructed.root") as root_file:
        names = json.loads(str(root_file["sample_names"]))
        jets = root_file["Jets"].arrays(library="np")
    assert names == ["ttbar-a", "ttbar-b"]
    for index, sample in enumerate(payload["samples"]):
        rows = jets["sample"] == index
        assert rows.sum() == sample["jets"]
        assert np.array_equal(jets["event"][rows], np.arange(sample["jets"]))  # one jet per entry in these files
        for variable in ("pt", "phi"):
            recomputed = resolution(
                residuals(variable, jets[variable][rows].astype(np.float64), jets[f"{variable}_reco"][rows])
            )
            checked = payload["targets"][sample["sample"]]["variables"][variable]
            assert recomputed["sigma"] == checked["sigma"] and recomputed["median"] == checked["bias"]


def test_targets_not_met_exit_1_naming_the_variable(capsys, tmp_path, remapped):
    (a, _), mapping = remapped
    tight = write_targets(tmp_path / "tight.toml", pt=0.5, eta=0.001)
    argv = ("evaluate", "--model", JET4_MODEL, "--data", a, "--mapping", mapping, "--targets", tight)
    code, stdout, err = run_cli(capsys, *argv, "--json")
    assert code == 1
    assert err.strip().splitlines()[-1] == "trigcomp: check failed: targets test not met on ttbar-a (eta)"
    payload = json.loads(stdout)
    assert payload["meets_targets"] is False and payload["failing_samples"] == ["ttbar-a"]
    variables = payload["targets"]["ttbar-a"]["variables"]
    assert variables["eta"]["pass"] is False and variables["pt"]["pass"] is True

    code, text, _ = run_cli(capsys, *argv)
    assert code == 1 and "**ttbar-a fails `test`**" in text and "eta [all]: σ" in text


def test_refuses_when_the_training_jets_cannot_be_found(capsys, tmp_path, monkeypatch):
    """A copied model whose relative training path leads nowhere: exit 2, one line, nothing fitted on test data;
    a wrong --training-data is refused by its hash."""
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "jet4"
    shutil.copytree(JET4_MODEL, model, ignore=shutil.ignore_patterns("evaluation-*"))
    code, out, err = run_cli(capsys, "evaluate", "--model", model, "--data", TTBAR)
    assert code == 2 and out == "" and "Traceback" not in err
    err = err.splitlines()[-1]
    assert "cannot find the jets jet4 was trained on (recorded: data/qcd.root" in err and "--training-data" in err
    code, out, err = run_cli(capsys, "evaluate", "--model", model, "--data", TTBAR, "--training-data", TTBAR)
    assert code == 2 and "data hash" in err.splitlines()[-1] and "Traceback" not in err


def test_junit_needs_targets(capsys, tmp_path):
    code, _, err = run_cli(capsys, "evaluate", "--model", JET4_MODEL, "--data", TTBAR, "--junit", tmp_path / "j.xml")
    assert code == 2 and "--targets" in err and not (tmp_path / "j.xml").exists()


def test_targets_for_none_of_the_model_variables_are_refused(capsys, tmp_path):
    unrelated = write_targets(tmp_path / "fractions.toml", chHEF=0.02)
    code, _, err = run_cli(capsys, "evaluate", "--model", JET4_MODEL, "--data", TTBAR, "--targets", unrelated)
    assert code == 2 and "check none of jet4's variables" in err.splitlines()[-1]


def test_training_jets_found_at_the_recorded_path_with_the_recorded_cuts(tmp_path, monkeypatch):
    """Training records where its jets came from (absolute path, format, cuts): a model trained with pt_min 30 finds
    them from any directory and reads them with its own cuts (the evaluation's would give other jets, which the
    hash refuses)."""
    from trigcomp.config import config_from_dict
    from trigcomp.data import JetSelection, load_jets
    from trigcomp.evaluate import locate_training_jets
    from trigcomp.model import split_events, train

    from .conftest import TINY_CONFIG
    from .test_cli import write_nanoaod

    data = write_nanoaod(tmp_path / "train.root")
    config = config_from_dict(TINY_CONFIG | {"training": TINY_CONFIG["training"] | {"epochs": 1}})
    monkeypatch.chdir(tmp_path)
    trained_on = load_jets(["train.root"], variables="jet10", pt_min=30.0)
    model = train(config, trained_on)
    training = model.info["training"]
    assert training["sources"] == ["train.root"] and training["source_paths"] == [str(data.resolve())]
    assert training["preset"] == "nanoaod" and training["selection"]["pt_min"] == 30.0

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the relative "train.root" now leads nowhere
    found, source, _ = locate_training_jets(model, JetSelection())  # the evaluation read its data without cuts
    cfg = config.training
    expected, _, _ = split_events(trained_on.event_index, config.seed, cfg.validation_fraction, cfg.test_fraction)
    assert np.array_equal(found, trained_on.values[expected])
    assert f"{len(found)} jets, data hash {training['data_hash']} verified" in source

    training["selection"]["pt_min"] = 40.0  # the recorded cuts no longer reproduce the training jets
    with pytest.raises(UserError, match="cannot find the jets tiny was trained on"):
        locate_training_jets(model, JetSelection())


@pytest.fixture(scope="module")
def two_file_model(tmp_path_factory):
    """A tiny model trained on two files (events numbered on from the first file into the second), and a third file
    it never saw."""
    from trigcomp.config import config_from_dict
    from trigcomp.data import load_jets
    from trigcomp.model import save_model, train

    from .conftest import TINY_CONFIG
    from .test_cli import write_nanoaod

    tmp = tmp_path_factory.mktemp("two-files")
    first, second, unseen = (write_nanoaod(tmp / f"{n}.root", 700, seed) for n, seed in (("a", 1), ("b", 2), ("c", 3)))
    trained_on = load_jets([first, second], variables="jet10")
    config = config_from_dict(TINY_CONFIG | {"training": TINY_CONFIG["training"] | {"epochs": 1}})
    model = save_model(train(config, trained_on), tmp / "model")
    return model, trained_on, (first, second, unseen)


def test_each_training_file_of_a_multi_file_model_is_judged_on_its_test_split_only(two_file_model):
    from trigcomp.data import JetSelection, load_jets
    from trigcomp.evaluate import _evaluation_rows, evaluate_sample, locate_training_jets
    from trigcomp.model import split_events

    model, trained_on, (first, second, unseen) = two_file_model
    cfg = model.config.training
    _, _, test = split_events(trained_on.event_index, model.config.seed, cfg.validation_fraction, cfg.test_fraction)
    n_first = len(load_jets([first], variables="jet10"))
    held_out = (test[:n_first], test[n_first:])  # the training's test mask, cut at the file boundary
    _, _, training_files = locate_training_jets(model, JetSelection())
    for path, expected in zip((first, second), held_out):
        jets = load_jets([path], variables="jet10")
        sample = evaluate_sample(model, jets, path.stem, None, training_files).sample
        assert 0 < len(sample.truth) == expected.sum() < len(jets)
        assert np.array_equal(sample.truth, jets.values[expected])
        assert sample.held_out.startswith("test split of the training data")
        assert evaluate_sample(model, jets, path.stem, None).sample.held_out.startswith("all jets (undecided")
        # a table with more variables than the model (a hybrid codec's autoencoder codes some): the same jets
        wider = replace(jets, variables=(*jets.variables, "extra"), values=np.column_stack([jets.values, jets.values]))
        assert np.array_equal(_evaluation_rows(model, wider, training_files)[0], np.flatnonzero(expected))
    # a training file read with other cuts: its jets of test events, never seen (found by path, not hash)
    cut = load_jets([second], variables="jet10", pt_min=40.0)
    global_events = cut.event_index + load_jets([first], variables="jet10").n_events
    _, _, cut_test = split_events(global_events, model.config.seed, cfg.validation_fraction, cfg.test_fraction)
    sample = evaluate_sample(model, cut, "b", None, training_files).sample
    assert np.array_equal(sample.truth, cut.values[cut_test]) and "training file 2 of 2" in sample.held_out
    jets = load_jets([unseen], variables="jet10")
    sample = evaluate_sample(model, jets, "c", None, training_files).sample
    assert (
        np.array_equal(sample.truth, jets.values)
        and sample.held_out == "all jets (a file the model was not trained on)"
    )


def test_evaluate_cli_holds_out_the_test_split_of_each_training_file(two_file_model, capsys):
    from trigcomp.data import load_jets

    model, _, (first, second, unseen) = two_file_model
    code, out, _ = run_cli(capsys, "evaluate", "--model", model.path, "--data", first, second, unseen, "--json")
    assert code == 0
    samples = {s["sample"]: s for s in json.loads(out)["samples"]}
    assert samples["a"]["jets"] + samples["b"]["jets"] == model.info["training"]["jets"]["test"]
    assert "training file 2 of 2" in samples["b"]["held_out"]
    assert samples["c"]["jets"] == len(load_jets([unseen], variables="jet10"))
    assert samples["c"]["held_out"] == "all jets (a file the model was not trained on)"
    # a Dask task per file holds out the same jets (the training files' layout travels with the task)
    code, spread, _ = run_cli(
        capsys, "evaluate", "--model", model.path, "--data", first, second, unseen, "--workers", "1", "--json"
    )
    assert code == 0 and json.loads(spread) == json.loads(out)
