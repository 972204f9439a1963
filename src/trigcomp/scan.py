"""``trigcomp scan``: design-space scans on Dask — every point trained, evaluated and costed, then the Pareto front.

A scan file (TOML) names a base model config and what to vary::

    base = "jet4.toml"                  # relative to this file's directory
    [grid]                              # every combination is one point
    "latent.bits" = [4, 6]
    "encoder.weight_bits" = [6, 8]
    [fixed]                             # the same override for every point
    "training.epochs" = 3

or, for spaces too large for a grid, ``[search] mode = "random" | "bayes"`` with ``points``, ``seed``, ``batch`` and
a ``[search.space]`` table (a list = choices; ``{low, high, log, step}`` = a range), sampled with optuna.

Each point runs the verbs' own stage functions on a Dask worker — ``model.train``, ``evaluate.evaluate``,
``targets.check_targets`` and ``rtl.estimate`` (da4ml; Yosys with ``yosys=True``) — and returns its result and model
files to the client, which alone writes ``DIR/points/<key>/`` (so workers need no shared file system). ``key`` hashes
the point's inputs (config after overrides, data, targets, estimate options, trigcomp version): a repeated or
interrupted scan finds its points there and trains only the missing ones. A failed point is recorded with its error
and retried by the next ``--resume``; the scan goes on.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .cluster import DEFAULT_WORKERS, dask_client, one_line
from .config import ModelConfig, config_from_dict, read_toml
from .errors import CheckFailed, UserError
from .records import JetTable
from .targets import Targets

SCAN_FORMAT = "trigcomp-scan/1"
MODES = ("grid", "random", "bayes")
DEFAULT_BATCH = 4
POINTS_DIR = "points"
OUTPUT_FILES = ("scan.json", "pareto.json", "pareto.png", "summary.md")
#: Pareto objectives, all minimised; "quality" is worst_ratio with targets, total_nmse without.
OBJECTIVES = ("quality", "bits_per_jet", "LUT", "latency_ns")
#: Per-point keys of scan.json (a contract: issue 17).
POINT_KEYS = (
    "overrides",
    "status",
    "bits_per_jet",
    "meets_targets",
    "worst_ratio",
    "total_nmse",
    "LUT",
    "FF",
    "DSP",
    "latency_ns",
)


def scan_keys() -> list[str]:
    """Config keys a scan may vary: ``seed`` and every ``section.field`` (not ``name`` or ``variables``: the data
    are loaded once for the whole scan)."""
    sections = {name: value for name, value in asdict(ModelConfig()).items() if isinstance(value, dict)}
    return ["seed"] + [f"{section}.{key}" for section, values in sections.items() for key in values]


# ---------------------------------------------------------------------------------------------------------------
# The scan file
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    """One axis of a random/Bayesian search: a list of choices, or an int/float range."""

    key: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    def suggest(self, trial, integer: bool) -> Any:
        if self.choices is not None:
            # optuna wants hashable scalar choices; lists (e.g. hidden widths) are chosen by index
            index = trial.suggest_categorical(self.key, list(range(len(self.choices))))
            return self.choices[index]
        if integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def to_json(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step}


@dataclass(frozen=True)
class ScanSpec:
    path: Path
    base_path: Path
    base: dict[str, Any]  # the base config as read (raw TOML)
    fixed: dict[str, Any]
    grid: dict[str, list]
    mode: str = "grid"
    points: int = 0  # random/bayes: how many points in total
    seed: int = 0
    batch: int = DEFAULT_BATCH
    space: dict[str, Dimension] = field(default_factory=dict)

    def raw_config(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The base config (as TOML gives it) with the fixed and the point's overrides applied."""
        raw = copy.deepcopy(self.base)
        for key, value in (self.fixed | overrides).items():
            section, _, name = key.rpartition(".")
            target = raw.setdefault(section, {}) if section else raw
            target[name] = value
        return raw

    def config(self, overrides: dict[str, Any]) -> ModelConfig:
        """The validated config of a point (UserError when the overrides make it invalid)."""
        return config_from_dict(self.raw_config(overrides))

    def grid_points(self) -> list[dict[str, Any]]:
        keys = list(self.grid)
        return [dict(zip(keys, values)) for values in itertools.product(*(self.grid[k] for k in keys))]

    def to_json(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "base": str(self.base_path),
            "mode": self.mode,
            "grid": self.grid,
            "fixed": self.fixed,
            "search": None
            if self.mode == "grid"
            else {
                "points": self.points,
                "seed": self.seed,
                "batch": self.batch,
                "space": {k: d.to_json() for k, d in self.space.items()},
            },
        }


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"latent": {"bits": [4]}}`` (unquoted dotted TOML keys) and ``{"latent.bits": [4]}`` mean the same."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and not {"low", "high"} & set(value):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_key(table: str, key: str) -> None:
    if key not in scan_keys():
        raise UserError(f"unknown {table} key {key!r}; allowed keys: {', '.join(scan_keys())}")


