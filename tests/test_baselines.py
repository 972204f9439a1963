"""Equal-bit baselines: fixed point and cut-mantissa floats, checked against analytic and brute-force answers."""

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from trigcomp.baselines import nmse_per_variable, rate_distortion, total_nmse
from trigcomp.codecs import FixedPointCodec, FloatField, FloatMantissaCodec
from trigcomp.codecs.base import allocate_bits
from trigcomp.errors import UserError
from trigcomp.records import JET10

CMS_FILE = Path(__file__).parent / "data" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"
CMS_BRANCHES = {
    "pt": "Jet_pt",
    "eta": "Jet_eta",
    "phi": "Jet_phi",
    "mass": "Jet_mass",
    "chHEF": "Jet_chHEF",
    "neHEF": "Jet_neHEF",
    "chEmEF": "Jet_chEmEF",
    "neEmEF": "Jet_neEmEF",
    "muEF": "Jet_muEF",
    "nConstituents": "Jet_nConstituents",
}


def jet_like(n: int, seed: int) -> np.ndarray:
    """Synthetic jet10: log-normal pt and mass, flat eta/phi, energy fractions summing to 1, integer multiplicity."""
    rng = np.random.default_rng(seed)
    pt = np.exp(rng.normal(3.5, 0.6, n))
    fractions = rng.dirichlet([3, 2, 2, 2, 0.1], n)
    return np.column_stack(
        [
            pt,
            rng.uniform(-2.5, 2.5, n),
            rng.uniform(-np.pi, np.pi, n),
            pt * rng.uniform(0.05, 0.2, n),
            fractions,
            rng.poisson(20, n) + 1.0,
        ]
    )


def outlier_variable(n: int, rng: np.random.Generator) -> np.ndarray:
    """Mostly near 0 (either sign, so no log companding) with rare values near 1: one bit over the full range is
    worse than sending nothing, as for neHEF in the notes."""
    return np.where(rng.random(n) < 0.01, rng.uniform(0.9, 1.0, n), rng.uniform(-0.01, 0.01, n))


@pytest.mark.parametrize("low, high", [(-3.0, 5.0), (1.0, 9.0)])
def test_uniform_variable_mse_is_range_squared_over_12_times_4_to_the_bits(low, high):
    rng = np.random.default_rng(1)
    train = rng.uniform(low, high, (100_000, 1))
    test = rng.uniform(low, high, (100_000, 1))
    all_bits = (1, 2, 4, 6, 8)
    for bits, codec in zip(all_bits, FixedPointCodec.fit_budgets(train, ("u",), all_bits)):
        assert codec.bits_per_jet == bits
        assert codec.allocation[0].companding == "linear"  # log companding only helps skewed variables
        decoded, saturated = codec.roundtrip(test)
        expected = (high - low) ** 2 / (12 * 4**bits)
        assert np.mean((decoded - test) ** 2) == pytest.approx(expected, rel=0.05)
        assert saturated == np.sum((test < train.min()) | (test > train.max()))


def test_log_companding_chosen_for_log_normal_variable():
    rng = np.random.default_rng(2)
    train = np.exp(rng.normal(3.5, 1.0, (50_000, 1)))
    test = np.exp(rng.normal(3.5, 1.0, 50_000))
    codec = FixedPointCodec.fit(train, ("pt",), 6)
    log_field = codec.allocation[0]
    assert log_field.companding == "log" and log_field.bits == 6
    # the same field sent linearly (same bits, same range) is measurably worse on held-out jets
    linear_field = dataclasses.replace(log_field, companding="linear")
    log_error = np.mean((codec.roundtrip(test[:, None])[0][:, 0] - test) ** 2)
    linear_error = np.mean((linear_field.roundtrip(test)[0] - test) ** 2)
    assert log_error < 0.9 * linear_error


def test_dynamic_programming_equals_brute_force_over_all_allocations():
    rng = np.random.default_rng(3)
    n = 5_000
    names = ("outlier", "uniform", "count")
    train = np.column_stack([outlier_variable(n, rng), rng.uniform(0, 1, n), rng.poisson(6, n).astype(float)])
    variance = np.var(train, axis=0)
    max_bits = 9
    # each variable's training NMSE at every bit count, measured by single-variable codecs' own roundtrips
    single = np.array(
        [
            [
                total_nmse(
                    column, FixedPointCodec.from_bits(column, (name,), [b]).roundtrip(column)[0], variance[v : v + 1]
                )
                for b in range(max_bits + 1)
            ]
            for v, (name, column) in enumerate(zip(names, (train[:, [v]] for v in range(3))))
        ]
    )
    assert single[0, 1] > single[0, 0]  # the pitfall is present: a one-bit-at-a-time greedy never starts it
    for budget in range(max_bits + 1):
        brute = min(
            sum(single[v, b] for v, b in enumerate(bits))
            for bits in itertools.product(range(budget + 1), repeat=3)
            if sum(bits) <= budget
        )
        codec = FixedPointCodec.fit(train, names, budget)
        assert codec.bits_per_jet <= budget
        assert codec.train_nmse == pytest.approx(brute, rel=1e-9, abs=1e-15)
        assert total_nmse(train, codec.roundtrip(train)[0], variance) == pytest.approx(brute, rel=1e-9, abs=1e-15)


