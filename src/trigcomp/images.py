"""Calorimeter-tower images: the energy mover's distance, jet physics from an image, and the image evaluation.

**EMD.** The energy mover's distance of Komiske, Metodiev and Thaler (PRL 123 (2019) 041801), in GeV, between an
original image E and a decoded image E' with towers as points at their centres in (eta, phi) (offsets from the jet
axis; ground distance d_ij = Delta R between tower centres)::

    EMD(E, E') = min_f  sum_ij f_ij d_ij / R  +  |sum E - sum E'|,   f_ij >= 0,  sum_j f_ij <= E_i,
                 sum_i f_ij <= E'_j,  sum_ij f_ij = min(sum E, sum E')

with R = ``EMD_R`` = 0.4 (the jet radius): moving 1 GeV by one tower (0.087) costs 0.2175 GeV, and energy that is
missing or created costs 1 GeV per GeV. Unequal totals are solved exactly as an equal-mass problem with one extra
point holding the difference on the lighter side at distance R from every tower (how the EnergyFlow package does
it). The transport problem is solved exactly by POT's network simplex (``ot.emd2``), image by image, on the
non-empty towers only. Decoded towers below zero (an autoencoder may output them) are counted and set to zero first:
negative energy has no transport meaning.

**Physics from an image.** Towers as massless particles at their centres (eta, phi offsets from the jet axis; pt,
mass and the width are invariant under the boost and rotation that moved the axis there): total ET = sum ET, jet pt
= |sum of the towers' transverse momenta|, mass from the summed four-momenta, width = ET-weighted mean Delta R of
the towers from the axis. Residuals and sigma come from :mod:`trigcomp.targets` (pt, mass, et relative; width
absolute), per process and per bin of the original image's pt.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .baselines import nmse_per_variable
from .codecs import Codec, codec_from_json
from .codecs.images import fit_image_codecs
from .errors import UserError
from .records import TOWER_SIZE, tower_grid
from .targets import DEFAULT_PT_BINS, residual_kind, residuals, resolution

EMD_R = 0.4
#: Held-out images per sample on which each codec's EMD is measured (the exact solver does ~2-8k images/s).
EMD_IMAGES = 1000
PHYSICS = ("et", "pt", "mass", "width")
#: Bits per image at which the baselines are always fitted (the issue's comparison points).
IMAGE_BUDGETS = (32, 48, 64, 96, 128)
MIN_BIN_IMAGES = 50
EXAMPLES = 4  # images shown original / decoded / residual in the report


def _ot():
    # POT probes every array backend on import; TensorFlow alone costs seconds, and images are NumPy arrays
    for backend in ("TENSORFLOW", "PYTORCH", "JAX", "CUPY"):
        os.environ.setdefault(f"POT_BACKEND_DISABLE_{backend}", "1")
    import ot

    return ot


def tower_centres(grid: int) -> np.ndarray:
    """(eta, phi) offset of each tower centre from the jet axis, (grid*grid, 2), in tower-index order."""
    offsets = (np.arange(grid) - (grid - 1) / 2) * TOWER_SIZE
    eta, phi = np.meshgrid(offsets, offsets, indexing="ij")
    return np.stack([eta.ravel(), phi.ravel()], axis=1)


def ground_distance(grid: int) -> np.ndarray:
    """Delta R between every pair of tower centres, (grid*grid, grid*grid)."""
    centres = tower_centres(grid)
    return np.sqrt(((centres[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2))


def _grid_of(images: np.ndarray) -> int:
    grid = round(np.sqrt(images.shape[1]))
    if images.ndim != 2 or grid * grid != images.shape[1]:
        raise UserError(f"tower images must be a (images, N*N) array, got shape {images.shape}")
    return grid


def emd(original: np.ndarray, decoded: np.ndarray, r: float = EMD_R) -> np.ndarray:
    """The EMD (GeV, definition in the module docstring) of each pair of images (images, N*N)."""
    return _emd_per_image(original, decoded, r, gradient=False)[0]


def emd_and_gradient(original: np.ndarray, decoded: np.ndarray, r: float = EMD_R) -> tuple[np.ndarray, np.ndarray]:
    """The EMD of each pair of images and its gradient with respect to each decoded tower (images, N*N), from the
    optimal dual potentials: with the extra point on the original side (decoded total larger) a decoded tower's
    GeV costs its potential plus the extra point's; on the decoded side (original total larger or equal), its
    potential minus the extra point's (either sum is free of the potentials' arbitrary offset). An image with an
    empty side costs |total difference|, whose gradient is its sign. What a training loss needs of the exact
    metric (trigcomp.tower_autoencoder.exact_emd_loss)."""
    return _emd_per_image(original, decoded, r, gradient=True)


def _emd_per_image(original: np.ndarray, decoded: np.ndarray, r: float, gradient: bool):
    original = np.asarray(original, dtype=np.float64)
    decoded = np.maximum(np.asarray(decoded, dtype=np.float64), 0.0)
    if original.shape != decoded.shape:
        raise UserError(f"original and decoded images differ in shape: {original.shape} vs {decoded.shape}")
    if np.any(original < 0) or not (np.all(np.isfinite(original)) and np.all(np.isfinite(decoded))):
        raise UserError("images must be finite and the original ones non-negative")
    ot = _ot()
    distance = ground_distance(_grid_of(original)) / r
    result = np.empty(len(original))
    slopes = np.zeros_like(decoded) if gradient else None
    for n, (a, b) in enumerate(zip(original, decoded)):
        # the gradient needs every decoded tower's potential, the empty ones too
        ia, ib = np.flatnonzero(a), (np.arange(len(b)) if gradient else np.flatnonzero(b))
        mass_a, mass_b = a[ia], b[ib]
        total_a, total_b = mass_a.sum(), mass_b.sum()
        if min(total_a, total_b) == 0:
            result[n] = abs(total_a - total_b)
            if gradient:
                slopes[n] = np.sign(total_b - total_a)
            continue
        cost = distance[np.ix_(ia, ib)]
        # the difference goes to one extra point on the lighter side, 1 (= R / R) from every tower; for the
        # gradient it is always there (with no mass at equal totals), so that its potential exists
        extra_on_original = total_a < total_b
        if extra_on_original:
            mass_a = np.append(mass_a, total_b - total_a)
            cost = np.vstack([cost, np.ones(len(ib))])
        elif total_b < total_a or gradient:
            mass_b = np.append(mass_b, total_a - total_b)
            cost = np.hstack([cost, np.ones((len(ia), 1))])
        # the masses balance to rounding: the solver is told not to insist on an exact match
        result[n], log = ot.emd2(mass_a, mass_b * (mass_a.sum() / mass_b.sum()), cost, check_marginals=False, log=True)
        if gradient:
            u, v = log["u"], log["v"].copy()
            # POT's potentials of empty towers are feasible, not tight; a GeV added there goes where it is cheapest
            empty = mass_b == 0
            v[empty] = (cost[:, empty] - u[:, None]).min(axis=0)
            slopes[n] = v[: len(b)] + u[-1] if extra_on_original else v[: len(b)] - v[-1]
    return result, slopes


def image_physics(images: np.ndarray) -> dict[str, np.ndarray]:
    """Per image: total ET, jet pt, mass and width (definitions in the module docstring); negative towers as 0."""
    images = np.maximum(np.asarray(images, dtype=np.float64), 0.0)
    centres = tower_centres(_grid_of(images))
    eta, phi = centres[:, 0], centres[:, 1]
    et = images.sum(axis=1)
    px, py = images @ np.cos(phi), images @ np.sin(phi)
    pz, energy = images @ np.sinh(eta), images @ np.cosh(eta)
    pt = np.hypot(px, py)
    mass = np.sqrt(np.maximum(energy**2 - pt**2 - pz**2, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        width = np.where(et > 0, images @ np.hypot(eta, phi) / np.where(et > 0, et, 1.0), 0.0)
    return {"et": et, "pt": pt, "mass": mass, "width": width}


def physics_residuals(truth: dict[str, np.ndarray], reco: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Resolution (sigma, median, bias, ...) and response of each physics quantity, overall."""
    stats = {}
    for name in PHYSICS:
        values = residuals(name, truth[name], reco[name])
        summary = resolution(values)
        relative = residual_kind(name) == "relative"
        stats[name] = summary | {
            "kind": residual_kind(name),
            "response": (1.0 if relative else 0.0) + summary["median"],
        }
    return stats