def _dimension(key: str, raw: Any) -> Dimension:
    if isinstance(raw, list):
        if not raw:
            raise UserError(f"[search.space] {key!r} has no choices")
        return Dimension(key, choices=tuple(raw))
    if isinstance(raw, dict):
        unknown = sorted(set(raw) - {"low", "high", "log", "step"})
        ok = not unknown and all(isinstance(raw.get(k), (int, float)) for k in ("low", "high"))
        if ok and raw["low"] < raw["high"] and (not raw.get("log") or raw["low"] > 0):
            return Dimension(key, low=raw["low"], high=raw["high"], log=bool(raw.get("log")), step=raw.get("step"))
    raise UserError(
        f"[search.space] {key!r} must be a list of choices or {{low = A, high = B[, log = true][, step = S]}} "
        f"with low < high (and low > 0 with log), got {raw!r}"
    )


def load_scan(path: str | Path) -> ScanSpec:
    """Read and validate a scan file; ``base`` is relative to the scan file's directory."""
    path = Path(path)
    raw = read_toml(path, "scan")
    unknown = sorted(set(raw) - {"base", "grid", "fixed", "search"})
    if unknown:
        raise UserError(f"unknown scan file key {unknown[0]!r}; allowed: base, grid, fixed, search")
    if not isinstance(raw.get("base"), str):
        raise UserError(f'scan file {path} needs base = "CONFIG.toml" (a model config, relative to the scan file)')
    base_path = (path.parent / raw["base"]).resolve()
    if not base_path.is_file():
        raise UserError(f"base config {raw['base']!r} not found (looked for {base_path}, relative to the scan file)")
    base = read_toml(base_path, "base config")
    config_from_dict(base)  # a bad base config is reported as such, before any override
    tables = {}
    for table in ("grid", "fixed"):
        if not isinstance(raw.get(table, {}), dict):
            raise UserError(f"[{table}] in {path} must be a table")
        tables[table] = _flatten(raw.get(table, {}))
        for key in tables[table]:
            _check_key(table, key)
    for key, values in tables["grid"].items():
        if not isinstance(values, list) or not values:
            raise UserError(f"[grid] {key!r} must be a non-empty list of values, got {values!r}")
    search = raw.get("search", {})
    if not isinstance(search, dict):
        raise UserError("[search] must be a table")
    unknown = sorted(set(search) - {"mode", "points", "seed", "batch", "space"})
    if unknown:
        raise UserError(f"unknown [search] key {unknown[0]!r}; allowed: mode, points, seed, batch, space")
    mode = search.get("mode", "grid")
    if mode not in MODES:
        raise UserError(f"[search] mode must be one of {', '.join(MODES)}, got {mode!r}")
    overlap = sorted(set(tables["grid"]) & set(tables["fixed"]))
    if overlap:
        raise UserError(f"key {overlap[0]!r} is in both [grid] and [fixed]")
    spec_args: dict[str, Any] = {"path": path, "base_path": base_path, "base": base, "fixed": tables["fixed"]}
    if mode == "grid":
        if "space" in search or "points" in search:
            raise UserError('[search] points/space need mode = "random" or "bayes"')
        if not tables["grid"]:
            raise UserError(f"scan file {path} has an empty [grid]: nothing to scan")
        return ScanSpec(grid=tables["grid"], **spec_args)
    if tables["grid"]:
        raise UserError(f"mode {mode!r} samples [search.space]; move the [grid] keys there (a list = choices)")
    points, seed, batch = search.get("points"), search.get("seed", 0), search.get("batch", DEFAULT_BATCH)
    for name, value in (("points", points), ("batch", batch), ("seed", seed)):
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "seed" else 1):
            raise UserError(f"[search] {name} must be a {'non-negative' if name == 'seed' else 'positive'} integer")
    space = _flatten(search.get("space", {}))
    if not space:
        raise UserError(f"mode {mode!r} needs a non-empty [search.space] table")
    for key in space:
        _check_key("[search.space]", key)
        if key in tables["fixed"]:
            raise UserError(f"key {key!r} is in both [search.space] and [fixed]")
    dims = {key: _dimension(key, value) for key, value in space.items()}
    return ScanSpec(grid={}, mode=mode, points=points, seed=seed, batch=batch, space=dims, **spec_args)