def test_allocate_bits_respects_forbidden_entries_and_reports_impossible():
    table = np.array([[np.inf, np.inf, 5.0, 1.0], [3.0, 2.0, 0.5, 0.4]])
    bits, cost = allocate_bits(table, 4)
    assert list(bits) == [3, 1] and cost == pytest.approx(3.0)
    assert allocate_bits(table, 1) is None


def test_more_bits_never_worse_on_training_jets():
    train = jet_like(5_000, seed=4)
    budgets = list(range(0, 161, 8))
    fixed = FixedPointCodec.fit_budgets(train, JET10, budgets)
    floats = [c for c in FloatMantissaCodec.fit_budgets(train, JET10, budgets) if c is not None]
    for codecs in (fixed, floats):
        assert all(c.bits_per_jet <= c.budget for c in codecs)
        errors = [c.train_nmse for c in codecs]
        assert all(later <= earlier for earlier, later in itertools.pairwise(errors))
    assert fixed[-1].train_nmse < 1e-6 < fixed[4].train_nmse  # 160 bits is far better than 32


def test_saturation_is_counted_and_decoded_inside_the_training_range():
    rng = np.random.default_rng(5)
    train = np.column_stack([rng.uniform(0, 1, 1_000), np.exp(rng.normal(0, 1, 1_000))])
    test = np.column_stack([rng.uniform(0, 1, 100), np.exp(rng.normal(0, 1, 100))])
    test[:3, 0] = [-0.5, 1.5, 7.0]
    test[3:5, 1] = [-1.0, train[:, 1].max() * 2]
    codec = FixedPointCodec.fit(train, ("a", "b"), 16)
    decoded, saturated = codec.roundtrip(test)
    assert saturated == 5
    assert np.all((decoded >= train.min(axis=0)) & (decoded <= train.max(axis=0)))
    [point] = [p for p in rate_distortion(train, test, ("a", "b"), budgets=(16,)) if p.codec == "fixed_point"]
    assert point.saturated == point.out_of_training_range == 5
    assert point.saturated_per_variable == {"a": 3, "b": 2}


def test_integer_variable_decodes_to_integers_and_exactly_with_enough_bits():
    rng = np.random.default_rng(6)
    counts = rng.poisson(20, (2_000, 1)).astype(float) + 1
    levels = counts.max() - counts.min() + 1
    for bits in range(8):
        codec = FixedPointCodec.from_bits(counts, ("nConstituents",), [bits])
        assert codec.allocation[0].integer
        decoded, _ = codec.roundtrip(counts)
        assert np.all(decoded == np.rint(decoded))
        if 2**bits >= levels:
            assert np.array_equal(decoded, counts)
        else:
            assert not np.array_equal(decoded, counts)
    # declared integer by name: a float-valued training column still decodes to integers
    noisy = counts + rng.uniform(-0.3, 0.3, counts.shape)
    decoded, _ = FixedPointCodec.fit(noisy, ("n",), 3, integer_variables=("n",)).roundtrip(noisy)
    assert np.all(decoded == np.rint(decoded))


def test_small_float_rounds_to_nearest_even_and_saturates():
    field = FloatField("x", sign=False, exponent_bits=3, mantissa_bits=2, top_exponent=2)  # 1.0 .. 7.0
    values = np.array([1.1, 1.2, 1.125, 6.4, 7.6, 0.0, -1.0, 2.0**-4, 2.0**-7])
    decoded, saturated = field.roundtrip(values)
    # 2^-4 is the lowest normal binade; 2^-7 is below half the subnormal step 2^-6 and rounds to zero
    assert list(decoded) == [1.0, 1.25, 1.0, 6.0, 7.0, 0.0, 0.0, 2.0**-4, 0.0]
    assert list(saturated) == [False, False, False, False, True, False, True, False, False]
    assert field.bias == 5 and field.bits == 5


