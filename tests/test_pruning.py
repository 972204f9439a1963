"""Magnitude pruning during training (``training.prune_*``): the encoder kernels reach the requested sparsity, the
saved model is plain QKeras with zero weights and its firmware stays bit-exact; bad values are refused."""

import numpy as np
import pytest

from trigcomp.config import config_from_dict
from trigcomp.errors import UserError
from trigcomp.model import encoder_sparsity, load_model, save_model, train

from .conftest import REPO, TINY_CONFIG
from .test_model import _training_graph_latent

PRUNED = TINY_CONFIG | {
    "name": "tiny-pruned",
    "training": TINY_CONFIG["training"] | {"epochs": 4, "prune_sparsity": 0.5, "prune_end_epoch": 2},
}


@pytest.fixture(scope="module")
def pruned_model(tmp_path_factory, jets):
    return save_model(train(config_from_dict(PRUNED), jets), tmp_path_factory.mktemp("models") / "tiny-pruned")


def test_pruned_training_reaches_the_sparsity_and_stays_bit_exact(pruned_model, jets):
    model = load_model(pruned_model.path)
    sparsity = encoder_sparsity(model)
    assert set(sparsity) == {"enc_dense0", "enc_latent"}
    assert all(value >= 0.5 for value in sparsity.values()), sparsity
    assert model.info["training"]["pruning"]["zero_fraction"] == sparsity
    assert set(model.weights) == set(pruned_model.weights)  # no pruning masks or wrapper names left behind
    spec = model.firmware_ir
    for name in sparsity:  # the zeros reach the firmware's (folded) kernels
        step = next(s for s in spec.steps if s.name == name)
        assert np.mean(step.matrix()[0] == 0) >= 0.5
    x = jets.values[:3000].astype(np.float64)
    exact, _ = spec.reference(spec.quantize_inputs(x)[0])
    assert np.array_equal(model.encode(x), exact)
    assert np.array_equal(_training_graph_latent(model, x), exact)


def test_pruned_training_is_reproducible(pruned_model, jets):
    assert train(config_from_dict(PRUNED), jets).hash == pruned_model.hash


def test_models_without_pruning_keep_their_config_and_hash():
    assert "prune_sparsity" not in config_from_dict(TINY_CONFIG).to_dict()["training"]
    load_model(REPO / "models" / "jet10")  # refuses a hash mismatch


@pytest.mark.parametrize(
    ("training", "message"),
    [
        ({"prune_sparsity": 1.0}, "training.prune_sparsity must be in [0, 1)"),
        ({"prune_sparsity": -0.1}, "training.prune_sparsity must be in [0, 1)"),
        ({"prune_sparsity": "half"}, "training.prune_sparsity must be a number"),
        ({"prune_sparsity": 0.5, "prune_end_epoch": 3}, "prune_end_epoch < training.epochs"),
        ({"prune_sparsity": 0.5, "prune_begin_epoch": 2, "prune_end_epoch": 2}, "prune_begin_epoch < training"),
        ({"prune_sparsity": 0.5, "prune_begin_epoch": -1, "prune_end_epoch": 2}, "0 <= training.prune_begin"),
        ({"prune_epochs": 2}, "unknown config key training.prune_epochs"),
    ],
)
def test_bad_pruning_values_are_refused(training, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace(")", r"\)")) as err:
        config_from_dict(TINY_CONFIG | {"training": TINY_CONFIG["training"] | training})
    assert "\n" not in str(err.value)


def test_cli_bad_pruning_value_is_one_line_exit_2(capsys, tmp_path):
    from .test_cli import run_cli

    config = tmp_path / "bad.toml"
    config.write_text('variables = "jet10"\n[latent]\nsize = 4\n[training]\nprune_sparsity = 1.5\n')
    code, stdout, err = run_cli(capsys, "train", "--config", str(config), "--data", "x.root", "--out", "m")
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and "training.prune_sparsity must be in [0, 1)" in err


def test_scan_can_vary_the_pruning(tmp_path):
    from trigcomp.scan import load_scan

    from .test_scan import write_scan

    grid = '[grid]\n"training.prune_sparsity" = [0.0, 0.5]\n[fixed]\n"training.epochs" = 3\n"training.prune_end_epoch" = 2\n'
    spec = load_scan(write_scan(tmp_path, grid))
    configs = [spec.config(point) for point in spec.grid_points()]
    assert [c.training.prune_sparsity for c in configs] == [0.0, 0.5]
