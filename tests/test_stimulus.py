"""trigcomp.stimulus: the inputs of every bit-exactness check cover the edges of the input type and, for an
encoder, ties at the latent quantizer (checked against the exact fixed-point reference, not the search's own)."""

from pathlib import Path

import numpy as np
import pytest

from trigcomp.config import FixedPoint
from trigcomp.errors import UserError
from trigcomp.stimulus import adversarial_jets, latent_ties, make_inputs

REPO = Path(__file__).parents[1]


def test_adversarial_jets_cover_the_edges():
    q = FixedPoint(12, 5)
    data = np.random.default_rng(0).normal(size=(100, 3))
    x = adversarial_jets(data, q, 500, np.random.default_rng(1))
    assert x.shape == (500, 3)
    assert (x == 0).all(axis=1).any() and (x == q.max).all(axis=1).any() and (x == q.min).all(axis=1).any()
    assert (x > q.max).any() and (x < q.min).any()
    with np.errstate(invalid="ignore"):  # the +-inf rows give NaN here, and are no ties
        halves = x / q.lsb - np.floor(x / q.lsb)
    assert (np.abs(halves - 0.5) < 1e-9).sum() > 100  # rounding ties


def test_inputs_are_float32_exact_and_bounded():
    data = np.random.default_rng(0).normal(size=(50, 2)) * 1e-3 + 1 / 3
    x = make_inputs(data, FixedPoint(16, 4), jets=300, adversarial=40, seed=0)
    assert len(x) == 300 and np.array_equal(x, x.astype(np.float32).astype(np.float64))
    with pytest.raises(UserError, match="cannot exceed"):
        make_inputs(data, FixedPoint(16, 4), jets=10, adversarial=20, seed=0)


def test_latent_ties_are_exact_ties_of_the_fixed_point_reference(jets):
    from trigcomp.imported import load_encoder_model
    from trigcomp.rtl import parse_encoder

    model = load_encoder_model(REPO / "models" / "jet4")
    data = jets.values[:, [jets.variables.index(v) for v in model.variables]].astype(np.float64)
    ties = latent_ties(model, data, 500, candidates=40_000)
    assert len(ties) > 50
    spec = parse_encoder(model.firmware_encoder())
    _, before_latent = spec.reference(spec.quantize_inputs(ties)[0])
    out = spec.output_format
    scaled = before_latent / out.lsb
    low, high = (word * out.lsb for word in out.word_range)
    tie = (scaled - np.floor(scaled) == 0.5) & (before_latent > low) & (before_latent < high)
    assert tie.any(axis=1).all()


def test_rtl_check_runs_this_stimulus_and_counts_it_under_the_rtl_json_keys(jets):
    """`trigcomp rtl` checks the rows of this module (one generator): data, the input type's edge cases (one-hot
    too), rounding ties, latent ties; `rtl --json` prints the counts under "stimulus", whose keys CI scripts read."""
    from trigcomp.imported import load_encoder_model
    from trigcomp.rtl import rtl_stimulus
    from trigcomp.stimulus import latent_tie_mask

    model = load_encoder_model(REPO / "models" / "jet4")
    data = jets.values[:, [jets.variables.index(v) for v in model.variables]].astype(np.float64)
    x, counts = rtl_stimulus(model, data, 5_000)
    assert list(counts) == ["real", "jittered", "uniform", "edges", "latent_ties"]
    assert sum(counts.values()) == len(x) == 5_000 and counts["real"] == 4_000  # a fifth adversarial
    assert 50 < counts["latent_ties"] <= 750 and counts["edges"] == 11 + 4 + 6 * 4  # ties: three quarters at most
    real, edges = x[:4_000], x[4_000 : 4_000 + counts["edges"]]
    assert np.isin(real[:, 0], data[:, 0].astype(np.float32)).all()
    q = model.input_quantizer
    assert ((edges == q.max).sum(1) == 1).sum() >= 4 and (edges == 0).all(1).any() and np.isinf(edges).any()
    jittered = x[4_000 + counts["edges"] + counts["uniform"] :][: counts["jittered"]]
    assert np.all(jittered / q.lsb - np.floor(jittered / q.lsb) == 0.5)
    spec = model.firmware_ir
    _, before_latent = spec.reference(spec.quantize_inputs(x[-counts["latent_ties"] :])[0])
    assert latent_tie_mask(before_latent, spec.output_format).all()
    again, _ = rtl_stimulus(model, data, 5_000)
    assert np.array_equal(x, again)  # same model and jets: the same check
    with pytest.raises(UserError, match="at least one real jet"):
        rtl_stimulus(model, data[:0], 100)
