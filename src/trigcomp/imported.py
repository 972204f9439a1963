"""Bring your own QKeras encoder: ``trigcomp import`` turns a model file trained elsewhere into a model directory
that hls, csim and rtl take like a trained one.

An imported model is an encoder only (no decoder, no normalisation): its inputs are the values the board sees,
named ``x0, x1, ...`` or by ``--names``, flattened in C order (channels last) when the model takes an image. The
directory holds the model file byte for byte (its sha256 recorded) and ``model.json``:

* the input fixed-point type, from the model's leading ``QActivation(quantized_bits(...))`` or from
  ``--input-type 'ap_fixed<W,I>'`` (then the firmware encoder gets that quantizer in front of the model);
* the latent type (the last layer must be a signed ``quantized_bits`` QActivation on a flat vector).

Only layers hls4ml 1.3 converts bit-exactly are accepted (``trigcomp.hls.ENCODER_LAYERS``), with plain fixed-point
quantizers; anything else is refused by name. The QKeras reference runs in float64, and every accumulator is
checked to fit its mantissa (``trigcomp.rtl.parse_encoder``: at most 50 of 53 bits), so the reference is exactly
the fixed-point arithmetic of the firmware.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import FixedPoint
from .errors import UserError
from .hls import ENCODER_LAYERS, check_encoder
from .model import IMPORTED_MODEL_FORMAT, MODEL_FORMAT, EncoderModel, exact_arithmetic, stack_versions
from .staging import check_output, staged_dir, write_json

KERAS_SUFFIXES = (".h5", ".keras")
_AP_FIXED = re.compile(r"^\s*ap_fixed\s*<\s*(\d+)\s*,\s*(-?\d+)\s*>\s*$")
#: Keras float layers that stand in for the quantized ones in the unquantized float model.
_FLOAT_TWINS = {"QDense": "Dense", "QConv1D": "Conv1D", "QConv2D": "Conv2D"}
_QUANTIZER_KEYS = (
    "kernel_quantizer",
    "bias_quantizer",
    "kernel_range",
    "bias_range",
    "kernel_initializer",
    "bias_initializer",
    "kernel_constraint",
    "bias_constraint",
)


def parse_input_type(text: str) -> FixedPoint:
    """``ap_fixed<W,I>`` (I integer bits including the sign) -> quantized_bits(W, I-1)."""
    match = _AP_FIXED.match(text)
    if not match:
        raise UserError(f"--input-type must look like 'ap_fixed<16,6>', got {text!r}")
    width, integer = int(match[1]), int(match[2])
    if width < 2 or integer < 1 or integer > width:
        raise UserError(f"--input-type {text!r}: need width >= 2 and 1 <= integer bits <= width")
    return FixedPoint(width, integer - 1)


def ap_fixed(fp: FixedPoint) -> str:
    return f"ap_fixed<{fp.bits},{fp.integer + 1}>"


def _custom_objects() -> dict[str, Any]:
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict[str, Any] = {}
    _add_supported_quantized_objects(objects)
    return objects


def load_keras_file(path: Path):
    """The Keras model in ``path``, with QKeras' layers and quantizers registered; a UserError when it is none."""
    from tensorflow import keras

    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    if path.suffix not in KERAS_SUFFIXES:
        raise UserError(
            f"{path}: give a Keras model file ({' or '.join(KERAS_SUFFIXES)}), not {path.suffix or 'no suffix'}"
        )
    try:
        if path.suffix == ".keras":
            return _load_keras_v3(path)
        return keras.models.load_model(path, custom_objects=_custom_objects(), compile=False)
    except Exception as err:  # noqa: BLE001 -- h5py, Keras and zipfile each raise their own kinds on a bad file
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise UserError(f"{path} is not a Keras/QKeras model file Keras 2.14 can load: {first}") from None


