"""The quantized encoder as plain data: fixed-point formats, constant matrices, and an exact software reference.

The walker accepts exactly the chain the firmware path supports (InputLayer -> input quantizer -> QDense or
QConv1D/2D -> quantizer ... -> quantizer, with Reshape and Flatten between them) and refuses anything else with a
UserError naming the layer. Weights are taken exactly as the layer uses them
(``layer.kernel_quantizer_internal(layer.kernel)``), so the firmware multiplies by the same constants as QKeras.
A convolution is a constant matrix on the flattened (channels-last) values: it becomes a Dense step whose kernel
is the convolution's response to each unit input, zeros elsewhere (da4ml spends nothing on the zeros); Reshape
and Flatten do not move values in that order and are no steps at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from ..errors import UserError

#: Weights needing more fractional bits than this are not treated as fixed-point constants.
MAX_WEIGHT_FRACTIONAL_BITS = 32
#: float64 sums are exact while every partial sum fits in the 53-bit mantissa; keep a margin.
MAX_EXACT_ACCUMULATOR_BITS = 50


@dataclass(frozen=True)
class FixedFormat:
    """A QKeras quantizer as a fixed-point format: round half to even, then saturate.

    ``integer`` excludes the sign bit (QKeras and da4ml agree on this); the grid step is 2**-fractional.
    ``symmetric`` drops the most negative word (QKeras ``symmetric=1``, da4ml ``SAT_SYM``).
    """

    signed: bool
    integer: int
    fractional: int
    symmetric: bool = False

    @property
    def bits(self) -> int:
        return int(self.signed) + self.integer + self.fractional

    @property
    def lsb(self) -> float:
        return 2.0**-self.fractional

    @property
    def word_range(self) -> tuple[int, int]:
        top = 2 ** (self.integer + self.fractional)
        low = -top * int(self.signed) + int(self.signed and self.symmetric)
        return low, top - 1

    def words(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Round half to even onto the grid (as ``tf.round`` does), then clip: (words, saturated mask)."""
        low, high = self.word_range
        rounded = np.round(np.asarray(values, dtype=np.float64) * 2.0**self.fractional)
        saturated = (rounded < low) | (rounded > high)
        return np.clip(rounded, low, high), saturated

    def quantize(self, values: np.ndarray) -> np.ndarray:
        return self.words(values)[0] * self.lsb

    def to_json(self) -> dict:
        return {
            "signed": self.signed,
            "integer": self.integer,
            "fractional": self.fractional,
            "bits": self.bits,
            "symmetric": self.symmetric,
        }


@dataclass(frozen=True)
class Dense:
    name: str
    kernel: np.ndarray  # (n_in, n_out) float64, the quantized kernel QDense multiplies by
    bias: np.ndarray  # (n_out,) float64
    kernel_quantizer: str
    bias_quantizer: str

    def to_json(self) -> dict:
        return {
            "layer": self.name,
            "class": "QDense",
            "units": int(self.kernel.shape[1]),
            "kernel_quantizer": self.kernel_quantizer,
            "bias_quantizer": self.bias_quantizer,
            "kernel_fractional_bits": _fractional_bits(self.kernel),
            "bias_fractional_bits": _fractional_bits(self.bias),
            "kernel_max_abs": float(np.abs(self.kernel).max(initial=0.0)),
            "bias_max_abs": float(np.abs(self.bias).max(initial=0.0)),
        }


@dataclass(frozen=True)
class Quantize:
    name: str
    quantizer: str  # str() of the QKeras quantizer, for the manifest
    format: FixedFormat

    def to_json(self) -> dict:
        return {"layer": self.name, "class": "quantizer", "quantizer": self.quantizer, "format": self.format.to_json()}


