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


def test_relative_emd_loss_is_the_emd_over_the_true_total():
    """One unit of energy moved by one tower in an image of total 4: the EMD (sliced, times TOWER_SIZE / EMD_R per
    tower) is the same in both losses, and the relative one divides it by 4; a missing 1 of 4 costs 1 and 1/4."""
    import tensorflow as tf

    from trigcomp.images import EMD_R
    from trigcomp.records import TOWER_SIZE
    from trigcomp.tower_autoencoder import emd_loss, sliced_emd

    true, moved, missing = np.zeros((3, 1, 64))
    true[0, 27], moved[0, 27], moved[0, 35], missing[0, 27] = 4.0, 3.0, 1.0, 3.0
    transport = float(sliced_emd(tf.constant(true / 4), tf.constant(moved / 4), SIDE)[0]) * 4 * TOWER_SIZE / EMD_R
    for decoded, expected in ((moved, transport), (missing, 1.0)):
        absolute = float(emd_loss(SIDE)(tf.constant(true), tf.constant(decoded))[0])
        relative = float(emd_loss(SIDE, relative=True)(tf.constant(true), tf.constant(decoded))[0])
        assert absolute == pytest.approx(expected, rel=1e-5)
        assert relative == pytest.approx(expected / 4, rel=1e-5)
    # an empty true image has no scale: it costs the energy created (3), not 3 / 0
    empty = float(emd_loss(SIDE, relative=True)(tf.constant(np.zeros((1, 64))), tf.constant(missing))[0])
    assert empty == pytest.approx(3.0, rel=1e-5)


def test_emd_loss_et_power_and_total_weight():
    """training.emd_et_power divides by the true total (4) to that power: 4^0.5 = 2, 4^0 = 1; training.
    emd_total_weight multiplies only the total ET missing (1 of 4), not the transport of an unchanged total."""
    import tensorflow as tf

    from trigcomp.tower_autoencoder import emd_loss

    true, moved, missing = np.zeros((3, 1, 64))
    true[0, 27], moved[0, 27], moved[0, 35], missing[0, 27] = 4.0, 3.0, 1.0, 3.0

    def value(decoded, **options):
        return float(emd_loss(SIDE, **options)(tf.constant(true), tf.constant(decoded))[0])

    transport = value(moved)
    for power, divisor in ((0.5, 2.0), (0.0, 1.0), (0.75, 4**0.75)):
        assert value(moved, relative=True, et_power=power) == pytest.approx(transport / divisor, rel=1e-5)
        assert value(missing, relative=True, et_power=power) == pytest.approx(1.0 / divisor, rel=1e-5)
    assert value(moved, total_weight=3.0) == pytest.approx(transport, rel=1e-5)
    assert value(missing, total_weight=3.0) == pytest.approx(3.0, rel=1e-5)
    assert value(missing, relative=True, et_power=0.5, total_weight=3.0) == pytest.approx(1.5, rel=1e-5)


def test_emd_loss_fields_are_written_only_when_set():
    """The two EMD-loss keys stay out of a config that leaves them at 1 (towers8-convmix keeps its hash: load_model
    recomputes it from the config as written) and are both written when either is set."""
    from trigcomp.model import load_model

    model = load_model(Path(__file__).parents[1] / "models" / "towers8-convmix")
    assert not {"emd_et_power", "emd_total_weight"} & set(model.config.to_dict()["training"])
    raw = tower_config("conv2d", "emd-relative")
    raw["training"] |= {"emd_et_power": 0.5}
    written = config_from_dict(raw).to_dict()
    assert written["training"]["emd_et_power"] == 0.5 and written["training"]["emd_total_weight"] == 1.0