def physics_vs_pt(
    truth: dict[str, np.ndarray], reco: dict[str, np.ndarray], edges: Sequence[float] = DEFAULT_PT_BINS
) -> list[dict[str, Any]]:
    """:func:`physics_residuals` per bin of the original image's pt (bins with at least ``MIN_BIN_IMAGES``)."""
    bins = []
    for low, high in itertools.pairwise(edges):
        rows = (truth["pt"] >= low) & (truth["pt"] < high)
        if rows.sum() >= MIN_BIN_IMAGES:
            stats = physics_residuals({k: v[rows] for k, v in truth.items()}, {k: v[rows] for k, v in reco.items()})
            bins.append({"pt_low": low, "pt_high": None if np.isinf(high) else high, "images": int(rows.sum())} | stats)
    return bins


# ---------------------------------------------------------------------------------------------------------------
# The image evaluation of `trigcomp evaluate` (a model whose variables are one tower image)
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class CodecImages:
    """One way of sending the images (the model or a baseline) measured on the held-out images of every sample."""

    codec: str
    label: str
    budget: int
    bits_per_jet: int
    settings: dict[str, Any]
    samples: dict[str, dict[str, Any]]  # sample -> emd_mean, emd_median, physics, physics_vs_pt, saturated
    emd_mean: float  # over the EMD images of all samples together
    total_nmse: float  # sum over towers of MSE / variance, every held-out image
    saturated: int = 0  # values the codec clamped (all samples)

    def to_json(self) -> dict[str, Any]:
        return {
            "codec": self.codec,
            "label": self.label,
            "budget": self.budget,
            "possible": True,
            "bits_per_jet": self.bits_per_jet,
            "emd_mean": self.emd_mean,
            "total_nmse": self.total_nmse,
            "saturated": self.saturated,
            "settings": self.settings,
            "samples": self.samples,
        }


