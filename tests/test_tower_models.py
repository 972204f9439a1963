"""Tower-image autoencoders (#18): dense and Conv2D encoders on 8x8 L1 tower images, the sliced-EMD loss, and the
firmware verbs on a trained Conv2D encoder (hls io_stream, csim with image edge cases)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trigcomp.cli import main
from trigcomp.config import config_from_dict
from trigcomp.errors import UserError
from trigcomp.records import TOWER_ET_MAX_GEV, TOWER_LSB_GEV, JetTable, tower_variables

SIDE = 8


def tower_images(n: int, seed: int = 0) -> JetTable:
    """Jet-like 8x8 images: three Gaussian prongs around the centre, falling pt, quantized like L1 towers."""
    rng = np.random.default_rng(seed)
    pt = 20 * rng.pareto(2.5, n) + 25
    eta, phi = np.mgrid[0:SIDE, 0:SIDE]
    images = np.zeros((n, SIDE, SIDE))
    fractions = rng.dirichlet([3, 1, 0.5], n)
    for prong in range(3):
        centre = SIDE / 2 - 0.5 + rng.normal(0, 1.0 if prong else 0.3, (n, 2))
        width = rng.uniform(0.4, 1.2, n)[:, None, None]
        d2 = (eta[None] - centre[:, 0, None, None]) ** 2 + (phi[None] - centre[:, 1, None, None]) ** 2
        blob = np.exp(-d2 / (2 * width**2))
        images += (pt * fractions[:, prong])[:, None, None] * blob / blob.sum(axis=(1, 2), keepdims=True)
    towers = np.clip(np.floor(images / TOWER_LSB_GEV) * TOWER_LSB_GEV, 0, TOWER_ET_MAX_GEV).reshape(n, -1)
    return JetTable(tower_variables(SIDE), towers.astype(np.float32), np.arange(n), n, "synthetic")


def tower_config(kind: str, loss: str = "emd") -> dict:
    raw = {
        "name": f"towers-{kind}",
        "variables": "towers8",
        "seed": 2,
        "input": {"bits": 11, "integer": 9},  # the 10-bit L1 tower word (0 ... 511.5 GeV) plus the sign
        "encoder": {"hidden": [16], "weight_bits": 6, "bias_bits": 10, "bias_integer": 3},
        "latent": {"size": 6, "bits": 6, "integer": 2},
        "decoder": {"hidden": [32]},
        "training": {"epochs": 2, "batch_size": 256, "patience": 2, "loss": loss},
    }
    if kind == "conv2d":
        raw["encoder"] |= {"kind": "conv2d", "conv_filters": [3], "conv_kernel": 3, "conv_strides": [2]}
    return raw


@pytest.fixture(scope="module")
def images() -> JetTable:
    return tower_images(2500)


@pytest.fixture(scope="module")
def trained(images, tmp_path_factory):
    """A dense and a Conv2D tower model, trained briefly and saved."""
    from trigcomp.model import save_model, train

    root = tmp_path_factory.mktemp("towers")
    return {
        kind: save_model(train(config_from_dict(tower_config(kind)), images), root / kind)
        for kind in ("dense", "conv2d")
    }


def test_sliced_emd_on_hand_computed_images():
    """One unit of energy moved by one tower: the exact EMD is 1, its projection on a direction at angle a moves
    |cos a|, so the sliced EMD is the mean of |cos(k pi / 8)| over 8 directions; identical images give 0."""
    import tensorflow as tf

    from trigcomp.tower_autoencoder import SLICED_DIRECTIONS, sliced_emd

    a, b, c = np.zeros((3, 1, 64))
    a[0, 27], b[0, 35], c[0, 28] = 1.0, 1.0, 1.0  # b: one eta row up; c: one phi column over
    expected = np.abs(np.cos(np.pi * np.arange(SLICED_DIRECTIONS) / SLICED_DIRECTIONS)).mean()
    for other in (b, c):
        assert float(sliced_emd(tf.constant(a), tf.constant(other), SIDE)[0]) == pytest.approx(expected, rel=1e-12)
    assert float(sliced_emd(tf.constant(a), tf.constant(a), SIDE)[0]) == 0.0


def test_sliced_emd_is_a_lower_bound_that_tracks_the_exact_emd(images):
    """Against POT's exact EMD (Euclidean ground distance in tower units) on 200 random pairs of images."""
    import ot
    import tensorflow as tf

    from trigcomp.tower_autoencoder import sliced_emd

    x = images.values[:400].astype(np.float64)
    p, q = x[:200] / x[:200].sum(1, keepdims=True), x[200:] / x[200:].sum(1, keepdims=True)
    eta, phi = np.divmod(np.arange(64), SIDE)
    ground = np.hypot(eta[:, None] - eta, phi[:, None] - phi)
    exact = np.array([ot.emd2(pi, qi, ground) for pi, qi in zip(p, q)])
    sliced = sliced_emd(tf.constant(p), tf.constant(q), SIDE).numpy()
    assert (sliced <= exact + 1e-9).all()
    assert np.corrcoef(sliced, exact)[0, 1] > 0.95


