"""How good is the compression, honestly: per-variable resolution on held-out jets, against equal-bit baselines.

Residuals: relative for pt and mass, absolute for eta, phi (wrapped) and energy fractions, integer differences for
counts. sigma is the 68 % half-width ((q84 - q16) / 2), robust to tails; rms and bias are plain. The comparison
metric is the total normalised MSE (sum over variables of MSE / test variance), the same for the autoencoder and
the baselines (per-variable fixed point with the best bit allocation; float with a cut mantissa).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .baselines import DEFAULT_BUDGETS, nmse_per_variable, rate_distortion
from .codecs import budget_codecs
from .model import TrainedModel, check_variables, data_hash, split_events
from .records import JetTable
from .targets import DEFAULT_PT_BINS, residual_kind, residuals, resolution


@dataclass
class Evaluation:
    model: str
    model_hash: str
    data: list[str]
    held_out: str
    jets: int
    bits_per_jet: int
    variables: dict[str, dict[str, Any]]
    total_nmse: float
    pt_bins: list[dict[str, Any]]
    baselines: list[dict[str, Any]]
    baseline_training: str
    latent_at_edge_jets: int
    autoencoder_wins: bool | None = None
    best_baseline_at_budget: dict[str, Any] | None = None
    autoencoders: list[dict[str, Any]] = field(default_factory=list)  # every autoencoder on the curve
    plots: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _evaluation_rows(model: TrainedModel, jets: JetTable) -> tuple[np.ndarray, str]:
    """Held-out jets: the model's test split when this is its training data, otherwise every jet."""
    if data_hash(jets) == model.info.get("training", {}).get("data_hash"):
        cfg = model.config.training
        _, _, test = split_events(jets.event_index, model.config.seed, cfg.validation_fraction, cfg.test_fraction)
        return np.flatnonzero(test), "test split of the training data (event-wise, never seen in training)"
    return np.arange(len(jets)), "all jets (a file the model was not trained on)"


def _baseline_training_rows(model: TrainedModel, jets: JetTable) -> np.ndarray:
    cfg = model.config.training
    train, _, _ = split_events(jets.event_index, model.config.seed, cfg.validation_fraction, cfg.test_fraction)
    return np.flatnonzero(train)


def evaluate(
    model: TrainedModel,
    jets: JetTable,
    baseline_train: np.ndarray | None = None,
    budgets: tuple[int, ...] = DEFAULT_BUDGETS,
    others: tuple[TrainedModel, ...] = (),
) -> Evaluation:
    """Evaluate ``model`` on ``jets``; baselines are fitted on ``baseline_train`` (the model's training jets).

    ``others``: more autoencoders (e.g. the same architecture at other latent bits) to place on the
    rate-distortion curve, evaluated on the same held-out jets.
    """
    check_variables(model.variables, jets)
    for other in others:
        check_variables(other.variables, jets)
    rows, held_out = _evaluation_rows(model, jets)
    truth = jets.values[rows].astype(np.float64)
    latent = model.encode(truth)
    reco = model.decode(latent)
    variance = truth.var(axis=0)
    nmse = nmse_per_variable(truth, reco, variance)

    per_variable = {}
    for j, name in enumerate(model.variables):
        per_variable[name] = resolution(residuals(name, truth[:, j], reco[:, j])) | {
            "kind": residual_kind(name),
            "nmse": float(nmse[j]),
        }
    pt_bins = []
    if "pt" in model.variables:
        pt = truth[:, model.variables.index("pt")]
        for lo, hi in itertools.pairwise(DEFAULT_PT_BINS):
            in_bin = (pt >= lo) & (pt < hi)
            if in_bin.sum() < 10:
                continue
            pt_bins.append(
                {
                    "pt_min": lo,
                    "pt_max": None if np.isinf(hi) else hi,
                    "jets": int(in_bin.sum()),
                    "variables": {
                        name: resolution(residuals(name, truth[in_bin, j], reco[in_bin, j]))
                        for j, name in enumerate(model.variables)
                    },
                }
            )

    if baseline_train is None:
        baseline_train = jets.values[_baseline_training_rows(model, jets)]
        baseline_source = "training split of the evaluation data"
    else:
        baseline_source = "the model's training jets"
    autoencoders = [{"model": model.name, "bits_per_jet": model.bits_per_jet, "total_nmse": float(nmse.sum())}]
    for other in others:
        other_nmse = nmse_per_variable(truth, other.reconstruct(truth), variance).sum()
        autoencoders.append({"model": other.name, "bits_per_jet": other.bits_per_jet, "total_nmse": float(other_nmse)})
    all_budgets = tuple(sorted(set(budgets) | {ae["bits_per_jet"] for ae in autoencoders}))
    points = [
        p.to_json()
        for p in rate_distortion(baseline_train.astype(np.float64), truth, model.variables, budgets=all_budgets)
    ]
    at_budget = [p for p in points if p["budget"] == model.bits_per_jet and p["possible"]]
    best = min(at_budget, key=lambda p: p["total_nmse"]) if at_budget else None
    q = model.config.latent_quantizer
    total = float(nmse.sum())
    return Evaluation(
        model=model.name,
        model_hash=model.hash,
        data=list(jets.sources),
        held_out=held_out,
        jets=len(rows),
        bits_per_jet=model.bits_per_jet,
        variables=per_variable,
        total_nmse=total,
        pt_bins=pt_bins,
        baselines=points,
        baseline_training=baseline_source,
        latent_at_edge_jets=int(((latent >= q.max) | (latent <= q.min)).any(axis=1).sum()),
        autoencoder_wins=None if best is None else bool(total < best["total_nmse"]),
        best_baseline_at_budget=best,
        autoencoders=sorted(autoencoders, key=lambda ae: ae["bits_per_jet"]),
    )


