"""HLS projects for trigger boards: the firmware encoder through hls4ml (``bit_exact=True``) into a project dir.

A project holds hls4ml's C++ and build scripts, trigcomp's own pieces from ``firmware/`` (a top level that packs
the latent into link words, a binary-file test bench), test-bench data, a copy of the model, and a manifest
``trigcomp.json``. Projects are deterministic (same model + options -> same bytes) and written atomically.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import math
import re
import shutil
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .anomaly import ScoreFormat
from .boards import Board
from .errors import UserError
from .model import EncoderModel, stack_versions
from .records import SCHEMA_VERSION, check_schema_version
from .staging import staged_dir, write_json

PROJECT_NAME = "myproject"
MANIFEST = "trigcomp.json"
#: What csim, report and build read from a project's manifest.
MANIFEST_KEYS = ("project_name", "backend", "model", "inputs", "latent", "link")
#: The same for a codec project (``trigcomp hls --codec``, trigcomp.codec_hls): a codec in place of model and latent.
CODEC_MANIFEST_KEYS = ("project_name", "backend", "codec", "inputs", "fields", "link")
#: The C++/Tcl/Verilog templates, package data: found the same way in a source tree and in an installed wheel.
FIRMWARE_DIR = Path(str(importlib.resources.files("trigcomp").joinpath("firmware")))
BACKENDS = {"vivado": "Vivado", "vitis": "Vitis"}
STRATEGIES = {"latency": "Latency", "resource": "Resource", "distributed_arithmetic": "distributed_arithmetic"}
IO_TYPES = {"parallel": "io_parallel", "stream": "io_stream"}
LINK_WIDTHS = (16, 32, 64)
#: The test bench and the row loop it shares with codec projects' (project root, beside firmware/).
TEST_BENCH_FILES = ("trigcomp_tb.cpp", "trigcomp_tb_rows.h")
#: The vendor flow of trigcomp_top (encoder + link packing): HLS, then Vivado synthesis; copied from firmware/.
VENDOR_FLOW = ("build_trigcomp_top.tcl", "trigcomp_top_vivado_synth.tcl")


@dataclass(frozen=True)
class HlsOptions:
    board: Board
    clock_ns: float
    backend: str = "vivado"
    strategy: str = "latency"
    reuse: int = 1
    io: str = "parallel"
    link_width: int = 64
    anomaly_score: bool = False  # the sum of squared latent values, packed after the latent (trigcomp.anomaly)

    def check(self) -> None:
        if not (math.isfinite(self.clock_ns) and self.clock_ns > 0):
            raise UserError(f"clock period must be > 0 ns, got {self.clock_ns}")
        for value, allowed, what in (
            (self.backend, BACKENDS, "backend"),
            (self.strategy, STRATEGIES, "strategy"),
            (self.io, IO_TYPES, "io type"),
        ):
            if value not in allowed:
                raise UserError(f"unknown {what} {value!r}; choose one of: {', '.join(allowed)}")
        if self.reuse < 1:
            raise UserError(f"reuse factor must be >= 1, got {self.reuse}")
        if self.link_width not in LINK_WIDTHS:
            raise UserError(f"link width must be one of {LINK_WIDTHS}, got {self.link_width}")
        if self.strategy == "distributed_arithmetic":
            try:
                import da4ml  # noqa: F401
            except ImportError:
                raise UserError("strategy distributed_arithmetic needs da4ml: pip install 'trigcomp[rtl]'") from None


@dataclass(frozen=True)
class ScoreField:
    """The anomaly score word in a project's link words: its width and its first bit."""

    bits: int
    offset: int


