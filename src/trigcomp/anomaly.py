"""The anomaly score an encoder computes on the board from its own latent, and how well it finds new physics.

**Score.** The sum of the squared latent values, as CMS's AXOL1TL does with its VAE mean: events unlike the
background the encoder was trained on land far from the origin of the latent space. On the board each latent value
is a signed word of B bits (``ap_fixed<B, I+1>``, code c = value / LSB); the score is Σ c² in units of LSB², an
unsigned integer of ``bits`` = bit length of N · 2^(2B−2) bits (the largest possible sum: every code at
−2^(B−1)), emitted as ``ap_ufixed<bits, bits − 2·F>`` (F = the latent's fraction bits). The type holds every
possible sum, so the score never saturates; csim checks each firmware score word against :func:`score_codes`
of the same latent codes and counts any score at or above the type's range (``saturated``: zero by construction,
counted all the same).

**Performance.** Background acceptance a (the fraction of background events whose score lies above a threshold)
× 40 MHz is the trigger rate the score alone would fire at; the signal efficiency at a = 10⁻³, 10⁻⁴, 10⁻⁵ is the
figure of merit. An acceptance is only reported when at least ``MIN_BACKGROUND_ABOVE`` background events lie above
its threshold (a ≥ 10 / n_background); otherwise the efficiency is ``null`` with a note, never an extrapolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .config import FixedPoint
from .errors import UserError

if TYPE_CHECKING:
    from .hls import HlsProject

ACCEPTANCES = {"1e-3": 1e-3, "1e-4": 1e-4, "1e-5": 1e-5}
BUNCH_CROSSING_HZ = 40e6
MIN_BACKGROUND_ABOVE = 10


@dataclass(frozen=True)
class ScoreFormat:
    """The firmware's score word for ``n_latent`` latent values of the given quantizer."""

    n_latent: int
    latent: FixedPoint

    @property
    def max_code_sum(self) -> int:
        return self.n_latent * 2 ** (2 * (self.latent.bits - 1))

    @property
    def bits(self) -> int:
        return self.max_code_sum.bit_length()

    @property
    def integer_bits(self) -> int:
        return self.bits - 2 * self.latent.fractional

    @property
    def lsb(self) -> float:
        return 2.0 ** (-2 * self.latent.fractional)

    @property
    def precision(self) -> str:
        return f"ap_ufixed<{self.bits},{self.integer_bits}>"

    def to_json(self) -> dict:
        return {
            "definition": "sum of squared latent values",
            "bits": self.bits,
            "integer": self.integer_bits,
            "lsb": self.lsb,
            "precision": self.precision,
        }


def score_codes(latent_codes: np.ndarray) -> np.ndarray:
    """Σ code² per row (int64; exact: the codes are small integers)."""
    codes = np.asarray(latent_codes, dtype=np.int64)
    return (codes * codes).sum(axis=1)


def latent_codes(model, x: np.ndarray) -> np.ndarray:
    """The firmware's latent codes (integers) of the model's bit-exact reference encoder."""
    return np.rint(model.encode(x) / model.latent_lsb).astype(np.int64)


def check_firmware_scores(score_format: ScoreFormat, firmware: np.ndarray, codes: np.ndarray) -> dict:
    """Firmware score words against Σ code² of the firmware's own latent codes (csim)."""
    expected = score_codes(codes)
    firmware = np.asarray(firmware, dtype=np.int64)
    differ = np.flatnonzero(firmware != expected)
    return {
        "definition": "sum of squared latent values",
        "precision": score_format.precision,
        "mismatches": len(differ),
        "first_mismatch": None
        if not len(differ)
        else {"row": int(differ[0]), "expected": int(expected[differ[0]]), "firmware": int(firmware[differ[0]])},
        "saturated": int((expected >= 2**score_format.bits).sum()),
        "max_code_sum": int(expected.max()) if len(expected) else 0,
    }


def check_project_scores(project: HlsProject, words: np.ndarray, codes: np.ndarray) -> dict | None:
    """csim of a project with an anomaly score in its manifest: the score words unpacked from the link words and
    checked against the firmware's own latent codes; None for a project without a score."""
    from .csim import extract_bits

    score = project.anomaly_score
    if score is None:
        return None
    fmt = ScoreFormat(project.n_latent, FixedPoint(project.latent_bits, project.latent_integer))
    if fmt.bits != score.bits:
        raise UserError(f"manifest anomaly_score has {score.bits} bits, the latent needs {fmt.bits}")
    firmware = extract_bits(words, score.offset, fmt.bits, project.link_width)
    return check_firmware_scores(fmt, firmware, codes)


# ---------------------------------------------------------------------------------------------------------------
# ROC, AUC, efficiency at fixed background acceptance
# ---------------------------------------------------------------------------------------------------------------


def auc(background: np.ndarray, signal: np.ndarray) -> float:
    """P(signal score > background score) + ½ P(equal): the area under the ROC curve (Mann–Whitney, ties halved)."""
    background, signal = np.sort(np.asarray(background, float)), np.asarray(signal, float)
    below = np.searchsorted(background, signal, side="left")
    equal = np.searchsorted(background, signal, side="right") - below
    return float((below + 0.5 * equal).sum() / (len(background) * len(signal)))


def roc_curve(background: np.ndarray, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(background acceptance, signal efficiency) for every threshold 'score > t' over the observed scores."""
    thresholds = np.unique(np.concatenate([background, signal]))
    background, signal = np.sort(background), np.sort(signal)
    accept = 1.0 - np.searchsorted(background, thresholds, side="right") / len(background)
    efficiency = 1.0 - np.searchsorted(signal, thresholds, side="right") / len(signal)
    return np.concatenate([[1.0], accept]), np.concatenate([[1.0], efficiency])


def efficiency_at(background: np.ndarray, signal: np.ndarray, acceptance: float) -> dict:
    """Signal efficiency with the threshold at which at most ``acceptance`` of the background passes."""
    n = len(background)
    if n * acceptance < MIN_BACKGROUND_ABOVE:
        return {
            "efficiency": None,
            "note": f"{n} background events: an acceptance of {acceptance:g} needs at least "
            f"{math.ceil(MIN_BACKGROUND_ABOVE / acceptance):,} ({MIN_BACKGROUND_ABOVE} above the threshold)",
        }
    ordered = np.sort(background)
    allowed = math.floor(n * acceptance)  # background events allowed above the threshold
    threshold = ordered[n - allowed - 1]  # 'score > threshold' passes at most `allowed` of them (ties stay below)
    passed = int((background > threshold).sum())
    return {
        "efficiency": float((np.asarray(signal) > threshold).mean()),
        "threshold": float(threshold),
        "background_acceptance": passed / n,
        "rate_hz": passed / n * BUNCH_CROSSING_HZ,
    }


def signal_performance(background: np.ndarray, signal: np.ndarray) -> dict:
    at = {key: efficiency_at(background, signal, a) for key, a in ACCEPTANCES.items()}
    notes = [f"{key}: {entry['note']}" for key, entry in at.items() if "note" in entry]
    return {
        "auc": auc(background, signal),
        "efficiency": {key: entry["efficiency"] for key, entry in at.items()},
        "at_acceptance": {key: {k: v for k, v in entry.items() if k != "note"} for key, entry in at.items()},
        "notes": notes,
    }
