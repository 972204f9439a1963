"""Write the RTL project: da4ml Verilog (combinational and pipelined), patched for Debian's Verilator, plus a
Yosys script and the ``trigcomp.json`` manifest. Deterministic (same encoder -> same bytes) and atomic.

Layout of a project directory::

    trigcomp.json          manifest (kind="rtl", latency, per-layer precisions, io word formats, versions, ...)
    estimate.json          da4ml estimate; rewritten with Yosys numbers by synthesize()
    pipelined/             da4ml project of the pipelined encoder (src/*.v, sim/ Verilator harness, model/)
    combinational/         the same logic without registers
    */synth_xilinx.ys      Yosys script (from the package templates, trigcomp/firmware/rtl/synth_xilinx.ys)
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from ..boards import get_board
from ..errors import UserError
from ..hls import FIRMWARE_DIR as PACKAGE_FIRMWARE
from ..ir import Encoder, FixedPoint
from ..records import SCHEMA_VERSION, check_schema_version
from ..reports.parsers.estimate import Estimate
from ..staging import check_output, staged_dir, write_json
from .tracing import ADDER_LEVEL_NS, DA4ML_VERSION, REGISTER_OVERHEAD_NS, Pipelined, Traced, as_encoder_ir, trace

MANIFEST = "trigcomp.json"
VARIANTS = ("pipelined", "combinational")
DEFAULT_PROJECT_NAME = "trigcomp_encoder"
YOSYS_SCRIPT = "synth_xilinx.ys"
FIRMWARE_DIR = PACKAGE_FIRMWARE / "rtl"  # package data since the templates moved into src/trigcomp/firmware

# Debian bookworm ships Verilator 5.006, which cannot build da4ml's emulator as da4ml 0.5.2 writes it. Each patch
# is (file, text da4ml writes, replacement); all are harmless on newer Verilator, so they are always applied and
# the project stays the same bytes on every machine.
_VERILATOR_RULE = (
    '\tverilator --cc -j $(N_JOBS) -build $(VM_PREFIX).v --prefix V$(VM_PREFIX) $(VERILATOR_FLAGS) -CFLAGS "$(CFLAGS)"'
    " -I../src -I../src/static\n"
)
_VERILATOR_PATCHES = (
    # 5.006 predates the WIDTHTRUNC lint code and rejects the unknown name; WIDTH covers it.
    ("src/static/negative.v", "WIDTHTRUNC", "WIDTH"),
    # `verilator -V` lists VERILATOR_ROOT twice (configured, then the empty environment value): take the first.
    ("sim/build_binder.mk", "grep -a VERILATOR_ROOT | tail -1", "grep -a VERILATOR_ROOT | head -1"),
    # `-build` in 5.006 leaves no libverilated.a / libV*.a, which the binder links: build and name them.
    (
        "sim/build_binder.mk",
        _VERILATOR_RULE,
        _VERILATOR_RULE
        + "\t$(MAKE) -C obj_dir -f V$(VM_PREFIX).mk verilated.o verilated_threads.o\n"
        + "\tcd obj_dir && ar rcs libverilated.a verilated.o verilated_threads.o"
        + " && cp V$(VM_PREFIX)__ALL.a libV$(VM_PREFIX).a\n",
    ),
)


@dataclass(frozen=True)
class RtlProject:
    """An RTL project and its manifest; other modules read the manifest through these properties, never by key."""

    path: Path
    manifest: dict

    @property
    def project_name(self) -> str:
        return self.manifest["project_name"]

    @property
    def part(self) -> str:
        return self.manifest["part"]

    @property
    def latency_cycles(self) -> int:
        return self.manifest["latency_cycles"]

    @property
    def latency_ns(self) -> float:
        return self.manifest["latency_ns"]

    @property
    def pipeline_stages(self) -> int:
        return self.manifest["pipeline_stages"]

    @property
    def clock_ns(self) -> float:
        return self.manifest["clock_ns"]

    @property
    def pipeline_ns(self) -> float:
        return self.manifest["pipeline_ns"]

    @property
    def n_inputs(self) -> int:
        return int(self.manifest["inputs"])

    @property
    def n_outputs(self) -> int:
        return int(self.manifest["outputs"])

    @property
    def input_word(self) -> FixedPoint:
        """The word the emulator's input port carries (the widest input, as da4ml's wrapper pads)."""
        return _word_format(self.manifest["io"]["input"])

    @property
    def output_word(self) -> FixedPoint:
        return _word_format(self.manifest["io"]["output"])

    @property
    def input_formats(self) -> list[FixedPoint]:
        """One format per input value: the per-variable ones when the encoder has them, else the port's for all."""
        entry = self.manifest["layers"][0]
        return [_word_format(f) for f in entry.get("formats", [entry["format"]] * self.n_inputs)]

    @property
    def encoder_digest(self) -> str | None:
        """The digest of the encoder description the project was made from (None for the anomaly-score project)."""
        return self.manifest.get("encoder_digest")

    @property
    def model_hash(self) -> str | None:
        return self.manifest.get("model", {}).get("hash")

    def variant_dir(self, variant: str) -> Path:
        if variant not in VARIANTS:
            raise UserError(f"unknown RTL variant {variant!r}; known: {', '.join(VARIANTS)}")
        return self.path / variant

    def to_json(self) -> dict:
        return {"path": str(self.path)} | self.manifest


