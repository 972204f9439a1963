"""The encoder as one typed description: an input step, then ordered steps with exact fixed-point formats.

Every stage reads the encoder from here, none rebuilds it by hand:

* a trained model's description is built from its config and weights (``from_trained``), an imported model's is
  parsed from its QKeras model (``from_keras``: the one whitelist, ``KERAS_STEPS``; anything else is refused by
  name);
* ``Encoder.firmware()`` folds the normalisation into the first Dense: the description of what the board computes;
* from it: the QKeras firmware graph (``to_keras``, float64; what hls4ml converts), the QKeras training graph
  (``to_training_keras``), the unquantized float forward pass (``float_forward``), the exact float64 reference
  (``reference``), the names of the layers csim traces (``layer_names``), the rtl manifest (``layers_json``) and
  the da4ml trace (trigcomp.rtl.tracing walks the same steps).

Step kinds: ``Input`` (one fixed-point format per input value; the port carries the widest), ``Affine``
(normalisation, folded away for the firmware), ``Dense``, ``Conv`` (a real convolution for Keras/hls4ml, a
constant matrix on the flattened values for the reference and da4ml), ``Quantize`` (quantized_bits or
quantized_relu) and ``Reshape`` (Reshape and Flatten: values do not move in C order).

**Adding a step kind**: one new frozen dataclass below with its pieces — ``keras()`` (the QKeras layer),
``float_forward(x)``, ``exact(x)`` (the fixed-point arithmetic) and ``to_json()`` — plus a ``KERAS_STEPS`` entry
(parsing an imported layer), a branch in ``trigcomp.rtl.tracing._trace`` (da4ml) and, if it carries weights, in
``Encoder.firmware``. hls4ml converts what ``to_keras`` builds; csim traces it by the step's name.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from .errors import UserError

#: Weights needing more fractional bits than this are not treated as fixed-point constants.
MAX_WEIGHT_FRACTIONAL_BITS = 32
#: float64 sums are exact while every partial sum fits in the 53-bit mantissa; keep a margin.
MAX_EXACT_ACCUMULATOR_BITS = 50
#: The normalisation offset lies on this grid (in normalised units) so that the folded bias stays exact and short.
OFFSET_GRID = 2.0**-4


# ---------------------------------------------------------------------------------------------------------------
# The one fixed-point type
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixedPoint:
    """A fixed-point format as QKeras quantizes to it: round half to even, then saturate.

    ``quantized_bits(bits, integer)``: ``bits`` total including the sign (when ``signed``), ``integer`` above the
    point excluding the sign (QKeras and da4ml agree on this); unsigned formats are ``quantized_relu`` or
    ``quantized_bits(keep_negative=0)``. ``symmetric`` drops the most negative word (QKeras ``symmetric=1``).
    """

    bits: int
    integer: int
    signed: bool = True
    symmetric: bool = False

    @classmethod
    def from_kif(cls, signed: bool, integer: int, fractional: int, symmetric: bool = False) -> FixedPoint:
        return cls(int(signed) + integer + fractional, integer, signed, symmetric)

    @property
    def fractional(self) -> int:
        return self.bits - int(self.signed) - self.integer

    @property
    def lsb(self) -> float:
        return 2.0**-self.fractional

    @property
    def word_range(self) -> tuple[int, int]:
        top = 2 ** (self.integer + self.fractional)
        low = -top * int(self.signed) + int(self.signed and self.symmetric)
        return low, top - 1

    @property
    def min(self) -> float:
        return self.word_range[0] * self.lsb

    @property
    def max(self) -> float:
        return self.word_range[1] * self.lsb

    def words(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Round half to even onto the grid (as ``tf.round`` does), then clip: (words, saturated mask)."""
        low, high = self.word_range
        rounded = np.round(np.asarray(values, dtype=np.float64) * 2.0**self.fractional)
        saturated = (rounded < low) | (rounded > high)
        return np.clip(rounded, low, high), saturated

    def quantize(self, values: np.ndarray) -> np.ndarray:
        return self.words(values)[0] * self.lsb

    def qkeras(self, relu: bool = False):
        """The QKeras quantizer of this format (alpha=1)."""
        from qkeras import quantized_bits, quantized_relu

        if relu:
            return quantized_relu(self.bits, self.integer)
        if self.signed and not self.symmetric:
            return quantized_bits(self.bits, self.integer, alpha=1)
        return quantized_bits(self.bits, self.integer, keep_negative=self.signed, symmetric=self.symmetric, alpha=1)

    def to_json(self) -> dict:
        return {
            "signed": self.signed,
            "integer": self.integer,
            "fractional": self.fractional,
            "bits": self.bits,
            "symmetric": self.symmetric,
        }


