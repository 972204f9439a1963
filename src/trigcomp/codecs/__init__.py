"""Codecs: every way trigcomp can send a jet in B bits, behind one interface (``base.Codec``), in one registry.

* ``fixed_point.FixedPointCodec``: per-variable fixed point, at a budget (NMSE) or at physics targets.
* ``float_truncation.FloatMantissaCodec``: per-variable small floats (sign, exponent, mantissa), likewise.
* ``autoencoder.AutoencoderCodec``: a trained quantization-aware autoencoder (its latent words are the codes).

To add a codec: a module here with a ``Codec`` subclass (``kind``, ``label``, fields, encode/decode, to_json/
from_json), registered in ``CODECS`` below. A classmethod ``fit_budgets(train, variables, budgets)`` puts it on the
rate-distortion table of ``evaluate``; ``fit_targets(train, variables, targets)`` makes ``recommend`` try it.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from .. import tomlfile
from ..errors import UserError
from .autoencoder import AutoencoderCodec
from .base import Codec, Encoding
from .fixed_point import FixedPointCodec, FixedPointField
from .float_truncation import FloatField, FloatMantissaCodec
from .images import IMAGE_CODECS

#: Every codec by its ``kind``; the order is the order of tables and plots.
CODECS: dict[str, type[Codec]] = {c.kind: c for c in (FixedPointCodec, FloatMantissaCodec, AutoencoderCodec)}

__all__ = [
    "CODECS",
    "AutoencoderCodec",
    "Codec",
    "Encoding",
    "FixedPointCodec",
    "FixedPointField",
    "FloatField",
    "FloatMantissaCodec",
    "budget_codecs",
    "codec_from_json",
    "codec_to_toml",
    "load_codec",
    "target_codecs",
]


def budget_codecs() -> list[type[Codec]]:
    """The codecs that can be fitted at a number of bits per jet: the rate-distortion baselines."""
    return [c for c in CODECS.values() if hasattr(c, "fit_budgets")]


def target_codecs() -> list[type[Codec]]:
    """The codecs that can choose their own bits to meet physics targets."""
    return [c for c in CODECS.values() if hasattr(c, "fit_targets")]


def codec_from_json(raw: dict[str, Any]) -> Codec:
    """Any codec from its ``to_json``: the jet codecs of ``CODECS`` and the tower-image baselines of
    ``images.IMAGE_CODECS`` (kept apart: they send a whole image, so they are no per-jet-variable baseline)."""
    kind = raw.get("codec") if isinstance(raw, dict) else None
    known = CODECS | IMAGE_CODECS
    if kind not in known:
        raise UserError(f"unknown codec {kind!r}; known: {', '.join(known)}")
    return known[kind].from_json(raw)


def load_codec(path: str | Path) -> Codec:
    """A codec from a TOML (``codec_to_toml``) or JSON (``to_json``) file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise UserError(f"cannot read codec config {path}: {err.strerror}") from None
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: not a valid codec config: {err}") from None
    return codec_from_json(raw)


def codec_to_toml(codec: Codec, comment: str = "") -> str:
    """The codec's ``to_json`` as TOML (``load_codec`` reads it back)."""
    return tomlfile.dumps(codec.to_json(), comment)
