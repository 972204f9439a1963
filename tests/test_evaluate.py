"""trigcomp.evaluate: residual definitions, robust resolution, and an honest comparison at equal bits."""

import json

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
    best = payload["best_baseline_at_budget"]
    assert best["budget"] == 24 and payload["autoencoder_wins"] == (payload["total_nmse"] < best["total_nmse"])
    write_report(evaluation, tiny_model, jets, tmp_path)
    for name in ("evaluation.md", "evaluation.json", "residuals.png", "rate_distortion.png", "response_vs_pt.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "evaluation.json").read_text())["total_nmse"] == payload["total_nmse"]
    assert "| pt | relative |" in render_markdown(evaluation)