def test_scaled_copies_are_harder_jets_quantized_like_l1_towers(images):
    """training.et_scale_max: the images, then each once more times a factor in [1, max], on the 0.5 GeV grid and
    saturating at 511.5 GeV; the same seed gives the same copies."""
    from trigcomp.tower_autoencoder import with_scaled_copies

    x = images.values[:300].astype(np.float64)
    out = with_scaled_copies(x, 64.0, seed=3)
    copies = out[len(x) :]
    assert out.shape == (600, 64) and np.array_equal(out[: len(x)], x)
    assert np.array_equal(copies % TOWER_LSB_GEV, np.zeros_like(copies)) and copies.max() == TOWER_ET_MAX_GEV
    unsaturated = (copies < TOWER_ET_MAX_GEV).all(axis=1)
    ratio = copies.sum(1)[unsaturated] / x.sum(1)[unsaturated]
    assert ratio.min() > 0.95 and ratio.max() < 64.0 and np.median(ratio) > 4.0
    assert np.array_equal(with_scaled_copies(x, 64.0, seed=3), out)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"encoder": {"kind": "conv3d"}}, "encoder.kind must be one of dense, conv2d"),
        ({"encoder": {"kind": "conv2d"}}, "encoder.conv_filters must be given"),
        ({"encoder": {"conv_filters": [4]}}, "encoder.conv_filters must be given"),
        ({"encoder": {"kind": "conv2d", "conv_filters": [4], "conv_strides": [1, 2]}}, "one stride per"),
        ({"training": {"loss": "emd-rel"}}, "training.loss must be one of .*emd-relative"),
        ({"training": {"et_scale_max": 0.5}}, "training.et_scale_max must be a finite number >= 1"),
        ({"training": {"et_scale_max": float("inf")}}, "training.et_scale_max must be a finite number >= 1"),
        ({"training": {"loss": "emd-relative", "emd_et_power": 1.5}}, r"training.emd_et_power must be in \[0, 1\]"),
        ({"training": {"loss": "emd-relative", "emd_et_power": -0.5}}, r"training.emd_et_power must be in \[0, 1\]"),
        ({"training": {"emd_et_power": 0.5}}, 'emd_et_power applies only to training.loss = "emd-relative"'),
        ({"training": {"emd_total_weight": 0.0}}, "training.emd_total_weight must be a finite number > 0"),
        ({"training": {"emd_total_weight": float("inf")}}, "training.emd_total_weight must be a finite number > 0"),
        ({"training": {"loss": "mse", "emd_total_weight": 2.0}}, "emd_total_weight applies only to training.loss"),
        (
            {"training": {"loss": "emd-relative", "emd_total_weight": 2.0, "exact_emd_epochs": 2}},
            "emd_total_weight weighs the sliced loss only",
        ),
        (
            {"training": {"loss": "emd-relative", "learning_rate_schedule": "cosine", "exact_emd_epochs": 2}},
            '"cosine" ends at 0',
        ),
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

    for kind, loss, message in (
        ("conv2d", "mse", "encoder.kind"),
        ("dense", "emd", "training.loss"),
        ("dense", "emd-relative", "training.loss"),
    ):
        raw = tower_config(kind, loss) | {"variables": "jet10"}
        with pytest.raises(UserError, match=message):
            train(config_from_dict(raw), jets)
    raw = tower_config("dense", "mse") | {"variables": "jet10"}
    raw["training"] |= {"et_scale_max": 2.0}
    with pytest.raises(UserError, match="training.et_scale_max needs tower-image variables"):
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


def test_exact_emd_gradient_on_a_hand_computed_image():
    """Original: 4 GeV at tower 27. Decoded: 2 at 27 and 1 at 35 (one eta row up): 1 GeV moved by one tower
    (TOWER_SIZE / EMD_R) plus 1 GeV missing. A GeV more at any tower k shrinks the missing energy by 1 and is moved
    to tower 27: slope = distance(k, 27) / R - 1."""
    from trigcomp.images import EMD_R, emd, emd_and_gradient, ground_distance
    from trigcomp.records import TOWER_SIZE

    original, decoded = np.zeros((2, 1, 64))
    original[0, 27], decoded[0, 27], decoded[0, 35] = 4.0, 2.0, 1.0
    distance, slope = emd_and_gradient(original, decoded)
    assert distance[0] == pytest.approx(TOWER_SIZE / EMD_R + 1.0, rel=1e-12)
    assert distance[0] == emd(original, decoded)[0]
    np.testing.assert_allclose(slope[0], ground_distance(SIDE)[27] / EMD_R - 1.0, atol=1e-12)


