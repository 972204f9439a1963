"""How good is the compression, honestly: per-variable resolution on held-out jets of every sample, against
physics targets and equal-bit baselines.

Each data file is a sample (a process), evaluated on its own held-out jets: the test split of the model's training
file, every jet of any other file. Residuals and σ (the 68 % half-width) are defined in :mod:`trigcomp.targets`;
with targets, every variable is checked on every sample, overall and per truth-pt bin. The comparison metric is
the total normalised MSE (sum over variables of MSE / test variance), the same for the autoencoder and the
baselines (per-variable fixed point with the best bit allocation; float with a cut mantissa), which are fitted on
the model's own training split and never on evaluation jets.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .baselines import DEFAULT_BUDGETS, nmse_per_variable, rate_distortion
from .codecs import budget_codecs
from .data import PRESETS, JetSelection
from .errors import UserError
from .junit import JUnitCase
from .model import TrainedModel, check_variables, data_hash, split_events
from .records import SCHEMA_VERSION, JetTable, tower_grid
from .targets import (
    DEFAULT_PT_BINS,
    MIN_BIN_JETS,
    TargetCheck,
    TargetReport,
    Targets,
    check_targets,
    residual_kind,
    residuals,
    resolution,
)


def response(name: str, median_residual: float) -> float:
    """Median reco / truth for relative residuals, the median residual itself otherwise."""
    return 1.0 + median_residual if residual_kind(name) == "relative" else median_residual


def _response_and_resolution(name: str, truth: np.ndarray, reco: np.ndarray) -> dict[str, Any]:
    stats = resolution(residuals(name, truth, reco))
    return stats | {"response": response(name, stats["median"])}


@dataclass
class SampleEvaluation:
    """One data file (one process) evaluated on its own held-out jets; the arrays are what every number comes from."""

    name: str
    data: str
    held_out: str
    variables: tuple[str, ...]
    truth: np.ndarray  # (jets, variables), physical units
    reco: np.ndarray
    event: np.ndarray  # event index of each jet in its file
    latent_at_edge_jets: int
    pt_bins: tuple[float, ...] = DEFAULT_PT_BINS
    min_bin_jets: int = MIN_BIN_JETS
    targets: TargetReport | None = None  # when targets were given

    @cached_property
    def variable_stats(self) -> dict[str, dict[str, Any]]:
        return {
            name: _response_and_resolution(name, self.truth[:, j], self.reco[:, j]) | {"kind": residual_kind(name)}
            for j, name in enumerate(self.variables)
        }

    @cached_property
    def binned_stats(self) -> list[dict[str, Any]]:
        """Per truth-pt bin with at least ``min_bin_jets`` jets: response and resolution of every variable."""
        if "pt" not in self.variables:
            return []
        pt = self.truth[:, self.variables.index("pt")]
        bins = []
        for lo, hi in itertools.pairwise(self.pt_bins):
            in_bin = (pt >= lo) & (pt < hi)
            if in_bin.sum() < self.min_bin_jets:
                continue
            stats = {
                name: _response_and_resolution(name, self.truth[in_bin, j], self.reco[in_bin, j])
                for j, name in enumerate(self.variables)
            }
            high = None if np.isinf(hi) else hi
            bins.append({"pt_low": lo, "pt_high": high, "jets": int(in_bin.sum()), "variables": stats})
        return bins

    def failing_variables(self) -> list[str]:
        """Variables with at least one failed target check, in the targets' order."""
        return list(dict.fromkeys(c.variable for c in self.targets.failures())) if self.targets else []

    def to_json(self) -> dict[str, Any]:
        return {
            "sample": self.name,
            "data": self.data,
            "held_out": self.held_out,
            "jets": len(self.truth),
            "latent_at_edge_jets": self.latent_at_edge_jets,
            "variables": self.variable_stats,
            "pt_bins": self.binned_stats,
            "meets_targets": None if self.targets is None else self.targets.meets_targets,
        }


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
    samples: list[SampleEvaluation] = field(default_factory=list)  # one per data file, evaluated separately
    target_set: Targets | None = None  # the targets checked, if any
    images: Any = None  # trigcomp.images.ImageEvaluation when the variables are one tower image

    @property
    def emd_mean(self) -> float | None:
        return None if self.images is None else self.images.model.emd_mean

    @property
    def meets_targets(self) -> bool | None:
        if self.target_set is None:
            return None
        return all(s.targets.meets_targets for s in self.samples)

    def failing_samples(self) -> list[SampleEvaluation]:
        return [s for s in self.samples if s.targets is not None and not s.targets.meets_targets]

    def to_json(self) -> dict[str, Any]:
        payload = {"schema_version": SCHEMA_VERSION}
        payload |= {k: v for k, v in self.__dict__.items() if k not in ("samples", "target_set", "images")}
        payload["samples"] = [s.to_json() for s in self.samples]
        if self.images is not None:
            payload["emd_mean"] = self.emd_mean
            payload["images"] = self.images.to_json()
        payload["meets_targets"] = self.meets_targets
        if self.target_set is None:
            payload["targets"] = None
        else:
            payload["targets"] = {s.name: s.targets.to_json() for s in self.samples}
            payload["target_definition"] = self.target_set.to_json()
            payload["failing_samples"] = [s.name for s in self.failing_samples()]
        return payload