def _load_keras_v3(path: Path):
    """A .keras file. QKeras 0.9's QActivation cannot read back the quantizer it saved there (a serialised dict
    where its constructor wants an object), so Keras' load_model fails on every QKeras model; the config is read
    from the archive with the quantizers deserialised, and the weights loaded into it."""
    import zipfile

    from tensorflow import keras

    objects = _custom_objects()
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))["config"]
    for layer in config.get("layers", []):
        activation = layer["config"].get("activation")
        if layer["class_name"] == "QActivation" and isinstance(activation, dict):
            layer["config"]["activation"] = keras.utils.deserialize_keras_object(activation, custom_objects=objects)
    with keras.utils.custom_object_scope(objects):
        model = keras.Model.from_config(config)
    model.load_weights(path)
    return model


# ---------------------------------------------------------------------------------------------------------------
# What the board can run, bit-exactly
# ---------------------------------------------------------------------------------------------------------------


def _fixed_format(quantizer, where: str):
    from .rtl.layers import quantizer_format  # the open path's check: alpha=1, no stochastic rounding, plain relu

    return quantizer_format(quantizer, where)


def _check_layer(layer) -> None:
    """Refuse, naming the layer, what hls4ml 1.3 does not convert bit-exactly (the quantizers themselves, the
    shapes and the accumulator widths are checked on the whole encoder by trigcomp.rtl.parse_encoder)."""
    from tensorflow import keras

    kind = type(layer).__name__
    where = f"layer {layer.name!r} ({kind})"
    if kind not in ENCODER_LAYERS:
        raise UserError(f"{where} cannot be converted bit-exactly; supported: {', '.join(ENCODER_LAYERS)}")
    if kind in _FLOAT_TWINS:
        if layer.activation is not keras.activations.linear:
            raise UserError(f"{where}: an activation inside the layer is not supported; put it in a QActivation")
        for which in ("kernel", "bias") if layer.use_bias else ("kernel",):
            if getattr(layer, f"{which}_quantizer_internal") is None:
                raise UserError(f"{where}: the {which} has no quantizer, so the firmware cannot hold it exactly")


def firmware_chain(model, input_fp: FixedPoint | None):
    """The model rebuilt in float64 (every layer, weights copied), with an input quantizer in front when given.

    Saved layers carry dtype float32; only a rebuild with dtype float64 makes QKeras compute exactly.
    """
    from qkeras import QActivation, quantized_bits
    from tensorflow import keras

    from .rtl.layers import chain_layers

    with exact_arithmetic(), keras.utils.custom_object_scope(_custom_objects()):
        inputs = keras.Input(model.input_shape[1:], name=model.input_names[0], dtype="float64")
        h = inputs
        if input_fp is not None:
            names = {layer.name for layer in model.layers}
            name = next(n for n in ("input_quantizer", "trigcomp_input_quantizer") if n not in names)
            h = QActivation(quantized_bits(input_fp.bits, input_fp.integer, alpha=1), name=name)(h)
        for layer in chain_layers(model):
            clone = type(layer).from_config(layer.get_config() | {"dtype": "float64"})
            h = clone(h)
            clone.set_weights(layer.get_weights())
        return keras.Model(inputs, h, name=model.name)


def float_chain(model):
    """The unquantized float model: float twins of the quantized layers, shadow weights, ReLU uncapped."""
    from tensorflow import keras

    from .rtl.layers import chain_layers

    with exact_arithmetic():
        inputs = keras.Input(model.input_shape[1:], dtype="float64")
        h = inputs
        for layer in chain_layers(model):
            kind = type(layer).__name__
            config = layer.get_config() | {"dtype": "float64"}
            if kind == "QActivation":
                relu = type(layer.quantizer).__name__ == "quantized_relu"
                clone = keras.layers.Activation("relu" if relu else "linear", name=layer.name, dtype="float64")
            elif kind in _FLOAT_TWINS:
                config = {k: v for k, v in config.items() if k not in _QUANTIZER_KEYS}
                clone = getattr(keras.layers, _FLOAT_TWINS[kind]).from_config(config)
            else:
                clone = type(layer).from_config(config)
            h = clone(h)
            if layer.get_weights():
                clone.set_weights(layer.get_weights())
        return keras.Model(inputs, h)


