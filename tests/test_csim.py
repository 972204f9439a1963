"""trigcomp.csim: the harness proves equality, and catches (and localises) a one-LSB fault."""

import re
import shutil

import numpy as np
import pytest

from trigcomp.csim import make_inputs, run_csim, saturation_counts, unpack_latent
from trigcomp.hls import load_project
from trigcomp.rtl import parse_encoder
from trigcomp.weights_proof import read_weight_arrays


@pytest.mark.parametrize(("n_latent", "bits", "width"), [(4, 6, 64), (8, 4, 16), (3, 8, 16), (5, 7, 32)])
def test_unpack_inverts_the_packing(n_latent, bits, width):
    rng = np.random.default_rng(bits)
    codes = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), size=(100, n_latent))
    n_words = -(-n_latent * bits // width)
    packed = np.zeros((100, n_words), dtype=np.uint64)
    for i in range(n_latent):  # the same little-end-first layout as firmware/trigcomp_top.cpp
        raw = (codes[:, i] & (2**bits - 1)).astype(np.uint64)
        for bit in range(bits):
            word, offset = divmod(i * bits + bit, width)
            packed[:, word] |= ((raw >> np.uint64(bit)) & np.uint64(1)) << np.uint64(offset)
    assert np.array_equal(unpack_latent(packed, n_latent, bits, width), codes)


def test_harness_passes_and_reports(tiny_project, tiny_model, jets):
    result = run_csim(tiny_project, tiny_model, jets.values, jets=20_000, adversarial=2_000, processes=2)
    payload = result.to_json()
    assert payload["mismatches"] == 0 and payload["passed"]
    assert (payload["jets"], payload["data_jets"], payload["adversarial_jets"]) == (20_000, 18_000, 2_000)
    # saturation counted independently: the same inputs through the RTL path's exact fixed-point reference
    spec = parse_encoder(tiny_model.firmware_encoder())
    x = make_inputs(jets.values, tiny_model.input_quantizer, 20_000, 2_000, seed=0)
    quantized, input_saturated = spec.quantize_inputs(x)
    _, before_latent = spec.reference(quantized)
    _, latent_saturated = spec.output_format.words(before_latent)
    # A value exactly half an LSB above the top rounds (half to even) out of range and is clipped by the reference;
    # csim's count leaves these ties out (they give the top word either way), so they are left out here too.
    input_saturated &= x != spec.input.format.word_range[1] * spec.input.format.lsb + spec.input.format.lsb / 2
    out = spec.output_format
    latent_saturated &= before_latent != out.word_range[1] * out.lsb + out.lsb / 2
    assert payload["saturated"] == {
        "input_values": int(input_saturated.sum()),
        "input_jets": int(input_saturated.any(axis=1).sum()),
        "latent_values": int(latent_saturated.sum()),
        "latent_jets": int(latent_saturated.any(axis=1).sum()),
    }
    assert payload["saturated"]["input_jets"] > 0  # the adversarial jets outside the input range are counted
    assert payload["max_lsb_vs_float"] >= payload["mean_lsb_vs_float"] > 0


def _inject_one_lsb_fault(project_dir):
    """Change the first weight of the first dense layer by one LSB of its type, in both copies hls4ml writes."""
    weights = project_dir / "firmware" / "weights"
    header = min(weights.glob("w*.h"), key=lambda p: int(re.sub(r"\D", "", p.stem)))
    precision = re.search(r"(\w+)_weight_t", header.read_text()).group(0)
    typedef = re.search(
        rf"typedef ap_fixed<(\d+),(-?\d+)[^>]*> {precision};", (project_dir / "firmware" / "defines.h").read_text()
    )
    lsb = 2.0 ** (int(typedef.group(2)) - int(typedef.group(1)))
    txt = header.with_suffix(".txt")
    values = txt.read_text().split(",")
    values[0] = repr(float(values[0]) + lsb)
    txt.write_text(",".join(values))
    header.write_text(re.sub(r"= \{[^,]*", "= {" + values[0], header.read_text(), count=1))
    return header.stem


def test_one_lsb_fault_is_caught_and_named(tmp_path, tiny_project, tiny_model, jets):
    faulty_dir = tmp_path / "faulty"
    shutil.copytree(tiny_project.path, faulty_dir)
    _inject_one_lsb_fault(faulty_dir)
    result = run_csim(load_project(faulty_dir), tiny_model, jets.values, jets=20_000, adversarial=2_000)
    assert result.mismatches > 0
    first = result.first_mismatch
    assert first["expected_words"] != first["firmware_words"]
    assert first["first_divergent_layer"] == first["first_divergence"]["layer"] == "enc_dense0"
    assert [(entry["layer"], entry["equal"]) for entry in first["layers"][:2]] == [
        ("input_q", True),
        ("enc_dense0", False),
    ]


def test_a_fault_in_the_last_latent_value_alone_is_caught(tmp_path, tiny_project, tiny_model, jets):
    """Zero the csim copy of the kernel column that feeds only the last latent value: every other value stays."""
    faulty_dir = tmp_path / "faulty"
    shutil.copytree(tiny_project.path, faulty_dir)
    name = next(
        name for name, (typedef, _, _) in read_weight_arrays(faulty_dir).items() if typedef == "enc_latent_weight_t"
    )
    txt = faulty_dir / "firmware" / "weights" / f"{name}.txt"
    values = txt.read_text().split(",")
    n_latent = tiny_project.n_latent
    values = [" 0" if i % n_latent == n_latent - 1 else v for i, v in enumerate(values)]
    txt.write_text(",".join(values))
    result = run_csim(load_project(faulty_dir), tiny_model, jets.values, jets=5_000, adversarial=500)
    assert result.mismatches > 0
    expected, firmware = result.first_mismatch["expected_words"], result.first_mismatch["firmware_words"]
    assert expected[:-1] == firmware[:-1] and expected[-1] != firmware[-1]


def test_latent_saturation_is_counted_against_the_latent_range(tiny_model):
    q_in, q_latent = tiny_model.config.input_quantizer, tiny_model.config.latent_quantizer
    assert q_latent.max + 1 < q_in.max  # the values below are inside the input range, outside the latent's
    x = np.zeros((4, len(tiny_model.variables)))
    accumulator = np.zeros((4, tiny_model.config.latent.size))
    accumulator[1, 0] = q_latent.max + q_latent.lsb  # one LSB above: saturates
    accumulator[2, :2] = q_latent.min - 1.0
    accumulator[3, 0] = q_latent.max + q_latent.lsb / 4  # rounds to max: not saturated
    counts = saturation_counts(tiny_model, x, accumulator)
    assert counts == {"input_values": 0, "input_jets": 0, "latent_values": 3, "latent_jets": 2}
    x[0, 0] = q_in.max + q_in.lsb
    assert saturation_counts(tiny_model, x, accumulator)["input_jets"] == 1
