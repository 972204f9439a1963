"""trigcomp.weights_proof: the weights csim loads (.txt) are the ones synthesis compiles (.h) and the model's."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from trigcomp.config import load_config
from trigcomp.weights_proof import fixed_words, fractional_bits, prove_weights, read_typedefs, read_weight_arrays

from .test_cli import run_cli, write_nanoaod

REPO = Path(__file__).parents[1]
JET4 = REPO / "models" / "jet4"
# hls4ml names each dense layer's arrays by type: <layer>_weight_t, <layer>_bias_t (w<N>/b<N> in the files)
JET4_HIDDEN = load_config(REPO / "configs" / "jet4.toml").encoder.hidden
JET4_ARRAY_TYPES = [
    f"{layer}_{kind}_t"
    for layer in [f"enc_dense{i}" for i in range(len(JET4_HIDDEN))] + ["enc_latent"]
    for kind in ("weight", "bias")
]
TYPES = [
    "ap_fixed<4,2>",
    "ap_fixed<4,2,AP_RND>",
    "ap_fixed<4,2,AP_RND_CONV>",
    "ap_fixed<4,2,AP_RND_ZERO>",
    "ap_fixed<4,2,AP_RND_INF>",
    "ap_fixed<4,2,AP_RND_MIN_INF>",
    "ap_fixed<4,2,AP_TRN_ZERO>",
    "ap_fixed<4,2,AP_TRN,AP_SAT>",
    "ap_fixed<4,2,AP_TRN,AP_SAT_ZERO>",
    "ap_fixed<4,2,AP_TRN,AP_SAT_SYM>",
    "ap_ufixed<4,2,AP_RND_CONV,AP_SAT>",
    "ap_ufixed<4,2>",
    "ap_fixed<6,-1>",
    "ap_fixed<12,1>",
]  # in the order tests/data/ap_fixed/ap_fixed_words.cpp prints them


@pytest.fixture(scope="module")
def jet4_project(tmp_path_factory):
    from trigcomp.boards import get_board
    from trigcomp.hls import HlsOptions, write_hls_project
    from trigcomp.model import load_model

    model = load_model(JET4)
    jets = np.random.default_rng(0).normal(size=(20, len(model.variables))) * 10 + 50
    out = tmp_path_factory.mktemp("jet4") / "project"
    return write_hls_project(model, out, HlsOptions(get_board("vu13p"), 5.0), jets), model


def test_fixed_words_match_the_cpp_conversion(tmp_path, tiny_project):
    """Every rounding and overflow mode, checked against Xilinx's ap_fixed compiled with g++."""
    binary = tmp_path / "ap_fixed_words"
    source = REPO / "tests" / "data" / "ap_fixed" / "ap_fixed_words.cpp"
    ap_types = tiny_project.path / "firmware" / "ap_types"
    subprocess.run(["g++", "-O0", "-std=c++14", "-w", f"-I{ap_types}", str(source), "-o", str(binary)], check=True)
    rng = np.random.default_rng(0)
    quarters = np.arange(-40, 41) / 8  # every half-LSB of ap_fixed<4,2>: ties in every mode, and overflow
    values = np.concatenate([quarters, rng.uniform(-5, 5, 300), [0.0155, -0.00390625, 0.3, 1.99]])
    tokens = [repr(float(v)) for v in values]
    out = subprocess.run([str(binary)], input=" ".join(tokens), capture_output=True, text=True, check=True).stdout
    cpp = np.array([line.split() for line in out.splitlines()], dtype=np.int64)
    for column, precision in enumerate(TYPES):
        python = fixed_words(np.array(tokens, dtype=np.float64), precision)
        assert np.array_equal(python, cpp[:, column]), precision


def test_the_project_types_are_read(jet4_project):
    project, _ = jet4_project
    typedefs = read_typedefs(project.path)
    arrays = read_weight_arrays(project.path)
    assert sorted(typedef for typedef, _, _ in arrays.values()) == sorted(JET4_ARRAY_TYPES)
    assert all(typedefs[typedef].startswith("ap_fixed<") for typedef, _, _ in arrays.values())


