"""Model configuration (TOML): architecture, quantizers and training settings, validated key by key.

A config names every quantity the firmware depends on (bit widths of weights, activations, latent) so that the
same file + seed gives the same model. Unknown keys and bad values are refused with the key and what is allowed.
"""

from __future__ import annotations

import logging
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import UserError
from .ir import FixedPoint
from .records import VARIABLE_SETS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputConfig:
    """The board's input: one ``quantized_bits(bits, integer)`` for every variable, except those given their own
    ``[input.variables]`` format (``name = [bits, integer]``, e.g. energy fractions in [0, 1]: ``chHEF = [10, 1]``)."""

    bits: int = 20
    integer: int = 11
    variables: tuple[tuple[str, int, int], ...] = ()  # (name, bits, integer) in the order given


@dataclass(frozen=True)
class EncoderConfig:
    # "dense": QDense layers on the flat inputs. "conv2d" (square tower images): the flat towers reshaped to an
    # image, QConv2D layers (conv_filters, conv_kernel, conv_strides; "valid" padding), flattened into the
    # QDense layers of ``hidden``.
    kind: str = "dense"
    conv_filters: tuple[int, ...] = ()
    conv_kernel: int = 3
    conv_strides: tuple[int, ...] = ()
    hidden: tuple[int, ...] = (32, 16)
    weight_bits: int = 8
    weight_integer: int = 0
    bias_bits: int = 12
    bias_integer: int = 4
    activation_bits: int = 8
    activation_integer: int = 3


@dataclass(frozen=True)
class LatentConfig:
    size: int = 8
    bits: int = 8
    integer: int = 3


@dataclass(frozen=True)
class DecoderConfig:
    hidden: tuple[int, ...] = (32, 64)


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 200
    batch_size: int = 512
    learning_rate: float = 3e-3
    patience: int = 10
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    max_jets: int = 0  # 0 = use every jet
    # "mse": mean squared error of the standardised transformed variables. "targets": mean of r^2 and
    # "targets-log": mean of log(1 + r^2), with r each variable's residual in units of its physics target
    # (``targets``: a preset such as "l1-jets" or a TOML file), so capacity goes where the targets need it.
    # "emd" (tower images): the energy mover's distance of trigcomp.images (transport + |total ET difference|),
    # its transport part approximated by the sliced EMD (trigcomp.tower_autoencoder); "emd-relative": each
    # image's EMD divided by its total ET, so soft and TeV jets count alike.
    loss: str = "mse"
    targets: str = "l1-jets"
    # Magnitude pruning during training (tensorflow-model-optimization): each encoder kernel's smallest-magnitude
    # weights are masked to zero, rising from 0 at epoch prune_begin_epoch to prune_sparsity at prune_end_epoch
    # (polynomial schedule, masks updated once per epoch), then held; early stopping only judges epochs from
    # prune_end_epoch on. Zero weights cost nothing on the board (da4ml drops them). 0 = no pruning.
    prune_sparsity: float = 0.0
    prune_begin_epoch: int = 0
    prune_end_epoch: int = 10
    # Tower images: every training image enters a second time with its tower ET scaled by a factor drawn
    # log-uniformly from [1, et_scale_max] (seeded) and quantized again as the L1 towers are (0.5 GeV LSB,
    # saturating at 511.5 GeV), so the encoder also sees jets harder than its files hold. 1 = no scaled copy.
    et_scale_max: float = 1.0
    # Tower images, loss "emd" or "emd-relative": after the sliced-EMD training (its best weights), this many epochs
    # more on the exact EMD (trigcomp.images, POT's network simplex, ~1 ms per image; its gradient from the dual
    # potentials), at the learning rate training ended with, early-stopped on the exact validation loss. The sliced
    # EMD weighs transport ~0.55-0.6 times what the exact one does. 0 = none.
    exact_emd_epochs: int = 0
    # EMD losses: "emd-relative" divides each image's EMD by its total ET to the power emd_et_power (1: soft and
    # TeV jets count alike; 0: the EMD in GeV, as the mean per process weighs them); emd_total_weight multiplies
    # the EMD's total-ET term (the ET missing or created) so the decoded total is pulled closer than the shape.
    emd_et_power: float = 1.0
    emd_total_weight: float = 1.0
    # "plateau": the learning rate halves after patience // 3 epochs without a better validation loss.
    # "cosine": it falls from learning_rate to 0 along half a cosine over the training steps of all ``epochs``
    # (a fixed path, independent of the validation loss), so the last epochs fine-tune at a small rate.
    learning_rate_schedule: str = "plateau"