def test_float_codec_impossible_below_sign_plus_two_exponent_bits_per_variable():
    rng = np.random.default_rng(7)
    train = np.column_stack([rng.normal(0, 1, 500), rng.uniform(1, 2, 500), rng.uniform(1, 2, 500)])
    names = ("signed", "a", "b")
    assert FloatMantissaCodec.fit(train, names, 6) is None
    codec = FloatMantissaCodec.fit(train, names, 7)
    assert codec.bits_per_jet == 7
    assert [(f.sign, f.exponent_bits, f.mantissa_bits) for f in codec.allocation] == [
        (True, 2, 0),
        (False, 2, 0),
        (False, 2, 0),
    ]
    points = rate_distortion(train, train, names, budgets=(4, 40))
    impossible = [p for p in points if p.codec == "float_mantissa" and p.budget == 4]
    assert len(impossible) == 1 and not impossible[0].possible and impossible[0].total_nmse is None
    assert json.loads(json.dumps(impossible[0].to_json()))["possible"] is False


def test_float_codec_with_enough_bits_keeps_float32_precision():
    rng = np.random.default_rng(8)
    train = np.column_stack([np.exp(rng.normal(3, 2, 3_000)), rng.normal(0, 5, 3_000)]).astype(np.float32)
    codec = FloatMantissaCodec.fit(train, ("pt", "eta"), 64)
    decoded, saturated = codec.roundtrip(train)
    assert saturated == 0
    assert np.max(np.abs(decoded - train) / np.abs(train)) <= 2.0**-24
    assert all(f.exponent_bits < 8 for f in codec.allocation)  # small exponents already span the range


def test_nmse_helpers():
    x = np.array([[0.0, 1.0], [2.0, 1.0]])
    x_hat = np.array([[1.0, 1.0], [1.0, 1.0]])
    assert list(nmse_per_variable(x, x_hat, np.array([2.0, 0.0]))) == [0.5, 0.0]
    assert total_nmse(x, x_hat, np.array([0.5, 1.0])) == pytest.approx(2.0)
    assert nmse_per_variable(x_hat, x, np.array([0.0, 1.0]))[0] == np.inf  # constant column decoded wrong


@pytest.mark.parametrize(
    "train, budget, match",
    [
        (np.array([[1.0, np.nan], [2.0, 3.0]]), 8, "non-finite values in: b"),
        (np.ones((4, 3)), 8, "2 variables"),
        (np.ones((4, 2)), -1, "non-negative integer"),
        (np.ones((1, 2)), 8, "at least 2 jets"),
    ],
)
def test_bad_inputs_are_user_errors(train, budget, match):
    with pytest.raises(UserError, match=match):
        FixedPointCodec.fit(train, ("a", "b"), budget)
    with pytest.raises(UserError, match=match):
        FloatMantissaCodec.fit(train, ("a", "b"), budget)


def test_rate_distortion_records_on_synthetic_jets():
    jets = jet_like(4_000, seed=9)
    budgets = (32, 64, 128)
    points = rate_distortion(jets[:2_000], jets[2_000:], JET10, budgets=budgets)
    assert [(p.codec, p.budget) for p in points] == [(c, b) for c in ("fixed_point", "float_mantissa") for b in budgets]
    for point in points:
        record = json.loads(json.dumps(point.to_json()))
        assert record["bits_per_jet"] <= record["budget"]
        assert sum(f["bits"] for f in record["allocation"]) == record["bits_per_jet"]
        assert record["total_nmse"] == pytest.approx(sum(record["nmse"].values()))
    fixed = [p.total_nmse for p in points if p.codec == "fixed_point"]
    assert fixed[0] > fixed[1] > fixed[2]


def test_rate_distortion_on_cms_jets():
    uproot = pytest.importorskip("uproot")
    awkward = pytest.importorskip("awkward")
    with uproot.open(CMS_FILE) as file:
        arrays = file["Events"].arrays(list(CMS_BRANCHES.values()))
    n_events = len(arrays)
    per_event = awkward.num(arrays["Jet_pt"])
    first_half = np.repeat(np.arange(n_events) < n_events // 2, per_event)
    jets = np.column_stack(
        [awkward.to_numpy(awkward.flatten(arrays[b])).astype(np.float64) for b in CMS_BRANCHES.values()]
    )
    points = rate_distortion(jets[first_half], jets[~first_half], tuple(CMS_BRANCHES), budgets=(32, 96))
    fixed = [p for p in points if p.codec == "fixed_point"]
    assert fixed[0].total_nmse > fixed[1].total_nmse
    codec = FixedPointCodec.fit(jets[first_half], tuple(CMS_BRANCHES), 48)
    assert codec.allocation[-1].integer
    decoded, _ = codec.roundtrip(jets[~first_half])
    assert np.all(decoded[:, -1] == np.rint(decoded[:, -1]))