@dataclass(frozen=True)
class HlsProject:
    """An HLS project and its manifest; other stages read the manifest through these properties, never by key."""

    path: Path
    manifest: dict[str, Any]

    @property
    def project_name(self) -> str:
        return str(self.manifest["project_name"])

    @property
    def top(self) -> str:
        return str(self.manifest["top"])

    @property
    def backend(self) -> str:
        return str(self.manifest["backend"])

    @property
    def strategy(self) -> str:
        return str(self.manifest["strategy"])

    @property
    def model_dir(self) -> Path:
        """The copy of the model inside the project (encoder projects)."""
        return self.path / self.manifest["model"]["dir"]

    @property
    def model_hash(self) -> str | None:
        return self.manifest.get("model", {}).get("hash")

    @property
    def input_variables(self) -> list[str]:
        return list(self.manifest["inputs"]["variables"])

    @property
    def codec_kind(self) -> str | None:
        """The codec a codec project implements (fixed_point, float_mantissa, hybrid); None for an encoder."""
        return self.manifest.get("codec", {}).get("kind")

    @property
    def n_inputs(self) -> int:
        return int(self.manifest["inputs"]["size"])

    @property
    def n_latent(self) -> int:
        return int(self.manifest["latent"]["size"])

    @property
    def latent_bits(self) -> int:
        return int(self.manifest["latent"]["bits"])

    @property
    def latent_integer(self) -> int:
        return int(self.manifest["latent"]["integer"])

    @property
    def anomaly_score(self) -> ScoreField | None:
        """Where the top packs the anomaly score in the link words; None for a project without one."""
        score = self.manifest.get("anomaly_score")
        return None if score is None else ScoreField(bits=int(score["bits"]), offset=int(score["offset"]))

    @property
    def codec_file(self) -> Path:
        """The project's own copy of its codec (codec projects)."""
        return self.path / self.manifest["codec"]["file"]

    @property
    def board_input_width(self) -> int:
        """Total bits of the board's input word (codec projects, with ``board_input_integer``)."""
        return int(self.manifest["inputs"]["width"])

    @property
    def board_input_integer(self) -> int:
        return int(self.manifest["inputs"]["integer"])

    @property
    def compile_units(self) -> list[str]:
        """The .cpp files of the test bench, relative to the project: codec projects name their own."""
        return self.manifest.get("compile_units") or [
            f"firmware/{self.project_name}.cpp",
            "firmware/trigcomp_top.cpp",
            "trigcomp_tb.cpp",
        ]

    @property
    def vendor_flow(self) -> str:
        """The Tcl script that synthesises the top with the vendor tools (codec projects name their own)."""
        return self.manifest.get("vendor_flow", VENDOR_FLOW[0])

    @property
    def link_width(self) -> int:
        return int(self.manifest["link"]["width"])

    @property
    def n_link_words(self) -> int:
        return int(self.manifest["link"]["words"])

    def encoder_entries(self) -> dict[str, Any]:
        """The manifest entries describing the encoder, which a codec project built on this one carries over."""
        return {key: self.manifest[key] for key in ("strategy", "reuse", "io", "model", "precisions", "latent")}

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path)} | self.manifest


def load_project(path: str | Path) -> HlsProject:
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"project directory not found: {path}")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise UserError(f"{path} was not made by trigcomp (no {MANIFEST}); make one with `trigcomp hls`")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(
            f"{manifest_path} is not valid JSON ({err}); truncated? regenerate with `trigcomp hls`"
        ) from None
    kind = manifest.get("kind") if isinstance(manifest, dict) else type(manifest).__name__
    if kind != "hls":
        raise UserError(f"{path} is a {kind!r} project, not an HLS project")
    check_schema_version(manifest, str(manifest_path))
    required = CODEC_MANIFEST_KEYS if "codec" in manifest else MANIFEST_KEYS
    missing = [key for key in required if key not in manifest]
    if missing:
        raise UserError(f"{manifest_path} lacks {', '.join(missing)}; regenerate it with `trigcomp hls`")
    return HlsProject(path, manifest)


def check_encoder(encoder) -> None:
    """Refuse a decoder given in place of an encoder, and what hls4ml cannot convert bit-exactly: the encoder must
    parse into the encoder description (the one whitelist, ``trigcomp.ir.KERAS_STEPS``)."""
    from .ir import from_keras

    from_keras(encoder)


