"""trigcomp.model: folding the normalisation is exact, training is reproducible, the model dir describes itself."""

import json

import numpy as np
import pytest

from trigcomp.errors import UserError
from trigcomp.model import (
    build_training_models,
    fit_normalization,
    load_model,
    save_model,
    split_events,
    train,
)
from trigcomp.records import JET4, JetTable

from .conftest import synthetic_jets


def _training_graph_latent(model, x):
    """The latent as the training graph computes it (explicit normalisation, unfolded first layer)."""
    from tensorflow import keras

    autoencoder, _ = build_training_models(model.config, model.normalization)
    for layer in autoencoder.layers:
        if layer.name in model.weights:
            layer.set_weights(model.weights[layer.name])
    encoder = keras.Model(autoencoder.input, autoencoder.get_layer("latent").output)
    return encoder.predict(x.astype(np.float32), verbose=0)


def test_folded_encoder_equals_training_graph(tiny_model, jets):
    x = jets.values[:3000]
    assert np.array_equal(tiny_model.encode(x), _training_graph_latent(tiny_model, x))


def test_firmware_encoder_has_only_convertible_layers(tiny_model):
    kinds = [type(layer).__name__ for layer in tiny_model.firmware_encoder().layers]
    assert kinds == ["InputLayer", "QActivation", "QDense", "QActivation", "QDense", "QActivation"]


def test_normalisation_is_a_power_of_two_affine_map(jets):
    norm = fit_normalization(jets.values.astype(np.float64), jets.variables)
    assert np.array_equal(np.log2(norm.input_scale), np.round(np.log2(norm.input_scale)))
    grid = norm.input_offset * norm.input_scale * 16
    assert np.array_equal(grid, np.round(grid))
    assert norm.transforms[jets.variables.index("pt")] == "log"
    roundtrip = norm.from_targets(norm.to_targets(jets.values.astype(np.float64)))
    assert np.allclose(roundtrip, jets.values, rtol=1e-5, atol=1e-5)


def test_same_config_and_seed_give_the_same_weights(tiny_model, tiny_config, jets):
    again = train(tiny_config, jets)
    assert again.hash == tiny_model.hash


def test_event_wise_split_is_disjoint_and_reproducible():
    events = np.repeat(np.arange(5000), 3)
    train_mask, val_mask, test_mask = split_events(events, 7, 0.2, 0.2)
    assert not (train_mask & val_mask).any() and not (train_mask & test_mask).any()
    assert (train_mask | val_mask | test_mask).all()
    assert 0.17 < test_mask.mean() < 0.23
    for mask in (train_mask, val_mask, test_mask):  # all jets of an event on one side
        assert np.all(mask.reshape(-1, 3).all(axis=1) | ~mask.reshape(-1, 3).any(axis=1))
    assert all(
        np.array_equal(a, b) for a, b in zip(split_events(events, 7, 0.2, 0.2), (train_mask, val_mask, test_mask))
    )


def test_too_few_jets_are_refused(tiny_config):
    few = synthetic_jets(n_events=300)
    with pytest.raises(UserError, match="at least 1000 are needed"):
        train(tiny_config, few)


def test_variable_mismatch_is_refused(tiny_config, jets):
    jet4 = JetTable(JET4, jets.values[:, :4], jets.event_index, jets.n_events, "synthetic")
    with pytest.raises(UserError, match="the model expects variables pt, eta, phi, mass, chHEF"):
        train(tiny_config, jet4)


def test_model_dir_roundtrip_and_refusals(tiny_model, tmp_path):
    loaded = load_model(tiny_model.path)
    assert loaded.hash == tiny_model.hash
    info = json.loads((tiny_model.path / "model.json").read_text())
    assert {"config", "normalization", "training", "versions", "metrics", "hash"} <= set(info)
    assert info["training"]["data_hash"] and info["versions"]["QKeras"] == "0.9.0"
    x = np.zeros((1, 10), dtype=np.float32)
    assert np.array_equal(loaded.encode(x), tiny_model.encode(x))

    with pytest.raises(UserError, match="already exists; pass --force"):
        save_model(tiny_model, tiny_model.path)
    with pytest.raises(UserError, match="not a trigcomp model directory"):
        load_model(tmp_path)

    tampered = tmp_path / "tampered"
    save_model(loaded, tampered)
    weights = json.loads((tampered / "weights.json").read_text())
    weights["enc_latent"][1][0] += 0.5
    (tampered / "weights.json").write_text(json.dumps(weights))
    with pytest.raises(UserError, match="model hash mismatch"):
        load_model(tampered)


def test_every_latent_dimension_uses_several_levels(tiny_config, jets):
    """The pre-latent clip keeps the straight-through gradient alive. Without it, a narrow latent (6 bits, |z| < 1)
    collapses onto its saturation levels within 10 epochs: 8-11 effective levels per dimension against 28-43."""
    from dataclasses import replace

    from trigcomp.model import train

    config = replace(
        tiny_config,
        latent=replace(tiny_config.latent, integer=0),
        training=replace(tiny_config.training, epochs=10),
    )
    model = train(config, jets)
    latent = model.encode(jets.values) / model.latent_lsb
    for dimension in latent.T:
        _, counts = np.unique(dimension, return_counts=True)
        p = counts / counts.sum()
        effective_levels = np.exp(-(p * np.log(p)).sum())  # 2**entropy in bits: how many levels are really used
        assert effective_levels >= 16, effective_levels