# ---------------------------------------------------------------------------------------------------------------
# One point (runs on a Dask worker)
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointOptions:
    clock_ns: float = 5.0
    yosys: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"clock_ns": self.clock_ns, "yosys": self.yosys}


def _cost(model, options: PointOptions) -> dict[str, Any]:
    """Area and latency: da4ml's estimate, or Yosys synth_xilinx of the pipelined Verilog with ``yosys``."""
    from .rtl import estimate, synthesize, write_rtl_project

    encoder = model.firmware_encoder()
    if options.yosys:
        with tempfile.TemporaryDirectory(prefix="trigcomp-scan-rtl-") as tmp:
            project = write_rtl_project(encoder, Path(tmp) / "rtl", clock_ns=options.clock_ns)
            synthesis = synthesize(project)
        area, source = (synthesis.lut, synthesis.ff, synthesis.dsp), "yosys"
        latency_ns = project.latency_cycles * options.clock_ns
    else:
        est = estimate(encoder, clock_ns=options.clock_ns)
        area = tuple(est.resources[kind] for kind in ("LUT", "FF", "DSP"))
        latency_ns, source = est.latency_ns, est.source
    return dict(zip(("LUT", "FF", "DSP"), area)) | {"latency_ns": latency_ns, "area_source": source}


def _one_thread_per_point() -> None:
    """A Dask worker thread runs one point; TensorFlow's own thread pools (one thread per core each) would make
    N workers oversubscribe the cores N times. Only possible before TensorFlow's first op in the process."""
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)  # retracing notes from the many small predict() calls
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already runs in this process (a thread cluster): its pools stay
        pass


def run_point(config_raw: dict[str, Any], jets: JetTable, targets: Targets | None, options: PointOptions) -> dict:
    """Train, evaluate and cost one config with the verbs' stage functions; returns the result and the model's
    files (text), so the client can store them without a file system shared with the workers."""
    from .evaluate import evaluate
    from .model import save_model, split_events, train
    from .targets import check_targets

    _one_thread_per_point()
    seconds = {}
    clock = time.perf_counter()
    config = config_from_dict(config_raw)
    model = train(config, jets)
    seconds["train"] = time.perf_counter() - clock

    clock = time.perf_counter()
    evaluation = evaluate(model, jets, budgets=())
    result: dict[str, Any] = {
        "bits_per_jet": model.bits_per_jet,
        "total_nmse": evaluation.total_nmse,
        "best_baseline_nmse": (evaluation.best_baseline_at_budget or {}).get("total_nmse"),
        "meets_targets": None,
        "worst_ratio": None,
    }
    if targets is not None:
        cfg = config.training
        _, _, test = split_events(jets.event_index, config.seed, cfg.validation_fraction, cfg.test_fraction)
        truth = jets.values[test].astype(np.float64)
        report = check_targets(targets, model.variables, truth, model.reconstruct(truth), sample="test split")
        result |= {
            "meets_targets": report.meets_targets,
            "worst_ratio": report.worst_ratio,
            "failures": sorted({c.variable for c in report.failures()}),
        }
    seconds["evaluate"] = time.perf_counter() - clock

    clock = time.perf_counter()
    result |= _cost(model, options)
    seconds["cost"] = time.perf_counter() - clock
    with tempfile.TemporaryDirectory(prefix="trigcomp-scan-model-") as tmp:
        saved = save_model(model, Path(tmp) / "model")
        files = {p.name: p.read_text() for p in sorted(saved.path.iterdir())}
    return result | {
        "model_hash": model.hash,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "model_files": files,
    }


