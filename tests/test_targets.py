"""trigcomp.targets: target files, residual kinds, and the per-variable, per-pt-bin check against them."""

import math

import numpy as np
import pytest

from trigcomp.errors import UserError
from trigcomp.targets import (
    DEFAULT_PT_BINS,
    check_targets,
    load_targets,
    target_presets,
    variable_worst_ratio,
)


def test_l1_jets_preset_has_the_issue_targets():
    targets = load_targets("l1-jets")
    got = {v: (t.sigma, t.bias, t.kind) for v, t in targets.variables.items()}
    assert got["pt"] == (0.05, 0.01, "relative")
    assert got["eta"] == (0.02, 0.005, "absolute")
    assert got["phi"] == (0.02, 0.005, "wrapped")
    assert got["mass"] == (0.05, 0.01, "relative")
    assert got["nConstituents"] == (1.0, None, "integer")
    assert {got[f][0] for f in ("chHEF", "neHEF", "chEmEF", "neEmEF", "muEF")} == {0.02}
    assert targets.pt_bins == DEFAULT_PT_BINS and targets.min_bin_jets == 100
    assert "l1-jets" in target_presets() and "l1-kinematics" in target_presets()


@pytest.mark.parametrize(
    "text, message",
    [
        ("[variables.pt]\nbias = 0.1\n", "needs sigma"),
        ("[variables.pt]\nsigma = -1\n", "positive"),
        ("[variables.pt]\nsigma = 0.1\nwidth = 2\n", "unknown key 'width'"),
        ("pt_bins = [30, 20]\n[variables.pt]\nsigma = 0.1\n", "must increase"),
        ("colour = 1\n", "unknown key 'colour'"),
        ("[variables\n", "malformed TOML"),
        ("name = 'x'\n", "needs at least one"),
    ],
)
def test_bad_target_files_are_one_line_user_errors(tmp_path, text, message):
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as err:
        load_targets(path)
    assert "\n" not in str(err.value)


def test_unknown_preset_and_missing_file():
    with pytest.raises(UserError, match="unknown targets preset 'l1-jet'.*l1-jets"):
        load_targets("l1-jet")
    with pytest.raises(UserError, match="not found"):
        load_targets("nope/targets.toml")


def _jets(n, rng):
    pt = np.exp(rng.uniform(np.log(20), np.log(1000), n))
    eta = rng.uniform(-2.5, 2.5, n)
    return pt, eta


def test_sigma_and_median_bias_per_pt_bin_with_the_failing_bin_named():
    rng = np.random.default_rng(1)
    pt, eta = _jets(200_000, rng)
    # pt smeared 2 % everywhere, but 8 % above 500 GeV: only that bin (and not "all") fails the 5 % target
    smear = np.where(pt >= 500, 0.08, 0.02)
    reco_pt = pt * (1 + rng.normal(0, smear))
    truth = np.column_stack([pt, eta])
    reco = np.column_stack([reco_pt, eta + 0.003])  # eta: a pure shift of 0.003 — within the 0.005 bias target
    report = check_targets(load_targets("l1-jets"), ["pt", "eta"], truth, reco, sample="toy")
    failing = {(c.variable, c.scope) for c in report.failures()}
    assert failing == {("pt", "pt 500-inf")}
    assert not report.meets_targets
    pt_bin = next(c for c in report.checks if c.scope == "pt 500-inf")
    assert pt_bin.sigma == pytest.approx(0.08, rel=0.05) and pt_bin.worst_ratio == pytest.approx(1.6, rel=0.05)
    eta_all = next(c for c in report.checks if c.variable == "eta" and c.scope == "all")
    assert eta_all.bias == pytest.approx(0.003, abs=1e-9) and eta_all.worst_ratio == pytest.approx(0.6, rel=1e-6)
    payload = report.to_json()
    assert payload["variables"]["pt"]["pass"] is False and payload["variables"]["eta"]["pass"] is True
    assert payload["unchecked"] == ["phi", "mass", "chHEF", "neHEF", "chEmEF", "neEmEF", "muEF", "nConstituents"]
    assert [b["pt_low"] for b in payload["variables"]["pt"]["pt_bins"]] == [20, 30, 50, 100, 200, 500]
    assert payload["variables"]["pt"]["pt_bins"][-1]["pt_high"] is None


def test_bias_alone_fails_a_target():
    rng = np.random.default_rng(2)
    pt, _ = _jets(50_000, rng)
    reco = pt * 1.02  # no spread, a 2 % scale: bias target 1 % fails, sigma passes
    target = load_targets("l1-jets").variables["pt"]
    assert variable_worst_ratio(target, pt, reco, pt) == pytest.approx(2.0, rel=1e-6)


def test_small_pt_bins_are_not_checked_and_phi_wraps():
    pt = np.r_[np.full(500, 25.0), np.full(99, 700.0)]  # the 500-inf bin has 99 jets: below the 100-jet minimum
    phi = np.full(pt.size, math.pi - 0.001)
    reco_phi = phi + 0.01 - 2 * math.pi  # 0.01 across the wrap: a small residual, not 2π
    report = check_targets(load_targets("l1-jets"), ["pt", "phi"], np.column_stack([pt, phi]),
                           np.column_stack([pt, reco_phi]))
    assert {c.scope for c in report.checks} == {"all", "pt 20-30"}
    phi_all = next(c for c in report.checks if c.variable == "phi" and c.scope == "all")
    assert phi_all.bias == pytest.approx(0.01, abs=1e-9)


def test_integer_and_relative_mass_residuals():
    targets = load_targets("l1-jets")
    n = np.array([10.0, 11.0, 12.0, 13.0] * 100)
    assert variable_worst_ratio(targets.variables["nConstituents"], n, n + 0.4, None) == 0.0  # rounds back
    spread = np.tile([-3.0, 3.0], n.size // 2)  # ±3 units: σ = 3 against a target of 1 (no bias target for counts)
    assert variable_worst_ratio(targets.variables["nConstituents"], n, n + spread, None) == pytest.approx(3.0)
    mass = np.array([0.5, 10.0] * 200)  # masses below 1 GeV are not judged relatively
    reco = np.where(mass < 1, mass * 3, mass)
    assert variable_worst_ratio(targets.variables["mass"], mass, reco, None) == 0.0
