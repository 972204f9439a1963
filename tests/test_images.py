"""trigcomp.images and trigcomp.codecs.images: the EMD against hand-computed cases, physics from images, and the
equal-bit image baselines (bits counted, codes in range, saturation counted, JSON round trip)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trigcomp.codecs.images import (
    IMAGE_CODECS,
    CoarseGridCodec,
    EtScale,
    TowerFixedPointCodec,
    ZeroSuppressionCodec,
    fit_image_codecs,
)
from trigcomp.errors import UserError
from trigcomp.generate import quantize_towers
from trigcomp.images import EMD_R, emd, image_physics, tower_centres

STEP = 0.087  # one tower


def image(grid: int = 8, **towers: float) -> np.ndarray:
    """An image with the given towers set, named t<i_eta>_<i_phi>."""
    values = np.zeros(grid * grid)
    for name, et in towers.items():
        i_eta, i_phi = (int(part) for part in name[1:].split("_"))
        values[i_eta * grid + i_phi] = et
    return values


def one(original: np.ndarray, decoded: np.ndarray) -> float:
    return float(emd(original[None], decoded[None])[0])


def test_identical_images_are_at_zero_distance():
    a = image(t3_3=10.0, t4_5=2.5, t0_7=1.0)
    assert one(a, a) == 0.0
    assert one(np.zeros(64), np.zeros(64)) == 0.0


def test_one_tower_moved_by_one_cell():
    # 10 GeV moved by one tower in phi, then diagonally: cost E * dR / R
    assert one(image(t3_3=10.0), image(t3_4=10.0)) == pytest.approx(10.0 * STEP / EMD_R)
    assert one(image(t3_3=10.0), image(t4_4=10.0)) == pytest.approx(10.0 * STEP * math.sqrt(2) / EMD_R)


def test_split_tower():
    # half of the energy stays, half moves one tower in eta
    assert one(image(t3_3=10.0), image(t3_3=5.0, t4_3=5.0)) == pytest.approx(5.0 * STEP / EMD_R)


def test_unequal_totals_cost_the_difference():
    assert one(image(t3_3=10.0), image(t3_3=12.0)) == pytest.approx(2.0)
    assert one(image(t3_3=12.0), image(t3_3=10.0)) == pytest.approx(2.0)
    assert one(image(t3_3=10.0), np.zeros(64)) == pytest.approx(10.0)
    # 10 GeV one tower away plus 4 GeV created: the 10 GeV move (the 4 extra are not moved anywhere)
    assert one(image(t3_3=10.0), image(t3_4=10.0, t7_7=4.0)) == pytest.approx(10.0 * STEP / EMD_R + 4.0)
    # equal totals: all the energy is transported, however far (5 GeV across the diagonal: 0.86 > R)
    far = one(image(t0_0=5.0, t3_3=10.0), image(t3_3=10.0, t7_7=5.0))
    assert far == pytest.approx(5.0 * 7 * math.sqrt(2) * STEP / EMD_R)
    # 1 GeV less on the decoded side: that GeV is left where it is costliest to move, the rest moves
    assert one(image(t0_0=5.0, t3_3=10.0), image(t3_3=10.0, t7_7=4.0)) == pytest.approx(
        4.0 * 7 * math.sqrt(2) * STEP / EMD_R + 1.0
    )


def test_negative_decoded_towers_count_as_zero_and_bad_images_are_user_errors():
    assert one(image(t3_3=10.0), image(t3_3=10.0, t5_5=-3.0)) == 0.0
    with pytest.raises(UserError, match="shape"):
        emd(np.zeros((2, 64)), np.zeros((2, 16)))
    with pytest.raises(UserError, match="non-negative"):
        emd(-np.ones((1, 64)), np.zeros((1, 64)))
    with pytest.raises(UserError, match=r"\(images, N\*N\)"):
        emd(np.zeros((1, 63)), np.zeros((1, 63)))


def test_emd_is_symmetric_and_obeys_the_triangle_inequality_on_random_images():
    rng = np.random.default_rng(3)
    a, b, c = (quantize_towers(rng.exponential(4.0, (50, 64)) * (rng.random((50, 64)) < 0.2)) for _ in range(3))
    ab, ba = emd(a, b), emd(b, a)
    np.testing.assert_allclose(ab, ba, rtol=1e-9, atol=1e-9)
    # R = 0.4 is a little under half the largest distance (0.86), so check moderate images only: all hold here
    assert np.all(ab <= emd(a, c) + emd(c, b) + 1e-9)


def test_physics_of_hand_made_images():
    centres = tower_centres(8)
    np.testing.assert_allclose(centres[0], [-3.5 * STEP, -3.5 * STEP])
    one_tower = image(t4_4=20.0)  # one massless tower at (0.5, 0.5) towers from the axis
    physics = image_physics(one_tower[None])
    assert physics["et"][0] == pytest.approx(20.0) and physics["pt"][0] == pytest.approx(20.0)
    assert physics["mass"][0] == pytest.approx(0.0, abs=1e-6)
    assert physics["width"][0] == pytest.approx(STEP * math.sqrt(0.5))
    # two equal massless towers Delta eta apart: m^2 = 2 E1 E2 (cosh d_eta - 1), pt from the vector sum
    pair = image(t3_4=10.0, t5_4=10.0)
    physics = image_physics(pair[None])
    assert physics["mass"][0] == pytest.approx(math.sqrt(2 * 100.0 * (math.cosh(2 * STEP) - 1)))
    assert physics["pt"][0] == pytest.approx(20.0)
    # and Delta phi apart (phi offsets -0.5 and 1.5 towers): m^2 = 2 ET1 ET2 (1 - cos d_phi), pt = 2 ET cos(d_phi / 2)
    physics = image_physics(image(t4_3=10.0, t4_5=10.0)[None])
    assert physics["mass"][0] == pytest.approx(math.sqrt(2 * 100.0 * (1 - math.cos(2 * STEP))))
    assert physics["pt"][0] == pytest.approx(2 * 10.0 * math.cos(STEP))
    assert physics["width"][0] == pytest.approx(STEP * (math.hypot(0.5, 0.5) + math.hypot(0.5, 1.5)) / 2)


def test_et_scale_codes_and_decoder_table():
    values = np.array([0.0, 0.4, 0.5, 3.0, 20.0, 511.5, 600.0])
    scale = EtScale.fit(values, 2, "log", 0.5, 511.5)
    codes, saturated = scale.encode(values)
    np.testing.assert_array_equal(codes, [0, 0, 1, 1, 2, 3, 3])  # edges 0.5, 5.04, 50.8, 511.5
    np.testing.assert_array_equal(saturated, [False] * 6 + [True])
    # decoded: the mean training value of each bin; below low: 0
    np.testing.assert_allclose(scale.decode(codes), [0, 0, 1.75, 1.75, 20.0, 555.75, 555.75])


def random_images(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    core = np.exp(-((tower_centres(8) ** 2).sum(axis=1)) / 0.02)  # energy concentrated near the axis
    return quantize_towers(rng.exponential(20.0, (n, 64)) * core * (rng.random((n, 64)) < 0.6))


@pytest.fixture(scope="module")
def fitted():
    train = random_images(600, seed=1)
    return fit_image_codecs(train, 8, (32, 48, 64), emd)


def test_fitted_baselines_fit_their_budgets_and_round_trip(fitted):
    test = random_images(200, seed=2)
    test[0, 27] = 5000.0  # beyond every ET scale: saturated and counted
    for kind, codecs in fitted.items():
        assert set(fitted) == set(IMAGE_CODECS)
        for budget, codec in zip((32, 48, 64), codecs):
            assert codec.bits_per_jet == sum(codec.field_bits) <= budget, (kind, budget)
            codes, saturated = codec.encode(test)
            assert codes.dtype == np.int64 and codes.shape == (len(test), len(codec.field_bits))
            assert np.all(codes >= 0) and np.all(codes < (1 << np.array(codec.field_bits)))
            assert saturated.sum() >= 1, kind
            rebuilt = type(codec).from_json(codec.to_json())
            np.testing.assert_array_equal(rebuilt.decode(rebuilt.encode(test).codes), codec.decode(codes))
    # more bits never make the best baseline worse on held-out images
    means = {
        kind: [emd(test, c.decode(c.encode(test).codes)).mean() for c in codecs] for kind, codecs in fitted.items()
    }
    assert all(m[0] >= m[2] for m in means.values()), means


def test_zero_suppression_sends_the_highest_towers():
    scale = EtScale(10, "linear", 0.5, 511.5, tuple(np.linspace(0.5, 511.5, 1024)[:-1] + 0.25))
    codec = ZeroSuppressionCodec(grid=8, scale=scale, slots=2)
    images = np.stack([image(t1_1=3.0, t2_2=9.0, t6_6=5.0), image(t7_7=4.0)])
    codes = codec.encode(images).codes
    assert codec.field_bits == (6, 10, 6, 10)
    np.testing.assert_array_equal(codes[:, [0, 2]], [[2 * 8 + 2, 6 * 8 + 6], [7 * 8 + 7, 0]])
    assert codes[1, 3] == 0  # the empty second slot
    decoded = codec.decode(codes)
    assert decoded[0, 2 * 8 + 2] == pytest.approx(9.0, abs=0.5) and decoded[0, 1 * 8 + 1] == 0.0
    assert np.count_nonzero(decoded[1]) == 1


def test_window_and_coarse_grid_layouts():
    scale = EtScale(4, "linear", 0.5, 30.0, tuple(np.linspace(0.5, 30.0, 16)[:-1] + 1.0))
    window = TowerFixedPointCodec(grid=8, scale=scale, window=2)
    np.testing.assert_array_equal(window.towers, [27, 28, 35, 36])  # the central 2 x 2
    assert window.bits_per_jet == 16
    coarse = CoarseGridCodec(grid=8, scale=EtScale(3, "linear", 0.5, 40.0, (1.0, 6.0, 12.0, 18.0, 24.0, 30.0, 36.0)))
    assert coarse.bits_per_jet == 16 * 3
    decoded = coarse.decode(coarse.encode(image(t0_0=10.0, t1_1=2.0)[None]).codes)[0]
    # 12 GeV in the first 2 x 2 block -> the third bin, [11.8, 17.4) -> its table value 12 GeV, a quarter per tower
    np.testing.assert_array_equal(coarse.encode(image(t0_0=10.0, t1_1=2.0)[None]).codes[0], [3] + [0] * 15)
    np.testing.assert_allclose(decoded.reshape(8, 8)[:2, :2], 12.0 / 4)
    assert decoded.sum() == pytest.approx(12.0)


def test_evaluate_reports_emd_of_the_model_and_of_every_baseline(tmp_path, monkeypatch):
    import json

    from trigcomp import images as images_module
    from trigcomp.codecs import codec_from_json
    from trigcomp.config import config_from_dict
    from trigcomp.evaluate import evaluate, write_report
    from trigcomp.model import train
    from trigcomp.records import JetTable, tower_variables

    monkeypatch.setattr(images_module, "EMD_IMAGES", 150)
    monkeypatch.setattr(images_module, "IMAGE_BUDGETS", (32, 64))

    def table(n_events: int, seed: int, source: str) -> JetTable:
        values = random_images(n_events, seed).astype(np.float32)
        return JetTable(tower_variables(8), values, np.arange(n_events), n_events, "synthetic", sources=(source,))

    config = config_from_dict(
        {
            "name": "towers-tiny",
            "variables": "towers8",
            "seed": 2,
            "input": {"bits": 14, "integer": 9},
            "encoder": {"hidden": [16]},
            "latent": {"size": 8, "bits": 6, "integer": 2},
            "decoder": {"hidden": [32]},
            "training": {"epochs": 2, "batch_size": 256, "patience": 2},
        }
    )
    training = table(2500, 5, "train.root")
    model = train(config, training)
    other = table(400, 6, "other.root")
    evaluation = evaluate(model, [training, other], baseline_train=training.values[:1500], budgets=(32, 64))
    payload = evaluation.to_json()

    assert model.bits_per_jet == 48 and payload["images"]["grid"] == 8
    assert payload["emd_mean"] == payload["images"]["model"]["emd_mean"] > 0
    kinds = {(b["codec"], b["budget"]) for b in payload["baselines"] if b["possible"]}
    assert {(kind, budget) for kind in IMAGE_CODECS for budget in (32, 48, 64)} <= kinds
    assert all(b["emd_mean"] > 0 and b["bits_per_jet"] <= b["budget"] for b in payload["baselines"] if b["possible"])
    # every image baseline's EMD is reproduced from its own settings on the held-out images of the other sample
    for entry in payload["images"]["baselines"]:
        if entry["codec"] in IMAGE_CODECS:
            codec = codec_from_json(entry["settings"])
            truth = other.values[:150].astype(np.float64)
            reproduced = emd(truth, codec.decode(codec.encode(truth).codes)).mean()
            assert entry["samples"]["other"]["emd_mean"] == pytest.approx(reproduced)
    best = payload["images"]["best_baseline"]
    assert best["emd_mean"] == min(b["emd_mean"] for b in payload["images"]["baselines"] if b["budget"] == 48)
    physics = payload["images"]["model"]["samples"]["other"]["physics"]
    assert set(physics) == {"et", "pt", "mass", "width"} and physics["pt"]["kind"] == "relative"
    assert len(payload["images"]["nmse_per_tower"]) == 8

    write_report(evaluation, tmp_path)
    assert {"images_rate_distortion.png", "example_images.png"} <= {p.name for p in tmp_path.iterdir()}
    assert "Tower images (8\u00d78)" in (tmp_path / "evaluation.md").read_text()
    assert json.loads((tmp_path / "evaluation.json").read_text())["emd_mean"] == payload["emd_mean"]