def _hls4ml_config(encoder, options: HlsOptions) -> dict[str, Any]:
    import hls4ml

    config = hls4ml.utils.config_from_keras_model(encoder, granularity="name", backend=BACKENDS[options.backend])
    # hls4ml's DA pass refuses any non-dense layer that carries its strategy, so it goes on the dense layers only
    da = options.strategy == "distributed_arithmetic"
    config["Model"]["Strategy"] = "Latency" if da else STRATEGIES[options.strategy]
    config["Model"]["ReuseFactor"] = options.reuse
    for layer in config["LayerName"].values():
        layer["Trace"] = True  # trace hooks are compiled out of synthesis (#ifndef __SYNTHESIS__)
        if "ReuseFactor" in layer:
            layer["ReuseFactor"] = options.reuse
        if "weight" in layer.get("Precision", {}):
            layer["Strategy"] = STRATEGIES[options.strategy]
    return config


def convert_encoder(encoder, options: HlsOptions, output_dir: Path):
    import hls4ml

    try:
        return hls4ml.converters.convert_from_keras_model(
            encoder,
            hls_config=_hls4ml_config(encoder, options),
            output_dir=str(output_dir),
            project_name=PROJECT_NAME,
            backend=BACKENDS[options.backend],
            part=options.board.part,
            clock_period=options.clock_ns,
            io_type=IO_TYPES[options.io],
            bit_exact=True,
        )
    except Exception as err:  # noqa: BLE001 -- hls4ml raises bare Exceptions for unsupported layers and options
        raise UserError(f"hls4ml could not convert the encoder: {str(err).splitlines()[0]}") from None


def _precision(variable_type) -> str:
    return variable_type.precision.definition_cpp()


def layer_precisions(hls_model) -> dict[str, dict[str, str]]:
    precisions = {}
    for layer in hls_model.get_layers():
        entry = {"class": layer.class_name, "result": _precision(layer.get_output_variable().type)}
        for key, weight in layer.weights.items():
            entry[key] = _precision(weight.type)
        precisions[layer.name] = entry
    return precisions


def _check_no_widening(model: EncoderModel, hls_model) -> tuple[str, str]:
    """The ports must carry exactly the QKeras input and latent quantizers: hls4ml may not widen them."""
    input_type = hls_model.get_input_variables()[0].type
    latent_type = hls_model.get_output_variables()[0].type
    expected = (
        (input_type, model.input_quantizer, "input"),
        (latent_type, model.latent_quantizer, "latent"),
    )
    for variable_type, fp, what in expected:
        precision = variable_type.precision
        if (precision.width, precision.integer, precision.signed) != (fp.bits, fp.integer + 1, True):
            raise RuntimeError(
                f"hls4ml chose {precision.definition_cpp()} for the {what}, but the model quantizes it to "
                f"quantized_bits({fp.bits},{fp.integer}); trigcomp refuses silent widening"
            )
    return input_type, latent_type


def _traced_layers(hls_model, project: Path) -> list[tuple[str, int]]:
    """The layers whose outputs the written C++ saves: not those hls4ml turns into no code (a Reshape or Flatten
    in io_parallel is the same array under another name, and its trace hook is never called)."""
    source = (project / "firmware" / f"{PROJECT_NAME}.cpp").read_text()
    hooked = set(re.findall(r'save_layer_output<[^>]*>\(\s*\w+\s*,\s*"([^"]+)"', source))
    traced = []
    for layer in hls_model.get_layers():
        if layer.get_attr("trace", False) and layer.class_name != "Input" and layer.name in hooked:
            traced.append((layer.name, int(layer.get_output_variable().size())))
    return traced


def _render_template(name: str, values: dict[str, Any]) -> str:
    return string.Template((FIRMWARE_DIR / name).read_text()).substitute(values)