# ---------------------------------------------------------------------------------------------------------------
# The scan (client side)
# ---------------------------------------------------------------------------------------------------------------


def data_key(jets: JetTable) -> str:
    from .model import data_hash

    digest = hashlib.sha256(data_hash(jets).encode())
    digest.update(np.ascontiguousarray(jets.event_index, dtype=np.int64).tobytes())  # the split depends on it
    return digest.hexdigest()[:16]


def point_key(config: ModelConfig, data: str, targets: Targets | None, options: PointOptions) -> str:
    payload = {
        "config": config.to_dict(),
        "data": data,
        "targets": targets.to_json() if targets else None,
        "options": options.to_json(),
        "trigcomp": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=list).encode()).hexdigest()[:16]


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_text(path: Path, text: str) -> None:
    _write_atomic(path, lambda tmp: tmp.write_text(text))


class PointStore:
    """``DIR/points/<key>/``: point.json and the model dir, each point written whole (temporary dir + rename)."""

    def __init__(self, root: Path):
        self.root = root / POINTS_DIR
        self.root.mkdir(parents=True, exist_ok=True)

    def load(self, key: str) -> dict | None:
        path = self.root / key / "point.json"
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return None  # a damaged cache entry is computed again

    def save(self, key: str, result: dict) -> dict:
        files = result.pop("model_files")
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.root))
        try:
            (tmp / "model").mkdir()
            for name, text in files.items():
                (tmp / "model" / name).write_text(text)
            (tmp / "point.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
            shutil.rmtree(self.root / key, ignore_errors=True)
            tmp.chmod(0o755)  # mkdtemp's 0700 is for the unfinished copy only
            tmp.rename(self.root / key)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return result


def prepare_scan_dir(out: Path, resume: bool, force: bool) -> None:
    """Rule: a new DIR is created; an existing scan DIR needs --resume (cached points kept) or --force (removed
    and started over); an existing DIR that is not a scan is refused without --force; a symlink or a file never."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UserError(
            f"refusing to use {out} as a scan directory: it is a {'symbolic link' if out.is_symlink() else 'file'}"
        )
    if out.exists():
        is_scan = (out / POINTS_DIR).is_dir()
        if force:
            shutil.rmtree(out)
        elif not (resume and is_scan):
            hint = "pass --resume to continue it or --force to start over" if is_scan else "pass --force to replace it"
            raise UserError(f"{out} already exists ({'a scan' if is_scan else 'not a scan directory'}); {hint}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create {out}: {err.strerror}") from None


class _Cluster:
    """The Dask client, started on first use: a resumed scan whose points are all cached starts no cluster."""

    def __init__(self, stack: ExitStack, workers: int, scheduler: str | None, processes: bool):
        self.stack, self.workers, self.scheduler, self.processes = stack, workers, scheduler, processes
        self.client = None
        self.jets = None

    def submit(self, jets: JetTable, key: str, config_raw: dict, targets: Targets | None, options: PointOptions):
        if self.client is None:
            self._start(jets)
        return self.client.submit(
            run_point, config_raw, self.jets, targets, options, key=f"trigcomp-point-{key}", pure=False
        )

    def _start(self, jets: JetTable) -> None:
        self.client = self.stack.enter_context(dask_client(self.workers, self.scheduler, self.processes))
        self.jets = self.client.scatter(jets, broadcast=True)


@dataclass
class ScanResult:
    out: Path
    spec: ScanSpec
    targets: Targets | None
    points: list[dict[str, Any]]
    pareto: list[dict[str, Any]]
    computed: int
    seconds: float

    @property
    def counts(self) -> dict[str, int]:
        ok = sum(p["status"] == "ok" for p in self.points)
        return {
            "points": len(self.points),
            "ok": ok,
            "failed": len(self.points) - ok,
            "cached": sum(p["cached"] for p in self.points),
            "computed": self.computed,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SCAN_FORMAT,
            "out": str(self.out),
            "spec": self.spec.to_json(),
            "targets": self.targets.name if self.targets else None,
            "quality": "worst_ratio" if self.targets else "total_nmse",
            "trigcomp": __version__,
            "counts": self.counts,
            "seconds": round(self.seconds, 1),
            "points": self.points,
            "pareto": [p["key"] for p in self.pareto],
        }


def _record(key: str | None, overrides: dict, result: dict | None, error: str | None, cached: bool) -> dict[str, Any]:
    point = {k: None for k in POINT_KEYS} | {"key": key, "overrides": overrides, "cached": cached}
    if result is None:
        return point | {"status": "failed", "error": error}
    return (
        point
        | {k: v for k, v in result.items() if k != "model_files"}
        | {"status": "ok", "model": f"{POINTS_DIR}/{key}/model"}
    )


def _progress(total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="scan", unit="point", file=sys.stderr, disable=not sys.stderr.isatty())


def run_scan(
    spec: ScanSpec,
    jets: JetTable,
    out: Path,
    targets: Targets | None = None,
    workers: int = DEFAULT_WORKERS,
    scheduler: str | None = None,
    resume: bool = False,
    force: bool = False,
    options: PointOptions = PointOptions(),
    processes: bool = True,
) -> ScanResult:
    """Run every point of ``spec`` on Dask (a LocalCluster of ``workers`` processes, or ``scheduler``) and write
    scan.json, pareto.json, pareto.png and summary.md into ``out``. CheckFailed when every point failed."""
    if scheduler is None and workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    if not (math.isfinite(options.clock_ns) and options.clock_ns > 0):
        raise UserError(f"--clock-ns must be a positive number of ns, got {options.clock_ns}")
    if options.yosys:
        from .rtl.simulate import require_tool

        require_tool("yosys")
    if targets is not None:
        targets = targets.for_variables(jets.variables)
        if not targets.variables:
            raise UserError(f"targets {targets.name!r} name none of the model's variables {', '.join(jets.variables)}")
    grid = spec.grid_points() if spec.mode == "grid" else []
    for overrides in grid:  # every grid config is checked before anything starts
        try:
            spec.config(overrides)
        except UserError as err:
            raise UserError(f"grid point {json.dumps(overrides)}: {err}") from None
    out = Path(out)
    fresh = force or not out.exists()
    prepare_scan_dir(out, resume, force)
    start = time.perf_counter()
    store = PointStore(out)
    # The outputs are written while the cluster still runs: its shutdown (which can time out under load) comes
    # after them and cannot cost them.
    with ExitStack() as stack:
        cluster = _Cluster(stack, workers, scheduler, processes)
        try:
            points, computed = _run_points(spec, grid, jets, store, targets, options, cluster)
        except BaseException:
            if fresh and not any(store.root.iterdir()):  # nothing to resume from: leave nothing behind
                shutil.rmtree(out, ignore_errors=True)
            raise
        pareto = pareto_front(points, "worst_ratio" if targets else "total_nmse")
        on_front = {id(p) for p in pareto}
        for point in points:
            point["pareto"] = id(point) in on_front
        result = ScanResult(out, spec, targets, points, pareto, computed, time.perf_counter() - start)
        write_outputs(result)
        if not result.counts["ok"]:
            raise CheckFailed(
                f"every point of the scan failed (first error: {points[0].get('error')}); see {out}/scan.json"
            )
    return result


def _run_points(
    spec: ScanSpec,
    grid: list[dict[str, Any]],
    jets: JetTable,
    store: PointStore,
    targets: Targets | None,
    options: PointOptions,
    cluster: _Cluster,
) -> tuple[list[dict[str, Any]], int]:
    """Every point of the scan, from the cache or computed on Dask: (point records in scan order, computed)."""
    data = data_key(jets)
    computed = 0

    with _progress(len(grid) or spec.points) as bar:

        def evaluate_batch(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
            """The points of ``batch`` (override dicts), cached or computed, in the order given."""
            nonlocal computed
            from distributed import as_completed

            records: dict[int, dict] = {}
            waiting: dict[str, list[int]] = {}  # point key -> indices in batch (a search may ask twice)
            futures = {}
            for index, overrides in enumerate(batch):
                try:
                    config = spec.config(overrides)
                except UserError as err:  # a sampled combination the config refuses (grid points were checked)
                    records[index] = _record(None, overrides, None, str(err), cached=False)
                    bar.update()
                    continue
                key = point_key(config, data, targets, options)
                cached = store.load(key)
                if cached is not None:
                    records[index] = _record(key, overrides, cached, None, cached=True)
                    bar.update()
                elif key not in waiting:
                    waiting[key] = [index]
                    futures[cluster.submit(jets, key, spec.raw_config(overrides), targets, options)] = key
                else:
                    waiting[key].append(index)
            for future in as_completed(list(futures)) if futures else ():
                key = futures[future]
                computed += 1
                try:
                    result, error = store.save(key, future.result()), None
                except (KeyboardInterrupt, SystemExit):
                    raise
                except UserError as err:
                    result, error = None, str(err)
                except Exception as err:  # noqa: BLE001 - any failure of one point is recorded; the scan goes on
                    result, error = None, one_line(err)
                for index in waiting[key]:
                    records[index] = _record(key, batch[index], result, error, cached=False)
                    bar.update()
            return [records[i] for i in range(len(batch))]

        if spec.mode == "grid":
            points = evaluate_batch(grid)
        else:
            points = _search(spec, evaluate_batch, quality_key="worst_ratio" if targets else "total_nmse")
    return points, computed


def _search(spec: ScanSpec, evaluate_batch, quality_key: str) -> list[dict[str, Any]]:
    """Random or Bayesian (optuna TPE, multi-objective) search, in batches of ``spec.batch`` points told back in
    ask order: with the same seed and the same (cached) results a rerun asks for the same points again."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.RandomSampler(seed=spec.seed)
        if spec.mode == "random"
        else optuna.samplers.TPESampler(seed=spec.seed)
    )
    study = optuna.create_study(directions=["minimize"] * 3, sampler=sampler)
    defaults = ModelConfig().to_dict()
    integer = {}
    for key in spec.space:
        section, _, name = key.rpartition(".")
        integer[key] = isinstance((defaults[section] if section else defaults)[name], int)
    points: list[dict[str, Any]] = []
    while len(points) < spec.points:
        trials = [study.ask() for _ in range(min(spec.batch, spec.points - len(points)))]
        batch = [{k: d.suggest(trial, integer[k]) for k, d in spec.space.items()} for trial in trials]
        for trial, point in zip(trials, evaluate_batch(batch)):
            if point["status"] == "ok":
                study.tell(trial, [point[quality_key], point["bits_per_jet"], point["LUT"]])
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            points.append(point)
    return points


