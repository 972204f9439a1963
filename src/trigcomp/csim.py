"""C-simulation bit-accuracy harness: the project's C++ (g++ -O2) against the QKeras encoder, word for word.

The test bench in ``firmware/trigcomp_tb.cpp`` streams jets (float64 rows) through ``trigcomp_top`` and writes
the packed link words; they are unpacked here and compared as integers with the QKeras latent. On a mismatch the
first bad jet is traced layer by layer (hls4ml trace hooks vs QKeras intermediate outputs).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .anomaly import check_project_scores
from .compare import compare_words, lsb_distance
from .errors import UserError
from .hls import HlsProject
from .model import EncoderModel, exact_arithmetic
from .records import SCHEMA_VERSION
from .stimulus import make_inputs
from .weights_proof import prove_weights

# Weights are read at run time relative to the project dir (the test bench runs there), so one cached binary
# serves every copy of a project.
# -march=native: binaries are cached per machine anyway, and it is ~15 % faster on ap_fixed arithmetic.
CXX_FLAGS = ("-O2", "-march=native", "-std=c++14", "-w", '-DWEIGHTS_DIR="firmware/weights"')
CHUNK_JETS = 50_000


def cache_dir() -> Path:
    return Path(os.environ.get("TRIGCOMP_CACHE", Path.home() / ".cache" / "trigcomp")) / "csim"


# ---------------------------------------------------------------------------------------------------------------
# Building and running the test bench
# ---------------------------------------------------------------------------------------------------------------


def _compile_units(project: HlsProject) -> list[Path]:
    """The .cpp files of the test bench: the manifest's ``compile_units`` (codec projects), else the encoder's."""
    return [project.path / unit for unit in project.compile_units]


def _sources(project: HlsProject) -> list[Path]:
    """Everything the test bench is built from: firmware/ and the test bench's own files in the project root."""
    firmware = project.path / "firmware"
    files = [p for p in firmware.rglob("*") if p.is_file() and p.suffix in (".h", ".cpp", ".txt")]
    files += [p for p in project.path.glob("*") if p.is_file() and p.suffix in (".h", ".cpp")]
    return sorted(set(files + _compile_units(project)))


def build_testbench(project: HlsProject) -> tuple[Path, bool]:
    """Compile the test bench (cached by a hash of every source and the flags); returns (binary, was_cached)."""
    compiler = shutil.which("g++")
    if compiler is None:
        raise UserError("g++ is not on PATH: install a C++ compiler (apt-get install g++)")
    digest = hashlib.sha256(" ".join(CXX_FLAGS).encode())
    for source in _sources(project):
        digest.update(str(source.relative_to(project.path)).encode() + b"\0" + source.read_bytes())
    binary = cache_dir() / digest.hexdigest()[:20] / "trigcomp_tb"
    if binary.is_file():
        return binary, True
    binary.parent.mkdir(parents=True, exist_ok=True)
    command = [
        compiler,
        *CXX_FLAGS,
        f"-I{project.path}",
        f"-I{project.path / 'firmware'}",
        f"-I{project.path / 'firmware' / 'ap_types'}",
        *(str(unit) for unit in _compile_units(project)),
        "-o",
        str(binary.with_suffix(".tmp")),
    ]
    completed = subprocess.run(command, check=False, capture_output=True, text=True)
    if completed.returncode != 0:
        errors = [line for line in completed.stderr.splitlines() if "error" in line]
        raise UserError(
            f"g++ failed to compile {project.path}: {(errors or completed.stderr.splitlines() or ['?'])[0]}"
        )
    binary.with_suffix(".tmp").rename(binary)
    return binary, False