def _make_deterministic(project: Path, stamp: str) -> None:
    """Strip what hls4ml writes differently on each call: a random library stamp, the temp path, a timestamped copy."""
    (project / "keras_model.keras").unlink(missing_ok=True)
    for so in project.glob("firmware/*.so"):
        so.unlink()
    yml = project / "hls4ml_config.yml"
    text = yml.read_text()
    text = re.sub(r"^KerasModel: .*\n", "", text, flags=re.MULTILINE)
    text = re.sub(r"^OutputDir: .*$", "OutputDir: .", text, flags=re.MULTILINE)
    text = re.sub(r"^Stamp: .*$", f"Stamp: {stamp}", text, flags=re.MULTILINE)
    yml.write_text(text)
    build_lib = project / "build_lib.sh"
    build_lib.write_text(re.sub(r"LIB_STAMP=\w+", f"LIB_STAMP={stamp}", build_lib.read_text()))
    leftover = [p for p in project.rglob("*") if p.is_file() and str(project) in p.read_text(errors="ignore")]
    if leftover:
        raise RuntimeError(f"{leftover[0]} still names the temporary path; this is a trigcomp bug")


def _write_test_bench_data(project: Path, model: EncoderModel, jets: np.ndarray) -> int:
    """Sample jets and the QKeras latent for hls4ml's own test bench (text) and trigcomp's (binary)."""
    tb_data = project / "tb_data"
    tb_data.mkdir(exist_ok=True)
    jets = np.asarray(jets, dtype=np.float32)
    latent = model.encode(jets)
    jets = model.board_values(jets)  # per-variable input formats: each value as it arrives on the port
    np.savetxt(tb_data / "tb_input_features.dat", jets, fmt="%.9g")
    np.savetxt(tb_data / "tb_output_predictions.dat", latent, fmt="%.9g")
    jets.astype(np.float64).tofile(tb_data / "trigcomp_input.f64")
    return len(jets)


