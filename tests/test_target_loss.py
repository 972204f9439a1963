"""The target-weighted training loss ([training] loss = "targets" / "targets-log"): weights, value, effect, config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trigcomp.config import config_from_dict
from trigcomp.errors import UserError
from trigcomp.model import fit_normalization, load_model, target_loss, target_loss_weights, train
from trigcomp.records import JET10
from trigcomp.targets import load_targets, residuals

from .conftest import TINY_CONFIG, synthetic_jets

REPO = Path(__file__).parents[1]


def _config(**training):
    return config_from_dict(TINY_CONFIG | {"training": TINY_CONFIG["training"] | training})


@pytest.fixture(scope="module")
def norm(jets):
    return fit_normalization(jets.values.astype(np.float64), JET10)


def test_weights_turn_residuals_into_target_units(norm):
    # pt, eta, phi, mass, chHEF, neHEF, chEmEF, neEmEF, muEF, nConstituents
    x = np.array([[50.0, 1.0, 3.0, 0.5, 0.6, 0.1, 0.1, 0.2, 0.0, 12.0], [800.0, -2.0, -1.0, 40.0, 0, 0, 0, 1, 0, 3]])
    w = target_loss_weights(norm, load_targets("l1-jets"), x)
    # l1-jets: pt 5 % relative on log pt; eta, phi, fractions 0.02 absolute on identity transforms; mass 5 %
    # relative on log(1 + m), relative only above 1 GeV; nConstituents 1 count on log(1 + n)
    expected_row = [1 / 0.05, 1 / 0.02, 1 / 0.02, None, *[1 / 0.02] * 5, None]
    for row, mass, count in ((0, 1.5 / 1.0, 13.0), (1, 41.0 / 40.0, 4.0)):
        expected = [mass / 0.05 if j == 3 else count if j == 9 else v for j, v in enumerate(expected_row)]
        np.testing.assert_allclose(w[row], expected, rtol=1e-6)


def test_weights_reproduce_the_target_residual_to_first_order(norm):
    rng = np.random.default_rng(1)
    x = synthetic_jets(200, seed=4).values.astype(np.float64)
    step = rng.normal(0, 1e-4, x.shape)  # a small change of the decoder output, in standardised units
    reco = norm.from_targets(norm.to_targets(x) + step)
    w = target_loss_weights(norm, load_targets("l1-jets"), x)
    targets = load_targets("l1-jets")
    for j, name in enumerate(JET10):
        if name == "nConstituents":  # whole counts: rounding hides a 1e-4 change
            continue
        keep = x[:, j] > 1.0 if name == "mass" else np.ones(len(x), dtype=bool)
        if name.endswith("EF"):  # the decoder side clips fractions to [0, 1]: no first-order change there
            keep &= (reco[:, j] > 0) & (reco[:, j] < 1)
        physical = residuals(name, x[keep, j], reco[keep, j]) / targets.variables[name].sigma
        np.testing.assert_allclose(physical, (step[:, j] * norm.target_std[j] * w[:, j])[keep], rtol=2e-3, atol=1e-9)


@pytest.mark.parametrize("robust", [False, True])
def test_loss_value_is_the_hand_computed_formula(norm, robust):
    x = synthetic_jets(50, seed=2).values.astype(np.float64)[:64]
    x[0, 2], x[1, 2] = 3.1, -3.1
    t = norm.to_targets(x)
    prediction = t + np.random.default_rng(3).normal(0, 0.05, t.shape)
    # phi of jet 0 comes back as -3.1: 0.083 rad away across the wrap, not 6.2
    prediction[0, 2] = (-3.1 - norm.target_mean[2]) / norm.target_std[2]
    w = target_loss_weights(norm, load_targets("l1-jets"), x)
    difference = (prediction - t) * norm.target_std
    difference[:, 2] = np.angle(np.exp(1j * difference[:, 2]))
    r_squared = (difference * w) ** 2
    expected = (np.log1p(r_squared) if robust else r_squared).mean(axis=1)
    loss = target_loss(norm, robust)(np.hstack([t, w]).astype(np.float32), prediction.astype(np.float32))
    np.testing.assert_allclose(np.asarray(loss), expected, rtol=1e-4)
    assert abs(difference[0, 2] * w[0, 2]) == pytest.approx((2 * np.pi - 6.2) / 0.02, rel=1e-3)  # 4 targets


def test_target_loss_spends_capacity_on_the_tight_targets(jets):
    """eta (uniform, correlated with nothing) has the tightest l1-jets target relative to its spread: the weighted
    loss reconstructs it better than the plain MSE, which spends the latent on the correlated variables."""
    x = synthetic_jets(1000, seed=9).values.astype(np.float64)
    targets = load_targets("l1-jets")
    sigma = {}
    for loss in ("mse", "targets"):
        model = train(_config(loss=loss, epochs=6), jets)
        reco = model.reconstruct(x)
        sigma[loss] = {name: np.subtract(*np.percentile(residuals(name, x[:, j], reco[:, j]), [84, 16])) / 2
                       for j, name in enumerate(JET10)}
        if loss == "targets":
            assert model.info["training"]["loss"] == "targets"
            assert model.info["training"]["targets"]["variables"]["eta"]["sigma"] == targets.variables["eta"].sigma
    assert sigma["targets"]["eta"] < 0.5 * sigma["mse"]["eta"]


def test_default_loss_keeps_the_config_and_reference_model_hashes():
    assert "loss" not in _config().to_dict()["training"] and "targets" not in _config().to_dict()["training"]
    written = _config(loss="targets-log", targets="l1-kinematics").to_dict()["training"]
    assert (written["loss"], written["targets"]) == ("targets-log", "l1-kinematics")
    assert load_model(REPO / "models" / "jet10").config.training.loss == "mse"  # hash check inside load_model


@pytest.mark.parametrize(
    "training, message",
    [({"loss": "mae"}, "training.loss must be one of mse, targets, targets-log"), ({"targets": ""}, "training.targets")],
)
def test_bad_loss_options_are_refused(training, message):
    with pytest.raises(UserError, match=message):
        _config(**training)


def test_unknown_targets_are_refused_before_training(jets):
    with pytest.raises(UserError, match="unknown targets preset 'l2-jets'"):
        train(_config(loss="targets", targets="l2-jets"), jets)