def run_testbench(binary: Path, jets: np.ndarray, project: HlsProject, processes: int = 1, progress=None):
    """Run jets through the compiled firmware in chunks on ``processes`` workers; returns link words (uint64)."""
    jets = np.ascontiguousarray(jets, dtype=np.float64)
    chunks = [jets[i : i + CHUNK_JETS] for i in range(0, len(jets), CHUNK_JETS)]
    with tempfile.TemporaryDirectory(prefix="trigcomp-csim-") as tmp:

        def run_chunk(index: int) -> np.ndarray:
            src, dst = Path(tmp) / f"in{index}.f64", Path(tmp) / f"out{index}.u64"
            chunks[index].tofile(src)
            completed = subprocess.run(
                [str(binary), "run", str(src), str(dst)], check=False, capture_output=True, text=True, cwd=project.path
            )
            if completed.returncode != 0:
                raise UserError(f"the firmware test bench failed: {completed.stderr.strip()[:200]}")
            if progress is not None:
                progress.update(len(chunks[index]))
            return np.fromfile(dst, dtype=np.uint64).reshape(-1, project.n_link_words)

        with ThreadPoolExecutor(max_workers=max(1, processes)) as pool:
            words = list(pool.map(run_chunk, range(len(chunks))))
    return np.concatenate(words) if words else np.zeros((0, project.n_link_words), dtype=np.uint64)


def unpack_latent(words: np.ndarray, n_latent: int, bits: int, link_width: int) -> np.ndarray:
    """Link words -> signed latent codes (the inverse of trigcomp_top's packing)."""
    codes = np.zeros((len(words), n_latent), dtype=np.int64)
    for i in range(n_latent):
        signed = extract_bits(words, i * bits, bits, link_width).astype(np.int64)
        codes[:, i] = np.where(signed >= 2 ** (bits - 1), signed - 2**bits, signed)
    return codes


def extract_bits(words: np.ndarray, start: int, bits: int, link_width: int) -> np.ndarray:
    """Bits [start, start + bits) of each row's packed link words (word 0 lowest) as unsigned integers."""
    value = np.zeros(len(words), dtype=np.uint64)
    for bit in range(bits):
        word, offset = divmod(start + bit, link_width)
        value |= ((words[:, word] >> np.uint64(offset)) & np.uint64(1)) << np.uint64(bit)
    return value


def insert_bits(words: np.ndarray, start: int, bits: int, values: np.ndarray, link_width: int) -> None:
    """Write ``values`` (unsigned) into bits [start, start + bits) of each row's link words: ``extract_bits``'s
    inverse, in place."""
    values = values.astype(np.uint64)
    for bit in range(bits):
        word, offset = divmod(start + bit, link_width)
        words[:, word] |= ((values >> np.uint64(bit)) & np.uint64(1)) << np.uint64(offset)


# ---------------------------------------------------------------------------------------------------------------
# Layer-by-layer trace of one jet
# ---------------------------------------------------------------------------------------------------------------


def _firmware_trace(binary: Path, project: HlsProject, jet: np.ndarray) -> dict[str, np.ndarray]:
    """Every traced layer's output for one jet, in the order the firmware computes them."""
    with tempfile.TemporaryDirectory(prefix="trigcomp-trace-") as tmp:
        src, dst = Path(tmp) / "jet.f64", Path(tmp) / "trace.txt"
        np.asarray(jet, dtype=np.float64).reshape(1, -1).tofile(src)
        completed = subprocess.run(
            [str(binary), "trace", str(src), "0", str(dst)],
            check=False,
            capture_output=True,
            text=True,
            cwd=project.path,
        )
        if completed.returncode != 0:
            raise UserError(f"the firmware test bench failed to trace a jet: {completed.stderr.strip()[:200]}")
        rows = [line.split() for line in dst.read_text().splitlines()]
    return {name: np.array(values, dtype=np.float64) for name, *values in rows}


def has_trace_hooks(project: HlsProject) -> bool:
    """Projects written before the hooks were compiled in trace nothing: every traced value reads 0."""
    source = project.path / "firmware" / f"{project.project_name}.cpp"
    return "nnet::save_layer_output" in source.read_text()