# ---------------------------------------------------------------------------------------------------------------
# Pareto front and outputs
# ---------------------------------------------------------------------------------------------------------------


def _objectives(point: dict[str, Any], quality_key: str) -> tuple[float, ...]:
    return tuple(float(point[quality_key] if name == "quality" else point[name]) for name in OBJECTIVES)


def pareto_front(points: list[dict[str, Any]], quality_key: str) -> list[dict[str, Any]]:
    """The successful points no other point beats: lower or equal in every objective (quality, bits per jet, LUT,
    latency) and lower in one. Equal points are all kept. Sorted by bits per jet, then LUT."""
    ok = [p for p in points if p["status"] == "ok"]
    values = [_objectives(p, quality_key) for p in ok]

    def dominated(v):
        return any(all(a <= b for a, b in zip(w, v)) and w != v for w in values)

    front = [p for p, v in zip(ok, values) if not dominated(v)]
    return sorted(front, key=lambda p: (p["bits_per_jet"], p["LUT"]))


def _plot(result: ScanResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    ok = [p for p in result.points if p["status"] == "ok"]
    fig, ax = plt.subplots(figsize=(9, 6.5))
    if result.targets:
        for met, style in ((True, {"marker": "o", "color": "tab:green"}), (False, {"marker": "x", "color": "tab:red"})):
            chosen = [p for p in ok if p["meets_targets"] is met]
            label = f"{'meets' if met else 'misses'} {result.targets.name} targets"
            ax.scatter([p["bits_per_jet"] for p in chosen], [p["LUT"] for p in chosen], s=70, label=label, **style)
    else:
        shown = ax.scatter(
            [p["bits_per_jet"] for p in ok],
            [p["LUT"] for p in ok],
            c=[p["total_nmse"] for p in ok],
            cmap="viridis",
            s=70,
            label="point (colour: total NMSE)",
        )
        fig.colorbar(shown, ax=ax, label="total NMSE (no targets given)")
    front = sorted(result.pareto, key=lambda p: (p["bits_per_jet"], p["LUT"]))
    ax.scatter(
        [p["bits_per_jet"] for p in front],
        [p["LUT"] for p in front],
        s=260,
        facecolors="none",
        edgecolors="black",
        label="Pareto front",
    )
    ax.set_xlabel("bits per jet")
    ax.set_ylabel(f"LUT ({ok[0]['area_source'] if ok else 'estimate'})")
    ax.legend(fontsize=13)
    fig.tight_layout()
    fig.savefig(path, dpi=90, format="png")
    plt.close(fig)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4g}"
    return str(value)


