"""Quantization-aware QKeras autoencoders: the encoder goes on the FPGA, the decoder runs offline.

How a jet flows through a trained model:

* The board sees raw jet quantities (GeV, radians, fractions) as one fixed-point input type (``[input]`` in the
  config), or per variable its own (``[input.variables]``); values outside the range saturate, and that is counted.
* Normalisation is an affine map ``z = (x - offset) * scale`` with a power-of-two ``scale`` per variable and an
  ``offset`` on a coarse grid. During training it is a separate step; for the firmware it is folded exactly into
  the first QDense (kernel rows shifted by the scale, offset moved into the bias), so the board pays nothing for it.
* Encoder: QDense + quantized_relu layers, then a QDense into the quantized latent (``[latent]``: size x bits are
  the bits per jet that leave the board). Its description (trigcomp.ir, ``trained_encoder``) is built from the
  config and weights; the training graph, the firmware encoder and the float model are derived from it.
* Decoder (offline, float): reconstructs the *transformed* targets (log pt, log(1+mass), log(1+nConstituents),
  the others as they are, each standardised); the non-linear inverse is applied here, never on the board.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, ir
from .config import FixedPoint, ModelConfig, TrainingConfig, config_from_dict
from .errors import UserError
from .ir import OFFSET_GRID, exact_arithmetic
from .records import VARIABLE_SETS, JetTable
from .staging import staged_dir, write_json
from .targets import MIN_MASS_FOR_RELATIVE, Targets, load_targets, residual_kind
from .tower_autoencoder import (
    common_scale,
    emd_loss,
    exact_emd_loss,
    image_decoder,
    image_side,
    with_scaled_copies,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
log = logging.getLogger("trigcomp")

MODEL_FORMAT = "trigcomp-model/1"
#: An encoder brought in by ``trigcomp import`` (trigcomp.imported): no decoder, no normalisation.
IMPORTED_MODEL_FORMAT = "trigcomp-imported/1"
MODEL_FILES = ("model.json", "weights.json", "metrics.json")
MIN_TRAINING_JETS = 1000
#: Non-linear target transforms, applied on the decoder side only.
TRANSFORMS = {"pt": "log", "mass": "log1p", "nConstituents": "log1p"}


def resolve_model_variables(spec: tuple[str, ...] | str) -> tuple[str, ...]:
    if isinstance(spec, str):
        if spec in VARIABLE_SETS:
            return VARIABLE_SETS[spec]
        return tuple(v.strip() for v in spec.split(",") if v.strip())
    return tuple(spec)


# ---------------------------------------------------------------------------------------------------------------
# Normalisation and target transforms
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalization:
    variables: tuple[str, ...]
    input_scale: np.ndarray  # power of two per variable
    input_offset: np.ndarray  # raw units; offset * scale lies on OFFSET_GRID
    transforms: tuple[str, ...]  # "log", "log1p" or "identity" per variable
    target_mean: np.ndarray
    target_std: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {
            "variables": list(self.variables),
            "input_scale": [float(v) for v in self.input_scale],
            "input_offset": [float(v) for v in self.input_offset],
            "transforms": list(self.transforms),
            "target_mean": [float(v) for v in self.target_mean],
            "target_std": [float(v) for v in self.target_std],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Normalization:
        return cls(
            variables=tuple(raw["variables"]),
            input_scale=np.array(raw["input_scale"]),
            input_offset=np.array(raw["input_offset"]),
            transforms=tuple(raw["transforms"]),
            target_mean=np.array(raw["target_mean"]),
            target_std=np.array(raw["target_std"]),
        )

    def normalise_inputs(self, x: np.ndarray) -> np.ndarray:
        return (x - self.input_offset) * self.input_scale

    def to_targets(self, x: np.ndarray) -> np.ndarray:
        return (_forward_transform(x, self.transforms) - self.target_mean) / self.target_std

    def from_targets(self, t: np.ndarray) -> np.ndarray:
        x = _inverse_transform(t * self.target_std + self.target_mean, self.transforms)
        for j, name in enumerate(self.variables):
            if name == "nConstituents":
                x[:, j] = np.maximum(np.rint(x[:, j]), 0)
            elif name.endswith("EF"):  # energy fractions live in [0, 1]
                x[:, j] = np.clip(x[:, j], 0.0, 1.0)
            elif name in ("pt", "mass"):
                x[:, j] = np.maximum(x[:, j], 0.0)
        return x


def _forward_transform(x: np.ndarray, transforms: tuple[str, ...]) -> np.ndarray:
    out = np.array(x, dtype=np.float64)
    for j, kind in enumerate(transforms):
        if kind == "log":
            out[:, j] = np.log(np.maximum(out[:, j], 1e-3))
        elif kind == "log1p":
            out[:, j] = np.log1p(np.maximum(out[:, j], 0.0))
    return out


def _inverse_transform(t: np.ndarray, transforms: tuple[str, ...]) -> np.ndarray:
    out = np.array(t, dtype=np.float64)
    for j, kind in enumerate(transforms):
        if kind == "log":
            out[:, j] = np.exp(np.minimum(out[:, j], 20.0))
        elif kind == "log1p":
            out[:, j] = np.expm1(np.minimum(out[:, j], 20.0))
    return out


def fit_normalization(values: np.ndarray, variables: tuple[str, ...]) -> Normalization:
    if image_side(variables):  # tower images: one scale for all towers, so it folds into a convolution too
        n, scale = len(variables), common_scale(values)
        return Normalization(
            variables=variables,
            input_scale=np.full(n, scale),
            input_offset=np.zeros(n),
            transforms=("identity",) * n,
            target_mean=np.zeros(n),
            target_std=np.full(n, 1.0 / scale),
        )
    std = values.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    scale = 2.0 ** -np.round(np.log2(std))
    offset = np.round(values.mean(axis=0) * scale / OFFSET_GRID) * OFFSET_GRID / scale
    transforms = tuple(TRANSFORMS.get(name, "identity") for name in variables)
    transformed = _forward_transform(values, transforms)
    t_std = transformed.std(axis=0)
    return Normalization(
        variables=variables,
        input_scale=scale,
        input_offset=offset,
        transforms=transforms,
        target_mean=transformed.mean(axis=0),
        target_std=np.where(t_std > 0, t_std, 1.0),
    )


# ---------------------------------------------------------------------------------------------------------------
# Keras models
# ---------------------------------------------------------------------------------------------------------------


def trained_encoder(config: ModelConfig, norm: Normalization, weights: dict[str, list[np.ndarray]] | None):
    """The encoder description (trigcomp.ir) of a model: from its config, normalisation and weights (None: the
    training graph only)."""
    return ir.from_trained(config, config.input_formats(norm.variables), norm.input_scale, norm.input_offset, weights)


def build_training_models(config: ModelConfig, norm: Normalization, wrap_weighted=None):
    """The autoencoder as trained: (autoencoder, decoder). Normalisation is an explicit step here.
    ``wrap_weighted`` wraps each encoder QDense/QConv2D (pruning during training)."""
    from tensorflow import keras

    jet, latent = trained_encoder(config, norm, None).to_training_keras(wrap_weighted)
    latent_in = keras.Input((config.latent.size,), name="latent_in")
    if image_side(norm.variables):
        out = image_decoder(latent_in, len(norm.variables), config.decoder.hidden)
    else:
        d = latent_in
        for i, width in enumerate(config.decoder.hidden):
            d = keras.layers.Dense(width, activation="relu", name=f"dec_dense{i}")(d)
        out = keras.layers.Dense(len(norm.variables), name="dec_out")(d)
    decoder = keras.Model(latent_in, out, name="decoder")
    autoencoder = keras.Model(jet, decoder(latent), name="autoencoder")
    return autoencoder, decoder


# ---------------------------------------------------------------------------------------------------------------
# The trained model on disk
# ---------------------------------------------------------------------------------------------------------------


class EncoderModel:
    """What the firmware stages (hls, csim, rtl) need of a model: its encoder description (trigcomp.ir), the
    QKeras encoder that runs on the board derived from it, and its bit-exact reference. Subclasses:
    ``TrainedModel`` (``trigcomp train``) and ``ImportedModel`` (``trigcomp import``, in trigcomp.imported). They
    provide ``path``, ``name``, ``hash``, ``variables`` (one name per input value), ``model_files`` (what an HLS
    project copies), ``describe()`` (the manifest's "config") and ``encoder_ir()`` (the description); everything
    below is derived from it.
    """

    path: Path | None

    @property
    def firmware_ir(self) -> ir.Encoder:
        """What the board computes (normalisation folded in)."""
        if not hasattr(self, "_firmware_ir"):
            self._firmware_ir = self.encoder_ir().firmware()
        return self._firmware_ir

    @property
    def input_quantizer(self) -> FixedPoint:
        """The input port's format (the widest of the per-variable formats)."""
        return self.firmware_ir.input.format

    @property
    def latent_quantizer(self) -> FixedPoint:
        return self.firmware_ir.output_format

    @property
    def latent_lsb(self) -> float:
        return self.latent_quantizer.lsb

    @property
    def n_latent(self) -> int:
        return int(self.firmware_ir.n_outputs)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The encoder's input shape without the batch axis; the board sees it flattened (C order, channels last)."""
        return self.firmware_ir.input.shape

    def firmware_encoder(self):
        """The QKeras firmware encoder (float64), built from the description: what hls4ml converts."""
        if not hasattr(self, "_encoder"):
            self._encoder = self.firmware_ir.to_keras()
        return self._encoder

    def encode_float(self, x: np.ndarray) -> np.ndarray:
        """The unquantized float model's latent (float shadow weights, uncapped ReLU, no quantizers), float64."""
        return self.encoder_ir().float_forward(x)

    def board_values(self, x: np.ndarray) -> np.ndarray:
        """Jets as they arrive on the board's input port. With per-variable input formats each value arrives in
        its own format (the port is the widest of them), so it is quantized here exactly as the sender does;
        with one input format the board converts raw values itself and they are returned unchanged."""
        if not self.firmware_ir.input.per_value:
            return x
        with np.errstate(over="ignore"):
            values = np.asarray(x, dtype=np.float32).astype(np.float64)
        return self.firmware_ir.input.quantize(values)[0]

    def encoder_input(self, x: np.ndarray) -> np.ndarray:
        """Inputs as the board sees them: float32 values (held in float64), saturated to the input type (each to
        its own with per-variable formats), in the encoder's input shape (rows of ``len(variables)`` values are
        reshaped).

        The firmware converts each value to the input type with saturation, so every value beyond the range,
        however large, and +-inf become the range's end. Clipping here first gives QKeras the same words and
        keeps its quantizer away from the values it overflows on (|x| >= ~1e20 turned into wrong words). NaN is
        no jet value: the readers drop it (or refuse it with --strict), and it is refused here.
        """
        with np.errstate(over="ignore"):  # beyond float32 becomes +-inf, which saturates like any large value
            x = np.asarray(x, dtype=np.float32).astype(np.float64)
        if np.isnan(x).any():
            raise UserError(f"{int(np.isnan(x).any(axis=-1).sum())} jet(s) hold NaN: NaN is not a valid jet value")
        low, high = self.firmware_ir.input.bounds()
        values = self.board_values(x) if self.firmware_ir.input.per_value else np.clip(x, low, high)
        return values.reshape((len(x),) + self.input_shape)

    def encode(self, x: np.ndarray) -> np.ndarray:
        """The quantized latent, as the QKeras firmware encoder computes it (the bit-exact reference)."""
        encoder, inputs = self.firmware_encoder(), self.encoder_input(x)  # built (and loaded) in Keras' own floatx
        with exact_arithmetic():
            return encoder.predict(inputs, batch_size=65536, verbose=0)

    def encode_with_accumulator(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The quantized latent and the value before the latent quantizer (to count saturation), in one pass."""
        if not hasattr(self, "_probe"):  # built once: a new Keras model per call retraces its predict function
            from tensorflow import keras

            encoder = self.firmware_encoder()
            self._probe = keras.Model(encoder.input, [encoder.output, encoder.layers[-1].input])
        inputs = self.encoder_input(x)
        with exact_arithmetic():
            latent, accumulator = self._probe.predict(inputs, batch_size=65536, verbose=0)
        return latent, accumulator


@dataclass
class TrainedModel(EncoderModel):
    """A model directory: config, normalisation, weights, provenance and metrics (self-describing)."""

    path: Path | None
    config: ModelConfig
    normalization: Normalization
    weights: dict[str, list[np.ndarray]]
    info: dict[str, Any]

    model_files = MODEL_FILES

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def variables(self) -> tuple[str, ...]:
        return self.normalization.variables

    @property
    def bits_per_jet(self) -> int:
        return self.config.bits_per_jet

    @property
    def hash(self) -> str:
        return _model_hash(self.config, self.normalization, self.weights)

    @property
    def training_sources(self) -> tuple[str, ...]:
        """The data files the model was trained on, as recorded at training."""
        return tuple(self.info.get("training", {}).get("sources", []))

    def describe(self) -> dict[str, Any]:
        return self.config.to_dict()

    def encoder_ir(self) -> ir.Encoder:
        return trained_encoder(self.config, self.normalization, self.weights)

    def decoder(self):
        if not hasattr(self, "_decoder"):
            _, self._decoder = build_training_models(self.config, self.normalization)
            for layer in self._decoder.layers:
                if layer.name in self.weights:
                    layer.set_weights(self.weights[layer.name])
        return self._decoder

    def decode(self, latent: np.ndarray) -> np.ndarray:
        t = self.decoder().predict(np.asarray(latent, dtype=np.float32), batch_size=65536, verbose=0)
        return self.normalization.from_targets(t)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(x))


def _canonical_weights(weights: dict[str, list[np.ndarray]]) -> dict[str, list]:
    return {
        name: [np.asarray(w, dtype=np.float32).tolist() for w in values] for name, values in sorted(weights.items())
    }


def _model_hash(config: ModelConfig, norm: Normalization, weights: dict[str, list[np.ndarray]]) -> str:
    payload = json.dumps(
        {"config": config.to_dict(), "normalization": norm.to_json(), "weights": _canonical_weights(weights)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def data_hash(jets: JetTable) -> str:
    digest = hashlib.sha256(",".join(jets.variables).encode())
    digest.update(np.ascontiguousarray(jets.values, dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def stack_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {pkg: version(pkg) for pkg in ("tensorflow", "keras", "QKeras", "hls4ml", "numpy")} | {
        "trigcomp": __version__
    }


def save_model(model: TrainedModel, out: Path, force: bool = False) -> TrainedModel:
    with staged_dir(out, force) as tmp:
        write_json(tmp / "weights.json", _canonical_weights(model.weights))
        info = dict(model.info) | {"format": MODEL_FORMAT, "hash": model.hash}
        write_json(
            tmp / "model.json",
            {"config": model.config.to_dict(), "normalization": model.normalization.to_json()} | info,
        )
        write_json(tmp / "metrics.json", info.get("metrics", {}))
    model.path = Path(out)
    return model


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: {what} is not valid JSON ({err}); truncated or edited by hand?") from None


def load_model(path: str | Path) -> TrainedModel:
    path = Path(path)
    model_json, weights_json = path / "model.json", path / "weights.json"
    raw = _read_json(model_json, "model.json") if model_json.is_file() else None
    if isinstance(raw, dict) and raw.get("format") == IMPORTED_MODEL_FORMAT:
        raise UserError(
            f"{path} holds an imported encoder (no decoder or normalisation): only hls, csim and rtl take it; "
            "this verb needs a model from `trigcomp train`"
        )
    if raw is None or not weights_json.is_file():
        raise UserError(f"{path} is not a trigcomp model directory (needs model.json and weights.json)")
    weights_raw = _read_json(weights_json, "weights.json")
    if not isinstance(raw, dict) or raw.get("format") != MODEL_FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise UserError(f"{path}: unknown model format {found!r} (expected {MODEL_FORMAT})")
    try:
        config_raw = dict(raw["config"])
        for section in ("encoder", "decoder"):
            config_raw[section] = {
                k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in config_raw[section].items()
            }
        if isinstance(config_raw["variables"], (list, tuple)):
            config_raw["variables"] = list(config_raw["variables"])
        config = config_from_dict(config_raw)
        weights = {name: [np.array(w, dtype=np.float32) for w in values] for name, values in weights_raw.items()}
        normalization = Normalization.from_json(raw["normalization"])
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        # a damaged or hand-edited file: say which file, not where in trigcomp it broke
        raise UserError(f"{path}: model files are damaged ({type(err).__name__}: {err})") from None
    info = {k: v for k, v in raw.items() if k not in ("config", "normalization")}
    model = TrainedModel(path, config, normalization, weights, info)
    try:
        digest = model.hash
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: model files are damaged ({type(err).__name__}: {err})") from None
    if info.get("hash") != digest:
        raise UserError(f"{path}: model hash mismatch (files edited by hand?): {info.get('hash')} != {digest}")
    return model


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------


def split_events(event_index: np.ndarray, seed: int, validation: float, test: float):
    """Event-wise split (all jets of an event on one side), reproducible from the event index and seed alone."""
    with np.errstate(over="ignore"):  # splitmix64 mixing relies on wrap-around
        key = event_index.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        key = (key ^ (key >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        key = (key ^ (key >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        key = key ^ (key >> np.uint64(31))
    u = (key >> np.uint64(11)).astype(np.float64) / 2.0**53
    test_mask = u < test
    val_mask = (u >= test) & (u < test + validation)
    return ~(test_mask | val_mask), val_mask, test_mask


def check_variables(model_variables: tuple[str, ...], jets: JetTable) -> None:
    if tuple(jets.variables) != tuple(model_variables):
        raise UserError(
            f"the model expects variables {', '.join(model_variables)} but the data has {', '.join(jets.variables)}"
        )


def _epoch_progress(total: int, enabled: bool):
    from tensorflow import keras
    from tqdm.auto import tqdm

    class EpochBar(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=total, desc="train", unit="epoch", disable=not enabled, leave=False)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix(loss=f"{logs.get('loss', 0):.4f}", val=f"{logs.get('val_loss', 0):.4f}")
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return EpochBar()


def target_loss_weights(norm: Normalization, targets: Targets, values: np.ndarray) -> np.ndarray:
    """Per jet and variable, w such that (decoder output - standardised target) * target_std * w is the residual
    in units of the variable's physics target, to first order (so a residual equal to the target costs 1).

    The decoder works on transformed variables f(x) (log pt, log(1 + mass), ...): a change df is dx = f'^-1 df in
    physical units, so w = (dx/df) / sigma for absolute, wrapped and integer targets and (dx/df) / |x| / sigma for
    relative ones (|x| floored at 1, as the targets check relative mass residuals only above 1 GeV). In log pt
    this gives w = 1 / sigma: a relative sigma of 5 % is 0.05 in log pt. Variables without a target keep the plain
    standardised residual (w = 1 / target_std).
    """
    x = np.asarray(values, dtype=np.float64)
    weights = np.empty_like(x)
    for j, (name, transform) in enumerate(zip(norm.variables, norm.transforms)):
        target = targets.variables.get(name)
        if target is None:
            weights[:, j] = 1.0 / norm.target_std[j]
            continue
        dx_df = {"log": np.maximum(x[:, j], 1e-3), "log1p": 1.0 + np.maximum(x[:, j], 0.0)}.get(transform, 1.0)
        if target.kind == "relative":
            dx_df = dx_df / np.maximum(np.abs(x[:, j]), MIN_MASS_FOR_RELATIVE)
        weights[:, j] = dx_df / target.sigma
    return weights.astype(np.float32)


def target_loss(norm: Normalization, robust: bool):
    """A Keras loss on y_true = [standardised targets | target_loss_weights]: mean of r^2, or of log(1 + r^2)
    when ``robust`` (outliers cost less), with r the residual in target units; phi residuals wrapped to (-pi, pi]."""
    import tensorflow as tf

    n = len(norm.variables)
    target_std = tf.constant(norm.target_std, dtype=tf.float32)
    wrapped = tf.constant([residual_kind(name) == "wrapped" for name in norm.variables])

    def loss(y_true, y_pred):
        difference = (y_pred - y_true[:, :n]) * target_std  # in transformed units (radians for phi)
        difference = tf.where(wrapped, difference - 2 * np.pi * tf.round(difference / (2 * np.pi)), difference)
        r_squared = tf.square(difference * y_true[:, n:])
        return tf.reduce_mean(tf.math.log1p(r_squared) if robust else r_squared, axis=-1)

    return loss


def _pruning(config: ModelConfig, steps_per_epoch: int):
    """Magnitude pruning of the encoder kernels (``training.prune_*``): (layer wrapper, callbacks), or (None, [])
    without pruning. The masks are updated at the first batch of each epoch, so the final sparsity is reached
    exactly at epoch ``prune_end_epoch``."""
    training = config.training
    if training.prune_sparsity == 0:
        return None, []
    import tensorflow_model_optimization as tfmot

    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0,
        final_sparsity=training.prune_sparsity,
        begin_step=training.prune_begin_epoch * steps_per_epoch,
        end_step=training.prune_end_epoch * steps_per_epoch,
        frequency=steps_per_epoch,
    )

    def wrap(layer):
        return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)

    # first in the callback list: the kernels are re-masked at each epoch's end before early stopping keeps them
    return wrap, [tfmot.sparsity.keras.UpdatePruningStep()]


def _learning_rate(training: TrainingConfig, steps_per_epoch: int):
    """Adam's learning rate for ``training.learning_rate_schedule``: (rate or schedule, callbacks)."""
    from tensorflow import keras

    if training.learning_rate_schedule == "cosine":
        decay_steps = training.epochs * steps_per_epoch
        return keras.optimizers.schedules.CosineDecay(training.learning_rate, decay_steps), []
    return training.learning_rate, [
        keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=max(1, training.patience // 3))
    ]


def encoder_sparsity(model: TrainedModel) -> dict[str, float]:
    """The fraction of zero weights in each encoder kernel (by layer name), from the encoder description."""
    steps = model.encoder_ir().steps
    return {step.name: float(np.mean(step.kernel == 0)) for step in steps if isinstance(step, ir.Dense)}


def train(config: ModelConfig, jets: JetTable, progress: bool = False) -> TrainedModel:
    """Train the autoencoder on the training part of ``jets`` (event-wise split); returns the model (not saved)."""
    import tensorflow as tf
    from tensorflow import keras

    variables = resolve_model_variables(config.variables)
    check_variables(variables, jets)
    values = jets.values.astype(np.float64)
    train_mask, val_mask, test_mask = split_events(
        jets.event_index, config.seed, config.training.validation_fraction, config.training.test_fraction
    )
    train_rows = np.flatnonzero(train_mask)
    if config.training.max_jets:
        train_rows = train_rows[: config.training.max_jets]
    if len(train_rows) < MIN_TRAINING_JETS:
        raise UserError(
            f"only {len(train_rows)} training jets after the split; at least {MIN_TRAINING_JETS} are needed"
        )
    if not val_mask.any():
        raise UserError("no validation jets after the event-wise split; give more events")
    norm = fit_normalization(values[train_rows], variables)
    loss_info: dict[str, Any] = {}  # recorded only for target losses: mse models stay byte-identical
    side = image_side(variables)
    image_settings = {
        "training.et_scale_max": config.training.et_scale_max > 1,
        'encoder.kind = "conv2d"': config.encoder.kind == "conv2d",
        f'training.loss = "{config.training.loss}"': config.training.loss in ("emd", "emd-relative"),
    }
    for setting, used in image_settings.items():
        if used and not side:
            raise UserError(f"{setting} needs tower-image variables (tower_0 ... tower_{{n*n-1}})")
    train_values = values[train_rows]
    if config.training.et_scale_max > 1:
        train_values = with_scaled_copies(train_values, config.training.et_scale_max, config.seed)
    x_train, x_val = train_values.astype(np.float32), values[val_mask].astype(np.float32)
    t_train, t_val = norm.to_targets(train_values), norm.to_targets(values[val_mask])
    y_train, y_val, loss = t_train, t_val, "mse"
    if config.training.loss in ("emd", "emd-relative"):
        loss_info = {"loss": config.training.loss}
        loss = emd_loss(
            side,
            relative=config.training.loss == "emd-relative",
            et_power=config.training.emd_et_power,
            total_weight=config.training.emd_total_weight,
        )
    elif config.training.loss != "mse":
        targets = load_targets(config.training.targets)
        loss_info = {"loss": config.training.loss, "targets": targets.to_json()}
        loss = target_loss(norm, robust=config.training.loss == "targets-log")
        y_train = np.hstack([t_train, target_loss_weights(norm, targets, values[train_rows])])
        y_val = np.hstack([t_val, target_loss_weights(norm, targets, values[val_mask])])

    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    steps_per_epoch = -(-len(x_train) // config.training.batch_size)  # the ET-scaled copies included
    wrap_weighted, pruning_callbacks = _pruning(config, steps_per_epoch)
    autoencoder, _ = build_training_models(config, norm, wrap_weighted)
    learning_rate, schedule_callbacks = _learning_rate(config.training, steps_per_epoch)
    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    pruned_from = config.training.prune_end_epoch if wrap_weighted else 0  # judge only fully pruned epochs
    callbacks = [
        *pruning_callbacks,
        keras.callbacks.EarlyStopping(
            patience=config.training.patience, restore_best_weights=True, start_from_epoch=pruned_from
        ),
        *schedule_callbacks,
        _epoch_progress(config.training.epochs, progress),
    ]

    def fit(epochs: int, callbacks: list):
        return autoencoder.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=epochs,
            batch_size=config.training.batch_size,
            shuffle=True,
            verbose=0,
            callbacks=callbacks,
        )

    history = fit(config.training.epochs, callbacks)
    exact_info: dict[str, Any] = {}  # recorded only when the exact phase ran: the other models stay byte-identical
    if config.training.exact_emd_epochs:
        autoencoder.compile(
            optimizer=keras.optimizers.Adam(float(autoencoder.optimizer.learning_rate)),
            loss=exact_emd_loss(relative=config.training.loss == "emd-relative", et_power=config.training.emd_et_power),
        )
        exact_history = fit(
            config.training.exact_emd_epochs,
            [
                *pruning_callbacks,
                keras.callbacks.EarlyStopping(patience=config.training.patience, restore_best_weights=True),
                _epoch_progress(config.training.exact_emd_epochs, progress),
            ],
        )
        exact_info = {
            "exact_emd_epochs_run": len(exact_history.history["loss"]),
            "exact_emd_best_val_loss": float(min(exact_history.history["val_loss"])),
        }
    if wrap_weighted is not None:  # plain QKeras layers (the masked kernels) from here on
        import tensorflow_model_optimization as tfmot

        autoencoder = tfmot.sparsity.keras.strip_pruning(autoencoder)
    weights = {
        layer.name: [np.asarray(w) for w in layer.get_weights()]
        for layer in autoencoder.layers + autoencoder.get_layer("decoder").layers
        if layer.get_weights()
    }
    model = TrainedModel(None, config, norm, weights, {})
    # recorded only for pruned models: the others stay byte-identical
    pruning_info = {"pruning": {"zero_fraction": encoder_sparsity(model)}} if wrap_weighted else {}
    t_hat = model.decoder().predict(model.encode(x_val), batch_size=65536, verbose=0)
    per_variable = ((t_hat - t_val) ** 2).mean(axis=0)
    model.info = {
        "training": {
            "data_hash": data_hash(jets),
            "sources": list(jets.sources),
            # how to find and re-read them later (evaluate fits its baselines on the same training split)
            "source_paths": [str(Path(s).resolve()) for s in jets.sources],
            "preset": jets.preset,
            "selection": {k: jets.extra[k] for k in ("pt_min", "eta_max", "leading") if k in jets.extra},
            "jets": {"train": len(train_rows), "validation": int(val_mask.sum()), "test": int(test_mask.sum())},
            "epochs_run": len(history.history["loss"]),
            "split": "event-wise, splitmix64(event_index, seed)",
        }
        | loss_info
        | pruning_info
        | exact_info,
        "versions": stack_versions(),
        "metrics": {
            "bits_per_jet": config.bits_per_jet,
            "best_val_loss": float(min(history.history["val_loss"])),
            "val_loss_per_variable": {name: float(v) for name, v in zip(variables, per_variable)},
        },
    }
    return model