@dataclass
class ImageEvaluation:
    """The image figures of merit of a model and of every baseline, on the same held-out images."""

    grid: int
    emd_images_per_sample: int
    model: CodecImages
    baselines: list[CodecImages]
    nmse_per_tower: list[list[float | None]]  # the model's, as an N x N grid (None: a tower empty in every image)
    negative_towers: int  # decoded towers below zero, set to zero for EMD and physics
    emd_images_per_s: float
    examples: dict[str, np.ndarray] = field(default_factory=dict)  # "original", "decoded": a few images

    @property
    def best_baseline(self) -> CodecImages | None:
        """The baseline with the least mean EMD at the model's own bits per image."""
        same = [b for b in self.baselines if b.budget == self.model.bits_per_jet]
        return min(same, key=lambda b: b.emd_mean) if same else None

    def to_json(self) -> dict[str, Any]:
        best = self.best_baseline
        return {
            "grid": self.grid,
            "emd_r": EMD_R,
            "emd_definition": "Komiske et al.: min sum f_ij dR_ij / R + |sum E - sum E'| (GeV), towers at centres",
            "emd_images_per_sample": self.emd_images_per_sample,
            "emd_images_per_s": round(self.emd_images_per_s, 1),
            "emd_mean": self.model.emd_mean,
            "model": self.model.to_json(),
            "baselines": [b.to_json() for b in self.baselines],
            "best_baseline": None
            if best is None
            else {k: best.to_json()[k] for k in ("codec", "bits_per_jet", "emd_mean")},
            "emd_ratio_to_best_baseline": None if best is None else self.model.emd_mean / best.emd_mean,
            "nmse_per_tower": self.nmse_per_tower,
            "negative_towers": self.negative_towers,
        }


def _measure(
    what: dict[str, Any], truths: dict[str, np.ndarray], decoded: dict[str, np.ndarray], saturated: int, timer: list
) -> CodecImages:
    """EMD, physics and NMSE of one way of sending the images; ``what``: codec, label, budget, bits_per_jet,
    settings."""
    per_sample, emds = {}, []
    for name, truth in truths.items():
        start = time.perf_counter()
        distances = emd(truth[:EMD_IMAGES], decoded[name][:EMD_IMAGES])
        timer.append((len(distances), time.perf_counter() - start))
        emds.append(distances)
        physics_truth, physics_reco = image_physics(truth), image_physics(decoded[name])
        per_sample[name] = {
            "images": len(truth),
            "emd_images": len(distances),
            "emd_mean": float(distances.mean()),
            "emd_median": float(np.median(distances)),
            "physics": physics_residuals(physics_truth, physics_reco),
            "physics_vs_pt": physics_vs_pt(physics_truth, physics_reco),
        }
    truth_all, decoded_all = np.concatenate(list(truths.values())), np.concatenate(list(decoded.values()))
    return CodecImages(
        **what,
        samples=per_sample,
        emd_mean=float(np.concatenate(emds).mean()),
        total_nmse=float(nmse_per_variable(truth_all, decoded_all, truth_all.var(axis=0)).sum()),
        saturated=saturated,
    )