@dataclass(frozen=True)
class TrainingFiles:
    """The model's training files as read again: each file's ``data_hash``, resolved path and the global index of its
    first event (``event_index`` counts events across the training files in order, and the split is decided per
    event)."""

    hashes: tuple[str, ...]
    paths: tuple[str, ...]
    first_events: tuple[int, ...]

    def index(self, jets: JetTable) -> int | None:
        """Which training file ``jets`` are: by their hash, else (read with other cuts) by their file's path."""
        found = data_hash(jets)
        if found in self.hashes:
            return self.hashes.index(found)
        resolved = [str(Path(s).resolve()) for s in jets.sources]
        return self.paths.index(resolved[0]) if len(resolved) == 1 and resolved[0] in self.paths else None


TEST_SPLIT = "test split of the training data (event-wise, never seen in training)"
NOT_TRAINED_ON = "all jets (a file the model was not trained on)"


def _evaluation_rows(
    model: TrainedModel, jets: JetTable, training_files: TrainingFiles | None = None
) -> tuple[np.ndarray, str]:
    """Held-out jets: the model's test split when this is its training data or one of its training files (found by
    ``data_hash`` in ``training_files``), otherwise every jet. A model trained on several files whose files were not
    read (``training_files`` None) cannot tell: its label says so. ``jets`` may have more variables than the model
    (a hybrid codec's autoencoder codes some of them): the file is recognised by the model's variables alone."""
    cfg = model.config.training
    if tuple(jets.variables) != tuple(model.variables):
        columns = [jets.variables.index(v) for v in model.variables]
        jets = dataclasses.replace(jets, variables=tuple(model.variables), values=jets.values[:, columns])
    if is_training_data(model, jets):
        _, _, test = split_events(jets.event_index, model.config.seed, cfg.validation_fraction, cfg.test_fraction)
        return np.flatnonzero(test), TEST_SPLIT
    n_files = len(model.training_sources)
    if training_files is None:
        if n_files > 1:
            return np.arange(len(jets)), (
                f"all jets (undecided: the model was trained on {n_files} files, not read to tell whether this is "
                "one of them)"
            )
        return np.arange(len(jets)), NOT_TRAINED_ON
    k = training_files.index(jets)
    if k is None:
        return np.arange(len(jets)), NOT_TRAINED_ON
    # the file read alone numbers its events from 0: shift them to where the file stood among the training files
    _, _, test = split_events(
        jets.event_index + training_files.first_events[k], model.config.seed, cfg.validation_fraction, cfg.test_fraction
    )
    return np.flatnonzero(test), f"{TEST_SPLIT[:-1]}; training file {k + 1} of {len(training_files.hashes)})"


def is_training_data(model: TrainedModel, jets: JetTable) -> bool:
    return data_hash(jets) == model.info.get("training", {}).get("data_hash")


def _training_split(model: TrainedModel, jets: JetTable) -> np.ndarray:
    cfg = model.config.training
    train, _, _ = split_events(jets.event_index, model.config.seed, cfg.validation_fraction, cfg.test_fraction)
    return jets.values[train]