def trace_jet(binary: Path, project: HlsProject, model: EncoderModel, jet: np.ndarray) -> dict[str, Any]:
    """Trace one jet through the firmware and through QKeras; name the first layer whose output differs.

    The firmware's input (after the board's input conversion) is compared with QKeras' input quantizer, each
    traced hls4ml layer with the Keras layer of the same name, and the encoder's output with the latent.
    hls4ml layers without a Keras twin (e.g. the linear activation it inserts) are skipped.
    """
    from tensorflow import keras

    firmware = _firmware_trace(binary, project, jet)
    encoder = model.firmware_encoder()
    names = model.firmware_ir.layer_names()  # the Keras layer of each step is named as the step
    hooks = has_trace_hooks(project)
    # test bench name -> Keras layer name, in firmware order
    pairs = [("input", names[0])]
    if hooks:
        pairs += [(name, name) for name in firmware if name in names]
    pairs.append(("output", names[-1]))
    probe = keras.Model(encoder.input, [encoder.get_layer(name).output for _, name in pairs])
    with exact_arithmetic():
        outputs = probe.predict(model.encoder_input(np.reshape(jet, (1, -1))), verbose=0)
    layers, first = [], None
    for (traced, name), reference in zip(pairs, outputs):
        reference = np.asarray(reference, dtype=np.float64).ravel()
        differs = np.flatnonzero(firmware[traced] != reference)
        if len(differs) and first is None:
            index = int(differs[0])
            first = {
                "layer": name,
                "index": index,
                "firmware": float(firmware[traced][index]),
                "qkeras": float(reference[index]),
            }
        layers.append(
            {
                "layer": name,
                "equal": not len(differs),
                "firmware": firmware[traced].tolist(),
                "qkeras": reference.tolist(),
            }
        )
    result = {
        "first_divergent_layer": first["layer"] if first else None,
        "first_divergence": first,
        "layers": layers,
        "firmware_input": firmware["input"].tolist(),
    }
    if not hooks:
        result["note"] = "this project has no per-layer trace hooks: regenerate it with `trigcomp hls` to trace layers"
    return result


# ---------------------------------------------------------------------------------------------------------------
# The harness
# ---------------------------------------------------------------------------------------------------------------


class WordCheck:
    """What every csim result shares: it passes when no jet's words differ; its JSON says so."""

    mismatches: int

    @property
    def passed(self) -> bool:
        return self.mismatches == 0

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION} | dict(self.__dict__) | {"passed": self.passed}


@dataclass
class CsimResult(WordCheck):
    project: str
    jets: int
    data_jets: int
    adversarial_jets: int
    mismatches: int
    max_lsb_vs_float: float
    mean_lsb_vs_float: float
    qkeras_max_lsb_vs_float: float
    saturated: dict[str, int]
    jets_per_s: float
    seconds: dict[str, float]
    compiled_from_cache: bool
    first_mismatch: dict[str, Any] | None = None
    mismatch_rows: list[int] = field(default_factory=list)
    weights: dict[str, Any] = field(default_factory=dict)  # weights_proof: .h (synthesis) = .txt (csim) = model
    anomaly_score: dict[str, Any] | None = None  # firmware score words vs Σ code² of the latent (trigcomp.anomaly)
    reference: ClassVar[str] = "the QKeras model"  # what the firmware is compared with (JUnit texts)

    @property
    def passed(self) -> bool:
        score_ok = self.anomaly_score is None or self.anomaly_score["mismatches"] == 0
        return self.mismatches == 0 and self.weights.get("passed", False) and score_ok

    def quality_text(self) -> str:
        return (
            f"distance to the float model on data jets: max {self.max_lsb_vs_float:.3g} LSB, "
            f"mean {self.mean_lsb_vs_float:.3g} LSB"
        )


def saturation_counts(model: EncoderModel, x: np.ndarray, accumulator: np.ndarray) -> dict[str, int]:
    """Values clipped by their input format (each variable's own, when it has one), and pre-latent values outside
    the latent range (clipped too)."""
    formats, q_latent = model.firmware_ir.input.formats, model.latent_quantizer
    top, bottom = (np.array([f.max + f.lsb / 2 for f in formats]), np.array([f.min - f.lsb / 2 for f in formats]))
    outside_input = (x > top) | (x < bottom)
    outside_latent = (accumulator > q_latent.max + q_latent.lsb / 2) | (accumulator < q_latent.min - q_latent.lsb / 2)
    return {
        "input_values": int(outside_input.sum()),
        "input_jets": int(outside_input.any(axis=1).sum()),
        "latent_values": int(outside_latent.sum()),
        "latent_jets": int(outside_latent.any(axis=1).sum()),
    }