def load_project(project: RtlProject | Path | str) -> RtlProject:
    if isinstance(project, RtlProject):
        return project
    path = Path(project)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("kind") != "rtl":
        raise UserError(f"{path} is not an RTL project (no {MANIFEST} with kind 'rtl'); make one with `trigcomp rtl`")
    check_schema_version(manifest, str(path / MANIFEST))
    return RtlProject(path, manifest)


def _check_timing(clock_ns: float, pipeline_ns: float | None) -> float:
    if not (math.isfinite(clock_ns) and clock_ns > 0):
        raise UserError(f"clock period must be a positive number of ns, got {clock_ns}")
    pipeline_ns = clock_ns if pipeline_ns is None else pipeline_ns
    if not (math.isfinite(pipeline_ns) and 0 < pipeline_ns <= clock_ns):
        raise UserError(
            f"pipeline stage delay must be > 0 and at most the clock period ({clock_ns} ns), got {pipeline_ns}"
        )
    return pipeline_ns


def _word_format(entry: dict) -> FixedPoint:
    return FixedPoint.from_kif(entry["signed"], entry["integer"], entry["fractional"])


def _io_word(solution, side: str) -> dict:
    """The word format the emulator exchanges on one side (the widest of the ports, as da4ml's wrapper pads)."""
    from da4ml.codegen.rtl.rtl_model import get_io_kifs

    kifs = get_io_kifs(solution)[0 if side == "input" else 1]
    k, i, f = (int(part.max()) for part in kifs)
    return {"signed": bool(k), "integer": i, "fractional": f, "bits": k + i + f}


def carry4_estimate(comb) -> int:
    """CARRY4 blocks for the adders (opcodes 0/1 and constant adds 4): one per 4 result bits."""
    from da4ml.cmvm.types import _minimal_kif

    return sum(math.ceil(sum(_minimal_kif(op.qint)) / 4) for op in comb.ops if op.opcode in (0, 1, 4))


def da4ml_estimate(traced: Traced, pipelined: Pipelined, clock_ns: float, part: str) -> Estimate:
    """The estimate from da4ml's cost model alone (no synthesis)."""
    return Estimate(
        source="estimate:da4ml",
        clock_ns=clock_ns,
        latency_cycles=(pipelined.latency_cycles, pipelined.latency_cycles),
        latency_ns=pipelined.latency_cycles * clock_ns,
        ii=1,
        resources={
            "LUT": round(traced.comb.cost),
            "FF": pipelined.register_bits,
            "DSP": 0,
            "BRAM": 0,
            "CARRY": carry4_estimate(traced.comb),
        },
        part=part,
        logic_depth=pipelined.deepest_stage_levels,
        note=(
            f"da4ml {DA4ML_VERSION} cost model, not synthesis: LUT = adder bits, FF = pipeline register bits, "
            "CARRY = 4-bit carry blocks; logic_depth = adder levels in the deepest stage "
            f"(~{ADDER_LEVEL_NS} ns each, {REGISTER_OVERHEAD_NS} ns register overhead per stage)"
        ),
    )


def _apply_verilator_patches(variant_dir: Path) -> None:
    for relative, old, new in _VERILATOR_PATCHES:
        path = variant_dir / relative
        text = path.read_text()
        if old not in text:
            raise RuntimeError(
                f"da4ml {DA4ML_VERSION} wrote an unexpected {relative}: cannot apply the Verilator patch"
            )
        path.write_text(text.replace(old, new))


def yosys_sources(variant_dir: Path, project_name: str) -> list[str]:
    """Verilog files Yosys reads, relative to the variant dir. static/lookup_table.v is left out: its default
    parameter names a memory file Yosys cannot open, and these encoders have no lookup tables."""
    static = sorted(p.name for p in (variant_dir / "src/static").glob("*.v") if p.name != "lookup_table.v")
    stages = sorted((p.name for p in (variant_dir / "src").glob(f"{project_name}_stage*.v")), key=_stage_index)
    return [f"src/static/{name}" for name in static] + [f"src/{name}" for name in stages + [f"{project_name}.v"]]