def _training_path_candidates(model: TrainedModel) -> list[list[Path]]:
    """Where the training files may be now, most trusted first: the absolute paths recorded at training, then the
    recorded (often relative) paths taken relative to the working directory, the model directory and its parents."""
    training = model.info.get("training", {})
    recorded = [Path(s) for s in model.training_sources]
    candidates = [[Path(s) for s in training.get("source_paths", [])]]
    model_dir = Path(model.path).resolve() if model.path else None
    bases = [Path.cwd()] + ([model_dir, *model_dir.parents] if model_dir else [])
    candidates += [[p if p.is_absolute() else base / p for p in recorded] for base in bases]
    unique = {}
    for paths in candidates:
        if paths and all(p.is_file() for p in paths):
            unique.setdefault(tuple(p.resolve() for p in paths), list(paths))
    return list(unique.values())


def _training_selections(model: TrainedModel, evaluation: JetSelection) -> list[JetSelection]:
    """How to read the training files: as recorded at training (format and cuts; no cuts for older models), else with
    the format detected and the evaluation's cuts, else exactly as the evaluation data (its --preset/--mapping may be
    the training's too)."""
    training = model.info.get("training", {})
    evaluation_options = dataclasses.asdict(evaluation)
    detected = evaluation_options | {"preset": None, "mapping": None}
    if "selection" in training:
        recorded_preset = training.get("preset") if training.get("preset") in PRESETS else None
        options = [detected | training["selection"] | {"preset": recorded_preset}]
    else:  # a model from before the selection was recorded: most are trained without cuts
        options = [detected | {"pt_min": 0.0, "eta_max": None, "leading": None}]
    options += [detected, evaluation_options]
    unique = []
    for option in options:
        if option not in unique:
            unique.append(option)
    return [JetSelection(**option) for option in unique]


def _read_training_files(
    paths: Sequence[Path], selection: JetSelection, variables: tuple[str, ...]
) -> tuple[JetTable, TrainingFiles]:
    """The training files read one by one and joined as training joined them (event numbers continuing from file to
    file), and each file's hash and first event."""
    tables = [selection.load([str(p)], variables) for p in paths]
    first_events = tuple(int(n) for n in np.cumsum([0] + [t.n_events for t in tables[:-1]]))
    joined = dataclasses.replace(
        tables[0],
        values=np.concatenate([t.values for t in tables]),
        event_index=np.concatenate([t.event_index + first for t, first in zip(tables, first_events)]),
        n_events=sum(t.n_events for t in tables),
        sources=tuple(s for t in tables for s in t.sources),
    )
    resolved = tuple(str(Path(p).resolve()) for p in paths)
    return joined, TrainingFiles(tuple(data_hash(t) for t in tables), resolved, first_events)


def locate_training_jets(
    model: TrainedModel, evaluation: JetSelection, explicit: Sequence[str] = ()
) -> tuple[np.ndarray, str, TrainingFiles]:
    """The model's training split (what the baselines are fitted on), a sentence saying where it came from, and the
    training files' hashes and first events (to hold out their test split when they are evaluated).

    The files are found where training recorded them (``explicit`` instead, when given) and accepted only when the
    jets read hash to the recorded ``data_hash``: anything else would fit the baselines on different jets.
    ``evaluation``: how the evaluation data were read (preset, mapping, cuts).
    Raises UserError (one line) when no candidate matches.
    """
    expected = model.info.get("training", {}).get("data_hash")
    recorded = ", ".join(model.training_sources) or "(none recorded)"
    if explicit:
        missing = [p for p in explicit if not Path(p).is_file()]
        if missing:
            raise UserError(f"--training-data: no such file: {missing[0]}")
        candidates = [[Path(p) for p in explicit]]
    else:
        candidates = _training_path_candidates(model)
    tried = []
    for paths in candidates:
        for selection in _training_selections(model, evaluation):
            try:
                jets, training_files = _read_training_files(paths, selection, model.variables)
            except UserError as err:
                tried.append(f"{', '.join(map(str, paths))}: {err}")
                continue
            found = data_hash(jets)
            if found == expected:
                train = _training_split(model, jets)
                where = ", ".join(str(p.resolve()) for p in paths)
                source = f"the model's training split of {where} ({len(train)} jets, data hash {found} verified)"
                return train, source, training_files
            tried.append(f"{', '.join(map(str, paths))}: data hash {found}")
    why = "; ".join(tried) if tried else "no such file(s)"
    raise UserError(
        f"cannot find the jets {model.name} was trained on (recorded: {recorded}, data hash {expected}) to fit the "
        f"baselines on [{why}]; give them with --training-data FILE (refusing to fit the baselines on test data)"
    )