def render_summary(result: ScanResult) -> str:
    counts = result.counts
    quality = "worst_ratio" if result.targets else "total_nmse"
    lines = [
        f"# trigcomp scan: {result.spec.mode}, {counts['points']} points",
        "",
        f"- base config: `{result.spec.base_path}`; fixed: {json.dumps(result.spec.fixed) or '{}'}",
        (
            f"- {counts['ok']} ok, {counts['failed']} failed; {counts['cached']} from the cache, "
            f"{counts['computed']} run now; {result.seconds:.0f} s"
        ),
        f"- quality: {'targets ' + repr(result.targets.name) + ' (worst ratio ≤ 1 meets them)' if result.targets else 'total NMSE (no --targets)'};"
        " area and latency: "
        + (
            "Yosys synth_xilinx"
            if result.points and result.points[0].get("area_source") == "yosys"
            else "da4ml cost model (an estimate, not synthesis)"
        ),
        f"- Pareto front (minimising {quality}, bits per jet, LUT, latency): {len(result.pareto)} points, marked ★",
        "",
        "| | overrides | status | bits/jet | meets targets | worst ratio | total NMSE | LUT | FF | DSP | latency [ns] |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ordered = sorted(result.points, key=lambda p: (p["status"] != "ok", p["bits_per_jet"] or 0, p["LUT"] or 0))
    for p in ordered:
        overrides = ", ".join(f"{k}={json.dumps(v)}" for k, v in p["overrides"].items())
        status = p["status"] if p["status"] == "ok" else f"failed: {p.get('error')}"
        cells = [
            _fmt(p[k])
            for k in ("bits_per_jet", "meets_targets", "worst_ratio", "total_nmse", "LUT", "FF", "DSP", "latency_ns")
        ]
        lines.append(f"| {'★' if p.get('pareto') else ''} | {overrides} | {status} | " + " | ".join(cells) + " |")
    lines += ["", "![bits per jet vs area](pareto.png)", ""]
    return "\n".join(lines)


def write_outputs(result: ScanResult) -> None:
    """scan.json, pareto.json, pareto.png, summary.md: each written to a temporary file and renamed into place."""
    out = result.out
    payload = result.to_json()
    _write_text(out / "scan.json", json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    pareto = {"quality": payload["quality"], "objectives": list(OBJECTIVES), "points": result.pareto}
    _write_text(out / "pareto.json", json.dumps(pareto, indent=2, sort_keys=True, default=str) + "\n")
    _write_atomic(out / "pareto.png", lambda tmp: _plot(result, tmp))
    _write_text(out / "summary.md", render_summary(result))