def write_hls_project(
    model: EncoderModel, out: Path, options: HlsOptions, tb_jets: np.ndarray, force: bool = False
) -> HlsProject:
    options.check()
    encoder = model.firmware_encoder()
    check_encoder(encoder)
    with staged_dir(out, force) as tmp:
        hls_model = convert_encoder(encoder, options, tmp)
        # hls4ml writes the per-layer trace hooks (nnet::save_layer_output inside #ifndef __SYNTHESIS__) only when
        # the model-level switch is on, as its own HLSModel.trace() does; synthesis never sees them
        hls_model.config.trace_output = True
        hls_model.write()
        input_type, latent_type = _check_no_widening(model, hls_model)
        stamp = model.hash[:8]
        _make_deterministic(tmp, stamp)

        n_inputs, n_latent, latent_bits = len(model.variables), model.n_latent, model.latent_quantizer.bits
        score = ScoreFormat(n_latent, model.latent_quantizer) if options.anomaly_score else None
        n_link_words = -(-(n_latent * latent_bits + (score.bits if score else 0)) // options.link_width)
        traced = _traced_layers(hls_model, tmp)
        params = {
            "n_inputs": n_inputs,
            "n_latent": n_latent,
            "latent_bits": latent_bits,
            "link_width": options.link_width,
            "n_link_words": n_link_words,
            "input_type": input_type.name,
            "latent_type": latent_type.name,
            "input_precision": _precision(input_type),
            "latent_precision": _precision(latent_type),
            "score_bits": score.bits if score else 0,
            "score_precision": score.precision if score else "ap_uint<1>",
            "io_stream": int(options.io == "stream"),
            "input_word": model.input_shape[-1] if options.io == "stream" else n_inputs,
            "traced_layers": ", ".join(f'{{"{name}", {size}}}' for name, size in traced),
        }
        (tmp / "firmware" / "trigcomp_params.h").write_text(_render_template("trigcomp_params.h.in", params))
        for name in ("trigcomp_top.h", "trigcomp_top.cpp", "trigcomp_anomaly.h"):
            shutil.copyfile(FIRMWARE_DIR / name, tmp / "firmware" / name)
        for name in (*TEST_BENCH_FILES, *VENDOR_FLOW):
            shutil.copyfile(FIRMWARE_DIR / name, tmp / name)
        (tmp / "model").mkdir()
        for name in model.model_files:  # the model itself, not evaluations or plots kept beside it
            shutil.copyfile(model.path / name, tmp / "model" / name)
        n_tb = _write_test_bench_data(tmp, model, tb_jets)

        manifest = {
            "schema_version": SCHEMA_VERSION,
            "kind": "hls",
            "project_name": PROJECT_NAME,
            "top": "trigcomp_top",
            "board": options.board.name,
            "part": options.board.part,
            "clock_ns": options.clock_ns,
            "backend": options.backend,
            "strategy": options.strategy,
            "reuse": options.reuse,
            "io": options.io,
            "model": {"name": model.name, "hash": model.hash, "dir": "model"},
            "config": model.describe(),
            "inputs": {
                "size": n_inputs,
                "variables": list(model.variables),
                "type": input_type.name,
                "precision": _precision(input_type),
                "quantizer": {"bits": model.input_quantizer.bits, "integer": model.input_quantizer.integer},
            },
            "latent": {
                "size": n_latent,
                "bits": latent_bits,
                "integer": model.latent_quantizer.integer,
                "lsb": model.latent_lsb,
                "type": latent_type.name,
                "precision": _precision(latent_type),
            },
            "link": {"width": options.link_width, "words": n_link_words},
            **({"anomaly_score": score.to_json() | {"offset": n_latent * latent_bits}} if score else {}),
            "precisions": layer_precisions(hls_model),
            "traced_layers": [name for name, _ in traced],
            "test_bench_jets": n_tb,
            "versions": stack_versions(),
        }
        unavailable = _write_estimate(tmp, model.firmware_ir, options)
        if unavailable:
            manifest["estimate_unavailable"] = unavailable
        write_json(tmp / MANIFEST, manifest)
    return HlsProject(Path(out), manifest)


def _write_estimate(project: Path, encoder, options: HlsOptions) -> str | None:
    """A labelled resource/latency estimate from da4ml's cost model, for CI machines without Vivado; returns why
    there is none (da4ml missing, or layers the open path does not cover, such as convolutions)."""
    try:
        from .rtl import estimate
    except ImportError:
        return "da4ml is not installed (pip install 'trigcomp[rtl]')"
    try:
        estimate(encoder, clock_ns=options.clock_ns, part=options.board.part).write(project)
    except UserError as err:
        return f"the open-path estimate does not cover this encoder: {err}"
    return None


def project_digest(path: Path) -> str:
    """sha256 over every file's relative path and bytes: equal digests mean byte-identical projects."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Vendor builds
# ---------------------------------------------------------------------------------------------------------------

VENDOR_TOOLS = {"vivado": "vivado_hls", "vitis": "vitis_hls"}


def build_project(project: HlsProject, csynth: bool, vsynth: bool) -> dict[str, Any]:
    """Synthesise the project's trigcomp_top with the vendor HLS tool (and Vivado), with build_trigcomp_top.tcl;
    refuse in one line when the tool is not installed."""
    tool = VENDOR_TOOLS[project.backend]
    missing = [t for t in (tool,) + (("vivado",) if vsynth else ()) if shutil.which(t) is None]
    if missing:
        raise UserError(
            f"{missing[0]} is not on PATH: vendor synthesis cannot run here (for numbers without vendor tools "
            "use `trigcomp rtl` or `trigcomp report`, which labels estimates)"
        )
    flow = project.vendor_flow
    if not (project.path / flow).is_file():
        raise UserError(f"{project.path} has no {flow} (made by an older trigcomp): regenerate it with `trigcomp hls`")
    # like hls4ml's build_prj.tcl, the flow reads its switches from one "key=value ..." argument
    command = [tool, "-f", flow, f"reset=1 synth={int(csynth)} export=0 vsynth={int(vsynth)}"]
    completed = subprocess.run(command, cwd=project.path, check=False, capture_output=True, text=True)
    if completed.returncode != 0:
        last = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"{tool} failed (exit {completed.returncode}): {last[0]}")
    return {
        "tool": tool,
        "command": " ".join(command),
        "top": project.top,
        "csynth": csynth,
        "vsynth": vsynth,
    }