def find_training_files(model: TrainedModel, selection: JetSelection) -> TrainingFiles | None:
    """The layout of a model's several training files, to hold out their test splits; None for a model trained on
    one file (its data hash alone decides) or when its files cannot be found (its samples are then labelled
    undecided)."""
    if len(model.training_sources) < 2:
        return None
    try:
        return locate_training_jets(model, selection)[2]
    except UserError:
        return None


def sample_names(sources: Sequence[tuple[str, ...]]) -> list[str]:
    """A short name per sample (given by its source files): the file stem, or the whole path when two samples share
    a stem."""
    paths = [", ".join(files) for files in sources]
    stems = [Path(p).stem if len(files) == 1 else p for p, files in zip(paths, sources)]
    return stems if len(set(stems)) == len(stems) else paths


@dataclass
class EvaluatedSample:
    """One data file evaluated (in this process or in a Dask task): the sample's evaluation, its source files, and
    its training split when the file is the model's training data (the baselines are then fitted on it)."""

    sample: SampleEvaluation
    sources: tuple[str, ...]
    training_split: np.ndarray | None


def evaluate_sample(
    model: TrainedModel,
    jets: JetTable,
    name: str,
    targets: Targets | None,
    training_files: TrainingFiles | None = None,
) -> EvaluatedSample:
    """``training_files`` (from ``locate_training_jets``): to hold out the test split of each of a model's several
    training files."""
    check_variables(model.variables, jets)
    rows, held_out = _evaluation_rows(model, jets, training_files)
    truth = jets.values[rows].astype(np.float64)
    latent = model.encode(truth)
    reco = model.decode(latent)
    q = model.config.latent_quantizer
    sample = SampleEvaluation(
        name=name,
        data=", ".join(jets.sources),
        held_out=held_out,
        variables=model.variables,
        truth=truth,
        reco=reco,
        event=jets.event_index[rows],
        latent_at_edge_jets=int(((latent >= q.max) | (latent <= q.min)).any(axis=1).sum()),
    )
    if targets is not None:
        sample.pt_bins, sample.min_bin_jets = targets.pt_bins, targets.min_bin_jets
        sample.targets = check_targets(targets, model.variables, truth, reco, name)
    training = _training_split(model, jets) if is_training_data(model, jets) else None
    return EvaluatedSample(sample=sample, sources=tuple(jets.sources), training_split=training)


def check_evaluation_inputs(model: TrainedModel, others: Sequence[TrainedModel], targets: Targets | None) -> None:
    """Refuse, before any work, targets that check none of the model's variables and compared models that code
    other variables (their data would not be the model's)."""
    if targets is not None and not set(targets.variables) & set(model.variables):
        raise UserError(
            f"targets {targets.name} ({', '.join(targets.variables)}) check none of {model.name}'s variables "
            f"({', '.join(model.variables)})"
        )
    for other in others:
        if tuple(other.variables) != tuple(model.variables):
            raise UserError(
                f"the model expects variables {', '.join(other.variables)} but the data has "
                f"{', '.join(model.variables)}"
            )


def evaluate(
    model: TrainedModel,
    jets: JetTable | Sequence[JetTable],
    others: tuple[TrainedModel, ...] = (),
    targets: Targets | None = None,
    training_files: TrainingFiles | None = None,
    **baselines: Any,
) -> Evaluation:
    """Evaluate ``model`` on each sample in ``jets`` separately (one table per data file) and on all together.

    ``targets``: a ``Targets`` to check on every sample. ``others``: more autoencoders (e.g. the same architecture at
    other latent bits) to place on the rate-distortion curve, evaluated on the same held-out jets. ``baselines``:
    ``combine_samples``' ``baseline_train``, ``baseline_source`` and ``budgets``. ``training_files``: see
    ``evaluate_sample``.
    """
    tables = [jets] if isinstance(jets, JetTable) else list(jets)
    check_evaluation_inputs(model, others, targets)
    names = sample_names([t.sources or (t.preset,) for t in tables])
    evaluated = [evaluate_sample(model, t, name, targets, training_files) for t, name in zip(tables, names)]
    return combine_samples(model, evaluated, others=others, targets=targets, **baselines)


