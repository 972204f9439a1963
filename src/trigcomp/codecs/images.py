"""Equal-bit codes for calorimeter-tower images, the ones a trigger engineer would use instead of an autoencoder.

An image is an N x N grid of tower ET (``trigcomp generate --towers N``; variables ``tower_0 ... tower_{N*N-1}``,
GeV). Every codec here sends one image in ``bits_per_jet`` bits, everything the decoder needs per image counted;
the decoder's tables (bin edges, decoded values) are fixed settings of the codec, not sent.

* ``zero_suppression``: the k highest towers as (index, ET code) pairs, highest first (ties: lower index first).
  An ET code of 0 means an empty slot, so no count is sent. index: ceil(log2(N*N)) bits.
* ``tower_fixed_point``: every tower of the central m x m window with the same few bits; towers outside are 0.
* ``coarse_grid``: the (N/2) x (N/2) sums of 2 x 2 towers, each with the same few bits, decoded spread evenly over
  its four towers.

Each ET field is an :class:`EtScale`: code 0 means below ``low`` and decodes to 0 (most towers are empty, and
an empty tower must stay empty); codes 1 .. 2^b - 1 are bins from ``low`` to ``high`` (the largest ET the field can
carry: 511.5 GeV for a tower, four times that for a 2 x 2 sum), logarithmic or linear, each decoded to the mean
training ET in the bin (the MSE-optimal decoder table; the bin's mid-point when no training ET fell in it). Values
above ``high`` saturate into the top bin and are counted.

Fitting at a budget (:func:`fit_image_codecs`): for each choice of the codec's shape (slots k and ET bits b;
window m and bits b), the ET scale (log or linear, ``low`` from ``SCALE_LOWS``) with the least mean L1 error on the
``FIT_IMAGES`` first training images is taken; then the shape with the least mean energy mover's distance on
``SELECTION_IMAGES`` training images wins. Test images are never used.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import UserError
from ..records import TOWER_BITS, TOWER_ET_MAX_GEV, TOWER_GRIDS, tower_variables
from .base import Codec, Encoding, as_table, check_budget

#: Lower edges of the first ET bin tried when fitting (GeV): below it a tower or sum is sent as empty.
SCALE_LOWS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
CODINGS = ("log", "linear")
#: Training images on which the shapes at one budget are compared by EMD.
SELECTION_IMAGES = 300
#: Training images the ET scales and decoder tables are fitted on (the first ones: the training split is fixed).
FIT_IMAGES = 20_000


@dataclass(frozen=True)
class EtScale:
    """A ``bits``-bit ET code: 0 below ``low`` (decoded 0), else a bin of [low, high] (log or linear) -> ``values``."""

    bits: int
    coding: str  # "log" | "linear"
    low: float
    high: float
    values: tuple[float, ...]  # decoded GeV of codes 1 .. 2^bits - 1

    @property
    def edges(self) -> np.ndarray:
        bins = (1 << self.bits) - 1
        space = np.geomspace if self.coding == "log" else np.linspace
        return space(self.low, self.high, bins + 1)

    def encode(self, et: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Codes (int64) and a mask of the values above ``high`` (saturated into the top bin)."""
        edges = self.edges
        codes = np.clip(np.searchsorted(edges, et, side="right"), 0, len(edges) - 1).astype(np.int64)
        return codes, et > self.high

    def decode(self, codes: np.ndarray) -> np.ndarray:
        table = np.concatenate([[0.0], self.values])
        return table[codes]

    @classmethod
    def fit(cls, et: np.ndarray, bits: int, coding: str, low: float, high: float) -> EtScale:
        """The scale with its decoder table fitted on the training values ``et`` it will code."""
        edges = cls(bits, coding, low, high, ()).edges
        mids = np.sqrt(edges[:-1] * edges[1:]) if coding == "log" else (edges[:-1] + edges[1:]) / 2
        scale = cls(bits, coding, low, high, tuple(float(m) for m in mids))
        codes = scale.encode(et)[0]
        sums = np.bincount(codes.ravel(), weights=et.ravel(), minlength=1 << bits)[1:]
        counts = np.bincount(codes.ravel(), minlength=1 << bits)[1:]
        values = np.where(counts > 0, sums / np.maximum(counts, 1), mids)
        return cls(bits, coding, low, high, tuple(float(v) for v in values))

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"values": list(self.values)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> EtScale:
        try:
            scale = cls(
                int(raw["bits"]), str(raw["coding"]), float(raw["low"]), float(raw["high"]), tuple(raw["values"])
            )
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"ET scale {raw!r}: missing or bad key {err}") from None
        if scale.coding not in CODINGS or not 1 <= scale.bits <= TOWER_BITS + 2 or not 0 < scale.low < scale.high:
            raise UserError(f"ET scale: bad bits, coding or range: {raw!r}")
        if len(scale.values) != (1 << scale.bits) - 1:
            raise UserError(f"ET scale: needs {(1 << scale.bits) - 1} decoded values, got {len(scale.values)}")
        return scale


