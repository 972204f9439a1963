"""``trigcomp evaluate`` for event models: response and resolution per object type and per process, the physics
targets where they apply, and the anomaly score's ROC on ``--signal`` files.

Held-out events: the model's test split of its training file (found by data hash, as for jets), every event of
any other file. Per object kind (jets, electrons, muons, photons: the slots holding an object; MET) and per process
(the DarkMachines ``process_id`` of each event): pt response (median reco/true), pt σ (68 % half-width of
(reco − true)/true), η and φ σ and median bias, with trigcomp.targets' residuals. ``--targets`` checks the kinds'
pt, eta and phi against the target set's ``pt``, ``eta``, ``phi`` entries (the jet targets apply to every object).

Background for the anomaly score: the held-out events of the ``--data`` files; each ``--signal`` file is scored on
all its events (trigcomp.anomaly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .anomaly import (
    ACCEPTANCES,
    BUNCH_CROSSING_HZ,
    ScoreFormat,
    latent_codes,
    roc_curve,
    score_codes,
    signal_performance,
)
from .errors import UserError
from .events import slot_names
from .model import data_hash, split_events
from .records import EVENT_SLOTS, JetTable
from .staging import write_json
from .targets import Targets, residuals, resolution

KINDS = (*EVENT_SLOTS, "MET")
QUANTITIES = ("pt", "eta", "phi")


def _held_out(model, table: JetTable) -> tuple[np.ndarray, str]:
    if data_hash(table) == model.info.get("training", {}).get("data_hash"):
        cfg = model.config.training
        _, _, test = split_events(table.event_index, model.config.seed, cfg.validation_fraction, cfg.test_fraction)
        return np.flatnonzero(test), "test split of the training data"
    return np.arange(len(table)), "all events"


def _kind_values(table_values: np.ndarray, present: np.ndarray, variables: tuple[str, ...], kind: str, quantity: str):
    """Truth-side values of one quantity for every present object of a kind, and the (row, column) they came from."""
    column = {name: i for i, name in enumerate(variables)}
    if kind == "MET":
        name = "MET" if quantity == "pt" else ("METphi" if quantity == "phi" else None)
        if name is None:
            return None
        rows = np.arange(len(table_values))
        return rows, np.full(len(rows), column[name])
    prefix, count, _ = EVENT_SLOTS[kind]
    slots = {name: i for i, name in enumerate(slot_names())}
    rows, cols = [], []
    for slot in range(count):
        hit = np.flatnonzero(present[:, slots[f"{prefix}{slot}"]])
        rows.append(hit)
        cols.append(np.full(len(hit), column[f"{prefix}{slot}_{quantity}"]))
    return np.concatenate(rows), np.concatenate(cols)


def object_resolution(truth: np.ndarray, reco: np.ndarray, present: np.ndarray, variables, targets: Targets | None):
    """Per kind and quantity: response/resolution of the present objects, and the target check where one applies."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        entry = {}
        for quantity in QUANTITIES:
            where = _kind_values(truth, present, variables, kind, quantity)
            if where is None:
                continue
            rows, cols = where
            stats = resolution(residuals(quantity, truth[rows, cols], reco[rows, cols]))
            stats["response"] = 1.0 + stats["median"] if quantity == "pt" else stats["median"]
            stats["objects"] = stats.pop("jets")
            target = targets.variables.get(quantity) if targets else None
            if target is not None and stats["objects"]:
                stats["target"] = target.to_json()
                stats["pass"] = bool(
                    stats["sigma"] <= target.sigma and (target.bias is None or abs(stats["median"]) <= target.bias)
                )
            entry[quantity] = stats
        out[kind] = entry
    return out


@dataclass
class EventEvaluation:
    model: str
    score: dict
    processes: dict[str, dict]  # process -> {file, held_out, events, objects: kind -> quantity -> stats}
    background: dict
    signals: list[dict] = field(default_factory=list)
    targets: str | None = None
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def failing(self) -> list[str]:
        return [
            f"{process} {kind} {quantity}"
            for process, entry in self.processes.items()
            for kind, quantities in entry["objects"].items()
            for quantity, stats in quantities.items()
            if stats.get("pass") is False
        ]

    def to_json(self) -> dict:
        payload = {"model": self.model, "kind": "event", "processes": self.processes, "score": self.score}
        if self.signals:
            payload["anomaly"] = {
                "score": self.score,
                "background": self.background,
                "acceptances": ACCEPTANCES,
                "bunch_crossing_hz": BUNCH_CROSSING_HZ,
                "signals": self.signals,
            }
        if self.targets:
            payload["targets"] = self.targets
            payload["failing"] = self.failing()
        return payload


