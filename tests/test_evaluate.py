"""trigcomp.evaluate: residual definitions, robust resolution, and an honest comparison at equal bits."""

import json
import math

import numpy as np
import pytest

from trigcomp.evaluate import evaluate, render_markdown, residual_kind, residuals, resolution, write_report


def test_residual_kinds():
    kinds = {name: residual_kind(name) for name in ("pt", "mass", "eta", "phi", "neHEF", "nConstituents")}
    assert kinds == {
        "pt": "relative",
        "mass": "relative",
        "eta": "absolute",
        "phi": "wrapped",
        "neHEF": "absolute",
        "nConstituents": "integer",
    }


def test_phi_residual_wraps_and_counts_are_integers():
    assert residuals("phi", np.array([3.1]), np.array([-3.1])) == pytest.approx([2 * np.pi - 6.2])
    assert residuals("nConstituents", np.array([10.0]), np.array([12.4])).tolist() == [2.0]
    assert residuals("pt", np.array([100.0]), np.array([110.0])) == pytest.approx([0.1])


def test_sigma_is_the_68_percent_half_width():
    values = np.random.default_rng(0).normal(0.5, 2.0, 200_000)
    r = resolution(values)
    assert r["sigma"] == pytest.approx(2.0, rel=0.02) and r["bias"] == pytest.approx(0.5, abs=0.02)
    tails = np.concatenate([values, np.full(2000, 1e4)])  # 1 % outliers move the RMS, not sigma
    assert resolution(tails)["sigma"] == pytest.approx(2.0, rel=0.05) and resolution(tails)["rms"] > 100


def test_evaluation_report(tiny_model, jets, tmp_path):
    evaluation = evaluate(tiny_model, jets, budgets=(24, 48))
    payload = evaluation.to_json()
    assert payload["bits_per_jet"] == 24
    assert payload["held_out"].startswith("test split")
    assert set(payload["variables"]["pt"]) >= {"bias", "sigma", "rms"}
    codecs = {(p["codec"], p["budget"]) for p in payload["baselines"]}
    assert codecs == {(c, b) for c in ("fixed_point", "float_mantissa") for b in (24, 48)}
    assert payload["best_baseline_at_budget"]["budget"] == 24
    write_report(evaluation, tmp_path)
    for name in ("evaluation.md", "evaluation.json", "residuals.png", "rate_distortion.png", "response_vs_pt.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "evaluation.json").read_text())["total_nmse"] == payload["total_nmse"]
    assert "| pt | relative |" in render_markdown(evaluation)


def test_evaluation_numbers_match_a_hand_computation(tiny_model, jets):
    """On 20 jets the model was not trained on, NMSE per variable and in total, pt's relative bias, median and RMS
    and the verdict against the baselines are recomputed here with plain Python loops from the model's round trip."""
    n = 20
    few = jets.take(np.arange(n))
    payload = evaluate(tiny_model, few, baseline_train=jets.values, budgets=(24,)).to_json()
    assert payload["jets"] == n and payload["held_out"].startswith("all jets")
    truth = few.values.astype(np.float64)
    reco = tiny_model.decode(tiny_model.encode(truth))
    total = 0.0
    for j, name in enumerate(tiny_model.variables):
        column = [float(v) for v in truth[:, j]]
        mean = sum(column) / n
        variance = sum((v - mean) ** 2 for v in column) / n
        mse = sum((float(r) - v) ** 2 for r, v in zip(reco[:, j], column)) / n
        nmse = mse / variance if variance else (0.0 if mse == 0 else math.inf)
        assert payload["variables"][name]["nmse"] == pytest.approx(nmse, rel=1e-9), name
        total += nmse
    assert payload["total_nmse"] == pytest.approx(total, rel=1e-9)
    pt = tiny_model.variables.index("pt")
    relative = sorted((float(reco[i, pt]) - float(truth[i, pt])) / float(truth[i, pt]) for i in range(n))
    stats = payload["variables"]["pt"]
    assert stats["bias"] == pytest.approx(sum(relative) / n, rel=1e-9)
    assert stats["median"] == pytest.approx((relative[n // 2 - 1] + relative[n // 2]) / 2, rel=1e-9)
    assert stats["rms"] == pytest.approx(math.sqrt(sum(r * r for r in relative) / n), rel=1e-9)
    best = min(p["total_nmse"] for p in payload["baselines"] if p["budget"] == 24 and p["possible"])
    assert payload["autoencoder_wins"] == (total < best)