def test_an_untouched_project_is_proven(jet4_project):
    project, model = jet4_project
    proof = prove_weights(project.path, model.firmware_encoder())
    assert proof.passed and proof.arrays == len(JET4_ARRAY_TYPES) == proof.compared_with_model
    assert proof.values == sum(len(h) for _, h, _ in read_weight_arrays(project.path).values())


def _array_of(project_dir: Path, typedef: str) -> tuple[Path, int, str]:
    """The .h of the array of this type, a middle index, and that index's value plus one LSB (as a decimal)."""
    for header in (project_dir / "firmware" / "weights").glob("*.h"):
        if re.search(rf"#else\s+{typedef}\s", header.read_text()):
            _, h_values, _ = read_weight_arrays(project_dir)[header.stem]
            index = len(h_values) // 2
            lsb = 2.0 ** -fractional_bits(read_typedefs(project_dir)[typedef])
            return header, index, repr(float(h_values[index]) + lsb)
    raise AssertionError(f"no array of type {typedef}")


def _replace_value(text: str, index: int, value: str, opening: str) -> str:
    """Replace the index-th value of the comma list that follows ``opening`` (the last occurrence)."""
    start = text.rindex(opening) + len(opening) if opening else 0
    end = text.index("}", start) if opening else len(text.split("\n", 1)[0])
    values = text[start:end].split(",")
    values[index] = " " + value if opening else value
    return text[:start] + ",".join(values) + text[end:]


@pytest.mark.parametrize("typedef", JET4_ARRAY_TYPES)
@pytest.mark.parametrize("copy", ["h", "txt"])
def test_one_changed_value_in_one_copy_is_named(tmp_path, jet4_project, typedef, copy):
    project, model = jet4_project
    changed = tmp_path / "changed"
    shutil.copytree(project.path, changed)
    header, index, value = _array_of(changed, typedef)
    target = header if copy == "h" else header.with_suffix(".txt")
    target.write_text(_replace_value(target.read_text(), index, value, "= {" if copy == "h" else ""))

    proof = prove_weights(changed, model.firmware_encoder())
    assert not proof.passed
    first = proof.differences[0]
    assert (first.array, first.index, first.kind) == (header.stem, index, "h_vs_txt")
    assert (first.h if copy == "h" else first.txt) == value
    assert f"{header.stem}.h[{index}]" in proof.describe()
    # the synthesised copy is checked against the model: it differs from it only when the .h was changed
    assert any(d.kind == "vs_model" for d in proof.differences) == (copy == "h")


def test_the_same_value_written_differently_is_equal(tmp_path, jet4_project):
    project, model = jet4_project
    changed = tmp_path / "changed"
    shutil.copytree(project.path, changed)
    header, index, _ = _array_of(changed, JET4_ARRAY_TYPES[0])
    _, h_values, _ = read_weight_arrays(changed)[header.stem]
    txt = header.with_suffix(".txt")
    txt.write_text(_replace_value(txt.read_text(), index, f"{float(h_values[index]):.6e}", ""))
    assert prove_weights(changed, model.firmware_encoder()).passed


def test_a_short_copy_is_named(tmp_path, jet4_project):
    project, _ = jet4_project
    changed = tmp_path / "changed"
    shutil.copytree(project.path, changed)
    txt = next((changed / "firmware" / "weights").glob("b*.txt"))
    values = txt.read_text().split(",")
    txt.write_text(",".join(values[:-1]))
    first = prove_weights(changed).differences[0]
    assert (first.array, first.index, first.txt) == (txt.stem, len(values) - 1, None)


def test_csim_exits_1_naming_a_changed_h_value(capsys, tmp_path, tiny_project):
    """The CLI end to end: only the synthesised copy changed, so every jet matches, yet csim fails."""
    changed = tmp_path / "changed"
    shutil.copytree(tiny_project.path, changed)
    header, index, value = _array_of(changed, "enc_latent_bias_t")
    header.write_text(_replace_value(header.read_text(), index, value, "= {"))
    data = write_nanoaod(tmp_path / "jets.root")
    code, out, err = run_cli(
        capsys, "csim", str(changed), "--data", str(data), "--jets", "3000", "--adversarial", "300", "--json"
    )
    assert code == 1 and f"{header.stem}.h[{index}]" in err
    payload = json.loads(out)
    assert payload["mismatches"] == 0 and payload["passed"] is False
    assert payload["weights"]["differences"][0]["array"] == header.stem