def run_firmware(
    project: HlsProject, x: np.ndarray, processes: int, progress: bool
) -> tuple[np.ndarray, Path, bool, dict[str, float]]:
    """Build the project's test bench (cached) and run jets ``x`` through it: the link words, the binary, whether
    it came from the cache, and the seconds spent compiling and simulating."""
    from tqdm.auto import tqdm

    seconds = {}
    start = time.perf_counter()
    binary, cached = build_testbench(project)
    seconds["compile"] = time.perf_counter() - start
    start = time.perf_counter()
    with tqdm(total=len(x), desc="csim", unit="jet", disable=not progress, leave=False) as bar:
        words = run_testbench(binary, x, project, processes, bar)
    seconds["firmware"] = time.perf_counter() - start
    return words, binary, cached, seconds


def timing_fields(n_jets: int, seconds: dict[str, float], cached: bool) -> dict[str, Any]:
    """The result fields every csim shares: firmware jets/s, the stage seconds (rounded), whether g++ was skipped."""
    return {
        "jets_per_s": n_jets / max(seconds["firmware"], 1e-9),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "compiled_from_cache": cached,
    }


def run_csim(
    project: HlsProject,
    model: EncoderModel,
    data: np.ndarray,
    jets: int = 1_000_000,
    adversarial: int = 50_000,
    processes: int = 2,
    seed: int = 0,
    progress: bool = False,
) -> CsimResult:
    if model.hash != project.model_hash:
        raise UserError(f"{project.path}: model copy does not match the manifest's model hash")
    weights = prove_weights(project.path, model.firmware_encoder(), project.strategy == "resource")
    x = make_inputs(data, model.input_quantizer, jets, adversarial, seed)
    words, binary, cached, seconds = run_firmware(project, model.board_values(x), processes, progress)
    codes = unpack_latent(words, project.n_latent, project.latent_bits, project.link_width)

    start = time.perf_counter()
    reference, accumulator = model.encode_with_accumulator(x)
    seconds["qkeras"] = time.perf_counter() - start
    lsb = model.latent_lsb
    comparison = compare_words(reference, codes * lsb, lsb)
    # Distance to the float model on data jets only: adversarial inputs far outside the input range make the
    # unsaturated float model's latent arbitrarily large, which says nothing about the firmware.
    n_data = jets - adversarial
    float_latent = model.encode_float(x[:n_data])
    firmware_max_lsb, firmware_mean_lsb = lsb_distance(codes[:n_data] * lsb, float_latent, lsb)
    qkeras_max_lsb, _ = lsb_distance(reference[:n_data], float_latent, lsb)

    first = None
    if comparison.first_mismatch is not None:
        row = comparison.first_mismatch
        first = {
            "row": row,
            "input": x[row].tolist(),
            "expected_words": np.rint(reference[row] / lsb).astype(np.int64).tolist(),
            "firmware_words": codes[row].tolist(),
        } | trace_jet(binary, project, model, x[row])
    return CsimResult(
        project=str(project.path),
        jets=len(x),
        data_jets=int(jets - adversarial),
        adversarial_jets=int(adversarial),
        mismatches=comparison.mismatches,
        max_lsb_vs_float=firmware_max_lsb,
        mean_lsb_vs_float=firmware_mean_lsb,
        qkeras_max_lsb_vs_float=qkeras_max_lsb,
        saturated=saturation_counts(model, x, accumulator),
        first_mismatch=first,
        mismatch_rows=list(comparison.mismatch_indices),
        weights=weights.to_json() | {"summary": weights.describe()},
        **timing_fields(len(x), seconds, cached),
        anomaly_score=check_project_scores(project, words, codes),
    )
