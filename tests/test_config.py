"""Model configs: every key is checked, and errors name the key and what is allowed."""

import json

import pytest

from trigcomp.config import FixedPoint, config_from_dict, load_config, read_toml
from trigcomp.errors import UserError
from trigcomp.model import resolve_model_variables

from .conftest import REPO

MODEL_CONFIGS = sorted(p.stem for p in (REPO / "configs").glob("*.toml") if {"name", "latent"} <= set(read_toml(p)))


def test_every_shipped_model_config_is_checked():
    assert {"jet4", "jet10", "jet10-8x6", "jet10-8x8", "run"} <= set(MODEL_CONFIGS)


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_shipped_configs_load_and_match_their_reference_model(name):
    """A shipped config is what models/<name> was trained from: same config, same bits per jet, same variables."""
    config = load_config(REPO / "configs" / f"{name}.toml")
    assert config.bits_per_jet == config.latent.size * config.latent.bits
    model_json = REPO / "models" / config.name / "model.json"
    if not model_json.exists():
        assert name == "run"  # `trigcomp run` trains its own model; every other model config ships one
        return
    record = json.loads(model_json.read_text())
    assert record["config"] == json.loads(json.dumps(config.to_dict()))  # tuples as JSON lists
    assert record["metrics"]["bits_per_jet"] == config.bits_per_jet
    assert record["normalization"]["variables"] == list(resolve_model_variables(config.variables))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"colour": 1}, "unknown config key 'colour'"),
        ({"latent": {"width": 3}}, "latent.width; allowed keys in [latent]: size, bits, integer"),
        ({"latent": {"bits": "8"}}, "latent.bits must be an integer"),
        ({"latent": {"bits": 1}}, "latent.bits must be between 2 and 24"),
        ({"latent": {"bits": 4, "integer": 4}}, "latent.integer must be in [0, latent.bits)"),
        ({"encoder": {"hidden": [8, -1]}}, "encoder.hidden must be a list of positive integers"),
        ({"training": {"learning_rate": 0}}, "training.learning_rate must be > 0"),
        ({"variables": 3}, "variables must be a set name"),
        ({"input": []}, "section [input] must be a table"),
    ],
)
def test_config_errors_name_the_key(raw, message):
    with pytest.raises(
        UserError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")
    ):
        config_from_dict(raw)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(UserError, match="not valid TOML"):
        load_config(bad)


def test_fixed_point_grid():
    fp = FixedPoint(bits=6, integer=2)  # quantized_bits(6, 2): sign + 2 integer + 3 fractional bits
    assert (fp.lsb, fp.min, fp.max) == (0.125, -4.0, 3.875)
