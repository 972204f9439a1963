"""The codec interface (every registered codec) and the target-driven fixed-point and float codes."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from trigcomp.codecs import (
    CODECS,
    AutoencoderCodec,
    FixedPointCodec,
    FloatField,
    FloatMantissaCodec,
    HybridCodec,
    codec_from_json,
    codec_to_toml,
    load_codec,
)
from trigcomp.codecs.physics import physics_ranges
from trigcomp.codecs.simplex import SimplexField
from trigcomp.errors import UserError
from trigcomp.model import split_events
from trigcomp.records import JET10
from trigcomp.targets import check_targets, load_targets

REPO = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def qcd():
    """The bundled QCD sample, split event-wise: (training jets, held-out jets)."""
    from trigcomp.data import load_jets

    table = load_jets([REPO / "data" / "qcd.root"], variables=JET10)
    train, _, test = split_events(table.event_index, 1, 0.2, 0.2)
    return table.values[train].astype(np.float64), table.values[test].astype(np.float64)


@pytest.fixture(scope="module")
def l1_jets():
    return load_targets("l1-jets")


def _codecs(kind: str, jets, tiny_model, tiny_hybrid, l1_jets, qcd) -> list:
    """Every way each registered codec is built: a new codec kind must be added here to be tested."""
    train = jets.values.astype(np.float64)
    builders = {
        "fixed_point": lambda: [
            FixedPointCodec.fit(train, JET10, 48),
            FixedPointCodec.fit_targets(qcd[0], JET10, l1_jets, fraction_relations=("remainder",)),
            FixedPointCodec.fit_targets(qcd[0], JET10, l1_jets, fraction_relations=("simplex",)),
        ],
        "float_mantissa": lambda: [
            FloatMantissaCodec.fit(train, JET10, 64),
            FloatMantissaCodec.fit_targets(qcd[0], JET10, l1_jets),
        ],
        "autoencoder": lambda: [AutoencoderCodec(tiny_model)],
        "hybrid": lambda: [
            tiny_hybrid,
            HybridCodec.fit_around(tiny_hybrid.latent, qcd[0], JET10, l1_jets),
        ],
    }
    assert set(builders) == set(CODECS)
    return builders[kind]()


@pytest.mark.parametrize("kind", list(CODECS))
def test_every_registered_codec_round_trips_through_integer_codes(
    kind, jets, tiny_model, tiny_hybrid, l1_jets, qcd, tmp_path
):
    x = np.concatenate([jets.values[:500], qcd[1][:500]]).astype(np.float64)
    x[0, 0] = 5000.0  # beyond every range: clamped and counted
    for codec in _codecs(kind, jets, tiny_model, tiny_hybrid, l1_jets, qcd):
        codes, saturated = codec.encode(x)
        assert codes.dtype == np.int64 and codes.shape == (len(x), len(codec.field_bits))
        assert codec.bits_per_jet == sum(codec.field_bits)
        widths = np.array(codec.field_bits)
        assert np.all(codes >= 0) and np.all(codes < (1 << widths)), codec.name
        assert saturated.shape == (len(codec.field_names),)
        if kind != "autoencoder":  # the latent of an autoencoder need not clamp for one odd input
            assert saturated[0] >= 1
        decoded, total = codec.roundtrip(x)
        assert np.array_equal(codec.decode(codes), decoded) and total == saturated.sum()
        assert decoded.shape == x.shape
        rebuilt = codec_from_json(codec.to_json())
        assert np.array_equal(rebuilt.encode(x).codes, codes)
        if kind != "autoencoder":  # classical codecs are configs on their own: TOML too
            path = tmp_path / f"{kind}.toml"
            path.write_text(codec_to_toml(codec, "a comment"))
            assert np.array_equal(load_codec(path).encode(x).codes, codes)
            assert np.array_equal(load_codec(path).decode(codes), decoded)


def test_autoencoder_codes_are_the_firmware_latent_words(jets, tiny_model):
    x = jets.values[:300].astype(np.float64)
    codec = AutoencoderCodec(tiny_model)
    codes = codec.encode(x).codes
    q = tiny_model.config.latent_quantizer
    words = np.rint(tiny_model.encode(x) / q.lsb).astype(np.int64)
    assert np.array_equal(np.where(codes >= 1 << (q.bits - 1), codes - (1 << q.bits), codes), words)
    assert np.allclose(codec.decode(codes), tiny_model.reconstruct(x))


def test_float_field_codes_are_ieee_float32_bits():
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [rng.normal(0, 1e3, 1000), np.exp(rng.uniform(-80, 80, 1000)), [0.0, 1.0, -2.5, 1e-40, -3e-42]]
    ).astype(np.float32)
    # IEEE keeps exponent field 255 for inf/NaN; here it is one more normal binade, so the top binade is 2^128
    field = FloatField("x", sign=True, exponent_bits=8, mantissa_bits=23, top_exponent=128)
    codes, saturated = field.encode(values)
    assert field.bias == 127 and not saturated.any()
    assert np.array_equal(codes, values.view(np.uint32).astype(np.int64))
    assert np.array_equal(field.decode(codes), values.astype(np.float64))


def test_codec_configs_are_checked():
    with pytest.raises(UserError, match="unknown codec"):
        codec_from_json({"codec": "zip"})
    with pytest.raises(UserError, match="missing or bad key"):
        codec_from_json({"codec": "fixed_point", "variables": ["pt"], "fields": [{"variable": "pt"}]})
    raw = {
        "codec": "fixed_point",
        "variables": ["pt"],
        "fields": [
            {"variable": "pt", "bits": 4, "companding": "log", "low": 0.0, "high": 10.0, "mean": 1.0, "integer": False}
        ],
    }
    with pytest.raises(UserError, match="log companding needs low > 0"):
        codec_from_json(raw)


# ---------------------------------------------------------------------------------------------- target-driven


def _meets(codec, targets, x) -> bool:
    return check_targets(targets, JET10, x, codec.roundtrip(x)[0]).meets_targets


def _one_bit_fewer(codec: FixedPointCodec, v: int, column: np.ndarray) -> list[FixedPointCodec]:
    """The codec with one bit fewer on variable v, in every physics coding of that variable."""
    field = codec.fields[v]
    return [
        replace(codec, fields=codec.fields[:v] + (fewer,) + codec.fields[v + 1 :])
        for coding in physics_ranges(field.variable, column)
        for fewer in [
            replace(
                field,
                bits=field.bits - 1,
                companding=coding.companding,
                low=coding.low,
                high=coding.high,
                integer=coding.integer,
            )
        ]
    ]


@pytest.mark.parametrize("relations", [(), ("remainder",), ("simplex",)])
def test_target_driven_fixed_point_is_minimal_and_holds_on_held_out_jets(qcd, l1_jets, relations):
    train, test = qcd
    codec = FixedPointCodec.fit_targets(train, JET10, l1_jets, fraction_relations=relations)
    assert _meets(codec, l1_jets, train)
    assert _meets(codec, l1_jets, test)  # held-out jets of the same process
    for v, field in enumerate(codec.fields):
        if field.bits and field.variable != codec.remainder:
            for fewer in _one_bit_fewer(codec, v, train[:, v]):
                assert not _meets(fewer, l1_jets, train), f"{field.variable} with {field.bits - 1} bits"
    if codec.simplex is not None:  # the fewest lattice levels
        assert not _meets(
            replace(codec, simplex=replace(codec.simplex, levels=codec.simplex.levels - 1)), l1_jets, train
        )
    assert bool(relations) == (codec.remainder is not None or codec.simplex is not None)
    kinematics = {f.variable: (f.bits, f.companding) for f in codec.fields[:4]}
    assert kinematics["pt"][1] == kinematics["mass"][1] == "log"  # relative targets: log bins are cheaper


def test_fraction_remainder_saves_bits_and_decodes_as_one_minus_the_rest(qcd, l1_jets):
    train, _ = qcd
    plain = FixedPointCodec.fit_targets(train, JET10, l1_jets, fraction_relations=())
    with_remainder = FixedPointCodec.fit_targets(train, JET10, l1_jets, fraction_relations=("remainder",))
    assert plain.remainder is None
    assert with_remainder.remainder is not None and with_remainder.bits_per_jet < plain.bits_per_jet
    decoded, _ = with_remainder.roundtrip(train[:1000])
    parts = [JET10.index(p) for p in with_remainder.remainder_of]
    expected = np.clip(1 - decoded[:, parts].sum(axis=1), 0, 1)
    assert np.array_equal(decoded[:, JET10.index(with_remainder.remainder)], expected)


def test_tighter_target_needs_more_bits(qcd, l1_jets, tmp_path):
    train, _ = qcd
    tight = tmp_path / "tight.toml"
    tight.write_text(
        'name = "tight"\n[variables.pt]\nsigma = 0.0125\nbias = 0.01\n[variables.eta]\nsigma = 0.005\n'
        "[variables.phi]\nsigma = 0.02\n[variables.mass]\nsigma = 0.05\n"
    )
    tight_targets = load_targets(tight)
    loose = FixedPointCodec.fit_targets(train, JET10, l1_jets.for_variables(JET10[:4]))
    strict = FixedPointCodec.fit_targets(train, JET10, tight_targets)
    loose_bits, strict_bits = ({f.variable: f.bits for f in c.fields} for c in (loose, strict))
    assert strict_bits["pt"] > loose_bits["pt"] and strict_bits["eta"] > loose_bits["eta"]
    assert strict_bits["phi"] == loose_bits["phi"] and strict.bits_per_jet > loose.bits_per_jet
    assert all(strict_bits[v] == 0 for v in JET10[4:])  # no target: not sent
    assert FixedPointCodec.fit_targets(train, JET10, tight_targets, max_bits=4) is None


def test_target_driven_float_meets_targets_with_small_exponents(qcd, l1_jets):
    train, test = qcd
    kinematics = l1_jets.for_variables(JET10[:4])
    codec = FloatMantissaCodec.fit_targets(train[:, :4], JET10[:4], kinematics)
    report = check_targets(kinematics, JET10[:4], test[:, :4], codec.roundtrip(test[:, :4])[0])
    assert report.meets_targets
    assert all(f.exponent_bits <= 5 for f in codec.fields)
    assert [f.sign for f in codec.fields] == [False, True, True, False]
    for v, field in enumerate(codec.fields):  # one mantissa bit fewer fails on the training jets
        if field.mantissa_bits:
            fewer = replace(field, mantissa_bits=field.mantissa_bits - 1)
            x = train[:, v]
            ratio = check_targets(
                kinematics,
                JET10[:4],
                train[:, :4],
                np.column_stack([fewer.roundtrip(x)[0] if j == v else train[:, j] for j in range(4)]),
            ).worst_ratio
            assert ratio > 1, field.variable
    with pytest.raises(UserError, match="no target for chHEF"):
        FloatMantissaCodec.fit_targets(train, JET10, kinematics)


def test_physics_range_not_training_range(qcd, l1_jets):
    train, _ = qcd
    codec = FixedPointCodec.fit_targets(train, JET10, l1_jets)
    pt = codec.fields[0]
    assert (pt.low, pt.high) == (20.0, 2048.0) and train[:, 0].max() < 400
    boosted = train[:200].copy()
    boosted[:, 0] *= 5  # jets up to ~1.5 TeV, far above the training sample
    boosted[0, 0] = 3000.0  # beyond what the board sees
    codes, saturated = codec.encode(boosted)
    assert saturated[0] == 1
    relative = np.abs(codec.decode(codes)[1:, 0] / boosted[1:, 0] - 1)
    assert relative.max() < math.log(2048 / 20) / 2**pt.bits  # half a log bin: no jet is clipped


def test_each_training_group_must_meet_the_targets_not_just_their_mixture(qcd, l1_jets):
    train, _ = qcd
    leptonic = train[:2_000].copy()  # a small second process with muons in every jet
    leptonic[:, JET10.index("muEF")] = np.random.default_rng(1).uniform(0, 0.5, len(leptonic))
    pooled = FixedPointCodec.fit_targets(np.concatenate([train, leptonic]), JET10, l1_jets, fraction_relations=())
    grouped = FixedPointCodec.fit_targets([train, leptonic], JET10, l1_jets, fraction_relations=())
    muon = JET10.index("muEF")
    assert pooled.fields[muon].bits == 0  # outvoted: 3 % of the mixture
    assert grouped.fields[muon].bits >= 4
    assert _meets(grouped, l1_jets, leptonic) and not _meets(pooled, l1_jets, leptonic)


def test_autoencoder_codec_fit_trains_and_saves_a_model(jets, tiny_config, tmp_path):
    codec = AutoencoderCodec.fit(jets.values, JET10, tiny_config, tmp_path / "fitted")
    assert (tmp_path / "fitted" / "model.json").is_file()
    assert codec.bits_per_jet == tiny_config.latent.size * tiny_config.latent.bits
    rebuilt = codec_from_json(codec.to_json())
    x = jets.values[:200].astype(np.float64)
    assert np.array_equal(rebuilt.encode(x).codes, codec.encode(x).codes)
    with pytest.raises(UserError, match="not pt, eta"):
        AutoencoderCodec.fit(jets.values[:, :4], JET10[:4], tiny_config, tmp_path / "other")


@pytest.mark.parametrize("parts, levels, slack", [(3, 4, False), (5, 7, False), (2, 9, True), (4, 3, True)])
def test_simplex_lattice_ranks_every_point_once(parts, levels, slack):
    field = SimplexField(tuple(f"f{i}" for i in range(parts)), levels, slack)
    hidden = parts + slack
    points = np.array([q for q in itertools.product(range(levels + 1), repeat=hidden) if sum(q) == levels]) / levels
    ranks, saturated = field.encode(points[:, :parts])
    assert len(points) == field.count and not saturated.any()
    assert sorted(ranks) == list(range(field.count)) and field.count <= 2**field.bits
    assert np.allclose(field.decode(ranks), points[:, :parts])


def test_simplex_rounding_stays_within_one_level_and_counts_bad_sums():
    rng = np.random.default_rng(4)
    fractions = rng.dirichlet([3, 1, 0.3, 1.5, 0.05], 5_000)
    field = SimplexField(("a", "b", "c", "d", "e"), 19, slack=False)
    ranks, saturated = field.encode(fractions)
    decoded = field.decode(ranks)
    assert np.allclose(decoded.sum(axis=1), 1) and np.abs(decoded - fractions).max() < 1 / 19
    assert not saturated.any() and field.bits == 14  # C(23, 4) = 8855 points
    bad = fractions[:3].copy()
    bad[0, 0] = -0.1
    bad[1] *= 0.5  # sums to 0.5: these fractions need the slack part
    assert list(field.encode(bad)[1]) == [True, True, False]


def test_simplex_saves_bits_over_per_variable_fractions(qcd, l1_jets):
    train, test = qcd
    plain = FixedPointCodec.fit_targets(train, JET10, l1_jets, fraction_relations=())
    joint = FixedPointCodec.fit_targets(train, JET10, l1_jets, fraction_relations=("simplex",))
    fractions = [JET10.index(f) for f in joint.simplex.variables]
    assert joint.simplex.bits < sum(plain.fields[v].bits for v in fractions)
    assert joint.bits_per_jet == plain.bits_per_jet - sum(plain.fields[v].bits for v in fractions) + joint.simplex.bits
    assert _meets(joint, l1_jets, test)