def _measure_codec(codec: Codec, budget: int, settings: dict, truths: dict[str, np.ndarray], timer: list):
    decoded, saturated = {}, 0
    for name, truth in truths.items():
        codes, clamped = codec.encode(truth)
        decoded[name], saturated = codec.decode(codes), saturated + int(clamped.sum())
    what = {"codec": codec.kind, "label": codec.label, "budget": budget, "bits_per_jet": codec.bits_per_jet}
    return _measure(what | {"settings": settings}, truths, decoded, saturated, timer)


def _baseline_codecs(points: list[dict], variables: tuple[str, ...]) -> list[tuple[int, Codec]]:
    """The per-variable baselines of ``evaluate`` (fixed point, float) rebuilt from their JSON points."""
    return [
        (p["budget"], codec_from_json({"codec": p["codec"], "variables": list(variables), "fields": p["allocation"]}))
        for p in points
        if p["possible"]
    ]


def evaluate_images(
    model, samples: Sequence, baseline_train: np.ndarray, points: list[dict], budgets: Sequence[int] | None = None
) -> tuple[ImageEvaluation, list[dict]]:
    """The image evaluation of a model whose variables are one tower image (``samples``: evaluate's per-sample
    held-out truth and reconstruction). The image baselines are fitted on ``baseline_train`` at ``budgets`` and at
    the model's bits; ``points`` (evaluate's per-variable baselines) get their ``emd_mean``. Returns the evaluation
    and the points followed by the image baselines, every one with ``emd_mean``."""
    grid = tower_grid(model.variables)
    truths = {s.name: s.truth for s in samples}
    timer: list[tuple[int, float]] = []
    what = {"codec": "autoencoder", "label": model.name, "budget": model.bits_per_jet}
    what |= {"bits_per_jet": model.bits_per_jet, "settings": {"model": model.name}}
    model_images = _measure(what, truths, {s.name: s.reco for s in samples}, 0, timer)
    measured = {
        (codec.kind, budget): _measure_codec(codec, budget, {}, truths, timer)
        for budget, codec in _baseline_codecs(points, model.variables)
    }
    image_budgets = tuple(sorted(set(IMAGE_BUDGETS if budgets is None else budgets) | {model.bits_per_jet}))
    baselines = [
        _measure_codec(codec, budget, codec.to_json(), truths, timer)
        for codecs in fit_image_codecs(baseline_train, grid, image_budgets, emd).values()
        for budget, codec in zip(image_budgets, codecs)
        if codec is not None
    ]
    with_emd = [p | {"emd_mean": measured[(p["codec"], p["budget"])].emd_mean} if p["possible"] else p for p in points]
    truth_all = np.concatenate(list(truths.values()))
    reco_all = np.concatenate([s.reco for s in samples])
    nmse = nmse_per_variable(truth_all, reco_all, truth_all.var(axis=0))
    images_done, seconds = (sum(column) for column in zip(*timer))
    evaluation = ImageEvaluation(
        grid=grid,
        emd_images_per_sample=EMD_IMAGES,
        model=model_images,
        baselines=list(measured.values()) + baselines,
        nmse_per_tower=[[float(v) if np.isfinite(v) else None for v in row] for row in nmse.reshape(grid, grid)],
        negative_towers=int((reco_all < 0).sum()),
        emd_images_per_s=images_done / max(seconds, 1e-9),
        examples={"original": truth_all[:EXAMPLES], "decoded": reco_all[:EXAMPLES]},
    )
    return evaluation, with_emd + [b.to_json() for b in baselines]


# ---------------------------------------------------------------------------------------------------------------
# Report: Markdown section and pictures
# ---------------------------------------------------------------------------------------------------------------


