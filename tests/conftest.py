"""Shared fixtures: synthetic jets with realistic shapes, and one small trained model per test session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from trigcomp.config import config_from_dict
from trigcomp.records import JET10, JetTable

REPO = Path(__file__).parents[1]
TEST_DATA = REPO / "tests" / "data"

TINY_CONFIG = {
    "name": "tiny",
    "variables": "jet10",
    "seed": 3,
    "encoder": {"hidden": [8]},
    "latent": {"size": 4, "bits": 6, "integer": 2},
    "decoder": {"hidden": [16]},
    "training": {"epochs": 3, "batch_size": 256, "patience": 2},
}


def synthetic_jets(n_events: int = 2000, seed: int = 0) -> JetTable:
    """jet10 jets with QCD-like shapes: falling pt, mass ~ pt, fractions summing to one, integer counts."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 5, n_events)
    n = int(counts.sum())
    pt = 20 + rng.exponential(40, n)
    fractions = rng.dirichlet([3, 1, 0.3, 1.5, 0.05], n)
    values = np.column_stack(
        [
            pt,
            rng.uniform(-4, 4, n),
            rng.uniform(-np.pi, np.pi, n),
            pt * rng.uniform(0.05, 0.2, n),
            fractions,
            np.rint(5 + pt / 10 + rng.normal(0, 2, n)).clip(1),
        ]
    ).astype(np.float32)
    return JetTable(JET10, values, np.repeat(np.arange(n_events), counts), n_events, "synthetic")


@pytest.fixture(scope="session")
def jets() -> JetTable:
    return synthetic_jets()


@pytest.fixture(scope="session")
def tiny_config():
    return config_from_dict(TINY_CONFIG)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, jets, tiny_config):
    """A small model trained once per session and saved (hls needs the model directory)."""
    from trigcomp.model import save_model, train

    return save_model(train(tiny_config, jets), tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_hybrid(tmp_path_factory, jets):
    """A hybrid codec: fixed-point pt, eta, phi, mass and nConstituents, and a small autoencoder (trained once per
    session) of the five energy fractions, whose input type ap_fixed<21,13> is the board's."""
    from trigcomp.codecs import AutoencoderCodec, FixedPointCodec, HybridCodec
    from trigcomp.model import save_model, train

    fractions = JET10[4:9]
    config = config_from_dict(
        TINY_CONFIG
        | {"name": "tiny-fractions", "variables": list(fractions), "input": {"bits": 21, "integer": 12}}
        | {"latent": {"size": 3, "bits": 4, "integer": 1}}
    )
    fraction_jets = JetTable(fractions, jets.values[:, 4:9], jets.event_index, jets.n_events, "synthetic")
    model = save_model(train(config, fraction_jets), tmp_path_factory.mktemp("models") / "tiny-fractions")
    rest = tuple(v for v in JET10 if v not in fractions)
    columns = [JET10.index(v) for v in rest]
    fixed = FixedPointCodec.from_bits(jets.values[:, columns].astype(np.float64), rest, [6, 7, 6, 5, 5])
    return HybridCodec(JET10, fixed, AutoencoderCodec(model))


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory, tiny_model, jets):
    from trigcomp.boards import get_board
    from trigcomp.hls import HlsOptions, write_hls_project

    out = tmp_path_factory.mktemp("projects") / "tiny"
    return write_hls_project(tiny_model, out, HlsOptions(get_board("vu13p"), 5.0), jets.values[:200])


@pytest.fixture
def cluster_close_times_out(monkeypatch):
    """LocalCluster.close as under heavy load: it shuts the cluster down (so that the test leaves none behind), then
    raises the TimeoutError distributed raises when a worker process is not joined in time. Returns a list:
    functions appended to it run when the close begins."""
    from distributed import LocalCluster

    real_close, on_close = LocalCluster.close, []

    def close(self, timeout=None):
        for call in on_close:
            call()
        real_close(self, timeout)
        raise TimeoutError("timed out after 5 s.")

    monkeypatch.setattr(LocalCluster, "close", close)
    return on_close