#: Training losses (see TrainingConfig.loss); the ones other than "mse" weight the residuals by physics targets.
LOSSES = ("mse", "targets", "targets-log", "emd", "emd-relative")
ENCODER_KINDS = ("dense", "conv2d")
LEARNING_RATE_SCHEDULES = ("plateau", "cosine")
#: Keys written into a model's config only when they differ from these values, so that models trained before
#: the keys existed keep their hash (the hash covers the config as written).
#: Each group is omitted as a whole when all its keys have these values.
_OMITTED_WHEN_DEFAULT = (
    ("training", {"loss": "mse", "targets": "l1-jets"}),
    ("training", {"prune_sparsity": 0.0, "prune_begin_epoch": 0, "prune_end_epoch": 10}),
    ("training", {"et_scale_max": 1.0}),
    ("training", {"exact_emd_epochs": 0}),
    ("training", {"emd_et_power": 1.0, "emd_total_weight": 1.0}),
    ("training", {"learning_rate_schedule": "plateau"}),
    ("input", {"variables": ()}),
    ("encoder", {"kind": "dense", "conv_filters": (), "conv_kernel": 3, "conv_strides": ()}),
)


@dataclass(frozen=True)
class ModelConfig:
    name: str = "model"
    variables: tuple[str, ...] | str = "jet4"
    seed: int = 1
    input: InputConfig = field(default_factory=InputConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    latent: LatentConfig = field(default_factory=LatentConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    @property
    def input_quantizer(self) -> FixedPoint:
        return FixedPoint(self.input.bits, self.input.integer)

    def input_formats(self, variables: tuple[str, ...]) -> tuple[FixedPoint, ...]:
        """Each input variable's format: its own from ``[input.variables]``, else the common ``[input]`` one."""
        own = {name: FixedPoint(bits, integer) for name, bits, integer in self.input.variables}
        unknown = sorted(set(own) - set(variables))
        if unknown:
            raise UserError(f"bad config: input.variables.{unknown[0]} is not one of the model's variables")
        return tuple(own.get(name, self.input_quantizer) for name in variables)

    @property
    def latent_quantizer(self) -> FixedPoint:
        return FixedPoint(self.latent.bits, self.latent.integer)

    @property
    def bits_per_jet(self) -> int:
        return self.latent.size * self.latent.bits

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["input"]["variables"] = {name: [bits, integer] for name, bits, integer in self.input.variables}
        for section, defaults in _OMITTED_WHEN_DEFAULT:
            if all(getattr(getattr(self, section), key) == value for key, value in defaults.items()):
                for key in defaults:
                    del raw[section][key]
        return raw


_SECTIONS = {
    "input": InputConfig,
    "encoder": EncoderConfig,
    "latent": LatentConfig,
    "decoder": DecoderConfig,
    "training": TrainingConfig,
}
_TOP_LEVEL = ("name", "variables", "seed")


def _coerce(where: str, value: Any, default: Any) -> Any:
    """Check a value against the type of its default; tuples of widths come as TOML arrays."""
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, int) and v > 0 for v in value):
            raise UserError(f"config key {where} must be a list of positive integers, got {value!r}")
        return tuple(value)
    if isinstance(default, bool) or not isinstance(value, (int, float, str)):
        raise UserError(f"config key {where} has unsupported value {value!r}")
    if isinstance(default, int) and not (isinstance(value, int) and not isinstance(value, bool)):
        raise UserError(f"config key {where} must be an integer, got {value!r}")
    if isinstance(default, float) and not isinstance(value, (int, float)):
        raise UserError(f"config key {where} must be a number, got {value!r}")
    if isinstance(default, str) and not isinstance(value, str):
        raise UserError(f"config key {where} must be a string, got {value!r}")
    return type(default)(value)