def widest(formats: tuple[FixedPoint, ...]) -> FixedPoint:
    """The narrowest format holding every value of every format (the input port when the inputs differ)."""
    if len(set(formats)) == 1:
        return formats[0]
    return FixedPoint.from_kif(
        any(f.signed for f in formats), max(f.integer for f in formats), max(f.fractional for f in formats)
    )


def fractional_bits(values: np.ndarray) -> int | None:
    """The fewest fractional bits that hold every value exactly, or None beyond MAX_WEIGHT_FRACTIONAL_BITS."""
    values = np.asarray(values, dtype=np.float64)
    for f in range(MAX_WEIGHT_FRACTIONAL_BITS + 1):
        scaled = values * 2.0**f
        if np.array_equal(scaled, np.round(scaled)):
            return f
    return None


def quantizer_for(values: np.ndarray, finest_lsb: float) -> FixedPoint:
    """The narrowest quantized_bits that holds every value exactly (values lie on the finest_lsb grid)."""
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    integer = max(0, int(np.ceil(np.log2(largest + finest_lsb))))
    bits = integer - int(np.log2(finest_lsb)) + 1
    return FixedPoint(bits, integer)


@contextmanager
def exact_arithmetic():
    """Keras in float64 while the firmware encoder is built or run (QKeras quantizers cast to Keras' floatx)."""
    from tensorflow import keras

    previous = keras.backend.floatx()
    keras.backend.set_floatx("float64")
    try:
        yield
    finally:
        keras.backend.set_floatx(previous)


def qkeras_objects() -> dict[str, Any]:
    """QKeras' layers and quantizers, for Keras to rebuild them from their configs."""
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict[str, Any] = {}
    _add_supported_quantized_objects(objects)
    return objects


def _clone(layer):
    """An imported layer rebuilt in float64 from its own config and weights (saved layers carry float32)."""
    from tensorflow import keras

    with keras.utils.custom_object_scope(qkeras_objects()):
        clone = type(layer).from_config(layer.get_config() | {"dtype": "float64"})
    return clone, layer.get_weights()


# ---------------------------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """The values the board receives: ``shape`` (no batch axis; flattened in C order, channels last) and one
    format per value. The port carries the widest of them; each value arrives already in its own format."""

    name: str  # the input quantizer's layer name
    shape: tuple[int, ...]
    formats: tuple[FixedPoint, ...]
    port_name: str = "jet"  # the Keras Input's name
    quantizer: str = ""  # str() of the QKeras quantizer, for the rtl manifest
    source: Any = field(default=None, compare=False, repr=False)  # the imported layer, when the model has one

    @property
    def format(self) -> FixedPoint:
        return widest(self.formats)

    @property
    def per_value(self) -> bool:
        return len(set(self.formats)) > 1

    def keras(self):
        from qkeras import QActivation

        return (
            _clone(self.source) if self.source is not None else (QActivation(self.format.qkeras(), name=self.name), [])
        )

    def quantize(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(jets, values) -> each value in its own format (round half to even, saturate), and the saturated mask."""
        columns = [fmt.words(raw[:, j]) for j, fmt in enumerate(self.formats)]
        values = np.stack([words * fmt.lsb for (words, _), fmt in zip(columns, self.formats)], axis=1)
        return values, np.stack([saturated for _, saturated in columns], axis=1)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([f.min for f in self.formats]), np.array([f.max for f in self.formats])

    def to_json(self) -> dict:
        entry = {"layer": self.name, "class": "quantizer", "quantizer": self.quantizer, "format": self.format.to_json()}
        if self.per_value:
            entry["formats"] = [fmt.to_json() for fmt in self.formats]
        return entry


@dataclass(frozen=True)
class Affine:
    """The normalisation z = (x - offset) * scale, scale a power of two: trained only, folded into the next Dense."""

    name: str
    scale: np.ndarray
    offset: np.ndarray

    def float_forward(self, x: np.ndarray) -> np.ndarray:
        return (x - self.offset) * self.scale