def test_exact_emd_gradient_is_the_finite_difference_of_the_emd(images):
    """On 30 image pairs with unequal totals (more and less than the original), each slope against a central
    difference of trigcomp.images.emd; an empty original costs every created GeV (slope 1)."""
    from trigcomp.images import emd, emd_and_gradient

    rng = np.random.default_rng(4)
    original = images.values[:30].astype(np.float64)
    decoded = rng.exponential(1.0, original.shape) * original.sum(1, keepdims=True) / 64
    decoded *= rng.choice([0.7, 1.4], (30, 1))
    distance, slope = emd_and_gradient(original, decoded)
    np.testing.assert_array_equal(distance, emd(original, decoded))
    step = 1e-6
    for n, k in zip(range(30), rng.integers(0, 64, 30)):
        up, down = decoded[n : n + 1].copy(), decoded[n : n + 1].copy()
        up[0, k] += step
        down[0, k] -= step
        difference = (emd(original[n : n + 1], up) - emd(original[n : n + 1], down))[0] / (2 * step)
        assert slope[n, k] == pytest.approx(difference, abs=1e-6)
    empty = emd_and_gradient(np.zeros((1, 64)), decoded[:1])
    assert empty[0][0] == pytest.approx(decoded[0].sum()) and (empty[1] == 1.0).all()


def test_exact_emd_loss_is_the_metric_and_its_gradient():
    """exact_emd_loss: the exact EMD of trigcomp.images (the relative one over the true total), and TensorFlow's
    gradient through it the dual slope (the hand-computed image above)."""
    import tensorflow as tf

    from trigcomp.images import EMD_R, ground_distance
    from trigcomp.records import TOWER_SIZE
    from trigcomp.tower_autoencoder import exact_emd_loss

    original, decoded = np.zeros((2, 1, 64), dtype=np.float32)
    original[0, 27], decoded[0, 27], decoded[0, 35] = 4.0, 2.0, 1.0
    expected_slope = ground_distance(SIDE)[27] / EMD_R - 1.0
    for relative, scale in ((False, 1.0), (True, 4.0)):
        y_pred = tf.Variable(decoded)
        with tf.GradientTape() as tape:
            value = exact_emd_loss(relative)(tf.constant(original), y_pred)
        assert float(value[0]) == pytest.approx((TOWER_SIZE / EMD_R + 1.0) / scale, rel=1e-6)
        np.testing.assert_allclose(tape.gradient(value, y_pred).numpy()[0], expected_slope / scale, atol=1e-6)


def test_exact_emd_epochs_lower_the_exact_emd(images):
    """Same config and seed, with and without 2 epochs on the exact EMD after the sliced ones: the sliced phase is
    the same, and the exact phase lowers the mean exact EMD of the decoded validation images. The key is left out of
    a config that does not use it (its hash is kept), and needs an EMD loss."""
    from trigcomp.images import emd
    from trigcomp.model import split_events, train

    raw = tower_config("conv2d", "emd-relative")
    sliced_only = train(config_from_dict(raw), images)
    raw["training"] |= {"exact_emd_epochs": 2}
    fine_tuned = train(config_from_dict(raw), images)
    assert "exact_emd_epochs" not in sliced_only.config.to_dict()["training"]
    assert fine_tuned.config.to_dict()["training"]["exact_emd_epochs"] == 2
    assert fine_tuned.info["training"]["exact_emd_epochs_run"] == 2
    assert fine_tuned.info["metrics"]["best_val_loss"] == sliced_only.info["metrics"]["best_val_loss"]
    _, validation, _ = split_events(images.event_index, raw["seed"], 0.2, 0.2)
    x = images.values[validation]
    before, after = (emd(x, model.reconstruct(x)).mean() for model in (sliced_only, fine_tuned))
    assert after < before
    raw["training"] |= {"loss": "mse"}
    with pytest.raises(UserError, match='exact_emd_epochs needs training.loss = "emd"'):
        config_from_dict(raw)
    raw["training"] |= {"loss": "emd", "exact_emd_epochs": -1}
    with pytest.raises(UserError, match="exact_emd_epochs must be >= 0"):
        config_from_dict(raw)
