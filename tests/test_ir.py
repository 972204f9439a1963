"""trigcomp.ir: the one encoder description, and per-variable input formats ([input.variables])."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trigcomp.config import config_from_dict
from trigcomp.errors import UserError
from trigcomp.ir import FixedPoint, widest
from trigcomp.model import load_model

from .conftest import REPO, TINY_CONFIG

#: Energy fractions in [0, 1] need one integer bit, not eleven; counts need no fractional bits.
PER_VARIABLE = {"eta": [12, 3], "chHEF": [10, 1], "neHEF": [10, 1], "muEF": [10, 1], "nConstituents": [9, 8]}


@pytest.fixture(scope="module")
def per_variable_model(tmp_path_factory, jets):
    from trigcomp.model import save_model, train

    raw = TINY_CONFIG | {"name": "tiny-pv", "input": {"bits": 20, "integer": 11, "variables": PER_VARIABLE}}
    return save_model(train(config_from_dict(raw), jets), tmp_path_factory.mktemp("models") / "tiny-pv")


def test_fixed_point_words_round_half_to_even_and_saturate():
    fmt = FixedPoint(6, 2)  # sign + 2 integer + 3 fractional bits
    assert (fmt.fractional, fmt.lsb, fmt.min, fmt.max) == (3, 0.125, -4.0, 3.875)
    words, saturated = fmt.words(np.array([0.0625, 0.1875, 3.95, -4.2, 1e30]))
    assert words.tolist() == [0, 2, 31, -32, 31] and saturated.tolist() == [False, False, True, True, True]
    assert FixedPoint(8, 3, signed=False).word_range == (0, 255)
    assert FixedPoint(8, 3, symmetric=True).word_range == (-127, 127)
    assert widest((FixedPoint(20, 11), FixedPoint(10, 1))) == FixedPoint(20, 11)
    assert widest((FixedPoint(12, 3), FixedPoint(9, 8))) == FixedPoint.from_kif(True, 8, 8)


def test_input_variables_config_round_trips_and_is_refused_when_bad():
    config = config_from_dict(TINY_CONFIG | {"input": {"variables": {"chHEF": [10, 1]}}})
    formats = config.input_formats(("pt", "chHEF"))
    assert formats == (FixedPoint(20, 11), FixedPoint(10, 1))
    assert config.to_dict()["input"]["variables"] == {"chHEF": [10, 1]}
    assert config_from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert "variables" not in config_from_dict(TINY_CONFIG).to_dict()["input"]  # old models keep their hash
    for bad in ([10], [10, 10], [1, 0], "10,1", [10.0, 1]):
        with pytest.raises(UserError, match="input.variables.chHEF must be"):
            config_from_dict(TINY_CONFIG | {"input": {"variables": {"chHEF": bad}}})
    with pytest.raises(UserError, match="input.variables.bogus is not one of the model's variables"):
        config_from_dict(TINY_CONFIG | {"input": {"variables": {"bogus": [10, 1]}}}).input_formats(("pt",))


def test_shipped_models_load_with_their_recorded_hash():
    for name in ("jet4", "jet10"):
        recorded = json.loads((REPO / "models" / name / "model.json").read_text())["hash"]
        model = load_model(REPO / "models" / name)
        assert model.hash == recorded
        assert not model.firmware_ir.input.per_value


def test_step_names_are_the_firmware_layer_names(tiny_model):
    """csim's layer trace pairs hls4ml's layers with the description's steps by name."""
    names = [layer.name for layer in tiny_model.firmware_encoder().layers[1:]]
    assert tiny_model.firmware_ir.layer_names() == names


def test_float_forward_is_the_unquantized_model(tiny_model, jets):
    """Independent: normalise, then float shadow weights and ReLU, written out here."""
    x = jets.values[:500].astype(np.float64)
    h = tiny_model.normalization.normalise_inputs(x)
    for name in ("enc_dense0", "enc_latent"):
        kernel, bias = tiny_model.weights[name]
        h = h @ kernel.astype(np.float64) + bias
        h = np.maximum(h, 0.0) if name == "enc_dense0" else h
    assert np.allclose(tiny_model.encode_float(x), h, rtol=0, atol=1e-12)


def test_per_variable_formats_reach_the_first_layer_and_the_reference(per_variable_model, jets):
    model = per_variable_model
    spec = model.firmware_ir
    index = {name: j for j, name in enumerate(model.variables)}
    assert spec.input.per_value and spec.input.format == FixedPoint(20, 11)  # the port: the widest
    assert spec.input.formats[index["chHEF"]] == FixedPoint(10, 1)
    assert spec.input.formats[index["pt"]] == FixedPoint(20, 11)
    x = jets.values[:3000].astype(np.float64)
    x[:50, index["chHEF"]] = 7.5  # beyond chHEF's own range [-2, 2): saturates, though the port holds 7.5
    exact, _ = spec.reference(spec.quantize_inputs(x)[0])
    qkeras = model.encode(x)
    assert np.array_equal(qkeras, exact)
    clipped = x.copy()
    clipped[:50, index["chHEF"]] = FixedPoint(10, 1).max
    assert np.array_equal(model.encode(clipped), qkeras)
    # the training graph quantizes each variable as the board receives it
    from .test_model import _training_graph_latent

    assert np.array_equal(_training_graph_latent(model, x), qkeras)


def test_per_variable_saturation_is_counted_per_variable(per_variable_model, jets):
    from trigcomp.csim import saturation_counts

    x = jets.values[:100].astype(np.float64)
    x[:7, per_variable_model.variables.index("muEF")] = 3.0  # within the port, beyond muEF's [10, 1]
    _, accumulator = per_variable_model.encode_with_accumulator(x)
    counts = saturation_counts(per_variable_model, x, accumulator)
    assert (counts["input_values"], counts["input_jets"]) == (7, 7)