def _leading_input_type(chain: list) -> FixedPoint | None:
    first = chain[0]
    if type(first).__name__ != "QActivation" or type(first.quantizer).__name__ != "quantized_bits":
        return None
    fmt = _fixed_format(first.quantizer, f"layer {first.name!r}")
    if not fmt.signed or fmt.symmetric:
        raise UserError(
            f"layer {first.name!r}: the input quantizer must be a signed, non-symmetric quantized_bits "
            "(the board's input is one ap_fixed type)"
        )
    return FixedPoint(fmt.bits, fmt.integer)


def _latent_type(chain: list, output_shape) -> FixedPoint:
    last = chain[-1]
    if type(last).__name__ != "QActivation" or type(last.quantizer).__name__ != "quantized_bits":
        raise UserError(
            f"the model ends in {last.name!r} ({type(last).__name__}), not a QActivation(quantized_bits(...)) "
            "latent: the link words need a fixed-point latent"
        )
    fmt = _fixed_format(last.quantizer, f"layer {last.name!r}")
    if not fmt.signed or fmt.symmetric:
        raise UserError(f"layer {last.name!r}: the latent quantizer must be a signed, non-symmetric quantized_bits")
    if len(output_shape) != 2:
        raise UserError(f"the latent must be a flat vector, got shape {tuple(output_shape[1:])}: add a Flatten")
    return FixedPoint(fmt.bits, fmt.integer)


def _input_names(names: str | None, n_inputs: int) -> tuple[str, ...]:
    if names is None:
        return tuple(f"x{i}" for i in range(n_inputs))
    parsed = tuple(name.strip() for name in names.split(","))
    if len(parsed) != n_inputs:
        raise UserError(f"--names gives {len(parsed)} names but the model takes {n_inputs} input values")
    if any(not name for name in parsed) or len(set(parsed)) != len(parsed):
        raise UserError("--names must be distinct, non-empty names separated by commas")
    return parsed


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# The imported model on disk
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class ImportedModel(EncoderModel):
    """A model directory written by ``trigcomp import``: the model file and ``model.json`` describing it."""

    path: Path | None
    info: dict[str, Any]

    @property
    def name(self) -> str:
        return self.info["name"]

    @property
    def hash(self) -> str:
        return self.info["hash"]

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(self.info["variables"])

    @property
    def input_quantizer(self) -> FixedPoint:
        return FixedPoint(**self.info["input_quantizer"])

    @property
    def latent_quantizer(self) -> FixedPoint:
        return FixedPoint(**self.info["latent_quantizer"])

    @property
    def model_files(self) -> tuple[str, ...]:
        return ("model.json", self.info["model_file"])

    def describe(self) -> dict[str, Any]:
        keys = ("source", "sha256", "input_type", "input_type_from", "input_shape", "model_file")
        return {"imported": {key: self.info[key] for key in keys}}

    def keras_model(self):
        if not hasattr(self, "_keras"):
            self._keras = load_keras_file(self.path / self.info["model_file"])
        return self._keras

    def firmware_encoder(self):
        if not hasattr(self, "_encoder"):
            added = self.input_quantizer if self.info["input_type_from"] == "--input-type" else None
            self._encoder = firmware_chain(self.keras_model(), added)
        return self._encoder

    def encode_float(self, x: np.ndarray) -> np.ndarray:
        if not hasattr(self, "_float"):
            self._float = float_chain(self.keras_model())
        x = np.asarray(x, dtype=np.float64).reshape((len(x),) + self.input_shape)
        with exact_arithmetic():
            return self._float.predict(x, batch_size=65536, verbose=0)


