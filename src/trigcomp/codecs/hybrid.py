"""Hybrid: fixed-point fields for the variables an autoencoder cannot beat, an autoencoder latent for the rest.

Typically the kinematics (pt, eta, phi: nearly independent, with tight absolute targets) go as per-variable fixed
point and the correlated remainder (the jet's composition) as a learned latent. The packed word holds the fixed
fields first (in the fixed-point codec's field order), then the latent words (two's complement, as the autoencoder
sends them): ``field_bits`` is the concatenation of both parts, so every consumer of the codec interface
(``evaluate``'s targets, ``recommend``, ``compress``/``decompress``, the firmware's csim) sees one codec.

The same "fields + latent" shape serves any input whose summary quantities need exact fields beside a learned
remainder (a tower image's total ET, an event's MET): only the variable lists change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..errors import UserError
from ..targets import Targets
from .autoencoder import AutoencoderCodec
from .base import AREA_MODEL, Codec, Encoding, as_table, check_variables
from .fixed_point import FixedPointCodec


class HybridCodec(Codec):
    kind: ClassVar[str] = "hybrid"
    label: ClassVar[str] = "fixed-point fields + autoencoder latent"
    firmware: ClassVar[str] = "trigcomp hls --codec"

    def __init__(self, variables: Sequence[str], fixed: FixedPointCodec, latent: AutoencoderCodec) -> None:
        self.variables = check_variables(variables)
        shared = set(fixed.variables) & set(latent.variables)
        if shared:
            raise UserError(f"hybrid codec: {', '.join(sorted(shared))} sent both as fixed point and in the latent")
        if set(fixed.variables) | set(latent.variables) != set(self.variables) or len(fixed.variables) + len(
            latent.variables
        ) != len(self.variables):
            raise UserError(
                f"hybrid codec: fixed-point variables {list(fixed.variables)} and latent variables "
                f"{list(latent.variables)} must together be exactly {list(self.variables)}"
            )
        self.fixed, self.latent = fixed, latent
        self.fixed_columns = [self.variables.index(v) for v in fixed.variables]
        self.latent_columns = [self.variables.index(v) for v in latent.variables]

    @property
    def name(self) -> str:
        return f"hybrid({self.fixed.bits_per_jet}-bit fields + {self.latent.name})"

    @classmethod
    def fit_around(
        cls,
        latent: AutoencoderCodec,
        train: np.ndarray | Sequence[np.ndarray],
        variables: Sequence[str],
        targets: Targets,
        *,
        margin: float = 1.0,
    ) -> HybridCodec | None:
        """The fixed-point fields with the fewest bits meeting ``targets`` on ``train`` (one array of jets, or one
        per process) for every variable the autoencoder ``latent`` does not send; None when no such fields exist."""
        variables = check_variables(variables)
        missing = [v for v in latent.variables if v not in variables]
        if missing:
            raise UserError(f"hybrid codec: the autoencoder {latent.name} takes {', '.join(missing)}, not in the data")
        rest = tuple(v for v in variables if v not in latent.variables)
        if not rest:
            raise UserError(f"hybrid codec: the autoencoder {latent.name} sends every variable; nothing is left")
        columns = [variables.index(v) for v in rest]
        groups = [train] if isinstance(train, np.ndarray) else list(train)
        fixed = FixedPointCodec.fit_targets([np.asarray(g)[:, columns] for g in groups], rest, targets, margin=margin)
        return None if fixed is None else cls(variables, fixed, latent)

    # ------------------------------------------------------------------------------------------ the interface

    @property
    def field_names(self) -> tuple[str, ...]:
        return self.fixed.field_names + self.latent.field_names

    @property
    def field_bits(self) -> tuple[int, ...]:
        return self.fixed.field_bits + self.latent.field_bits

    def encode(self, x: np.ndarray) -> Encoding:
        x = as_table(x, self.variables, "input", min_jets=0)
        fixed, latent = self.fixed.encode(x[:, self.fixed_columns]), self.latent.encode(x[:, self.latent_columns])
        return Encoding(
            np.concatenate([fixed.codes, latent.codes], axis=1), np.concatenate([fixed.saturated, latent.saturated])
        )

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = self._check_codes(codes)
        n_fixed = len(self.fixed.field_bits)
        x_hat = np.empty((len(codes), len(self.variables)))
        x_hat[:, self.fixed_columns] = self.fixed.decode(codes[:, :n_fixed])
        x_hat[:, self.latent_columns] = self.latent.decode(codes[:, n_fixed:])
        return x_hat

    def area_estimate(self) -> dict[str, Any] | None:
        fixed, latent = self.fixed.area_estimate(), self.latent.area_estimate()
        if latent is None:
            return None
        return {
            "luts": fixed["luts"] + latent["luts"],
            "source": f"{AREA_MODEL} + {latent['source']}",
            "note": f"fields: {fixed['luts']} LUT ({fixed['note']}); latent: {latent['luts']} LUT ({latent['note']})",
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "codec": self.kind,
            "variables": list(self.variables),
            "bits_per_jet": self.bits_per_jet,
            "fixed": self.fixed.to_json(),
            "latent": self.latent.to_json(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> HybridCodec:
        try:
            variables, fixed, latent = raw["variables"], raw["fixed"], raw["latent"]
        except (KeyError, TypeError) as err:
            raise UserError(f"hybrid codec: missing or bad key {err}") from None
        if not isinstance(fixed, dict) or fixed.get("codec", FixedPointCodec.kind) != FixedPointCodec.kind:
            raise UserError("hybrid codec: [fixed] must be a fixed_point codec")
        if not isinstance(latent, dict) or latent.get("codec", AutoencoderCodec.kind) != AutoencoderCodec.kind:
            raise UserError("hybrid codec: [latent] must be an autoencoder codec (a model directory)")
        return cls(variables, FixedPointCodec.from_json(fixed), AutoencoderCodec.from_json(latent))