@dataclass(frozen=True)
class EncoderSpec:
    """The encoder as the firmware computes it: input quantizer, then Dense / Quantize steps in order."""

    n_inputs: int
    input: Quantize
    steps: tuple[Dense | Quantize, ...]

    @property
    def output_format(self) -> FixedFormat:
        return self.steps[-1].format  # type: ignore[union-attr]  # parse_encoder guarantees a Quantize last

    @property
    def n_outputs(self) -> int:
        return next(step.kernel.shape[1] for step in reversed(self.steps) if isinstance(step, Dense))

    def layers_json(self) -> list[dict]:
        return [self.input.to_json()] + [step.to_json() for step in self.steps]

    def digest(self) -> str:
        """sha256 of everything that decides the firmware: formats, kernels and biases (byte for byte)."""
        h = hashlib.sha256(json.dumps(self.layers_json(), sort_keys=True).encode())
        for step in self.steps:
            if isinstance(step, Dense):
                h.update(np.ascontiguousarray(step.kernel, dtype="<f8").tobytes())
                h.update(np.ascontiguousarray(step.bias, dtype="<f8").tobytes())
        return h.hexdigest()

    def quantize_inputs(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw jets -> the input port's values (as the input quantizer computes them) and the saturated mask.

        Keras feeds the model float32, so the raw values are rounded to float32 first; quantizing already
        quantized inputs changes nothing.
        """
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] != self.n_inputs:
            raise UserError(f"inputs must have shape (jets, {self.n_inputs}), got {raw.shape}")
        if np.isnan(raw).any():
            raise UserError(f"inputs contain NaN (first in jet {int(np.argwhere(np.isnan(raw))[0][0])})")
        words, saturated = self.input.format.words(raw.astype(np.float32))
        return words * self.input.format.lsb, saturated

    def reference(self, quantized_inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact fixed-point evaluation (float64 holds every partial sum exactly, see parse_encoder).

        Returns the quantized latent and the value just before the last quantizer (the unrounded latent).
        """
        x = np.asarray(quantized_inputs, dtype=np.float64)
        before_last = x
        for step in self.steps:
            if isinstance(step, Dense):
                x = x @ step.kernel + step.bias
            else:
                before_last = x
                x = step.format.quantize(x)
        return x, before_last


def _fractional_bits(values: np.ndarray) -> int | None:
    """The fewest fractional bits that hold every value exactly, or None beyond MAX_WEIGHT_FRACTIONAL_BITS."""
    values = np.asarray(values, dtype=np.float64)
    for f in range(MAX_WEIGHT_FRACTIONAL_BITS + 1):
        scaled = values * 2.0**f
        if np.array_equal(scaled, np.round(scaled)):
            return f
    return None


def _is_unit_scale(alpha) -> bool:
    if alpha is None:
        return True
    if isinstance(alpha, str):
        return False
    return float(np.asarray(alpha)) == 1.0


def quantizer_format(quantizer, where: str) -> FixedFormat:
    """A QKeras activation quantizer -> its fixed-point format; refuses data-dependent or lossy settings."""
    kind = type(quantizer).__name__
    if getattr(quantizer, "use_stochastic_rounding", False):
        raise UserError(f"{where}: stochastic rounding cannot be built in firmware")
    if float(getattr(quantizer, "qnoise_factor", 1.0)) != 1.0:
        raise UserError(f"{where}: qnoise_factor != 1 does not quantize its output")
    if kind == "quantized_bits":
        if not _is_unit_scale(quantizer.alpha):
            raise UserError(f"{where}: quantized_bits needs alpha=1 (got alpha={quantizer.alpha!r})")
        keep_negative, bits, integer = int(quantizer.keep_negative), int(quantizer.bits), int(quantizer.integer)
        if bits - keep_negative <= 0:
            raise UserError(f"{where}: binary quantized_bits({bits}) is not supported")
        return FixedFormat(
            signed=bool(keep_negative),
            integer=integer,
            fractional=bits - keep_negative - integer,
            symmetric=bool(quantizer.symmetric) and bool(keep_negative),
        )
    if kind == "quantized_relu":
        if quantizer.use_sigmoid or float(quantizer.negative_slope) != 0.0:
            raise UserError(f"{where}: only plain quantized_relu (no sigmoid, no negative slope) is supported")
        if quantizer.relu_upper_bound is not None and not quantizer.is_quantized_clip:
            raise UserError(f"{where}: quantized_relu with relu_upper_bound is not supported")
        bits, integer = int(quantizer.bits), int(quantizer.integer)
        return FixedFormat(signed=False, integer=integer, fractional=bits - integer)
    raise UserError(f"{where}: quantizer {kind} is not supported (use quantized_bits or quantized_relu)")


def _constant(layer, which: str) -> tuple[np.ndarray, str]:
    """Kernel or bias exactly as QDense.call uses it, as float64, checked to be a fixed-point constant."""
    variable = getattr(layer, which)
    quantizer = getattr(layer, f"{which}_quantizer")
    values = getattr(layer, f"{which}_quantizer_internal")(variable) if quantizer else variable
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise UserError(f"layer {layer.name!r}: {which} has non-finite values")
    if _fractional_bits(values) is None:
        raise UserError(
            f"layer {layer.name!r}: {which} is not on a fixed-point grid (needs more than "
            f"{MAX_WEIGHT_FRACTIONAL_BITS} fractional bits); give it a {which}_quantizer"
        )
    return values, str(getattr(layer, f"{which}_quantizer_internal")) if quantizer else "none"


def _dense(layer) -> Dense:
    kernel, kernel_quantizer = _constant(layer, "kernel")
    if layer.use_bias:
        bias, bias_quantizer = _constant(layer, "bias")
    else:
        bias, bias_quantizer = np.zeros(kernel.shape[1]), "none"
    return Dense(layer.name, kernel, bias, kernel_quantizer, bias_quantizer)


def _convolution(layer) -> Dense:
    """A QConv1D/QConv2D as the Dense step it is on flattened values (exact: each entry is one kernel value or 0)."""
    import tensorflow as tf

    if layer.data_format != "channels_last" or max(layer.dilation_rate) != 1 or layer.groups != 1:
        raise UserError(f"layer {layer.name!r}: only plain channels_last convolutions (no dilation or groups)")
    kernel, kernel_quantizer = _constant(layer, "kernel")
    in_shape = tuple(int(d) for d in layer.input_shape[1:])
    n_in = int(np.prod(in_shape))
    units = np.eye(n_in).reshape((n_in,) + in_shape)
    response = tf.nn.convolution(units, kernel, strides=layer.strides, padding=layer.padding.upper())
    matrix = np.asarray(response, dtype=np.float64).reshape(n_in, -1)
    positions = matrix.shape[1] // kernel.shape[-1]
    if layer.use_bias:
        bias, bias_quantizer = _constant(layer, "bias")
    else:
        bias, bias_quantizer = np.zeros(kernel.shape[-1]), "none"
    return Dense(layer.name, matrix, np.tile(bias, positions), kernel_quantizer, bias_quantizer)


def chain_layers(model) -> list:
    """The model's layers in order, checked to form a single straight chain."""
    import tensorflow as tf

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError("the encoder must have exactly one input and one output")
    layers = [layer for layer in model.layers if not isinstance(layer, tf.keras.layers.InputLayer)]
    if not layers:
        raise UserError("the encoder has no layers")
    previous = model.inputs[0]
    for layer in layers:
        try:
            layer_input = layer.input
        except AttributeError as exc:  # a layer used at several places has no single input
            raise UserError(f"layer {layer.name!r} is not part of a single chain") from exc
        if layer_input is not previous:
            raise UserError(f"layer {layer.name!r} does not follow the previous layer: only plain chains are supported")
        previous = layer.output
    if previous is not model.outputs[0]:
        raise UserError("the encoder's output is not the last layer of its chain")
    return layers


def parse_encoder(model) -> EncoderSpec:
    """Walk the QKeras encoder and return its firmware description, or raise UserError naming the bad layer."""
    import tensorflow as tf

    shape = tuple(model.input_shape)
    if len(shape) < 2 or None in shape[1:]:
        raise UserError(f"the encoder input must have a fixed shape, got {shape}")
    n_inputs = int(np.prod(shape[1:]))
    steps: list[Dense | Quantize] = []
    for layer in chain_layers(model):
        kind = type(layer).__name__
        where = f"layer {layer.name!r} ({kind})"
        if kind == "QActivation":
            steps.append(Quantize(layer.name, str(layer.quantizer), quantizer_format(layer.quantizer, where)))
        elif kind in ("Reshape", "Flatten"):
            continue  # channels-last C order is kept: the flat values do not move
        elif kind in ("QDense", "QConv1D", "QConv2D"):
            steps.append(_dense(layer) if kind == "QDense" else _convolution(layer))
            activation = layer.activation
            if activation is not None and activation is not tf.keras.activations.linear:
                steps.append(Quantize(layer.name, str(activation), quantizer_format(activation, where)))
        else:
            raise UserError(
                f"{where} is not supported by the open RTL path: the encoder may hold only QActivation, QDense, "
                "QConv1D/2D, Reshape and Flatten layers"
            )
    if not steps or not isinstance(steps[0], Quantize) or steps[0].format.bits <= 0:
        raise UserError("the encoder must start with a QActivation(quantized_bits(...)) input quantizer")
    if len(steps) < 2 or not isinstance(steps[-1], Quantize) or not any(isinstance(s, Dense) for s in steps):
        raise UserError("the encoder must hold a QDense and end with a QActivation quantizer (the latent)")
    spec = EncoderSpec(n_inputs=n_inputs, input=steps[0], steps=tuple(steps[1:]))
    _check_exact_in_float64(spec)
    return spec


def _check_exact_in_float64(spec: EncoderSpec) -> None:
    """Refuse encoders whose accumulators are too wide for the float64 reference to be exact."""
    low = np.full(spec.n_inputs, spec.input.format.word_range[0] * spec.input.format.lsb)
    high = np.full(spec.n_inputs, spec.input.format.word_range[1] * spec.input.format.lsb)
    lsb = spec.input.format.lsb
    for step in spec.steps:
        if isinstance(step, Dense):
            positive, negative = np.clip(step.kernel, 0, None), np.clip(step.kernel, None, 0)
            low, high = low @ positive + high @ negative + step.bias, high @ positive + low @ negative + step.bias
            lsb = min(lsb * 2.0 ** -_fractional_bits(step.kernel), 2.0 ** -_fractional_bits(step.bias))
            span = max(np.abs(low).max(initial=0.0), np.abs(high).max(initial=0.0)) / lsb
            if span >= 2.0**MAX_EXACT_ACCUMULATOR_BITS:
                raise UserError(
                    f"layer {step.name!r}: accumulator wider than {MAX_EXACT_ACCUMULATOR_BITS} bits, so the float64 "
                    "QKeras reference would not be exact (narrow the weights or the input type)"
                )
        else:
            word_low, word_high = step.format.word_range
            low = np.clip(low, word_low * step.format.lsb, word_high * step.format.lsb)
            high = np.clip(high, word_low * step.format.lsb, word_high * step.format.lsb)
            lsb = step.format.lsb
