"""The open RTL path: da4ml Verilog, Verilator bit-exactness against QKeras, Yosys synthesis.

Encoders are built by trigcomp.rtl.synthetic with the exact layer pattern trigcomp.model produces (input quantizer,
QDense with quantized weights, quantized_relu, quantized_bits latent) and small deterministic random weights.
The first da4ml trace in a fresh environment compiles its serial solver with numba (~70 s CPU, cached in site-packages).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from trigcomp.compare import compare_words
from trigcomp.errors import UserError
from trigcomp.ir import Dense
from trigcomp.rtl.synthetic import EncoderConfig, build_encoder, verification_inputs

REPO = Path(__file__).parents[1]

CONFIGS = {
    "4-3": EncoderConfig((4, 3)),
    "10-16-8": EncoderConfig((10, 16, 8), input_q=(10, 4), kernel_q=(8, 1), hidden_q=(6, 2), latent_q=(6, 2), seed=1),
    "10-32-16-8-wide-first": EncoderConfig(
        (10, 32, 16, 8), input_q=(14, 7), first_kernel_q=(12, 2), first_bias_q=(12, 4), latent_symmetric=1, seed=2
    ),
}


@pytest.fixture(scope="module")
def encoders():
    return {name: build_encoder(config) for name, config in CONFIGS.items()}


@pytest.fixture(scope="module")
def small_project(tmp_path_factory, encoders):
    from trigcomp.rtl import write_rtl_project

    return write_rtl_project(encoders["4-3"], tmp_path_factory.mktemp("rtl") / "small", manifest={"model": "4-3"})


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not on PATH: apt-get install {tool}")


def ties_before(spec, quantized_inputs: np.ndarray) -> int:
    """Values that hit exactly half an LSB before the latent quantizer (half-to-even rounding decides them)."""
    _, before = spec.reference(quantized_inputs)
    scaled = before * 2.0**spec.output_format.fractional
    return int((scaled - np.floor(scaled) == 0.5).sum())


# ---------------------------------------------------------------------------------------------------------------
# Parsing the encoder


def test_refuses_layers_outside_the_chain(encoders):
    import tensorflow as tf
    from qkeras import QActivation, quantized_bits

    from trigcomp.rtl import parse_encoder

    inp = tf.keras.Input((4,))
    x = QActivation(quantized_bits(8, 3, alpha=1), name="input_q")(inp)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(3, name="plain_dense")(x))
    with pytest.raises(UserError, match="plain_dense"):
        parse_encoder(model)


def test_refuses_data_dependent_quantizer():
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits

    from trigcomp.rtl import parse_encoder

    inp = tf.keras.Input((4,))
    x = QActivation(quantized_bits(8, 3, alpha=1), name="input_q")(inp)
    x = QDense(3, kernel_quantizer=quantized_bits(6, 0, alpha=1), name="dense0")(x)
    model = tf.keras.Model(inp, QActivation(quantized_bits(8, 3, alpha="auto_po2"), name="latent_auto")(x))
    with pytest.raises(UserError, match="latent_auto"):
        parse_encoder(model)


def test_software_input_quantizer_matches_qkeras(encoders):
    """Inputs up to twice the range, and exact ties, quantize as the encoder's own input quantizer does. Far out of
    range, QKeras's straight-through arithmetic (x + (q - x) in float32) leaves the grid: why simulate() and
    verify() quantize in software and feed both sides the same words."""
    import tensorflow as tf

    from trigcomp.rtl import parse_encoder

    rng = np.random.default_rng(0)
    for encoder in encoders.values():
        spec = parse_encoder(encoder)
        fmt = spec.input.format
        low, high = (word * fmt.lsb for word in fmt.word_range)
        ties = (rng.integers(*fmt.word_range, (1000, spec.n_inputs)) + 0.5) * fmt.lsb
        raw = np.concatenate([rng.uniform(2 * low, 2 * high, (5000, spec.n_inputs)), ties])
        quantized, saturated = spec.quantize_inputs(raw)
        input_quantizer = tf.keras.Model(encoder.input, encoder.get_layer("input_q").output)
        expected = input_quantizer.predict(raw.astype(np.float32), batch_size=8192, verbose=0)
        assert np.array_equal(quantized, expected)
        assert saturated.any() and not saturated.all()

        far = np.full((1, spec.n_inputs), 1e6 + 0.3)
        assert spec.quantize_inputs(far)[0][0, 0] == high
        assert input_quantizer.predict(far.astype(np.float32), verbose=0)[0, 0] != high


def test_trace_is_bit_exact_in_da4ml_interpreter(encoders):
    """The traced logic (da4ml's C++ interpreter) equals QKeras and exact arithmetic, ties included."""
    from trigcomp.rtl import parse_encoder
    from trigcomp.rtl.tracing import trace

    for name, encoder in encoders.items():
        spec = parse_encoder(encoder)
        quantized, _ = spec.quantize_inputs(verification_inputs(encoder, 20_000))
        exact, _ = spec.reference(quantized)
        qkeras = encoder.predict(quantized.astype(np.float32), batch_size=8192, verbose=0)
        interpreted = trace(spec).comb.predict(quantized, n_threads=1)
        assert ties_before(spec, quantized) > 0, name
        assert np.array_equal(qkeras, exact), name
        assert compare_words(qkeras, interpreted, spec.output_format.lsb).mismatches == 0, name


@pytest.mark.parametrize("model_dir", sorted(p.parent.name for p in (REPO / "models").glob("*/model.json")))
def test_reference_models_trace_bit_exact(model_dir):
    """The trained reference encoders (20-bit input, normalisation folded into the first layer): their deep
    constant matrices drive da4ml's scale factors to ~2^-37, where da4ml's own SAT emitted wrong constants
    (models/jet10-8x8: every jet wrong); trigcomp saturates with its own multiplexers instead."""
    from trigcomp.model import load_model
    from trigcomp.rtl import parse_encoder
    from trigcomp.rtl.tracing import trace

    encoder = load_model(REPO / "models" / model_dir).firmware_encoder()
    spec = parse_encoder(encoder)
    quantized, _ = spec.quantize_inputs(verification_inputs(encoder, 20_000))
    exact, _ = spec.reference(quantized)
    interpreted = trace(spec).comb.predict(quantized, n_threads=1)
    assert compare_words(exact, interpreted, spec.output_format.lsb).mismatches == 0


# ---------------------------------------------------------------------------------------------------------------
# The project: determinism, refusal, timing


def test_project_is_deterministic(tmp_path, encoders):
    from trigcomp.rtl import write_rtl_project

    first = write_rtl_project(encoders["10-16-8"], tmp_path / "a", manifest={"model_hash": "abc"})
    write_rtl_project(encoders["10-16-8"], tmp_path / "b", manifest={"model_hash": "abc"})
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    assert Path("pipelined/src/trigcomp_encoder.v") in files_a
    assert Path("combinational/src/trigcomp_encoder.v") in files_a
    for relative in files_a:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes(), relative
    manifest = first.manifest
    assert manifest["kind"] == "rtl" and manifest["model_hash"] == "abc"
    assert manifest["latency_cycles"] == manifest["pipeline_stages"] >= 1
    assert [layer["layer"] for layer in manifest["layers"]] == ["input_q", "dense0", "relu0", "dense1", "latent"]
    assert manifest["layers"][-1]["format"] == {
        "signed": True,
        "integer": 2,
        "fractional": 3,
        "bits": 6,
        "symmetric": False,
    }
    assert not list(tmp_path.glob(".a.*")), "temporary directory left behind"


def test_refuses_existing_output_without_force(tmp_path, encoders):
    from trigcomp.rtl import write_rtl_project

    out = tmp_path / "prj"
    write_rtl_project(encoders["4-3"], out)
    before = (out / "trigcomp.json").read_bytes()
    with pytest.raises(UserError, match="already exists"):
        write_rtl_project(encoders["10-16-8"], out)
    assert (out / "trigcomp.json").read_bytes() == before
    write_rtl_project(encoders["10-16-8"], out, force=True)
    assert (out / "trigcomp.json").read_bytes() != before

    unrelated = tmp_path / "notes"
    unrelated.mkdir()
    (unrelated / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not an RTL project"):
        write_rtl_project(encoders["4-3"], unrelated, force=True)
    assert (unrelated / "keep.txt").read_text() == "mine"


def test_pipeline_follows_the_stage_delay(tmp_path, encoders):
    from trigcomp.rtl import write_rtl_project
    from trigcomp.rtl.tracing import cutoff_levels

    assert cutoff_levels(5.0) == 4 and cutoff_levels(2.0) == 1 and cutoff_levels(0.1) == 1
    default = write_rtl_project(encoders["10-16-8"], tmp_path / "default")
    short = write_rtl_project(encoders["10-16-8"], tmp_path / "short", pipeline_ns=2.0)
    assert short.pipeline_stages > default.pipeline_stages
    assert short.manifest["adder_levels"]["deepest_stage"] <= 1 < default.manifest["adder_levels"]["deepest_stage"]
    with pytest.raises(UserError, match="at most the clock period"):
        write_rtl_project(encoders["4-3"], tmp_path / "slow", clock_ns=5.0, pipeline_ns=8.0)
    with pytest.raises(UserError, match="positive"):
        write_rtl_project(encoders["4-3"], tmp_path / "bad", clock_ns=-1.0)


def test_estimate_schema(encoders, small_project):
    from trigcomp.rtl import estimate

    payload = estimate(encoders["4-3"]).to_json()
    assert payload["schema_version"] == 1
    assert payload["source"] == "estimate:da4ml"
    assert payload["clock_ns"] == 5.0 and payload["ii"] == 1
    assert payload["latency_cycles"] == {"best": small_project.latency_cycles, "worst": small_project.latency_cycles}
    assert payload["latency_ns"] == 5.0 * small_project.latency_cycles
    resources = payload["resources"]
    assert set(resources) == {"LUT", "FF", "DSP", "BRAM", "CARRY"}
    assert resources["LUT"] > 0 and resources["FF"] > 0 and resources["CARRY"] > 0
    assert resources["DSP"] == 0 and resources["BRAM"] == 0
    assert payload["logic_depth"] >= 1 and payload["part"].startswith("xcvu13p") and payload["note"]


@pytest.mark.parametrize("model_dir", ["jet4", "jet10"])
def test_estimate_skips_da4mls_parallel_solver_with_the_same_result(model_dir, monkeypatch):
    """The trace solves its constant matrices without da4ml's numba-parallel ``solve`` (whose compile would double
    the cost of a first estimate on a fresh machine) and gets the estimate ``x @ kernel`` (``solve``) gives."""
    import functools

    from da4ml.trace import fixed_variable_array

    from trigcomp.model import load_model
    from trigcomp.rtl import estimate, tracing

    encoder = load_model(REPO / "models" / model_dir).firmware_ir
    solve, calls = fixed_variable_array.solve, []

    @functools.wraps(solve)  # keeps solve's signature, which da4ml reads its default solver options from
    def counted_solve(*args, **kwargs):
        calls.append(args[0].shape)
        return solve(*args, **kwargs)

    monkeypatch.setattr(fixed_variable_array, "solve", counted_solve)
    monkeypatch.setattr(tracing, "_TRACES", {})
    ours = estimate(encoder).to_json()
    assert calls == []
    monkeypatch.setattr(tracing, "_constant_matmul", lambda x, kernel: x @ kernel)
    monkeypatch.setattr(tracing, "_TRACES", {})
    assert estimate(encoder).to_json() == ours
    assert len(calls) == sum(isinstance(step, Dense) for step in encoder.steps)


# ---------------------------------------------------------------------------------------------------------------
# Verilator and Yosys


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("name", list(CONFIGS))
def test_verilator_is_bit_exact(tmp_path, encoders, name):
    require("verilator")
    from trigcomp.rtl import parse_encoder, verify, write_rtl_project

    encoder = encoders[name]
    project = write_rtl_project(encoder, tmp_path / name)
    inputs = verification_inputs(encoder, 100_000)
    spec = parse_encoder(encoder)
    assert ties_before(spec, spec.quantize_inputs(inputs)[0]) > 100
    variants = ("pipelined", "combinational") if name == "10-16-8" else ("pipelined",)
    for variant in variants:
        result = verify(encoder, project, inputs, variant)
        assert result.jets == len(inputs) > 100_000
        assert result.saturated_jets > 0
        assert result.qkeras_inexact_jets == 0
        assert result.mismatches == 0, (variant, result.mismatch_indices)
        assert result.exact_mismatches == 0 and result.firmware_errors == 0


@pytest.mark.slow
@pytest.mark.rtl
def test_verilator_comparison_catches_a_flipped_bit(tmp_path, encoders):
    """Flip the lowest output bit in the generated Verilog: every jet must then be reported as a mismatch."""
    require("verilator")
    from trigcomp.rtl import verify, write_rtl_project

    encoder = encoders["4-3"]
    project = write_rtl_project(encoder, tmp_path / "tampered")
    top = project.path / "pipelined/src/trigcomp_encoder.v"
    text = top.read_text()
    last_stage = project.pipeline_stages - 1
    statement = f"model_out <= stage{last_stage}_out;"
    assert statement in text
    top.write_text(text.replace(statement, f"model_out <= stage{last_stage}_out ^ 1;"))
    inputs = verification_inputs(encoder, 2_000)
    result = verify(encoder, project, inputs)
    assert result.mismatches == result.jets == len(inputs)
    assert result.firmware_errors == result.jets and result.mismatch_indices[:3] == (0, 1, 2)


@pytest.mark.slow
@pytest.mark.rtl
def test_yosys_synthesis_of_smallest_encoder(small_project):
    require("yosys")
    import json

    from trigcomp.rtl import synthesize

    result = synthesize(small_project)
    assert result.lut > 0 and result.dsp == 0 and result.bram == 0
    assert result.ff > 0 and result.carry > 0 and result.logic_depth > 0
    written = json.loads((small_project.path / "estimate.json").read_text())
    assert written["source"] == "estimate:yosys+da4ml"
    assert written["resources"] == {"LUT": result.lut, "FF": result.ff, "DSP": 0, "BRAM": 0, "CARRY": result.carry}
    assert written["logic_depth"] == result.logic_depth
    assert written["latency_cycles"]["worst"] == small_project.latency_cycles


@pytest.mark.slow
@pytest.mark.rtl
def test_run_rtl_on_a_trained_model(tmp_path, tiny_model, jets):
    """`trigcomp rtl` end to end on a trained model: project, both variants in Verilator, Yosys, estimate.json."""
    require("verilator")
    require("yosys")
    import json

    from trigcomp.rtl import run_rtl

    result = run_rtl(tiny_model, tmp_path / "tiny-rtl", jets.values, jets=20_000)
    payload = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert result.mismatches == 0 and result.qkeras_mismatches == 0
    assert set(payload["comparisons"]) == {"pipelined", "combinational"}
    for comparison in payload["comparisons"].values():
        assert comparison["jets"] == 20_000 and comparison["mismatches"] == 0
        assert 0.0 <= comparison["mean_lsb_vs_float"] <= comparison["max_lsb_vs_float"]
    stimulus = payload["stimulus"]  # its keys are read by users' CI: they may grow, never change
    assert {"real", "jittered", "uniform", "edges"} <= set(stimulus) and sum(stimulus.values()) == 20_000
    assert stimulus["real"] == 16_000 and stimulus["latent_ties"] > 0 and payload["seconds"]["stimulus"] >= 0
    assert {"verilator_build_pipelined", "verilator_build_combinational"} <= set(payload["seconds"])
    assert payload["estimate"]["source"] == "estimate:yosys+da4ml"
    assert payload["synthesis"]["dsp"] == 0 and payload["synthesis"]["lut"] > 0
    manifest = json.loads((tmp_path / "tiny-rtl" / "trigcomp.json").read_text())
    assert manifest["model"]["hash"] == tiny_model.hash
    assert "differ from QKeras" in result.format_text()

    import xml.etree.ElementTree as ET

    from trigcomp.ci import rtl_cases
    from trigcomp.junit import write_junit

    write_junit(tmp_path / "rtl.xml", "trigcomp rtl", rtl_cases(result, tiny_model.name))
    suite = ET.parse(tmp_path / "rtl.xml").getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("4", "0")
    assert {case.get("classname") for case in suite.iter("testcase")} == {f"trigcomp.rtl.{tiny_model.name}"}