def evaluate_files(
    model_dir: str | Path,
    paths: Sequence[str],
    selection: JetSelection,
    targets: Targets | None,
    workers: int | None = None,
    scheduler: str | None = None,
    training_files: TrainingFiles | None = None,
) -> list[EvaluatedSample]:
    """Every file a sample, one Dask task per file (``cluster.dask_client``: a LocalCluster of ``workers``, or
    ``scheduler`` with a shared file system); ``combine_samples`` then gives exactly ``evaluate``'s result."""
    from .cluster import dask_client

    names = sample_names([(path,) for path in paths])
    with dask_client(workers, scheduler) as client:
        futures = [
            client.submit(
                _evaluate_file_task,
                str(Path(model_dir).resolve()),
                path,
                str(Path(path).resolve()),
                selection,
                name,
                targets,
                training_files,
                pure=False,
            )
            for path, name in zip(paths, names)
        ]
        return client.gather(futures)


@functools.lru_cache(maxsize=2)
def _cached_model(model_dir: str) -> TrainedModel:
    """One model per worker process: building its encoder and decoder takes seconds."""
    from .model import load_model

    return load_model(model_dir)


def _evaluate_file_task(
    model_dir: str,
    path: str,
    resolved: str,
    selection: JetSelection,
    name: str,
    targets: Targets | None,
    training_files: TrainingFiles | None,
) -> EvaluatedSample:
    model = _cached_model(model_dir)
    # read by absolute path (a worker may run elsewhere), reported by the path given, as in-process
    jets = dataclasses.replace(selection.load([resolved], model.variables), sources=(path,))
    return evaluate_sample(model, jets, name, targets, training_files)


def combine_samples(
    model: TrainedModel,
    evaluated: Sequence[EvaluatedSample],
    baseline_train: np.ndarray | None = None,
    budgets: tuple[int, ...] = DEFAULT_BUDGETS,
    others: tuple[TrainedModel, ...] = (),
    targets: Targets | None = None,
    baseline_source: str = "the model's training jets",
) -> Evaluation:
    """The evaluation of all samples together, from the samples evaluated one by one.

    Baselines are fitted on ``baseline_train`` (the model's training jets, described by ``baseline_source``);
    without it, on the training split of whichever sample is the model's training data, and without such a sample
    the baselines are refused rather than fitted on evaluation jets.
    """
    samples = [e.sample for e in evaluated]
    truth = np.concatenate([s.truth for s in samples])
    reco = np.concatenate([s.reco for s in samples])
    held_out = samples[0].held_out if len(samples) == 1 else "; ".join(f"{s.name}: {s.held_out}" for s in samples)
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
        training = [e for e in evaluated if e.training_split is not None]
        if not training:
            raise UserError(
                f"the baselines are fitted on {model.name}'s training jets and none of the evaluation data is its "
                "training file; give them (evaluate's --training-data) rather than fitting on the test data"
            )
        baseline_train = training[0].training_split
        baseline_source = f"training split of {training[0].sample.name} (the model's training data)"
    autoencoders = [{"model": model.name, "bits_per_jet": model.bits_per_jet, "total_nmse": float(nmse.sum())}]
    for other in others:
        other_nmse = nmse_per_variable(truth, other.reconstruct(truth), variance).sum()
        autoencoders.append({"model": other.name, "bits_per_jet": other.bits_per_jet, "total_nmse": float(other_nmse)})
    all_budgets = tuple(sorted(set(budgets) | {ae["bits_per_jet"] for ae in autoencoders}))
    budget_kinds = {c.kind for c in budget_codecs()}
    points = [
        p.to_json()
        for p in rate_distortion(baseline_train.astype(np.float64), truth, model.variables, budgets=all_budgets)
    ]
    images = None
    if tower_grid(model.variables):
        from .images import evaluate_images  # EMD and physics of tower images, image baselines

        images, points = evaluate_images(model, samples, baseline_train.astype(np.float64), points)
    # a baseline whose NMSE is infinite (None: it decodes a tower that is always empty to non-zero) never wins
    at_budget = [
        p
        for p in points
        if p["budget"] == model.bits_per_jet
        and p["possible"]
        and p["codec"] in budget_kinds
        and p["total_nmse"] is not None
    ]
    best = min(at_budget, key=lambda p: p["total_nmse"]) if at_budget else None
    total = float(nmse.sum())
    return Evaluation(
        model=model.name,
        model_hash=model.hash,
        data=[source for e in evaluated for source in e.sources],
        held_out=held_out,
        jets=len(truth),
        bits_per_jet=model.bits_per_jet,
        variables=per_variable,
        total_nmse=total,
        pt_bins=pt_bins,
        baselines=points,
        baseline_training=baseline_source,
        latent_at_edge_jets=sum(s.latent_at_edge_jets for s in samples),
        autoencoder_wins=None if best is None else bool(total < best["total_nmse"]),
        best_baseline_at_budget=best,
        autoencoders=sorted(autoencoders, key=lambda ae: ae["bits_per_jet"]),
        samples=samples,
        target_set=targets,
        images=images,
    )