# ---------------------------------------------------------------------------------------------------------------
# Reports: Markdown and plots
# ---------------------------------------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.4g}"


def render_markdown(evaluation: Evaluation) -> str:
    lines = [
        f"# Compression quality: `{evaluation.model}` ({evaluation.bits_per_jet} bits per jet)",
        "",
        f"- data: {', '.join(evaluation.data) or '(in memory)'}; {evaluation.jets} jets, {evaluation.held_out}",
        f"- total normalised MSE (sum over variables of MSE / variance): **{evaluation.total_nmse:.4g}**",
        f"- jets with a latent value at the edge of its range (saturated or exactly there): {evaluation.latent_at_edge_jets}",
        f"- baselines fitted on {evaluation.baseline_training}",
        "",
        "| variable | residual | bias | σ (68 % half-width) | RMS | NMSE |",
        "|---|---|---|---|---|---|",
    ]
    for name, v in evaluation.variables.items():
        lines.append(
            f"| {name} | {v['kind']} | {_fmt(v['bias'])} | {_fmt(v['sigma'])} | {_fmt(v['rms'])} | {_fmt(v['nmse'])} |"
        )
    best = evaluation.best_baseline_at_budget
    lines += ["", f"## At {evaluation.bits_per_jet} bits per jet", ""]
    if best is None:
        lines.append("No baseline is possible at this budget.")
    else:
        verdict = "the autoencoder wins" if evaluation.autoencoder_wins else "the baseline wins"
        lines.append(
            f"Autoencoder {evaluation.total_nmse:.4g} vs best baseline ({best['codec']}) "
            f"{best['total_nmse']:.4g}: **{verdict}**."
        )
    baselines = budget_codecs()
    lines += [
        "",
        "## Rate–distortion (total NMSE on the same held-out jets)",
        "",
        "| bits/jet | " + " | ".join(c.label for c in baselines) + " | autoencoder |",
        "|---|" + "---|" * len(baselines) + "---|",
    ]
    budgets = sorted({p["budget"] for p in evaluation.baselines})
    for budget in budgets:
        cells = []
        for codec in baselines:
            match = [p for p in evaluation.baselines if p["budget"] == budget and p["codec"] == codec.kind]
            cells.append(_fmt(match[0]["total_nmse"]) if match and match[0]["possible"] else "impossible")
        ae = ", ".join(
            f"{_fmt(a['total_nmse'])} ({a['model']})" for a in evaluation.autoencoders if a["bits_per_jet"] == budget
        )
        lines.append(f"| {budget} | " + " | ".join(cells) + f" | {ae} |")
    if evaluation.pt_bins:
        lines += [
            "",
            "## Resolution (σ) in pt bins",
            "",
            "| pt [GeV] | jets | " + " | ".join(evaluation.variables) + " |",
            "|---|---|" + "---|" * len(evaluation.variables),
        ]
        for b in evaluation.pt_bins:
            hi = "∞" if b["pt_max"] is None else f"{b['pt_max']:g}"
            sigmas = " | ".join(_fmt(b["variables"][n]["sigma"]) for n in evaluation.variables)
            lines.append(f"| {b['pt_min']:g}–{hi} | {b['jets']} | {sigmas} |")
    if evaluation.plots:
        lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in evaluation.plots]
    return "\n".join(lines) + "\n"