@dataclass(frozen=True)
class Dense:
    """A QDense: float shadow weights (the float model), the quantized constants the firmware multiplies by."""

    name: str
    kernel: np.ndarray  # (n_in, n_out) float shadow weights
    bias: np.ndarray
    kernel_q: np.ndarray  # the constants QDense multiplies by, float64
    bias_q: np.ndarray
    kernel_format: FixedPoint | None  # trained models: the quantizers the QDense is built with
    bias_format: FixedPoint | None
    kernel_quantizer: str = ""
    bias_quantizer: str = ""
    source: Any = field(default=None, compare=False, repr=False)

    @property
    def units(self) -> int:
        return int(self.kernel_q.shape[1])

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        return self.kernel_q, self.bias_q

    def keras(self):
        if self.source is not None:
            return _clone(self.source)
        quantizers = {"kernel_quantizer": self.kernel_format.qkeras(), "bias_quantizer": self.bias_format.qkeras()}
        return self._keras_layer(quantizers), [self.kernel_q, self.bias_q]

    def _keras_layer(self, quantizers: dict):
        from qkeras import QDense

        return QDense(self.units, **quantizers, name=self.name)

    def float_forward(self, x: np.ndarray) -> np.ndarray:
        return x @ np.asarray(self.kernel, np.float64) + np.asarray(self.bias, np.float64)

    def to_json(self) -> dict:
        kernel, bias = self.matrix()
        return {
            "layer": self.name,
            "class": "QDense",
            "units": int(kernel.shape[1]),
            "kernel_quantizer": self.kernel_quantizer,
            "bias_quantizer": self.bias_quantizer,
            "kernel_fractional_bits": fractional_bits(kernel),
            "bias_fractional_bits": fractional_bits(bias),
            "kernel_max_abs": float(np.abs(kernel).max(initial=0.0)),
            "bias_max_abs": float(np.abs(bias).max(initial=0.0)),
        }