def test_per_variable_da4ml_trace_is_exact_and_smaller(per_variable_model, jets):
    """da4ml sizes the folded first layer by each variable's own range: bit-exact, and fewer adder bits than
    the same weights behind one 20-bit input type."""
    pytest.importorskip("da4ml")
    from dataclasses import replace

    from trigcomp.rtl.tracing import trace

    spec = per_variable_model.firmware_ir
    x = jets.values[:2000].astype(np.float64)
    quantized, _ = spec.quantize_inputs(x)
    exact, _ = spec.reference(quantized)
    traced = trace(spec)
    assert np.array_equal(traced.comb.predict(quantized, n_threads=1), exact)
    one_type = replace(spec, input=replace(spec.input, formats=(spec.input.format,) * spec.n_inputs))
    assert traced.comb.cost < trace(one_type).comb.cost


@pytest.mark.slow
def test_per_variable_hls_project_is_bit_exact_in_csim(tmp_path, per_variable_model, jets):
    from trigcomp.boards import get_board
    from trigcomp.csim import run_csim
    from trigcomp.hls import HlsOptions, write_hls_project

    project = write_hls_project(
        per_variable_model, tmp_path / "prj", HlsOptions(get_board("vu13p"), 5.0), jets.values[:200]
    )
    assert project.manifest["inputs"]["precision"].startswith("ap_fixed<20,12,")  # the port: the widest
    result = run_csim(project, per_variable_model, jets.values, jets=5000, adversarial=500, processes=1)
    assert result.mismatches == 0 and result.passed
    assert result.saturated["input_values"] > 0


def test_a_conv_encoder_is_a_step_list_built_without_its_source():
    """The ECON-T Conv2D example parsed, then rebuilt from the steps' own fields alone (as a trained Conv2D
    encoder would be): the same latent as the original model, and as the exact reference."""
    import sys
    from dataclasses import replace

    from trigcomp.ir import Conv, Dense, exact_arithmetic, from_keras

    sys.path.insert(0, str(REPO / "examples"))
    from econ_t_encoder import build_encoder, example_cells

    original = build_encoder("conv", 0)
    spec = from_keras(original)
    assert [type(step).__name__ for step in spec.steps] == [
        "Reshape",
        "Conv",
        "Quantize",
        "Reshape",
        "Dense",
        "Quantize",
    ]
    weights = {"kernel_format": FixedPoint(6, 0), "bias_format": FixedPoint(10, 3)}
    own = replace(
        spec,
        input=replace(spec.input, source=None),
        steps=tuple(
            replace(step, source=None, **(weights if isinstance(step, (Conv, Dense)) else {})) for step in spec.steps
        ),
    )
    cells = example_cells(500, 1)
    quantized, _ = spec.quantize_inputs(cells)
    exact, _ = spec.reference(quantized)
    with exact_arithmetic():
        rebuilt = own.to_keras().predict(quantized, verbose=0)
    assert np.array_equal(rebuilt, exact)
    assert np.array_equal(original.predict(quantized.astype(np.float32), verbose=0), exact)
    assert len(np.unique(exact)) > 10


def test_a_convolutions_constant_matrix_is_computed_once_per_step(monkeypatch):
    """The reference, the digest and the exactness check all multiply by the convolution's constant matrix (a TF
    convolution of an identity): it is computed once per step, shared read-only, and equal to a fresh one."""
    import sys
    from dataclasses import replace

    from trigcomp.ir import Conv, from_keras

    sys.path.insert(0, str(REPO / "examples"))
    from econ_t_encoder import build_encoder, example_cells

    convolve, images = Conv._convolve, []
    monkeypatch.setattr(Conv, "_convolve", lambda self, x, kernel: images.append(len(x)) or convolve(self, x, kernel))
    spec = from_keras(build_encoder("conv", 0))  # checks the encoder: the first use of the matrix
    conv = next(step for step in spec.steps if isinstance(step, Conv))
    quantized, _ = spec.quantize_inputs(example_cells(50, 1))
    first, _ = spec.reference(quantized)
    spec.digest(), spec.check_exact()
    second, _ = spec.reference(quantized)
    n_in = int(np.prod(conv.in_shape))
    assert images == [n_in] and np.array_equal(first, second)  # one convolution of the identity, for everything
    kernel, bias = conv.matrix()
    fresh_kernel, fresh_bias = replace(conv).matrix()  # a new step (e.g. folded, or rebuilt) computes its own
    assert images == [n_in, n_in] and np.array_equal(kernel, fresh_kernel) and np.array_equal(bias, fresh_bias)
    assert not kernel.flags.writeable and not bias.flags.writeable


@pytest.mark.slow
@pytest.mark.rtl
def test_per_variable_rtl_is_bit_exact_in_verilator(tmp_path, per_variable_model, jets):
    """Each input value enters the da4ml Verilog in its own format (the harness pads to the widest port word)."""
    import shutil

    if shutil.which("verilator") is None:
        pytest.skip("verilator not on PATH")
    from trigcomp.rtl import run_rtl

    result = run_rtl(per_variable_model, tmp_path / "rtl", jets.values[:1000], jets=5000, synthesize=False)
    manifest = result.project.manifest
    assert len(manifest["layers"][0]["formats"]) == len(per_variable_model.variables)
    assert result.mismatches == 0 and result.qkeras_mismatches == 0
    assert all(comparison.saturated_values > 0 for comparison in result.comparisons.values())