def _best_scale(et: np.ndarray, bits: int, high: float) -> EtScale:
    """The scale (coding, low) with the least mean L1 error on the values it codes: for zero suppression and the
    per-tower window the image's L1 error less a constant (the ET not sent), for the 2 x 2 sums that of the sums."""
    scales = [EtScale.fit(et, bits, coding, low, high) for coding in CODINGS for low in SCALE_LOWS if low < high]
    errors = [np.abs(s.decode(s.encode(et)[0]) - et).sum(axis=1).mean() for s in scales]
    return scales[int(np.argmin(errors))]


@dataclass(frozen=True)
class ImageCodec(Codec):
    """An N x N tower image in a fixed number of bits (the variables are the image's towers)."""

    grid: int
    scale: EtScale

    label: ClassVar[str]
    shape_keys: ClassVar[tuple[str, ...]]  # the dataclass fields that give the codec's shape

    @property
    def variables(self) -> tuple[str, ...]:
        return tower_variables(self.grid)

    @property
    def budget(self) -> int:
        return self.bits_per_jet

    def _images(self, x: np.ndarray) -> np.ndarray:
        return as_table(x, self.variables, "input", min_jets=0)

    def settings(self) -> dict[str, Any]:
        """The codec's shape (besides grid and scale), as JSON."""
        return {name: getattr(self, name) for name in self.shape_keys}

    def to_json(self) -> dict[str, Any]:
        return {
            "codec": self.kind,
            "grid": self.grid,
            "bits_per_jet": self.bits_per_jet,
            "scale": self.scale.to_json(),
            **self.settings(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ImageCodec:
        try:
            grid = int(raw["grid"])
            settings = {name: int(raw[name]) for name in cls.shape_keys}
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"{cls.kind} codec: missing or bad key {err}") from None
        if grid not in TOWER_GRIDS:
            raise UserError(f"{cls.kind} codec: grid must be one of {TOWER_GRIDS}, got {grid}")
        return cls(grid=grid, scale=EtScale.from_json(raw.get("scale", {})), **settings)

    @classmethod
    @abstractmethod
    def candidates(cls, train: np.ndarray, grid: int, budget: int) -> list[ImageCodec]:
        """The codecs of every shape within ``budget`` bits, each with its best ET scale on ``train``."""


def _index_bits(grid: int) -> int:
    return math.ceil(math.log2(grid * grid))


@dataclass(frozen=True)
class ZeroSuppressionCodec(ImageCodec):
    kind: ClassVar[str] = "zero_suppression"
    label: ClassVar[str] = "zero suppression: k highest towers as (index, ET)"
    shape_keys: ClassVar[tuple[str, ...]] = ("slots",)

    slots: int

    @property
    def index_bits(self) -> int:
        return _index_bits(self.grid)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f"slot{s}_{part}" for s in range(self.slots) for part in ("index", "et"))

    @property
    def field_bits(self) -> tuple[int, ...]:
        return (self.index_bits, self.scale.bits) * self.slots

    def encode(self, x: np.ndarray) -> Encoding:
        images = self._images(x)
        # highest first; a stable sort keeps the lower index first among equal ETs (exactly what a sorter does)
        index = np.argsort(-images, axis=1, kind="stable")[:, : self.slots]
        et_codes, saturated = self.scale.encode(np.take_along_axis(images, index, axis=1))
        index = np.where(et_codes > 0, index, 0)  # an empty slot is all zeros
        codes = np.stack([index, et_codes], axis=2).reshape(len(images), -1)
        per_field = np.stack([np.zeros(self.slots, dtype=np.int64), saturated.sum(axis=0)], axis=1).ravel()
        return Encoding(codes, per_field)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = self._check_codes(codes).reshape(-1, self.slots, 2)
        images = np.zeros((len(codes), self.grid * self.grid))
        rows = np.repeat(np.arange(len(codes)), self.slots)
        np.add.at(images, (rows, codes[:, :, 0].ravel()), self.scale.decode(codes[:, :, 1]).ravel())
        return images

    @classmethod
    def candidates(cls, train: np.ndarray, grid: int, budget: int) -> list[ZeroSuppressionCodec]:
        index_bits = _index_bits(grid)
        top = -np.sort(-train, axis=1)
        found = []
        for bits in range(1, TOWER_BITS + 1):
            slots = min(budget // (index_bits + bits), grid * grid)
            if slots >= 1:
                found.append(cls(grid=grid, scale=_best_scale(top[:, :slots], bits, TOWER_ET_MAX_GEV), slots=slots))
        return found


def _window(grid: int, size: int) -> np.ndarray:
    """Tower indices of the central ``size`` x ``size`` window (the lower one when it cannot be centred)."""
    first = (grid - size) // 2
    rows = np.arange(first, first + size)
    return (rows[:, None] * grid + rows[None, :]).ravel()


@dataclass(frozen=True)
class TowerFixedPointCodec(ImageCodec):
    kind: ClassVar[str] = "tower_fixed_point"
    label: ClassVar[str] = "per-tower fixed point (central window)"
    shape_keys: ClassVar[tuple[str, ...]] = ("window",)

    window: int

    @property
    def towers(self) -> np.ndarray:
        return _window(self.grid, self.window)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f"tower_{k}" for k in self.towers)

    @property
    def field_bits(self) -> tuple[int, ...]:
        return (self.scale.bits,) * len(self.towers)

    def encode(self, x: np.ndarray) -> Encoding:
        codes, saturated = self.scale.encode(self._images(x)[:, self.towers])
        return Encoding(codes, saturated.sum(axis=0))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = self._check_codes(codes)
        images = np.zeros((len(codes), self.grid * self.grid))
        images[:, self.towers] = self.scale.decode(codes)
        return images

    @classmethod
    def candidates(cls, train: np.ndarray, grid: int, budget: int) -> list[TowerFixedPointCodec]:
        found = []
        for window in range(1, grid + 1):
            bits = min(budget // (window * window), TOWER_BITS)
            if bits >= 1:
                scale = _best_scale(train[:, _window(grid, window)], bits, TOWER_ET_MAX_GEV)
                found.append(cls(grid=grid, scale=scale, window=window))
        return found


@dataclass(frozen=True)
class CoarseGridCodec(ImageCodec):
    kind: ClassVar[str] = "coarse_grid"
    label: ClassVar[str] = "2x2 tower sums, fixed point"
    shape_keys: ClassVar[tuple[str, ...]] = ()
    block: ClassVar[int] = 2

    @property
    def coarse(self) -> int:
        return self.grid // self.block

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f"sum_{k}" for k in range(self.coarse * self.coarse))

    @property
    def field_bits(self) -> tuple[int, ...]:
        return (self.scale.bits,) * (self.coarse * self.coarse)

    def encode(self, x: np.ndarray) -> Encoding:
        codes, saturated = self.scale.encode(_block_sums(self._images(x), self.grid, self.block))
        return Encoding(codes, saturated.sum(axis=0))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        c, b = self.coarse, self.block
        per_tower = self.scale.decode(self._check_codes(codes)).reshape(-1, c, 1, c, 1) / (b * b)
        return np.broadcast_to(per_tower, (len(codes), c, b, c, b)).reshape(len(codes), -1).copy()

    @classmethod
    def candidates(cls, train: np.ndarray, grid: int, budget: int) -> list[CoarseGridCodec]:
        bits = min(budget // (grid // cls.block) ** 2, TOWER_BITS + 2)
        if bits < 1:
            return []
        high = TOWER_ET_MAX_GEV * cls.block * cls.block
        return [cls(grid=grid, scale=_best_scale(_block_sums(train, grid, cls.block), bits, high))]


def _block_sums(images: np.ndarray, grid: int, block: int) -> np.ndarray:
    """The sums of ``block`` x ``block`` towers, (images, (grid / block)^2) in row-major order."""
    coarse = grid // block
    return images.reshape(-1, coarse, block, coarse, block).sum(axis=(2, 4)).reshape(-1, coarse * coarse)


#: The image baselines, in the order of tables and plots.
IMAGE_CODECS: dict[str, type[ImageCodec]] = {
    c.kind: c for c in (ZeroSuppressionCodec, TowerFixedPointCodec, CoarseGridCodec)
}


def fit_image_codecs(train: np.ndarray, grid: int, budgets: tuple[int, ...], emd) -> dict[str, list[ImageCodec | None]]:
    """Per codec kind, per budget: the fitted codec (None when it cannot send an image in that many bits).

    ``emd(original, decoded) -> per-image EMD`` chooses between shapes on the first ``SELECTION_IMAGES`` images.
    """
    train = as_table(train, tower_variables(grid), "training images")[:FIT_IMAGES]
    chosen = train[:SELECTION_IMAGES]
    result = {}
    for kind, codec_class in IMAGE_CODECS.items():
        result[kind] = []
        for budget in (check_budget(b) for b in budgets):
            shapes = codec_class.candidates(train, grid, budget)
            if len(shapes) > 1:
                scores = [emd(chosen, c.decode(c.encode(chosen).codes)).mean() for c in shapes]
                shapes = [shapes[int(np.argmin(scores))]]
            result[kind].append(shapes[0] if shapes else None)
    return result