@dataclass(frozen=True)
class Conv(Dense):
    """A QConv1D/QConv2D (channels last, no dilation or groups): a real convolution for Keras and hls4ml; for the
    reference and da4ml the constant matrix it is on the flattened values (each entry one kernel value or 0, and
    da4ml spends nothing on the zeros)."""

    in_shape: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    padding: str = "valid"

    def _convolve(self, x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        images = np.asarray(x, np.float64).reshape((-1,) + self.in_shape)
        out = tf.nn.convolution(
            images, np.asarray(kernel, np.float64), strides=self.strides, padding=self.padding.upper()
        )
        return np.asarray(out, np.float64).reshape(len(images), -1)

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        return self._constant_matrix

    @cached_property  # a TF convolution of an identity as large as the image: once per step, not per reference call
    def _constant_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        n_in = int(np.prod(self.in_shape))
        response = self._convolve(np.eye(n_in), self.kernel_q)
        bias = np.tile(self.bias_q, response.shape[1] // self.kernel_q.shape[-1])
        for shared in (response, bias):
            shared.flags.writeable = False  # every caller gets these same arrays
        return response, bias

    @property
    def units(self) -> int:
        return int(self.kernel_q.shape[-1])

    def _keras_layer(self, quantizers: dict):
        from qkeras import QConv1D, QConv2D

        kind = QConv2D if len(self.in_shape) == 3 else QConv1D
        kernel_size = self.kernel_q.shape[:-2]
        return kind(self.units, kernel_size, strides=self.strides, padding=self.padding, **quantizers, name=self.name)

    def to_json(self) -> dict:
        kind = type(self.source).__name__ if self.source is not None else f"QConv{len(self.in_shape) - 1}D"
        return super().to_json() | {"class": kind}

    def float_forward(self, x: np.ndarray) -> np.ndarray:
        out = self._convolve(x, self.kernel)
        return out + np.tile(np.asarray(self.bias, np.float64), out.shape[1] // len(self.bias))


@dataclass(frozen=True)
class Quantize:
    """A QActivation: quantized_bits (``relu`` False) or quantized_relu (``relu`` True) to ``format``."""

    name: str
    format: FixedPoint
    relu: bool = False
    quantizer: str = ""  # str() of the QKeras quantizer, for the rtl manifest
    source: Any = field(default=None, compare=False, repr=False)

    def keras(self):
        from qkeras import QActivation

        if self.source is not None:
            return _clone(self.source)
        return QActivation(self.format.qkeras(self.relu), name=self.name), []

    def float_forward(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0.0) if self.relu else x  # the float model: ReLU uncapped, quantized_bits linear

    def exact(self, x: np.ndarray) -> np.ndarray:
        return self.format.quantize(x)

    def to_json(self) -> dict:
        return {"layer": self.name, "class": "quantizer", "quantizer": self.quantizer, "format": self.format.to_json()}


@dataclass(frozen=True)
class Reshape:
    """Reshape or Flatten: the flat values do not move (C order, channels last), so no arithmetic."""

    name: str
    shape: tuple[int, ...]
    source: Any = field(default=None, compare=False, repr=False)

    def keras(self):
        from tensorflow import keras

        if self.source is not None:
            return _clone(self.source)
        return keras.layers.Reshape(self.shape, name=self.name), []

    def float_forward(self, x: np.ndarray) -> np.ndarray:
        return x


Step = Affine | Dense | Conv | Quantize | Reshape


# ---------------------------------------------------------------------------------------------------------------
# The encoder
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Encoder:
    """Input step, then steps in order; the last is the latent's Quantize."""

    name: str
    input: Input
    steps: tuple[Step, ...]

    @property
    def n_inputs(self) -> int:
        return len(self.input.formats)

    @property
    def output_format(self) -> FixedPoint:
        return self.steps[-1].format  # type: ignore[union-attr]  # checked when built

    @property
    def n_outputs(self) -> int:
        return next(step.matrix()[0].shape[1] for step in reversed(self.steps) if isinstance(step, Dense))

    # -- the firmware ---------------------------------------------------------------------------------------

    def firmware(self) -> Encoder:
        """What the board computes: each Affine folded into the Dense after it (exact: its scale is a power of
        two, its offset on OFFSET_GRID), with the narrowest weight formats that hold the folded constants."""
        steps: list[Step] = []
        pending: Affine | None = None
        for step in self.steps:
            if isinstance(step, Affine):
                pending = step
            elif pending is not None and isinstance(step, Dense):
                steps.append(_fold(pending, step))
                pending = None
            else:  # a Reshape between the normalisation and a convolution moves no value
                steps.append(step)
        if pending is not None:
            raise RuntimeError(f"normalisation {pending.name!r} is not followed by a Dense; this is a trigcomp bug")
        return replace(self, steps=tuple(steps))

    def to_keras(self):
        """The QKeras firmware graph in float64 (raw values in, quantized latent out): what hls4ml converts.

        In float64 because the folded first layer's products reach ~40 bits, more than a float32 mantissa holds:
        only in double precision is QKeras' arithmetic exactly the fixed-point arithmetic of the firmware.
        """
        from tensorflow import keras

        with exact_arithmetic():
            inputs = keras.Input(self.input.shape, name=self.input.port_name, dtype="float64")
            h, weighted = inputs, []
            for step in (self.input, *self.steps):
                layer, weights = step.keras()
                h = layer(h)
                weighted.append((layer, weights))
            model = keras.Model(inputs, h, name=self.name)
            for layer, weights in weighted:
                if weights:
                    layer.set_weights(weights)
        return model

    def to_training_keras(self, wrap_weighted=None):
        """The encoder as trained (float32): raw jet -> input quantizer -> normalise -> QDense/QActivation ... ->
        latent. Values before the latent quantizer are clipped to its range: that changes no transmitted bit but
        stops the straight-through gradient from pushing them out of range (seen: a latent stuck on one level).
        ``wrap_weighted`` (e.g. a pruning wrapper) is applied to every QDense/QConv2D layer."""
        import tensorflow as tf
        from tensorflow import keras

        inputs = keras.Input(self.input.shape, name=self.input.port_name)
        if self.input.per_value:  # one QActivation cannot quantize each value to its own format
            low, high = (tf.constant(v, tf.float32) for v in self.input.bounds())
            lsb = tf.constant([f.lsb for f in self.input.formats], tf.float32)
            h = keras.layers.Lambda(
                lambda t: tf.clip_by_value(tf.round(t / lsb) * lsb, low, high), name=self.input.name
            )(inputs)
        else:
            h = self.input.keras()[0](inputs)
        for step in self.steps[:-1]:
            if isinstance(step, Affine):
                h = keras.layers.Lambda(_affine(step.scale, step.offset), name=step.name)(h)
            elif isinstance(step, Dense) and wrap_weighted is not None:
                h = wrap_weighted(step.keras()[0])(h)
            else:
                h = step.keras()[0](h)
        latent = self.steps[-1]
        h = keras.layers.Lambda(_clip(latent.format), name=f"{latent.name}_clip")(h)
        h = latent.keras()[0](h)
        return inputs, h

    # -- software evaluations -------------------------------------------------------------------------------

    def quantize_inputs(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw values -> the input port's values (each in its own format) and the saturated mask.

        Keras feeds the model float32, so the raw values are rounded to float32 first; quantizing already
        quantized inputs changes nothing.
        """
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] != self.n_inputs:
            raise UserError(f"inputs must have shape (jets, {self.n_inputs}), got {raw.shape}")
        if np.isnan(raw).any():
            raise UserError(f"inputs contain NaN (first in jet {int(np.argwhere(np.isnan(raw))[0][0])})")
        return self.input.quantize(raw.astype(np.float32))

    def reference(self, quantized_inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact fixed-point evaluation of the firmware (float64 holds every partial sum exactly, see
        ``check_exact``): the quantized latent and the value just before the last quantizer."""
        x = np.asarray(quantized_inputs, dtype=np.float64)
        before_last = x
        for step in self.steps:
            if isinstance(step, Dense):
                kernel, bias = step.matrix()
                x = x @ kernel + bias
            elif isinstance(step, Quantize):
                before_last = x
                x = step.exact(x)
        return x, before_last

    def float_forward(self, x: np.ndarray) -> np.ndarray:
        """The unquantized float model (float shadow weights, ReLU uncapped, no quantizers), in float64."""
        h = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        for step in self.steps:
            h = step.float_forward(h)
        return h

    # -- descriptions ---------------------------------------------------------------------------------------

    def layer_names(self) -> list[str]:
        """The Keras layer names of the firmware graph, input quantizer first: what csim's layer trace compares
        (hls4ml names its traced layers after them)."""
        return [self.input.name] + [step.name for step in self.steps if not isinstance(step, Affine)]

    def layers_json(self) -> list[dict]:
        return [self.input.to_json()] + [step.to_json() for step in self.steps if hasattr(step, "to_json")]

    def digest(self) -> str:
        """sha256 of everything that decides the firmware: formats, kernels and biases (byte for byte)."""
        h = hashlib.sha256(json.dumps(self.layers_json(), sort_keys=True).encode())
        for step in self.steps:
            if isinstance(step, Dense):
                for values in step.matrix():
                    h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
        return h.hexdigest()

    def check_exact(self) -> None:
        """Refuse encoders whose accumulators are too wide for the float64 reference to be exact."""
        low, high = self.input.bounds()
        lsb = min(f.lsb for f in self.input.formats)
        for step in self.steps:
            if isinstance(step, Dense):
                kernel, bias = step.matrix()
                positive, negative = np.clip(kernel, 0, None), np.clip(kernel, None, 0)
                low, high = low @ positive + high @ negative + bias, high @ positive + low @ negative + bias
                lsb = min(lsb * 2.0 ** -fractional_bits(kernel), 2.0 ** -fractional_bits(bias))
                span = max(np.abs(low).max(initial=0.0), np.abs(high).max(initial=0.0)) / lsb
                if span >= 2.0**MAX_EXACT_ACCUMULATOR_BITS:
                    raise UserError(
                        f"layer {step.name!r}: accumulator wider than {MAX_EXACT_ACCUMULATOR_BITS} bits, so the "
                        "float64 QKeras reference would not be exact (narrow the weights or the input type)"
                    )
            elif isinstance(step, Quantize):
                low, high = (
                    np.clip(low, step.format.min, step.format.max),
                    np.clip(high, step.format.min, step.format.max),
                )
                lsb = step.format.lsb


def _affine(scale: np.ndarray, offset: np.ndarray):
    import tensorflow as tf

    scale, offset = tf.constant(scale, tf.float32), tf.constant(offset, tf.float32)
    return lambda t: (t - offset) * scale


def _clip(fmt: FixedPoint):
    import tensorflow as tf

    return lambda t: tf.clip_by_value(t, fmt.min, fmt.max)


def _fold(affine: Affine, dense: Dense) -> Dense:
    """z = (x - offset) * scale folded into the Dense (or a Conv, whose inputs share one scale and have no offset):
    exact, since scale is a power of two."""
    kernel_q, bias_q = dense.kernel_q, dense.bias_q
    if isinstance(dense, Conv):
        if np.any(affine.offset != 0) or np.any(affine.scale != affine.scale[0]):
            raise RuntimeError("a convolution's inputs need one scale and no offset; this is a trigcomp bug")
        kernel, bias = float(affine.scale[0]) * kernel_q, bias_q
    else:
        kernel = affine.scale[:, None] * kernel_q
        bias = bias_q - (affine.offset * affine.scale) @ kernel_q
    kernel_fp = quantizer_for(kernel, dense.kernel_format.lsb * float(affine.scale.min()))
    bias_fp = quantizer_for(bias, min(dense.bias_format.lsb, dense.kernel_format.lsb * OFFSET_GRID))
    for values, fp in ((kernel, kernel_fp), (bias, bias_fp)):
        if not np.array_equal(np.rint(values / fp.lsb) * fp.lsb, values) or not np.array_equal(
            values.astype(np.float32), values
        ):
            raise RuntimeError("folded first-layer weights are not exact on their grid; this is a trigcomp bug")
    kernel, bias = kernel.astype(np.float32).astype(np.float64), bias.astype(np.float32).astype(np.float64)
    return replace(
        dense,
        kernel=kernel,
        bias=bias,
        kernel_q=kernel,
        bias_q=bias,
        kernel_format=kernel_fp,
        bias_format=bias_fp,
        kernel_quantizer=str(kernel_fp.qkeras()),
        bias_quantizer=str(bias_fp.qkeras()),
    )


# ---------------------------------------------------------------------------------------------------------------
# A trained model's encoder, from its config and weights
# ---------------------------------------------------------------------------------------------------------------


def _quantized(values: np.ndarray, fmt: FixedPoint) -> np.ndarray:
    """Weights exactly as QDense uses them (QKeras' quantizer applied to the float32 shadow weights)."""
    return np.asarray(fmt.qkeras()(np.asarray(values, dtype=np.float32)), dtype=np.float64)


def from_trained(config, input_formats: tuple[FixedPoint, ...], scale, offset, weights: dict | None) -> Encoder:
    """The encoder of a trained model (trigcomp.model): input quantizer, normalisation, then (``encoder.kind =
    "conv2d"``: the values as a square image through QConv2D layers, flattened) QDense layers with quantized_relu
    between them, the last one feeding the quantized latent. ``weights`` (by layer name) may be None when only the
    training graph is wanted."""
    enc = config.encoder
    kernel_fp, bias_fp = FixedPoint(enc.weight_bits, enc.weight_integer), FixedPoint(enc.bias_bits, enc.bias_integer)
    relu_fp = FixedPoint(enc.activation_bits, enc.activation_integer, signed=False)
    relu = str(relu_fp.qkeras(relu=True))
    n = len(input_formats)
    port = widest(input_formats)

    def weighted(kind, name: str, shape: tuple[int, ...], **extra) -> Dense:
        kernel, bias = weights[name] if weights is not None else (np.zeros(shape), np.zeros(shape[-1]))
        kernel_q, bias_q = _quantized(kernel, kernel_fp), _quantized(bias, bias_fp)
        texts = (str(kernel_fp.qkeras()), str(bias_fp.qkeras()))
        return kind(name, kernel, bias, kernel_q, bias_q, kernel_fp, bias_fp, *texts, **extra)

    steps: list[Step] = [Affine("normalise", np.asarray(scale, np.float64), np.asarray(offset, np.float64))]
    n_in = n
    if enc.conv_filters:
        side = round(n**0.5)
        shape = (side, side, 1)
        steps.append(Reshape("image", shape))
        for index, filters in enumerate(enc.conv_filters):
            stride = enc.conv_strides[index] if enc.conv_strides else 1
            name, k = f"enc_conv{index}", enc.conv_kernel
            steps.append(weighted(Conv, name, (k, k, shape[2], filters), in_shape=shape, strides=(stride, stride)))
            steps.append(Quantize(f"enc_conv_relu{index}", relu_fp, True, relu))
            side = (shape[0] - k) // stride + 1  # "valid" padding
            shape = (side, side, filters)
        n_in = int(np.prod(shape))
        steps.append(Reshape("flatten", (n_in,)))
    widths = [(f"enc_dense{i}", width) for i, width in enumerate(enc.hidden)] + [("enc_latent", config.latent.size)]
    for index, (name, width) in enumerate(widths):
        steps.append(weighted(Dense, name, (n_in, width)))
        if index < len(widths) - 1:
            steps.append(Quantize(name.replace("dense", "relu"), relu_fp, True, relu))
        n_in = width
    latent = config.latent_quantizer
    steps.append(Quantize("latent", latent, False, str(latent.qkeras())))
    return Encoder("encoder", Input("input_q", (n,), tuple(input_formats), "jet", str(port.qkeras())), tuple(steps))


# ---------------------------------------------------------------------------------------------------------------
# An imported model's encoder, parsed from its QKeras model (the one whitelist)
# ---------------------------------------------------------------------------------------------------------------


def _is_unit_scale(alpha) -> bool:
    if alpha is None:
        return True
    if isinstance(alpha, str):
        return False
    return float(np.asarray(alpha)) == 1.0


def quantizer_format(quantizer, where: str) -> tuple[FixedPoint, bool]:
    """A QKeras activation quantizer -> (its format, whether it is a ReLU); refuses data-dependent or lossy ones."""
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
        symmetric = bool(quantizer.symmetric) and bool(keep_negative)
        return FixedPoint(bits, integer, bool(keep_negative), symmetric), False
    if kind == "quantized_relu":
        if quantizer.use_sigmoid or float(quantizer.negative_slope) != 0.0:
            raise UserError(f"{where}: only plain quantized_relu (no sigmoid, no negative slope) is supported")
        if quantizer.relu_upper_bound is not None and not quantizer.is_quantized_clip:
            raise UserError(f"{where}: quantized_relu with relu_upper_bound is not supported")
        return FixedPoint(int(quantizer.bits), int(quantizer.integer), signed=False), True
    raise UserError(f"{where}: quantizer {kind} is not supported (use quantized_bits or quantized_relu)")


def _constant(layer, which: str, where: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(shadow weights, the constants the layer multiplies by, quantizer text), checked to be fixed point."""
    variable = np.asarray(getattr(layer, which), dtype=np.float64)
    quantizer = getattr(layer, f"{which}_quantizer_internal")
    if quantizer is None:
        raise UserError(f"{where}: the {which} has no quantizer, so the firmware cannot hold it exactly")
    values = np.asarray(quantizer(getattr(layer, which)), dtype=np.float64)
    if not np.isfinite(values).all():
        raise UserError(f"layer {layer.name!r}: {which} has non-finite values")
    if fractional_bits(values) is None:
        raise UserError(
            f"layer {layer.name!r}: {which} is not on a fixed-point grid (needs more than "
            f"{MAX_WEIGHT_FRACTIONAL_BITS} fractional bits)"
        )
    return variable, values, str(quantizer)


def _weights(layer, where: str, n_out: int) -> dict:
    kernel, kernel_q, kernel_text = _constant(layer, "kernel", where)
    if layer.use_bias:
        bias, bias_q, bias_text = _constant(layer, "bias", where)
    else:
        bias, bias_q, bias_text = np.zeros(n_out), np.zeros(n_out), "none"
    return {
        "kernel": kernel, "bias": bias, "kernel_q": kernel_q, "bias_q": bias_q, "kernel_format": None, "bias_format": None,
        "kernel_quantizer": kernel_text, "bias_quantizer": bias_text, "source": layer,
    }  # fmt: skip


def _check_linear(layer, where: str) -> None:
    from tensorflow import keras

    if layer.activation is not None and layer.activation is not keras.activations.linear:
        raise UserError(f"{where}: an activation inside the layer is not supported; put it in a QActivation")


def _dense_step(layer, where: str) -> Dense:
    _check_linear(layer, where)
    return Dense(layer.name, **_weights(layer, where, int(layer.units)))


def _conv_step(layer, where: str) -> Conv:
    _check_linear(layer, where)
    if layer.data_format != "channels_last" or max(layer.dilation_rate) != 1 or layer.groups != 1:
        raise UserError(f"{where}: only plain channels_last convolutions (no dilation or groups)")
    in_shape = tuple(int(d) for d in layer.input_shape[1:])
    return Conv(
        layer.name,
        **_weights(layer, where, int(layer.filters)),
        in_shape=in_shape,
        strides=tuple(layer.strides),
        padding=layer.padding,
    )


def _quantize_step(layer, where: str) -> Quantize:
    fmt, relu = quantizer_format(layer.quantizer, where)
    return Quantize(layer.name, fmt, relu, str(layer.quantizer), source=layer)


def _reshape_step(layer, where: str) -> Reshape:
    return Reshape(layer.name, tuple(int(d) for d in layer.output_shape[1:]), source=layer)


#: The only Keras layers an encoder may hold: each converts bit-exactly with hls4ml 1.3 (QActivation with
#: quantized_bits or quantized_relu; the convolutions and the reshapes were checked word for word by csim on
#: imported models) and each is a step kind here.
KERAS_STEPS = {
    "QActivation": _quantize_step,
    "QDense": _dense_step,
    "QConv1D": _conv_step,
    "QConv2D": _conv_step,
    "Reshape": _reshape_step,
    "Flatten": _reshape_step,
}


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


def _latent_step(layer) -> Quantize:
    kind = type(layer).__name__
    if kind != "QActivation" or type(layer.quantizer).__name__ != "quantized_bits":
        raise UserError(
            f"the model ends in {layer.name!r} ({kind}), not a quantized latent: "
            "give an encoder (raw jet in, quantized_bits latent out), not a decoder"
        )
    return _quantize_step(layer, f"layer {layer.name!r}")


def leading_input_format(model) -> FixedPoint | None:
    """The model's own input quantizer (a leading QActivation(quantized_bits)), or None when it has none."""
    first = chain_layers(model)[0]
    if type(first).__name__ != "QActivation" or type(first.quantizer).__name__ != "quantized_bits":
        return None
    fmt, _ = quantizer_format(first.quantizer, f"layer {first.name!r}")
    if not fmt.signed or fmt.symmetric:
        raise UserError(
            f"layer {first.name!r}: the input quantizer must be a signed, non-symmetric quantized_bits "
            "(the board's input is one ap_fixed type)"
        )
    return fmt


def from_keras(model, input_format: FixedPoint | None = None) -> Encoder:
    """Parse a QKeras encoder into its description, or raise UserError naming the first layer that cannot be
    built bit-exactly. ``input_format``: an input quantizer to put in front (``trigcomp import --input-type``)."""
    shape = tuple(model.input_shape)
    if len(shape) < 2 or None in shape[1:]:
        raise UserError(f"the encoder input must have a fixed shape, got {shape}")
    chain = chain_layers(model)
    latent = _latent_step(chain[-1])
    steps: list[Step] = []
    for layer in chain[:-1]:
        kind = type(layer).__name__
        where = f"layer {layer.name!r} ({kind})"
        if kind not in KERAS_STEPS:
            raise UserError(f"{where} cannot be converted bit-exactly; supported: {', '.join(KERAS_STEPS)}")
        steps.append(KERAS_STEPS[kind](layer, where))
    n_inputs = int(np.prod(shape[1:]))
    if input_format is None:
        first = steps.pop(0) if steps and isinstance(steps[0], Quantize) and not steps[0].relu else None
        if first is None:
            raise UserError("the encoder must start with a QActivation(quantized_bits(...)) input quantizer")
        name, fmt, text, source = first.name, first.format, first.quantizer, first.source
    else:
        names = {layer.name for layer in model.layers}
        name = next(n for n in ("input_quantizer", "trigcomp_input_quantizer") if n not in names)
        fmt, text, source = input_format, str(input_format.qkeras()), None
    steps.append(latent)
    if not any(isinstance(step, Dense) for step in steps):
        raise UserError("the encoder must hold a QDense and end with a QActivation quantizer (the latent)")
    port_name = model.input_names[0]
    encoder = Encoder(
        model.name,
        Input(name, tuple(int(d) for d in shape[1:]), (fmt,) * n_inputs, port_name, text, source),
        tuple(steps),
    )
    encoder.check_exact()
    return encoder