def _stage_index(name: str) -> int:
    return int(re.search(r"_stage(\d+)\.v$", name).group(1))


def _write_yosys_script(variant_dir: Path, project_name: str) -> None:
    source = FIRMWARE_DIR / YOSYS_SCRIPT
    if not source.is_file():
        raise RuntimeError(f"{source} is missing: trigcomp is installed without its firmware templates")
    template = Template(source.read_text())
    sources = " ".join(yosys_sources(variant_dir, project_name))
    (variant_dir / YOSYS_SCRIPT).write_text(template.substitute(sources=sources, top=project_name))


def _write_variant(solution, variant_dir: Path, project_name: str, clock_ns: float, part: str) -> None:
    from da4ml.codegen import VerilogModel

    VerilogModel(solution, project_name, variant_dir, clock_period=clock_ns, part_name=part).write()
    _apply_verilator_patches(variant_dir)
    _write_yosys_script(variant_dir, project_name)


def _refuse_replacing_other_dirs(out: Path) -> None:
    """--force replaces an earlier RTL project (or an empty directory), never anything else."""
    if out.is_dir() and not any(out.iterdir()):
        return
    try:
        load_project(out)
    except UserError:
        raise UserError(
            f"refusing to overwrite {out}: it is not an RTL project (no {MANIFEST} with kind 'rtl')"
        ) from None


def write_rtl_project(
    encoder,
    out: Path,
    clock_ns: float = 5.0,
    pipeline_ns: float | None = None,
    manifest: dict | None = None,
    force: bool = False,
    board: str = "vu13p",
    project_name: str = DEFAULT_PROJECT_NAME,
) -> RtlProject:
    """Trace the quantized encoder with da4ml and write its Verilog project to ``out`` (atomically).

    ``pipeline_ns`` is the combinational delay allowed per pipeline stage (default: one clock period); it becomes
    da4ml's cutoff in adder levels through ``cutoff_levels``. ``manifest`` entries (e.g. the model hash) are
    added to trigcomp.json and may not override the keys written here.
    """
    out = Path(out)
    pipeline_ns = _check_timing(clock_ns, pipeline_ns)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", project_name):
        raise UserError(f"project name {project_name!r} is not a Verilog identifier")
    check_output(out, force)
    if out.exists():
        _refuse_replacing_other_dirs(out)
    target = get_board(board)
    spec = as_encoder_ir(encoder)
    traced = trace(spec)
    pipelined = traced.pipeline(pipeline_ns)
    contents = _manifest(spec, traced, pipelined, target, clock_ns, pipeline_ns, project_name)
    clashes = sorted(set(manifest or {}) & set(contents))
    if clashes:
        raise ValueError(f"manifest keys {clashes} are written by write_rtl_project itself")
    contents |= manifest or {}
    with staged_dir(out, force) as tmp:
        _write_variant(pipelined.pipe, tmp / "pipelined", project_name, clock_ns, target.part)
        _write_variant(traced.comb, tmp / "combinational", project_name, clock_ns, target.part)
        write_json(tmp / MANIFEST, contents)
        da4ml_estimate(traced, pipelined, clock_ns, target.part).write(tmp)
    return RtlProject(out, contents)


def _manifest(spec: Encoder, traced: Traced, pipelined: Pipelined, board, clock_ns, pipeline_ns, name) -> dict:
    layers = spec.layers_json()
    accumulators = {entry["layer"]: entry["format"] for entry in traced.accumulators}
    for layer in layers:
        if layer["layer"] in accumulators:
            layer["accumulator"] = accumulators[layer["layer"]]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "rtl",
        "project_name": name,
        "board": board.name,
        "part": board.part,
        "clock_ns": clock_ns,
        "pipeline_ns": pipeline_ns,
        "pipeline_stages": pipelined.stages,
        "latency_cycles": pipelined.latency_cycles,
        "latency_ns": pipelined.latency_cycles * clock_ns,
        "ii": 1,
        "adder_levels": {
            "per_stage_cutoff": pipelined.cutoff_levels,
            "deepest_stage": pipelined.deepest_stage_levels,
            "combinational": traced.levels,
            "ns_per_level": ADDER_LEVEL_NS,
            "register_overhead_ns": REGISTER_OVERHEAD_NS,
        },
        "variants": {variant: f"{variant}/src/{name}.v" for variant in VARIANTS},
        "inputs": spec.n_inputs,
        "outputs": spec.n_outputs,
        "layers": layers,
        "io": {"input": _io_word(traced.comb, "input"), "output": _io_word(traced.comb, "output")},
        "encoder_digest": spec.digest(),
        "da4ml_version": DA4ML_VERSION,
        "rounding": "half to even, then saturate (QKeras), built from da4ml TRN/WRAP primitives",
    }