def evaluate_events(
    model, samples: list[JetTable], signals: list[JetTable], targets: Targets | None = None
) -> EventEvaluation:
    if not samples:
        raise UserError("give the background events with --data")
    fmt = ScoreFormat(model.n_latent, model.latent_quantizer)
    processes: dict[str, dict] = {}
    background_scores = []

    def add(table: JetTable, rows: np.ndarray, how: str) -> np.ndarray:
        truth = table.values[rows].astype(np.float64)
        codes = latent_codes(model, truth)
        reco = model.decode(codes * model.latent_lsb)
        names = table.extra["process"][rows]
        for process in dict.fromkeys(names):
            mine = names == process
            key = process if process not in processes else f"{process} ({Path(table.sources[0]).name})"
            processes[key] = {
                "file": table.sources[0],
                "held_out": how,
                "events": int(mine.sum()),
                "objects": object_resolution(
                    truth[mine], reco[mine], table.extra["present"][rows][mine], table.variables, targets
                ),
            }
        return score_codes(codes)

    for table in samples:
        rows, how = _held_out(model, table)
        background_scores.append(add(table, rows, how))
    background = np.concatenate(background_scores)
    evaluation = EventEvaluation(
        model=str(model.path),
        score=fmt.to_json(),
        processes=processes,
        background={"files": [t.sources[0] for t in samples], "events": len(background)},
        targets=targets.name if targets else None,
    )
    for table in signals:
        scores = add(table, np.arange(len(table)), "all events (signal)")
        performance = signal_performance(background, scores)
        evaluation.signals.append(
            {
                "file": table.sources[0],
                "process": ", ".join(dict.fromkeys(table.extra["process"])),
                "events": len(scores),
            }
            | performance
        )
        evaluation.roc[table.sources[0]] = roc_curve(background, scores)
    return evaluation


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3g}"


def render_markdown(evaluation: EventEvaluation) -> str:
    lines = [
        f"# Event model {evaluation.model}",
        "",
        f"Anomaly score: {evaluation.score['definition']} ({evaluation.score['precision']} on the board)",
        "",
        "## Response and resolution per object",
        "",
        "| process | object | objects | pt response | pt σ | η σ | φ σ |",
        "|---|---|---|---|---|---|---|",
    ]
    for process, entry in evaluation.processes.items():
        for kind, stats in entry["objects"].items():
            pt = stats.get("pt", {})
            if not pt.get("objects"):
                continue
            lines.append(
                f"| {process} | {kind} | {pt['objects']} | {_fmt(pt['response'])} | {_fmt(pt['sigma'])} | "
                f"{_fmt(stats.get('eta', {}).get('sigma'))} | {_fmt(stats.get('phi', {}).get('sigma'))} |"
            )
    if evaluation.targets:
        failing = evaluation.failing()
        lines += ["", f"Targets {evaluation.targets}: " + ("met" if not failing else "missed: " + "; ".join(failing))]
    if evaluation.signals:
        lines += [
            "",
            f"## Anomaly score (background: {evaluation.background['events']} events)",
            "",
            "| signal | events | AUC | "
            + " | ".join(f"eff @ {k} ({a * BUNCH_CROSSING_HZ:g} Hz)" for k, a in ACCEPTANCES.items())
            + " |",
            "|---|---|---|" + "---|" * len(ACCEPTANCES),
        ]
        for signal in evaluation.signals:
            effs = " | ".join(_fmt(signal["efficiency"][k]) for k in ACCEPTANCES)
            lines.append(
                f"| {signal['process']} ({Path(signal['file']).name}) | {signal['events']} | "
                f"{signal['auc']:.4f} | {effs} |"
            )
        notes = sorted({note for signal in evaluation.signals for note in signal["notes"]})
        lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines)


def _plot_objects(plt, evaluation: EventEvaluation, path: Path) -> None:
    panels = (
        ("pt", "response", "pt response (median reco/true)"),
        ("pt", "sigma", "pt σ (relative)"),
        ("eta", "sigma", "η σ"),
        ("phi", "sigma", "φ σ [rad]"),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    x = np.arange(len(KINDS))
    n = max(len(evaluation.processes), 1)
    for ax, (quantity, stat, title) in zip(axes, panels):
        for i, (process, entry) in enumerate(evaluation.processes.items()):
            values = [
                entry["objects"][k].get(quantity, {}).get(stat, np.nan)
                if entry["objects"][k].get(quantity, {}).get("objects")
                else np.nan
                for k in KINDS
            ]
            ax.plot(x + (i - (n - 1) / 2) * 0.12, values, "o", label=process)
        ax.set_xticks(x, KINDS, rotation=30)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].axhline(1.0, color="grey", lw=0.8)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_roc(plt, evaluation: EventEvaluation, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for signal in evaluation.signals:
        accept, efficiency = evaluation.roc[signal["file"]]
        keep = accept > 0
        ax.plot(accept[keep], efficiency[keep], label=f"{signal['process']} (AUC {signal['auc']:.3f})")
    for key, a in ACCEPTANCES.items():
        ax.axvline(a, color="grey", ls=":", lw=0.8)
        ax.text(a, 1.01, f"{key}\n{a * BUNCH_CROSSING_HZ / 1e3:g} kHz", fontsize=7, ha="center", va="bottom")
    ax.set_xscale("log")
    ax.set_xlim(min(ACCEPTANCES.values()) / 2, 1.0)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel(f"background acceptance ({evaluation.background['events']} events)")
    ax.set_ylabel("signal efficiency")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_event_report(evaluation: EventEvaluation, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    write_json(out / "evaluation.json", evaluation.to_json())
    (out / "evaluation.md").write_text(render_markdown(evaluation) + "\n")
    _plot_objects(plt, evaluation, out / "per_object.png")
    if evaluation.signals:
        _plot_roc(plt, evaluation, out / "roc.png")
