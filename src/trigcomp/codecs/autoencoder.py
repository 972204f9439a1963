"""The quantization-aware autoencoder behind the codec interface: an adapter over ``model.TrainedModel``.

``encode`` is the exact firmware encoder (the bit-exact QKeras reference that csim and the RTL path are proven
equal to): its latent values as the integer words on the link, each field ``latent.bits`` wide in two's complement
(stored unsigned, as they are packed). ``decode`` is the offline decoder. Saturation is counted per latent: values the
latent quantizer clamped because the encoder's output was beyond its range.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import UserError
from .base import Codec, Encoding, as_table


class AutoencoderCodec(Codec):
    kind: ClassVar[str] = "autoencoder"
    label: ClassVar[str] = "quantization-aware autoencoder"
    firmware: ClassVar[str] = "trigcomp hls --model"

    def __init__(self, model) -> None:
        self.model = model
        self.variables = tuple(model.variables)

    @property
    def name(self) -> str:
        return self.model.name

    @classmethod
    def fit(cls, train: np.ndarray, variables: Sequence[str], config, out: Path | str, *, force: bool = False):
        """Train a model of ``config`` on ``train`` (rows are taken as one jet per event) and save it to ``out``."""
        from ..model import resolve_model_variables, save_model
        from ..model import train as train_model
        from ..records import JetTable

        variables = tuple(variables)
        if resolve_model_variables(config.variables) != variables:
            raise UserError(f"config {config.name} is for variables {config.variables}, not {', '.join(variables)}")
        table = as_table(train, variables, "training")
        jets = JetTable(variables, table.astype(np.float32), np.arange(len(table)), len(table), "array")
        return cls(save_model(train_model(config, jets), Path(out), force=force))

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f"latent{i}" for i in range(self.model.config.latent.size))

    @property
    def field_bits(self) -> tuple[int, ...]:
        return (self.model.config.latent.bits,) * self.model.config.latent.size

    def encode(self, x: np.ndarray) -> Encoding:
        x = as_table(x, self.variables, "input", min_jets=0)
        latent, accumulator = self.latent_and_accumulator(x)
        quantizer = self.model.config.latent_quantizer
        words = np.rint(latent / quantizer.lsb).astype(np.int64)
        # the quantizer rounds to the nearest level: only values beyond half an LSB past the edge were clamped
        clamped = (accumulator >= quantizer.max + quantizer.lsb / 2) | (accumulator < quantizer.min - quantizer.lsb / 2)
        return Encoding(words & ((1 << quantizer.bits) - 1), clamped.sum(axis=0).astype(np.int64))

    def latent_and_accumulator(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The quantized latent and the value before the latent quantizer; here from QKeras (TensorFlow)."""
        return self.model.encode_with_accumulator(x)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = self._check_codes(codes)
        quantizer = self.model.config.latent_quantizer
        half = 1 << (quantizer.bits - 1)
        words = np.where(codes >= half, codes - 2 * half, codes)
        return self.model.decode(words * quantizer.lsb)

    def area_estimate(self) -> dict[str, Any] | None:
        """da4ml's cost model of the encoder (the first call in a fresh environment compiles da4ml with numba)."""
        try:
            from ..rtl import estimate
        except ImportError:  # the rtl extra (da4ml) is not installed
            return None
        da4ml = estimate(self.model.firmware_encoder())
        return {"luts": da4ml.resources["LUT"], "source": da4ml.source, "note": da4ml.note}

    def to_json(self) -> dict[str, Any]:
        return {
            "codec": self.kind,
            "model": str(self.model.path) if self.model.path is not None else None,
            "hash": self.model.hash,
            "variables": list(self.variables),
            "bits_per_jet": self.bits_per_jet,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AutoencoderCodec:
        from ..model import load_model

        if not raw.get("model"):
            raise UserError("autoencoder codec: no model directory given (key 'model')")
        model = load_model(raw["model"])
        if raw.get("hash") not in (None, model.hash):
            raise UserError(f"autoencoder codec: {raw['model']} has hash {model.hash}, expected {raw['hash']}")
        return cls(model)