# ---------------------------------------------------------------------------------------------------------------
# Reports: Markdown and plots
# ---------------------------------------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.4g}"


def _describe_check(check: TargetCheck) -> str:
    bias = "" if check.target_bias is None else f", median {check.bias:+.3g} (|·| ≤ {check.target_bias:g})"
    return f"{check.variable} [{check.scope}]: σ {check.sigma:.3g} (≤ {check.target_sigma:g}){bias}"


def _targets_markdown(evaluation: Evaluation, shown_failures: int = 8) -> list[str]:
    """Per sample: does it meet the targets, and every sample that does not, flagged with its failing checks."""
    if evaluation.target_set is None:
        return []
    name = evaluation.target_set.name
    failing = evaluation.failing_samples()
    verdict = "met on every sample" if not failing else "NOT MET on " + ", ".join(s.name for s in failing)
    lines = [
        "",
        f"## Physics targets `{name}`: {verdict}",
        "",
        "| sample | held-out jets | meets targets | worst ratio | failing variables |",
        "|---|---|---|---|---|",
    ]
    for s in evaluation.samples:
        bad = ", ".join(s.failing_variables())
        meets = "yes" if s.targets.meets_targets else "**NO**"
        lines.append(f"| {s.name} | {len(s.truth)} | {meets} | {s.targets.worst_ratio:.3g} | {bad} |")
    for s in failing:
        failures = sorted(s.targets.failures(), key=lambda c: -c.worst_ratio)
        listed = "; ".join(f"{_describe_check(c)} → {c.worst_ratio:.3g}×" for c in failures[:shown_failures])
        more = f"; and {len(failures) - shown_failures} more" if len(failures) > shown_failures else ""
        lines += ["", f"**{s.name} fails `{name}`** ({len(failures)} checks, worst first): {listed}{more}."]
    lines += ["", f"Checked overall and per truth-pt bin with ≥ {evaluation.target_set.min_bin_jets} jets."]
    return lines


def _samples_markdown(evaluation: Evaluation) -> list[str]:
    """One row per sample (σ per variable), when there is more than one."""
    if len(evaluation.samples) < 2:
        return []
    names = evaluation.samples[0].variables
    lines = [
        "",
        "## Per sample (σ, 68 % half-width)",
        "",
        "| sample | jets | held out | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for s in evaluation.samples:
        stats = s.variable_stats
        sigmas = " | ".join(_fmt(stats[n]["sigma"]) for n in names)
        lines.append(f"| {s.name} | {len(s.truth)} | {s.held_out} | {sigmas} |")
    return lines


def target_junit_cases(evaluation: Evaluation) -> list[JUnitCase]:
    """One JUnit test case per target check: variable × scope (overall, pt bin) × sample."""
    suite = evaluation.target_set.name
    return [
        JUnitCase(
            name=f"{check.variable} [{check.scope}]",
            classname=f"{suite}.{sample.name}",
            failure=None if check.passed else f"{_describe_check(check)}: worst ratio {check.worst_ratio:.3g} > 1",
            details=json.dumps(check.to_json(), sort_keys=True),
        )
        for sample in evaluation.samples
        for check in sample.targets.checks
    ]


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
    lines += _targets_markdown(evaluation) + _samples_markdown(evaluation)
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
    if evaluation.images is not None:
        from .images import image_markdown

        lines += image_markdown(evaluation.images)
    if evaluation.plots:
        lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in evaluation.plots]
        lines += ["", "Every evaluated jet, true and reconstructed: `reconstructed.root` (TTree `Jets`)."]
    return "\n".join(lines) + "\n"