def _section(name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise UserError(f"config section [{name}] must be a table")
    allowed = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise UserError(f"unknown config key {name}.{unknown[0]}; allowed keys in [{name}]: {', '.join(allowed)}")
    defaults = cls()
    values = {k: _coerce(f"{name}.{k}", v, getattr(defaults, k)) for k, v in raw.items() if k != "variables"}
    if cls is InputConfig and "variables" in raw:
        values["variables"] = _input_variables(raw["variables"])
    return cls(**values)


def _input_variables(raw: Any) -> tuple[tuple[str, int, int], ...]:
    """``[input.variables]``: name = [bits, integer] per variable (a signed quantized_bits, as ``[input]``)."""
    if not isinstance(raw, dict):
        raise UserError("config section [input.variables] must be a table of name = [bits, integer]")
    formats = []
    for name, value in raw.items():
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        )
        if not ok or not (2 <= value[0] <= 32 and 0 <= value[1] < value[0]):
            raise UserError(
                f"config key input.variables.{name} must be [bits, integer] with 2 <= bits <= 32 and "
                f"0 <= integer < bits, got {value!r}"
            )
        formats.append((str(name), value[0], value[1]))
    return tuple(formats)


def _validate(config: ModelConfig) -> None:
    checks = [
        (config.input.bits >= 2 and config.input.integer >= 0, "input.bits must be >= 2 and input.integer >= 0"),
        (config.input.bits <= 32, "input.bits must be <= 32"),
        (2 <= config.encoder.weight_bits <= 24, "encoder.weight_bits must be between 2 and 24"),
        (2 <= config.encoder.bias_bits <= 32, "encoder.bias_bits must be between 2 and 32"),
        (2 <= config.encoder.activation_bits <= 24, "encoder.activation_bits must be between 2 and 24"),
        (1 <= config.latent.size <= 64, "latent.size must be between 1 and 64"),
        (2 <= config.latent.bits <= 24, "latent.bits must be between 2 and 24"),
        (0 <= config.latent.integer < config.latent.bits, "latent.integer must be in [0, latent.bits)"),
        (config.training.epochs >= 1, "training.epochs must be >= 1"),
        (config.training.batch_size >= 1, "training.batch_size must be >= 1"),
        (config.training.learning_rate > 0, "training.learning_rate must be > 0"),
        (0 < config.training.validation_fraction < 0.5, "training.validation_fraction must be in (0, 0.5)"),
        (0 < config.training.test_fraction < 0.5, "training.test_fraction must be in (0, 0.5)"),
        (config.training.max_jets >= 0, "training.max_jets must be >= 0 (0 = all jets)"),
        (config.training.loss in LOSSES, f"training.loss must be one of {', '.join(LOSSES)}"),
        (
            config.training.learning_rate_schedule in LEARNING_RATE_SCHEDULES,
            f"training.learning_rate_schedule must be one of {', '.join(LEARNING_RATE_SCHEDULES)}",
        ),
        (config.training.targets != "", "training.targets must name a targets preset or TOML file"),
        (config.encoder.kind in ENCODER_KINDS, f"encoder.kind must be one of {', '.join(ENCODER_KINDS)}"),
        (
            (config.encoder.kind == "conv2d") == bool(config.encoder.conv_filters),
            'encoder.conv_filters must be given for kind = "conv2d" and only then',
        ),
        (
            len(config.encoder.conv_strides) in (0, len(config.encoder.conv_filters)),
            "encoder.conv_strides must give one stride per conv_filters entry (or be left out: all 1)",
        ),
        (config.encoder.conv_kernel >= 1, "encoder.conv_kernel must be >= 1"),
        (0 <= config.training.prune_sparsity < 1, "training.prune_sparsity must be in [0, 1) (0 = no pruning)"),
        (
            config.training.prune_sparsity == 0
            or 0 <= config.training.prune_begin_epoch < config.training.prune_end_epoch < config.training.epochs,
            "pruning needs 0 <= training.prune_begin_epoch < training.prune_end_epoch < training.epochs",
        ),
        (
            1 <= config.training.et_scale_max < math.inf,
            "training.et_scale_max must be a finite number >= 1 (1 = no scaled copies)",
        ),
        (config.training.exact_emd_epochs >= 0, "training.exact_emd_epochs must be >= 0 (0 = none)"),
        (
            config.training.exact_emd_epochs == 0 or config.training.loss in ("emd", "emd-relative"),
            'training.exact_emd_epochs needs training.loss = "emd" or "emd-relative"',
        ),
        (
            config.training.exact_emd_epochs == 0 or config.training.learning_rate_schedule == "plateau",
            'training.exact_emd_epochs continues at the rate training ended with: "cosine" ends at 0',
        ),
        (
            0 <= config.training.emd_et_power <= 1,
            "training.emd_et_power must be in [0, 1] (1 = each image's EMD over its total ET, 0 = in GeV)",
        ),
        (
            config.training.emd_et_power == 1 or config.training.loss == "emd-relative",
            'training.emd_et_power applies only to training.loss = "emd-relative"',
        ),
        (
            0 < config.training.emd_total_weight < math.inf,
            "training.emd_total_weight must be a finite number > 0",
        ),
        (
            config.training.emd_total_weight == 1 or config.training.loss in ("emd", "emd-relative"),
            'training.emd_total_weight applies only to training.loss = "emd" or "emd-relative"',
        ),
        (
            config.training.emd_total_weight == 1 or config.training.exact_emd_epochs == 0,
            "training.emd_total_weight weighs the sliced loss only, not the exact EMD of exact_emd_epochs",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(f"bad config: {message}")


def config_from_dict(raw: dict[str, Any]) -> ModelConfig:
    allowed = set(_TOP_LEVEL) | set(_SECTIONS)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise UserError(f"unknown config key {unknown[0]!r}; allowed top-level keys: {', '.join(sorted(allowed))}")
    values: dict[str, Any] = {}
    defaults = ModelConfig()
    for key in _TOP_LEVEL:
        if key in raw:
            value = raw[key]
            if key == "variables" and isinstance(value, list):
                value = tuple(str(v) for v in value)
            elif key == "variables" and not isinstance(value, str):
                raise UserError("config key variables must be a set name (jet4, jet10) or a list of variable names")
            elif key != "variables":
                value = _coerce(key, value, getattr(defaults, key))
            values[key] = value
    for key, cls in _SECTIONS.items():
        if key in raw:
            values[key] = _section(key, cls, raw[key])
    config = ModelConfig(**values)
    _validate(config)
    _check_bottleneck(config)
    return config


def _n_inputs(variables: tuple[str, ...] | str) -> int:
    if isinstance(variables, str):
        return len(VARIABLE_SETS.get(variables) or [v for v in variables.split(",") if v.strip()])
    return len(variables)


def _check_bottleneck(config: ModelConfig) -> None:
    """More latent values than inputs is no compression: the autoencoder could pass every input through."""
    n_inputs = _n_inputs(config.variables)
    if config.latent.size > n_inputs:
        raise UserError(
            f"bad config: latent.size {config.latent.size} is larger than the {n_inputs} input variables "
            f"({config.bits_per_jet} bits/jet); an autoencoder needs a bottleneck: use latent.size <= {n_inputs}"
        )


def read_toml(path: str | Path, what: str = "config") -> dict[str, Any]:
    """A TOML file as a dict; UserError naming ``what`` it is when it is missing or not TOML."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file not found: {path}")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{what} {path} is not valid TOML: {err}") from None


def load_config(path: str | Path) -> ModelConfig:
    raw = read_toml(path)
    if not raw:
        raise UserError(f"config {path} is empty: give at least variables and a [latent] section (see configs/)")
    defaulted = [name for name in (*_TOP_LEVEL, *_SECTIONS) if name not in raw]
    if defaulted:
        log.info("config %s: defaults used for %s", path, ", ".join(defaulted))
    return config_from_dict(raw)
