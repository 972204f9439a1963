"""Bring your own QKeras encoder: ``trigcomp import`` turns a model file trained elsewhere into a model directory
that hls, csim and rtl take like a trained one.

An imported model is an encoder only (no decoder, no normalisation): its inputs are the values the board sees,
named ``x0, x1, ...`` or by ``--names``, flattened in C order (channels last) when the model takes an image. The
directory holds the model file byte for byte (its sha256 recorded) and ``model.json``:

* the input fixed-point type, from the model's leading ``QActivation(quantized_bits(...))`` or from
  ``--input-type 'ap_fixed<W,I>'`` (then the firmware encoder gets that quantizer in front of the model);
* the latent type (the last layer must be a signed ``quantized_bits`` QActivation on a flat vector).

The model is parsed into the encoder description (``trigcomp.ir.from_keras``): only layers hls4ml 1.3 converts
bit-exactly are accepted (``trigcomp.ir.KERAS_STEPS``), with plain fixed-point quantizers; anything else is refused
by name. The QKeras reference runs in float64, and every accumulator is checked to fit its mantissa (at most 50 of
53 bits), so the reference is exactly the fixed-point arithmetic of the firmware.
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

from . import ir
from .errors import UserError
from .ir import FixedPoint, qkeras_objects
from .model import IMPORTED_MODEL_FORMAT, MODEL_FORMAT, EncoderModel, stack_versions
from .staging import check_output, staged_dir, write_json

KERAS_SUFFIXES = (".h5", ".keras")
_AP_FIXED = re.compile(r"^\s*ap_fixed\s*<\s*(\d+)\s*,\s*(-?\d+)\s*>\s*$")


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
        return keras.models.load_model(path, custom_objects=qkeras_objects(), compile=False)
    except Exception as err:  # noqa: BLE001 -- h5py, Keras and zipfile each raise their own kinds on a bad file
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise UserError(f"{path} is not a Keras/QKeras model file Keras 2.14 can load: {first}") from None


def _load_keras_v3(path: Path):
    """A .keras file. QKeras 0.9's QActivation cannot read back the quantizer it saved there (a serialised dict
    where its constructor wants an object), so Keras' load_model fails on every QKeras model; the config is read
    from the archive with the quantizers deserialised, and the weights loaded into it."""
    import zipfile

    from tensorflow import keras

    objects = qkeras_objects()
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


def _latent_type(encoder: ir.Encoder, output_shape) -> FixedPoint:
    """The link words need a signed, non-symmetric latent on a flat vector."""
    fmt, name = encoder.output_format, encoder.steps[-1].name
    if not fmt.signed or fmt.symmetric:
        raise UserError(f"layer {name!r}: the latent quantizer must be a signed, non-symmetric quantized_bits")
    if len(output_shape) != 2:
        raise UserError(f"the latent must be a flat vector, got shape {tuple(output_shape[1:])}: add a Flatten")
    return fmt


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
    def model_files(self) -> tuple[str, ...]:
        return ("model.json", self.info["model_file"])

    def describe(self) -> dict[str, Any]:
        keys = ("source", "sha256", "input_type", "input_type_from", "input_shape", "model_file")
        return {"imported": {key: self.info[key] for key in keys}}

    def keras_model(self):
        if not hasattr(self, "_keras"):
            self._keras = load_keras_file(self.path / self.info["model_file"])
        return self._keras

    def encoder_ir(self) -> ir.Encoder:
        if not hasattr(self, "_ir"):
            added = (
                FixedPoint(**self.info["input_quantizer"]) if self.info["input_type_from"] == "--input-type" else None
            )
            self._ir = ir.from_keras(self.keras_model(), added)
        return self._ir


def _imported_hash(sha256: str, input_fp: FixedPoint, variables: tuple[str, ...]) -> str:
    payload = json.dumps({"sha256": sha256, "input": [input_fp.bits, input_fp.integer], "variables": variables})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def import_keras(
    source: str | Path, out: str | Path, input_type: str | None = None, names: str | None = None, force: bool = False
) -> ImportedModel:
    """Check a QKeras encoder file and write its model directory (see the module docstring)."""
    source, out = Path(source), Path(out)
    check_output(out, force)
    given_fp = parse_input_type(input_type) if input_type is not None else None
    model = load_keras_file(source)
    leading_fp = ir.leading_input_format(model)
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
    # refuses, by name, every layer the firmware cannot hold exactly; every accumulator exact in float64
    encoder = ir.from_keras(model, None if leading_fp is not None else given_fp)
    latent_fp = _latent_type(encoder, model.output_shape)
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
        "layers": [{"name": layer.name, "class": type(layer).__name__} for layer in ir.chain_layers(model)],
        "versions": stack_versions(),
    }
    imported = ImportedModel(None, info)
    imported._keras, imported._ir = model, encoder
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