# Panel sizes and fonts for grids of plots that stay readable when the image is scaled into a report.
_PANEL_INCHES = (5.2, 4.3)
_GRID_STYLE = {
    "font.size": 14,
    "axes.titlesize": 15,
    "axes.labelsize": 14,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 11,
}


def _panel_grid(plt, n: int, max_cols: int = 5):
    cols = min(n, max_cols)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(_PANEL_INCHES[0] * cols, _PANEL_INCHES[1] * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _pt_axis(ax, edges: tuple[float, ...]) -> tuple[float, float]:
    """Log pt axis with labels only at the bin edges (no crowded minor labels); returns its limits."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    finite = [e for e in edges if np.isfinite(e)]
    limits = (finite[0] * 0.85, finite[-1] * 2.4)  # room on the right for the open last bin
    ax.set_xscale("log")
    ax.set_xlim(*limits)
    ax.xaxis.set_major_locator(FixedLocator(finite))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("true jet $p_T$ [GeV]")
    return limits


def _bin_points(bins: list[dict[str, Any]], right_edge: float) -> tuple[np.ndarray, np.ndarray]:
    """Marker positions (geometric bin centres) and their x error bars (the bin edges; the open bin to the axis)."""
    lows = np.array([b["pt_low"] for b in bins])
    highs = np.array([right_edge if b["pt_high"] is None else b["pt_high"] for b in bins])
    centres = np.sqrt(lows * highs)
    return centres, np.vstack([centres - lows, highs - centres])


def _binned_points(sample: SampleEvaluation, name: str, quantity: str) -> tuple[np.ndarray, np.ndarray]:
    """Per pt bin of ``sample``: the median response or the resolution σ of ``name``, with its statistical error
    (of a median ~1.25 σ/√N, of a σ ~σ/√(2N))."""
    stats = [b["variables"][name] for b in sample.binned_stats]
    jets = np.array([st["jets"] for st in stats], dtype=float)
    sigma = np.array([st["sigma"] for st in stats])
    if quantity == "response":
        return np.array([st["response"] for st in stats]), 1.2533 * sigma / np.sqrt(jets)
    return sigma, sigma / np.sqrt(2 * jets)


def _plot_vs_pt(plt, evaluation: Evaluation, quantity: str, path: Path) -> None:
    """One panel per variable, one line per sample, the target band shaded: median response or resolution σ."""
    variables = evaluation.samples[0].variables
    targets = evaluation.target_set.variables if evaluation.target_set is not None else {}
    band_style = {"color": "tab:green", "alpha": 0.25, "linewidth": 0}
    fig, axes = _panel_grid(plt, len(variables))
    for ax, name in zip(axes, variables):
        limits = _pt_axis(ax, evaluation.samples[0].pt_bins)
        relative = residual_kind(name) == "relative"
        target = targets.get(name)
        shown = []
        for i, sample in enumerate(s for s in evaluation.samples if s.binned_stats):
            x, xerr = _bin_points(sample.binned_stats, limits[1] / 1.05)
            y, yerr = _binned_points(sample, name, quantity)
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="os^vDP"[i % 6] + "-", lw=1, ms=6, label=sample.name)
            shown.append(y)
        ax.margins(y=0.12)  # markers at the edge of the data range stay inside the frame
        title = name
        if quantity == "response":
            centre = 1.0 if relative else 0.0
            ax.axhline(centre, color="grey", linestyle=":", linewidth=1)
            if target is not None and target.bias is not None:
                ax.axhspan(centre - target.bias, centre + target.bias, label="target", **band_style)
                title += f"   (target |bias| ≤ {target.bias:g})"
            ax.set_ylabel("median reco / true" if relative else "median (reco − true)")
        else:
            values = np.concatenate(shown + [[target.sigma] if target is not None else []])
            values = values[values > 0]
            # σ spanning more than a factor 20 (e.g. far beyond the target): a log axis keeps every sample and the
            # band readable in one panel
            logarithmic = values.size > 0 and values.max() / values.min() > 20
            floor = values.min() / 2 if logarithmic else 0.0  # the band starts at the bottom of the frame
            if logarithmic:
                ax.set_yscale("log")
                ax.set_ylim(floor, values.max() * 2)
            else:
                ax.set_ylim(bottom=0)
            if target is not None:
                ax.axhspan(floor, target.sigma, label="target", **band_style)
                title += f"   (target σ ≤ {target.sigma:g})"
            ax.set_ylabel("σ (reco / true)" if relative else "σ (reco − true)")
        ax.set_title(title, loc="left")
    handles = {label: handle for ax in axes for handle, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(handles.values(), handles.keys(), loc="outside upper right", ncols=len(handles), frameon=False)
    what = "response (median)" if quantity == "response" else "resolution (σ, 68 % half-width)"
    band = f"; shaded: targets {evaluation.target_set.name}" if evaluation.target_set is not None else ""
    fig.suptitle(
        f"{evaluation.model} ({evaluation.bits_per_jet} bits/jet): {what} vs true jet $p_T${band}", x=0.01, ha="left"
    )
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_plots(evaluation: Evaluation, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    plt.rcParams.update(_GRID_STYLE)
    variables = evaluation.samples[0].variables
    fig, axes = _panel_grid(plt, len(variables))
    for ax, (j, name) in zip(axes, enumerate(variables)):
        per_sample = [residuals(name, s.truth[:, j], s.reco[:, j]) for s in evaluation.samples]
        pooled = np.concatenate(per_sample)
        lo, hi = np.percentile(pooled, [1, 99]) if pooled.size else (-1, 1)
        for s, r in zip(evaluation.samples, per_sample):
            ax.hist(r, bins=60, range=(lo, hi) if hi > lo else None, histtype="step", density=True, label=s.name)
        ax.set_xlabel(f"{name} ({residual_kind(name)} residual)")
        ax.set_ylabel("jets (normalised)")
    axes[0].legend(loc="best")
    paths = [out / "residuals.png"]
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    if any(s.binned_stats for s in evaluation.samples):
        for quantity in ("response", "resolution"):
            paths.append(out / f"{quantity}_vs_pt.png")
            _plot_vs_pt(plt, evaluation, quantity, paths[-1])

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
    names = [p.name for p in paths]
    if evaluation.images is not None:
        from .images import write_image_plots

        names += write_image_plots(evaluation.images, out, plt)
    return names


def write_reconstructed(evaluation: Evaluation, path: Path) -> None:
    """Every evaluated jet, true and reconstructed, so anyone can recompute every number with uproot.

    TTree ``Jets``: ``<v>`` (true, as read) and ``<v>_reco`` for each variable, ``event`` (the event's entry in its
    file) and ``sample`` (index into ``sample_names``, a TObjString holding the JSON list of sample names in the
    order of the evaluation's ``samples``).
    """
    import uproot

    variables = evaluation.samples[0].variables
    branches = {
        "event": np.concatenate([s.event for s in evaluation.samples]).astype(np.int64),
        "sample": np.concatenate([np.full(len(s.truth), i, np.int32) for i, s in enumerate(evaluation.samples)]),
    }
    for j, name in enumerate(variables):
        # the truth was read as float32 (widening it added nothing); the reconstruction is kept at full precision
        branches[name] = np.concatenate([s.truth[:, j] for s in evaluation.samples]).astype(np.float32)
        branches[f"{name}_reco"] = np.concatenate([s.reco[:, j] for s in evaluation.samples])
    with uproot.recreate(path) as root_file:
        root_file["Jets"] = branches
        root_file["sample_names"] = json.dumps([s.name for s in evaluation.samples])


def write_report(evaluation: Evaluation, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    evaluation.plots = write_plots(evaluation, out)
    write_reconstructed(evaluation, out / "reconstructed.root")
    (out / "evaluation.md").write_text(render_markdown(evaluation))
    (out / "evaluation.json").write_text(json.dumps(evaluation.to_json(), indent=2, sort_keys=True) + "\n")
