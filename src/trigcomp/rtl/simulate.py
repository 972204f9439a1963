"""Verilator simulation of a project's Verilog, and its bit-exact comparison with QKeras.

The emulator is da4ml's harness (sim/build_binder.mk, patched for Verilator 5.006 when the project was written),
built once per source state and loaded with ctypes. Words cross the C boundary as int32 so that nothing is rounded
through float32 on the way out.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..compare import Comparison, compare_words
from ..errors import UserError
from ..ir import Encoder
from ..model import exact_arithmetic
from .project import RtlProject, load_project
from .tracing import as_encoder_ir

_BUILD_STAMP = "trigcomp_build.sha256"
# Verilator turns a large da4ml design into a few C++ functions of ~10k statements each, and g++'s time grows
# faster than linearly with a function's size: splitting them (--output-split-cfuncs, documented to cost little
# run time) cuts g++ on the two towers8-conv emulators from 99 to 22 s CPU. The harness's own flags
# (-O, the build jobs) stay as da4ml writes them in sim/build_binder.mk.
VERILATOR_FLAGS = ("-Wall", "--output-split-cfuncs", "1000")
_EMULATORS: dict[Path, tuple[str, ctypes.CDLL]] = {}


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise UserError(f"{name} not on PATH: apt-get install {name}")
    return path


def _sources_digest(variant_dir: Path) -> str:
    digest = hashlib.sha256()
    sim_sources = [path for pattern in ("*.mk", "*.cc", "*.hh") for path in (variant_dir / "sim").glob(pattern)]
    for path in sorted([*(variant_dir / "src").rglob("*"), *sim_sources]):
        if path.is_file():
            digest.update(str(path.relative_to(variant_dir)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def emulator(project: RtlProject, variant: str) -> ctypes.CDLL:
    """The compiled Verilator model of one variant: reused when its sources are unchanged, else rebuilt."""
    sim = project.variant_dir(variant) / "sim"
    digest = _sources_digest(sim.parent)
    cached = _EMULATORS.get(sim)
    if cached and cached[0] == digest:
        return cached[1]
    stamp = sim / _BUILD_STAMP
    prefix = f"{project.project_name}_wrapper"
    library = sim / f"lib{prefix}_{digest[:16]}.so"
    if not (library.is_file() and stamp.is_file() and stamp.read_text() == digest):
        _build(sim, prefix, digest)
    handle = ctypes.CDLL(str(library))
    handle.inference.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
    handle.inference.restype = None
    _EMULATORS[sim] = (digest, handle)
    return handle


def _build(sim: Path, prefix: str, digest: str) -> None:
    require_tool("verilator")
    for old in sim.glob(f"lib{prefix}_*.so"):
        old.unlink()
    shutil.rmtree(sim / "obj_dir", ignore_errors=True)
    env = os.environ | {
        "VM_PREFIX": prefix,
        "STAMP": digest[:16],
        "EXTRA_CXXFLAGS": "-fopenmp",
        "VERILATOR_FLAGS": " ".join(VERILATOR_FLAGS),
        # Verilator splits a large model into a few big C++ files; two compilers at once halve the build time
        # without crowding a small shared machine.
        "N_JOBS": str(min(2, os.cpu_count() or 1)),
    }
    result = subprocess.run(
        ["make", "-f", "build_binder.mk"], check=False, cwd=sim, env=env, capture_output=True, text=True
    )
    shutil.rmtree(sim / "obj_dir", ignore_errors=True)
    if result.returncode != 0:
        (sim / "build.log").write_text(result.stdout + result.stderr)
        raise RuntimeError(f"Verilator build failed (exit {result.returncode}); log in {sim / 'build.log'}")
    (sim / _BUILD_STAMP).write_text(digest)


def simulate(
    project: RtlProject | Path, inputs: np.ndarray, variant: str = "pipelined", n_threads: int = 1
) -> np.ndarray:
    """Run the Verilog of one variant under Verilator: raw jets in, the quantized latent (float64) out.

    Inputs go through the encoder's input quantizer in software first (round half to even, saturate), since the
    input port carries the quantized word; already quantized inputs pass unchanged.
    """
    project = load_project(project)
    n_in, n_out = project.n_inputs, project.n_outputs
    raw = np.asarray(inputs, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != n_in:
        raise UserError(f"inputs must have shape (jets, {n_in}), got {raw.shape}")
    if np.isnan(raw).any():
        raise UserError("inputs contain NaN")
    port, out = project.input_word, project.output_word
    for side, word in (("input", port), ("output", out)):
        if word.bits > 32:
            raise UserError(f"the encoder's {side} word is wider than the 32 bits da4ml's Verilator harness carries")
    library = emulator(project, variant)
    raw = raw.astype(np.float32)
    words = np.stack(
        [
            fmt.words(raw[:, j])[0] * 2.0 ** (port.fractional - fmt.fractional)
            for j, fmt in enumerate(project.input_formats)
        ],
        axis=1,
    )
    c_inputs = np.ascontiguousarray(words, dtype=np.int32)
    c_outputs = np.zeros((len(raw), n_out), dtype=np.int32)
    if len(raw):
        library.inference(c_inputs.ctypes.data, c_outputs.ctypes.data, len(raw), n_threads)
    # The harness returns each output as its raw bit pattern: sign-extend from the port width.
    width = out.bits
    raw_words = c_outputs.astype(np.int64) & ((1 << width) - 1)
    if out.signed:
        raw_words = np.where(raw_words >= 1 << (width - 1), raw_words - (1 << width), raw_words)
    return raw_words * out.lsb


@dataclass(frozen=True)
class RtlComparison(Comparison):
    """compare_words' result plus what the RTL check adds: which Verilog, saturation and QKeras's own exactness."""

    variant: str
    saturated_values: int  # input values clipped by the input quantizer
    saturated_jets: int
    qkeras_inexact_jets: int  # jets where QKeras (float32) differs from exact fixed-point arithmetic
    exact_mismatches: int  # jets where the firmware differs from exact fixed-point arithmetic
    firmware_errors: int  # jets where the firmware differs from both QKeras and exact arithmetic

    def to_json(self) -> dict:
        return asdict(self) | {"mismatch_indices": list(self.mismatch_indices)}


def verify(
    encoder,
    project: RtlProject | Path,
    inputs: np.ndarray,
    variant: str = "pipelined",
    spec: Encoder | None = None,
    float_model: np.ndarray | None = None,
) -> RtlComparison:
    """Simulate ``inputs`` (raw jets) in Verilator and compare word by word with the QKeras encoder.

    The same quantized inputs go to both sides. QKeras itself is checked against exact fixed-point arithmetic
    (float64): where its float32 sums are too short, ``qkeras_inexact_jets`` counts the jets QKeras gets wrong, and
    ``exact_mismatches`` tells whether the firmware matches the exact result there; ``firmware_errors`` counts the
    jets no QKeras artefact explains (the firmware differs from both).
    ``spec``: the encoder's description when the caller has it (it keeps per-variable input formats), else parsed
    from ``encoder``. ``float_model`` (the unquantized model's latent), when given, is reported in LSB by
    compare_words.
    """
    project = load_project(project)
    spec = spec if spec is not None else as_encoder_ir(encoder)
    if spec.digest() != project.encoder_digest:
        raise UserError(f"{project.path} was made from a different encoder (digest mismatch)")
    quantized, saturated = spec.quantize_inputs(inputs)
    # trigcomp's own encoders are built in float64 (exact); an encoder built in float32 runs as it was built
    with exact_arithmetic() if encoder.layers[-1].dtype == "float64" else nullcontext():
        shaped = quantized.astype(np.float64).reshape((-1,) + tuple(encoder.input_shape[1:]))  # image inputs
        qkeras = np.asarray(encoder.predict(shaped, batch_size=65536, verbose=0), np.float64)
    exact, _ = spec.reference(quantized)
    firmware = simulate(project, quantized, variant)
    comparison = compare_words(qkeras, firmware, spec.output_format.lsb, float_model=float_model)
    off_exact = (firmware != exact).any(axis=1)
    return RtlComparison(
        **asdict(comparison),
        variant=variant,
        saturated_values=int(saturated.sum()),
        saturated_jets=int(saturated.any(axis=1).sum()),
        qkeras_inexact_jets=int((qkeras != exact).any(axis=1).sum()),
        exact_mismatches=int(off_exact.sum()),
        firmware_errors=int((off_exact & (qkeras != firmware).any(axis=1)).sum()),
    )
