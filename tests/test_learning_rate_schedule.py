"""training.learning_rate_schedule: "plateau" (the default, halving on a plateau) or "cosine" (half a cosine from
learning_rate to 0 over all epochs); models trained before the key existed keep their config and hash."""

import numpy as np
import pytest

from trigcomp.config import config_from_dict
from trigcomp.errors import UserError
from trigcomp.model import _learning_rate, load_model, train

from .conftest import REPO, TINY_CONFIG

COSINE = TINY_CONFIG | {"training": TINY_CONFIG["training"] | {"learning_rate_schedule": "cosine"}}


def test_cosine_falls_from_the_learning_rate_to_zero_over_all_epochs():
    training = config_from_dict(COSINE).training
    schedule, callbacks = _learning_rate(training, steps_per_epoch=10)
    steps = training.epochs * 10
    rates = [float(schedule(step)) for step in (0, steps // 2, steps)]
    assert rates == pytest.approx([training.learning_rate, training.learning_rate / 2, 0.0], abs=1e-7)
    assert callbacks == []  # no plateau halving on top of the fixed path


def test_plateau_keeps_the_constant_rate_and_halves_on_a_plateau():
    training = config_from_dict(TINY_CONFIG).training
    rate, callbacks = _learning_rate(training, steps_per_epoch=10)
    assert rate == training.learning_rate
    assert [type(c).__name__ for c in callbacks] == ["ReduceLROnPlateau"]
    assert callbacks[0].factor == 0.5 and callbacks[0].patience == max(1, training.patience // 3)


def test_cosine_training_is_reproducible_and_differs_from_plateau(jets, tiny_model):
    cosine = train(config_from_dict(COSINE), jets)
    assert cosine.config.to_dict()["training"]["learning_rate_schedule"] == "cosine"
    assert cosine.hash != tiny_model.hash
    assert train(config_from_dict(COSINE), jets).hash == cosine.hash
    assert np.isfinite(cosine.info["metrics"]["best_val_loss"])


def test_models_without_a_schedule_keep_their_config_and_hash():
    assert "learning_rate_schedule" not in config_from_dict(TINY_CONFIG).to_dict()["training"]
    load_model(REPO / "models" / "towers8-convmix")  # refuses a hash mismatch


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("step", "training.learning_rate_schedule must be one of plateau, cosine"),
        ("", "training.learning_rate_schedule must be one of plateau, cosine"),
        (1, "training.learning_rate_schedule must be a string"),
    ],
)
def test_bad_schedules_are_refused_in_one_line(value, message):
    with pytest.raises(UserError, match=message) as err:
        config_from_dict(TINY_CONFIG | {"training": TINY_CONFIG["training"] | {"learning_rate_schedule": value}})
    assert "\n" not in str(err.value)
