"""The inputs every bit-exactness check runs: data resampled plus adversarial rows of the input type.

One generator for csim (``trigcomp csim``, the codec csim, the three-way agreement) and the tests: zeros, the
extremes, one LSB just outside the range on both sides, huge values and +-inf (they saturate), exact rounding ties
of the input type (half an LSB), random values in range, and, for an encoder, inputs whose value before the latent
quantizer is an exact tie (``latent_ties``), where the rounding mode of the last step decides the word.
"""

from __future__ import annotations

import numpy as np

from .config import FixedPoint
from .errors import UserError


def adversarial_parts(data: np.ndarray, quantizer: FixedPoint, n: int, rng: np.random.Generator) -> dict:
    """``adversarial_jets`` by kind, in order: "edges" (zeros, extremes, one value at the top with all others zero —
    one hot tower of an image —, just outside the range, huge, +-inf, each variable alone at an edge), "uniform"
    (random in range) and "rounding_ties" (data rows moved onto an exact half-LSB tie of the input type)."""
    n_vars = data.shape[1]
    lo, hi, lsb = quantizer.min, quantizer.max, quantizer.lsb
    median = np.median(data, axis=0)
    fixed = [
        np.zeros(n_vars),
        np.full(n_vars, hi),
        np.full(n_vars, lo),
        np.full(n_vars, hi + lsb),
        np.full(n_vars, lo - lsb),
        np.full(n_vars, 1e9),
        np.full(n_vars, -1e9),
        # beyond float32 (inf after the cast below) and +-inf: saturate like any finite value (README policy)
        np.full(n_vars, 1e300),
        np.full(n_vars, -1e300),
        np.full(n_vars, np.inf),
        np.full(n_vars, -np.inf),
        *np.eye(n_vars) * hi,
    ]
    for j in range(n_vars):
        for value in (hi, lo, hi + lsb, lo - lsb, hi + lsb / 2, lo - lsb / 2):
            row = median.copy()
            row[j] = value
            fixed.append(row)
    fixed = np.array(fixed)[:n]
    n_random = n - len(fixed)
    in_range = rng.uniform(lo, hi, size=(n_random // 2, n_vars))
    base = data[rng.integers(0, len(data), n_random - n_random // 2)]
    ties = (np.floor(base / lsb) + 0.5) * lsb  # exactly half an LSB: tests the rounding mode
    return {"edges": fixed, "uniform": in_range, "rounding_ties": ties}


def adversarial_jets(data: np.ndarray, quantizer: FixedPoint, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` edge cases of the input type (``adversarial_parts``, one after the other)."""
    return np.concatenate(list(adversarial_parts(data, quantizer, n, rng).values()))


def verilator_adversarial(jets: int) -> int:
    """How many of ``jets`` a Verilator check (``trigcomp rtl``: encoders and codecs alike) makes adversarial:
    a fifth, at most 20,000."""
    return min(20_000, jets // 5)


def tie_rows(adversarial: int) -> int:
    """How many of the adversarial rows a check may give to its own ties (a codec's thresholds, the latent
    quantizer's): three quarters; the rest stay the input type's edge cases."""
    return adversarial - adversarial // 4


def counted_inputs(
    data: np.ndarray,
    quantizer: FixedPoint,
    jets: int,
    adversarial: int,
    seed: int,
    extra_adversarial: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """``jets`` rows: data resampled, then ``adversarial`` edge cases: csim's own (``adversarial_parts``), then
    ``extra_adversarial`` (e.g. a codec's threshold ties; at most what is left after csim's fixed edge cases); and
    how many rows are of each kind, in their order: "data", the kinds of ``adversarial_parts``, "extra"."""
    if adversarial > jets:
        raise UserError(f"--adversarial ({adversarial}) cannot exceed --jets ({jets})")
    if len(data) == 0:
        raise UserError("no data jets to simulate")
    rng = np.random.default_rng(seed)
    n_data = jets - adversarial
    rows = rng.choice(len(data), n_data, replace=n_data > len(data))
    extra = np.zeros((0, data.shape[1])) if extra_adversarial is None else extra_adversarial[:adversarial]
    parts = {"data": data[rows], **adversarial_parts(data, quantizer, adversarial - len(extra), rng), "extra": extra}
    x = np.concatenate(list(parts.values()))
    with np.errstate(over="ignore"):  # beyond float32 becomes +-inf, which saturates like any large value
        x = x.astype(np.float32).astype(np.float64)  # QKeras sees float32: both sides get the same values
    return x, {kind: len(part) for kind, part in parts.items()}


def make_inputs(*args, **kwargs) -> np.ndarray:
    """The rows of ``counted_inputs`` (same arguments) without their counts: what csim and most checks need."""
    return counted_inputs(*args, **kwargs)[0]


def latent_tie_mask(accumulator: np.ndarray, latent: FixedPoint) -> np.ndarray:
    """Rows with a value exactly half a latent LSB between two words inside the latent range (not saturated)."""
    scaled = accumulator / latent.lsb
    inside = (accumulator > latent.min) & (accumulator < latent.max)
    return ((scaled - np.floor(scaled) == 0.5) & inside).any(axis=1)


def latent_ties(model, data: np.ndarray, n: int, seed: int = 0, candidates: int = 100_000) -> np.ndarray:
    """Up to ``n`` inputs whose value before the latent quantizer is an exact half-LSB tie, found among
    ``candidates`` inputs on the input grid near the data (a data row with a few values moved by a few LSB) and
    small sparse ones. How many exist depends on the encoder: with many fractional bits before the latent, none
    may be found (an empty array); ``model`` needs ``input_quantizer``, ``latent_quantizer`` and
    ``encode_with_accumulator`` (any ``trigcomp.model.EncoderModel``)."""
    rng = np.random.default_rng(seed)
    q_in = model.input_quantizer
    n_vars = data.shape[1]
    words = np.rint(data[rng.integers(0, len(data), candidates)] / q_in.lsb)
    moved = rng.random((candidates, n_vars)) < 0.3
    words += moved * rng.integers(-8, 9, (candidates, n_vars))
    sparse = rng.random((candidates // 2, n_vars)) < 0.2
    words[: candidates // 2] = np.where(sparse, rng.integers(-64, 65, (candidates // 2, n_vars)), 0)
    x = np.clip(words * q_in.lsb, q_in.min, q_in.max)
    _, accumulator = model.encode_with_accumulator(x)
    accumulator = np.asarray(accumulator, dtype=np.float64).reshape(len(x), -1)
    return x[latent_tie_mask(accumulator, model.latent_quantizer)][:n]
