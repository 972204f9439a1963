"""compress / decompress: bit packing, exact round trips for every codec kind, native == TensorFlow, refusals, Dask."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from tests.conftest import synthetic_jets
from trigcomp.cli import main
from trigcomp.codecs import CODECS, AutoencoderCodec, FixedPointCodec, codec_to_toml
from trigcomp.data import load_jets
from trigcomp.errors import UserError
from trigcomp.model import data_hash, load_model
from trigcomp.records import JET4, JET10
from trigcomp.storage import (
    METADATA_KEY,
    NativeAutoencoderCodec,
    compress_file,
    compress_files,
    decompress_file,
    pack_codes,
    unpack_codes,
)
from trigcomp.targets import load_targets

REPO = Path(__file__).parents[1]
JET4_MODEL = REPO / "models" / "jet4"


def write_nanoaod(path: Path, n_events: int, seed: int) -> Path:
    """A tiny NanoAOD-style file of synthetic jets; every fifth event has no jet (the event structure must survive)."""
    jets = synthetic_jets(n_events, seed)
    keep = jets.event_index % 5 != 0
    counts = np.bincount(jets.event_index[keep], minlength=n_events)
    columns = {v: ak.unflatten(jets.values[keep, i], counts) for i, v in enumerate(JET10)}
    with uproot.recreate(path) as f:
        f.mktree("Events", {"Jet": ak.zip(columns)})
    return path


@pytest.fixture(scope="module")
def nanoaod(tmp_path_factory) -> Path:
    return write_nanoaod(tmp_path_factory.mktemp("storage") / "small.root", 400, seed=5)


@pytest.fixture(scope="module")
def jet4_model():
    return load_model(JET4_MODEL)


def _roundtrip(codec, source: Path, tmp_path: Path, **options) -> tuple:
    """(input jets, jets read back from decompress(compress(source)), decompress result)."""
    packed, reco = tmp_path / "packed.root", tmp_path / "reco.root"
    compress_file(codec, source, packed, step_size=options.pop("step_size", 64), **options)
    result = decompress_file(packed, reco, step_size=50)
    return load_jets(source, variables=codec.variables), load_jets(reco, variables=codec.variables), result


def test_pack_codes_known_bits_and_round_trip():
    # 3 bits 0b101 then 5 bits 0b10001: one byte 0b10110001
    assert pack_codes(np.array([[5, 17]]), (3, 5)).tolist() == [[0b10110001]]
    rng = np.random.default_rng(0)
    field_bits = (7, 0, 13, 30, 1, 29, 16, 11)  # 107 bits: fields cross both 64-bit words and bytes
    codes = np.stack([rng.integers(0, 1 << b, 1000) if b else np.zeros(1000, int) for b in field_bits], axis=1)
    packed = pack_codes(codes, field_bits)
    assert packed.shape == (1000, 14)
    np.testing.assert_array_equal(unpack_codes(packed, field_bits), codes)
    with pytest.raises(ValueError, match="wider"):
        pack_codes(np.array([[8]]), (3,))


def _fitted(kind: str):
    """A codec of every registered kind but the autoencoder and the hybrid (which need a trained model), fitted on
    synthetic jets the generic way."""
    codec_class, train = CODECS[kind], synthetic_jets(500, seed=9).values
    if hasattr(codec_class, "fit_budgets"):
        return codec_class.fit_budgets(train, JET10, [90])[0]
    return codec_class.fit_targets(train, JET10, load_targets("l1-jets"))


@pytest.mark.parametrize("layout", ["packed", "fields"])
@pytest.mark.parametrize("kind", [kind for kind in CODECS if kind != AutoencoderCodec.kind])
def test_every_codec_round_trips_exactly(kind, layout, nanoaod, tmp_path, tiny_hybrid):
    codec = tiny_hybrid if kind == "hybrid" else _fitted(kind)
    original, reco, result = _roundtrip(codec, nanoaod, tmp_path, layout=layout)
    expected = codec.decode(codec.encode(original.values).codes).astype(np.float32)
    np.testing.assert_array_equal(reco.values, expected)
    np.testing.assert_array_equal(reco.event_index, original.event_index)  # jets per event, empty events too
    assert reco.n_events == original.n_events == result.events == 400
    assert not np.array_equal(reco.values, original.values)  # lossy: the test would notice a copy of the input


def test_autoencoder_round_trip_equals_evaluation(jet4_model, tmp_path):
    source = REPO / "data" / "ttbar.root"
    original, reco, _ = _roundtrip(NativeAutoencoderCodec(jet4_model), source, tmp_path, step_size=1500)
    expected = jet4_model.reconstruct(original.values).astype(np.float32)  # what evaluate computes
    np.testing.assert_array_equal(reco.values, expected)
    np.testing.assert_array_equal(reco.event_index, original.event_index)
    with uproot.open(tmp_path / "packed.root") as f:
        metadata = json.loads(str(f[METADATA_KEY]))
    assert metadata["codec_hash"] == jet4_model.hash
    assert metadata["input"]["data_hash"] == data_hash(original)
    assert metadata["input"]["jets"] == len(original) and metadata["bits_per_jet"] == 24


@pytest.mark.parametrize("model_dir", ["jet4", "jet10"])
def test_native_encoder_equals_tensorflow_bit_for_bit(model_dir):
    from trigcomp.stimulus import make_inputs

    model = load_model(REPO / "models" / model_dir)
    native = NativeAutoencoderCodec(model)
    real = load_jets(REPO / "data" / "ttbar.root", variables=model.variables).values[:5000]
    jets = make_inputs(real, native.spec.input.format, 20_000, adversarial=10_000, seed=1)
    jets = jets[np.all(np.isfinite(jets), axis=1)]
    fast, reference = native.encode(jets), AutoencoderCodec(model).encode(jets)
    np.testing.assert_array_equal(fast.codes, reference.codes)
    np.testing.assert_array_equal(fast.saturated, reference.saturated)
    assert fast.saturated.sum() > 0  # the out-of-range jets reach the saturation path


def test_cli_refuses_mismatches_and_accepts_codec_files(nanoaod, tmp_path, capsys):
    train = synthetic_jets(500, seed=9).values[:, :4]
    codec_file = tmp_path / "codec.toml"
    codec_file.write_text(codec_to_toml(FixedPointCodec.fit_budgets(train, JET4, [30])[0]))
    packed = tmp_path / "c.root"
    assert main(["compress", "--model", str(codec_file), "--data", str(nanoaod), "--out", str(packed)]) == 0
    capsys.readouterr()
    assert main(["compress", "--model", str(codec_file), "--data", str(nanoaod), "--out", str(packed)]) == 2
    assert "already exists" in capsys.readouterr().err
    reco = tmp_path / "r.root"
    assert main(["decompress", str(packed), "--model", str(JET4_MODEL), "--out", str(reco)]) == 2
    err = capsys.readouterr().err
    assert "does not match" in err and len(err.strip().splitlines()) == 1 and not reco.exists()
    config = str(REPO / "configs" / "jet4.toml")
    assert main(["compress", "--model", config, "--data", str(nanoaod), "--out", str(tmp_path / "x.root")]) == 2
    assert "is a model config" in capsys.readouterr().err
    assert main(["decompress", str(nanoaod), "--out", str(reco)]) == 2
    assert "not a trigcomp compressed file" in capsys.readouterr().err
    truncated = tmp_path / "truncated" / "c.root"
    truncated.parent.mkdir()
    truncated.write_bytes(packed.read_bytes()[: packed.stat().st_size // 2])
    assert main(["decompress", str(truncated), "--out", str(reco)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not reco.exists()
    assert main(["decompress", str(packed), "--model", str(codec_file), "--out", str(reco), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["jets"] == len(load_jets(nanoaod))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c.root",
        "codec.toml",
        "r.root",
        "truncated",
    ]  # no temporaries


def test_many_files_on_dask_match_one_at_a_time(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    files = [write_nanoaod(inputs / f"f{i}.root", 150, seed=i) for i in range(2)]
    codec_file = tmp_path / "codec.json"
    codec_file.write_text(json.dumps(FixedPointCodec.fit_budgets(synthetic_jets(300).values, JET10, [40])[0].to_json()))
    with pytest.raises(UserError, match="at least 1"):
        compress_files(codec_file, [str(inputs / "*.root")], tmp_path / "out", workers=0)
    assert not (tmp_path / "out").exists()
    results = compress_files(codec_file, [str(inputs / "*.root")], tmp_path / "out", workers=1)
    assert [Path(r.out).name for r in results] == ["f0.root", "f1.root"]
    single = compress_files(codec_file, [str(files[1])], tmp_path / "single.root")
    assert results[1].extra["data_hash"] == single[0].extra["data_hash"]
    for name in ("out/f1.root", "single.root"):
        decompress_file(tmp_path / name, tmp_path / f"{name.replace('/', '-')}.reco")
    np.testing.assert_array_equal(
        load_jets(tmp_path / "out-f1.root.reco", variables=JET10).values,
        load_jets(tmp_path / "single.root.reco", variables=JET10).values,
    )