def test_relative_emd_loss_counts_a_low_and_a_high_pt_image_alike():
    """The same shape error on an image and on the image x 100: the plain EMD loss grows 100-fold, the relative one
    (no floor) stays, and with a floor it is the plain loss over (true total + floor)."""
    import tensorflow as tf

    from trigcomp.tower_autoencoder import emd_loss

    true, pred = np.zeros((2, 2, 64))
    true[:, 27], pred[:, 27], pred[:, 35] = 10.0, 6.0, 5.0  # 4 units moved one eta row up, 1 unit created
    true[1], pred[1] = true[1] * 100, pred[1] * 100
    plain = emd_loss(SIDE)(tf.constant(true), tf.constant(pred)).numpy()
    relative = emd_loss(SIDE, relative_floor=0.0)(tf.constant(true), tf.constant(pred)).numpy()
    floored = emd_loss(SIDE, relative_floor=2.0)(tf.constant(true), tf.constant(pred)).numpy()
    assert plain[1] == pytest.approx(100 * plain[0], rel=1e-6)
    assert relative[1] == pytest.approx(relative[0], rel=1e-6)
    assert floored == pytest.approx(plain / np.array([12.0, 1002.0]), rel=1e-6)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"encoder": {"kind": "conv3d"}}, "encoder.kind must be one of dense, conv2d"),
        ({"encoder": {"kind": "conv2d"}}, "encoder.conv_filters must be given"),
        ({"encoder": {"conv_filters": [4]}}, "encoder.conv_filters must be given"),
        ({"encoder": {"kind": "conv2d", "conv_filters": [4], "conv_strides": [1, 2]}}, "one stride per"),
    ],
)
def test_bad_image_configs_are_refused(change, message):
    raw = tower_config("dense")
    for section, values in change.items():
        raw[section] = {k: v for k, v in raw[section].items() if not k.startswith("conv")} | values
    with pytest.raises(UserError, match=message):
        config_from_dict(raw)


def test_conv_and_emd_need_tower_variables(jets):
    from trigcomp.model import train

    cases = (("conv2d", "mse", "encoder.kind"), ("dense", "emd", "training.loss"), ("dense", "emd-relative", "emd-r"))
    for kind, loss, message in cases:
        raw = tower_config(kind, loss) | {"variables": "jet10"}
        with pytest.raises(UserError, match=message):
            train(config_from_dict(raw), jets)


def test_jet_model_configs_keep_their_hash():
    """The new encoder and training keys are left out of a config that does not use them (its hash is kept)."""
    from trigcomp.model import load_model

    model = load_model(
        Path(__file__).parents[1] / "models" / "jet10"
    )  # load_model recomputes the hash from the config as written
    assert "kind" not in model.config.to_dict()["encoder"]


@pytest.mark.parametrize("kind", ["dense", "conv2d"])
def test_firmware_encoder_is_the_training_graph_bit_for_bit(trained, images, kind):
    """The normalisation folded into the first QDense / QConv2D changes no latent word, and the saved model
    reloads to the same words; the decoded image is never negative and carries the total ET."""
    from tensorflow import keras

    from trigcomp.model import build_training_models, load_model

    model = load_model(trained[kind].path)
    autoencoder, _ = build_training_models(model.config, model.normalization)
    for layer in autoencoder.layers:
        if layer.name in model.weights:
            layer.set_weights(model.weights[layer.name])
    graph_latent = keras.Model(autoencoder.input, autoencoder.get_layer("latent").output)
    x = images.values[:1500]
    np.testing.assert_array_equal(model.encode(x), graph_latent.predict(x, verbose=0))
    np.testing.assert_array_equal(model.encode(x), trained[kind].encode(x))
    decoded = model.reconstruct(x)
    assert decoded.shape == x.shape and (decoded >= 0).all()
    assert np.corrcoef(np.log(decoded.sum(1)), np.log(x.sum(1)))[0, 1] > 0.5  # the latent carries the total ET


def test_conv_encoder_through_hls_stream_and_csim(capsys, trained, images, tmp_path):
    """The trained Conv2D encoder as an hls4ml io_stream project: csim equal to QKeras word for word on data and
    on the image edge cases (all zero, every tower saturated, each tower alone at the top, random)."""
    data = tmp_path / "images.npy"
    np.save(data, images.values)
    project = tmp_path / "hls"
    argv = ["hls", "--model", trained["conv2d"].path, "--board", "vu13p", "--io", "stream", "--data", data]
    assert main([str(a) for a in argv + ["--out", project, "--json"]]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["io"] == "stream" and manifest["inputs"]["size"] == 64
    argv = ["csim", project, "--data", data, "--jets", "3000", "--adversarial", "500", "--json"]
    assert main([str(a) for a in argv]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mismatches"] == 0 and result["adversarial_jets"] == 500
    assert result["saturated"]["input_jets"] > 0
    assert result["weights"]["passed"]


def test_adversarial_images_hold_each_tower_alone_at_the_top(images):
    from trigcomp.config import FixedPoint
    from trigcomp.stimulus import adversarial_jets

    word = FixedPoint(11, 9)
    edge = adversarial_jets(images.values, word, 500, np.random.default_rng(0))
    one_hot = edge[(edge != 0).sum(1) == 1]
    assert sorted(np.flatnonzero(row)[0] for row in one_hot if row.max() == word.max) == list(range(64))
    assert (edge == 0).all(1).any() and (edge == word.max).all(1).any()  # all zero; every tower saturated


@pytest.mark.slow
@pytest.mark.rtl
def test_conv_encoder_rtl_matches_qkeras(capsys, trained, images, tmp_path):
    """da4ml's Verilog of the trained Conv2D encoder (the convolution as its constant matrix) equals QKeras in
    Verilator, image for image."""
    import shutil

    if shutil.which("verilator") is None:
        pytest.skip("verilator not on PATH: apt-get install verilator")
    data = tmp_path / "images.npy"
    np.save(data, images.values)
    argv = ["rtl", "--model", trained["conv2d"].path, "--out", tmp_path / "rtl", "--data", data]
    assert main([str(a) for a in argv + ["--jets", "500", "--no-synth", "--json"]]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mismatches"] == 0 and result["qkeras_mismatches"] == 0