def write_plots(evaluation: Evaluation, model: TrainedModel, jets: JetTable, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    rows, _ = _evaluation_rows(model, jets)
    truth = jets.values[rows].astype(np.float64)
    reco = model.reconstruct(truth)
    n = len(model.variables)
    cols = min(n, 5)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(4 * cols, 3.6 * ((n + cols - 1) // cols)))
    for ax, (j, name) in zip(np.ravel(axes), enumerate(model.variables)):
        r = residuals(name, truth[:, j], reco[:, j])
        lo, hi = np.percentile(r, [1, 99]) if r.size else (-1, 1)
        ax.hist(r, bins=60, range=(lo, hi) if hi > lo else None, histtype="step")
        ax.set_xlabel(f"{name} ({residual_kind(name)} residual)", fontsize=11)
        ax.tick_params(labelsize=9)
    for ax in np.ravel(axes)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    paths = [out / "residuals.png"]
    fig.savefig(paths[-1], dpi=80, bbox_inches="tight")
    plt.close(fig)

    if evaluation.pt_bins:
        fig, ax = plt.subplots(figsize=(7, 5))
        centers = [(b["pt_min"] + (b["pt_max"] or 2 * b["pt_min"])) / 2 for b in evaluation.pt_bins]
        for name in [v for v in ("pt", "mass") if v in model.variables]:
            ax.errorbar(
                centers,
                [1 + b["variables"][name]["bias"] for b in evaluation.pt_bins],
                yerr=[b["variables"][name]["sigma"] for b in evaluation.pt_bins],
                marker="o",
                label=name,
            )
        ax.set_xscale("log")
        ax.set_xlabel("jet pt [GeV]")
        ax.set_ylabel("response (reco / true) ± σ")
        ax.legend()
        paths.append(out / "response_vs_pt.png")
        fig.savefig(paths[-1], dpi=80, bbox_inches="tight")
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    for codec in budget_codecs():
        points = [p for p in evaluation.baselines if p["codec"] == codec.kind and p["possible"]]
        ax.plot([p["bits_per_jet"] for p in points], [p["total_nmse"] for p in points], marker="s", label=codec.label)
    ax.plot(
        [a["bits_per_jet"] for a in evaluation.autoencoders],
        [a["total_nmse"] for a in evaluation.autoencoders],
        marker="*",
        markersize=16,
        label="quantization-aware autoencoder",
    )
    ax.set_yscale("log")
    ax.set_xlabel("bits per jet")
    ax.set_ylabel("total normalised MSE")
    ax.legend(fontsize=12)
    paths.append(out / "rate_distortion.png")
    fig.savefig(paths[-1], dpi=80, bbox_inches="tight")
    plt.close(fig)
    return [p.name for p in paths]


def write_report(evaluation: Evaluation, model: TrainedModel, jets: JetTable, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    evaluation.plots = write_plots(evaluation, model, jets, out)
    (out / "evaluation.md").write_text(render_markdown(evaluation))
    (out / "evaluation.json").write_text(json.dumps(evaluation.to_json(), indent=2, sort_keys=True) + "\n")