def _imported_hash(sha256: str, input_fp: FixedPoint, variables: tuple[str, ...]) -> str:
    payload = json.dumps({"sha256": sha256, "input": [input_fp.bits, input_fp.integer], "variables": variables})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def import_keras(
    source: str | Path, out: str | Path, input_type: str | None = None, names: str | None = None, force: bool = False
) -> ImportedModel:
    """Check a QKeras encoder file and write its model directory (see the module docstring)."""
    from .rtl.layers import chain_layers, parse_encoder

    source, out = Path(source), Path(out)
    check_output(out, force)
    given_fp = parse_input_type(input_type) if input_type is not None else None
    model = load_keras_file(source)
    chain = chain_layers(model)
    for layer in chain:
        _check_layer(layer)
    leading_fp = _leading_input_type(chain)
    if leading_fp is None and given_fp is None:
        raise UserError(
            f"{source}: no input type: the model does not start with QActivation(quantized_bits(...)); "
            "give --input-type 'ap_fixed<W,I>'"
        )
    if leading_fp is not None and given_fp is not None and leading_fp != given_fp:
        raise UserError(
            f"--input-type {input_type} differs from the model's input quantizer ({ap_fixed(leading_fp)}); "
            "leave --input-type out"
        )
    input_fp = leading_fp or given_fp
    latent_fp = _latent_type(chain, model.output_shape)
    input_shape = tuple(int(d) for d in model.input_shape[1:])
    variables = _input_names(names, int(np.prod(input_shape)))
    sha256 = _file_sha256(source)
    info = {
        "format": IMPORTED_MODEL_FORMAT,
        "name": model.name,
        "hash": _imported_hash(sha256, input_fp, variables),
        "source": source.name,
        "sha256": sha256,
        "model_file": f"encoder{source.suffix}",
        "input_type": ap_fixed(input_fp),
        "input_type_from": "model" if leading_fp is not None else "--input-type",
        "input_quantizer": {"bits": input_fp.bits, "integer": input_fp.integer},
        "latent_quantizer": {"bits": latent_fp.bits, "integer": latent_fp.integer},
        "input_shape": list(input_shape),
        "variables": list(variables),
        "layers": [{"name": layer.name, "class": type(layer).__name__} for layer in chain],
        "versions": stack_versions(),
    }
    imported = ImportedModel(None, info)
    imported._keras = model
    encoder = imported.firmware_encoder()
    check_encoder(encoder)  # the same check `trigcomp hls` makes, now rather than later
    parse_encoder(encoder)  # every quantizer a plain fixed-point one; every accumulator exact in float64
    with staged_dir(out, force) as tmp:
        shutil.copyfile(source, tmp / info["model_file"])
        write_json(tmp / "model.json", info)
    imported.path = out
    return imported


def load_imported(path: str | Path) -> ImportedModel:
    path = Path(path)
    try:
        info = json.loads((path / "model.json").read_text())
        model_file = path / info["model_file"]
        recorded = info["sha256"]
        expected = _imported_hash(recorded, FixedPoint(**info["input_quantizer"]), tuple(info["variables"]))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise UserError(f"{path}: imported model files are damaged ({type(err).__name__}: {err})") from None
    if not model_file.is_file() or _file_sha256(model_file) != recorded:
        raise UserError(f"{path}: {model_file.name} is missing or its sha256 is not the recorded {recorded[:16]}…")
    if info.get("hash") != expected:
        raise UserError(f"{path}: model hash mismatch (model.json edited by hand?): {info.get('hash')} != {expected}")
    return ImportedModel(path, info)


def load_encoder_model(path: str | Path) -> EncoderModel:
    """A model directory for the firmware stages: trained (``trigcomp train``) or imported (``trigcomp import``)."""
    from . import model as trained  # looked up at call time, as the verbs always did

    path = Path(path)
    try:
        fmt = json.loads((path / "model.json").read_text()).get("format")
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        fmt = MODEL_FORMAT  # load_model says what is wrong with it
    return load_imported(path) if fmt == IMPORTED_MODEL_FORMAT else trained.load_model(path)