def image_markdown(images: ImageEvaluation) -> list[str]:
    """The image section of evaluation.md: EMD per codec and sample, and the physics of the model's images."""
    names = list(images.model.samples)
    best = images.best_baseline
    lines = [
        "",
        f"## Tower images ({images.grid}\u00d7{images.grid}): energy mover's distance",
        "",
        (
            f"EMD in GeV (R = {EMD_R}; moving 1 GeV by one tower costs {TOWER_SIZE / EMD_R:.4g} GeV, missing or "
            f"extra energy 1 GeV per GeV), mean over the first {images.emd_images_per_sample} held-out images of "
            "each sample."
        ),
    ]
    if best is not None:
        lines.append(
            f"At {images.model.bits_per_jet} bits per image: model {images.model.emd_mean:.4g} GeV, best baseline "
            f"{best.codec} {best.emd_mean:.4g} GeV (ratio **{images.model.emd_mean / best.emd_mean:.3g}**)."
        )
    lines += ["", "| codec | bits/image | EMD all | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
    for entry in [images.model, *sorted(images.baselines, key=lambda b: (b.codec, b.budget))]:
        cells = " | ".join(f"{entry.samples[n]['emd_mean']:.4g}" for n in names)
        lines.append(f"| {entry.label} | {entry.bits_per_jet} | {entry.emd_mean:.4g} | {cells} |")
    lines += [
        "",
        (
            "Physics from the model's decoded images (towers massless at their centres): σ (68 % half-width) of "
            "the residual; et, pt, mass relative, width absolute (ΔR)."
        ),
        "",
        "| sample | " + " | ".join(f"{q} σ | {q} response" for q in PHYSICS) + " |",
        "|---|" + "---|---|" * len(PHYSICS),
    ]
    for name in names:
        stats = images.model.samples[name]["physics"]
        cells = " | ".join(f"{stats[q]['sigma']:.3g} | {stats[q]['response']:.3g}" for q in PHYSICS)
        lines.append(f"| {name} | {cells} |")
    lines.append(f"\nDecoded towers below zero (set to zero for EMD and physics): {images.negative_towers}.")
    return lines


def write_image_plots(images: ImageEvaluation, out, plt) -> list[str]:
    """images_rate_distortion.png (mean EMD vs bits per image) and example_images.png; returns the file names."""
    fig, ax = plt.subplots(figsize=(7, 5))
    kinds = dict.fromkeys(b.codec for b in images.baselines)
    for kind in kinds:
        points = sorted((b.bits_per_jet, b.emd_mean) for b in images.baselines if b.codec == kind)
        label = next(b.label for b in images.baselines if b.codec == kind)
        ax.plot(*zip(*points), marker="s", label=label)
    ax.plot([images.model.bits_per_jet], [images.model.emd_mean], marker="*", markersize=16, ls="", label="model")
    ax.set_yscale("log")
    ax.set_xlabel("bits per image")
    ax.set_ylabel("mean EMD [GeV]")
    ax.legend(fontsize=9)
    fig.savefig(out / "images_rate_distortion.png", dpi=80, bbox_inches="tight")
    plt.close(fig)

    original, decoded = images.examples["original"], images.examples["decoded"]
    grid = images.grid
    fig, axes = plt.subplots(len(original), 3, figsize=(10, 3.2 * len(original)), squeeze=False)
    for row, (a, b) in enumerate(zip(original, decoded)):
        top = max(float(a.max()), float(b.max()), 1e-9)
        for ax, image, title, limits in (
            (axes[row, 0], a, "original", (0, top)),
            (axes[row, 1], b, "decoded", (0, top)),
            (axes[row, 2], b - a, "decoded − original", (-top / 2, top / 2)),
        ):
            shown = ax.imshow(
                image.reshape(grid, grid),
                origin="lower",
                vmin=limits[0],
                vmax=limits[1],
                cmap="viridis" if title != "decoded − original" else "RdBu_r",
            )
            ax.set_title(f"{title} (ΣET {image.sum():.1f} GeV)", fontsize=10)
            ax.set_xlabel("iφ", fontsize=9)
            ax.set_ylabel("iη", fontsize=9)
            fig.colorbar(shown, ax=ax, label="GeV")
    fig.tight_layout()
    fig.savefig(out / "example_images.png", dpi=70)
    plt.close(fig)
    return ["images_rate_distortion.png", "example_images.png"]
