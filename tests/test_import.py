"""trigcomp import: a QKeras encoder trained elsewhere enters the chain (hls, csim, rtl, report, build) with the same
guarantees as a trained model. The encoders are built here by examples/econ_t_encoder.py (seeded, no downloads)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from trigcomp.cli import main
from trigcomp.errors import UserError

REPO = Path(__file__).parents[1]


def _example():
    spec = importlib.util.spec_from_file_location("econ_t_encoder", REPO / "examples" / "econ_t_encoder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


econ_t = _example()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The three example encoders as .h5 files and 3,000 rows of example cells (.npy)."""
    root = tmp_path_factory.mktemp("import")
    out = {kind: root / f"econ_t_{kind}.h5" for kind in econ_t.KINDS}
    for kind, path in out.items():
        econ_t.build_encoder(kind, seed=0).save(path)
    out["cells"] = root / "cells.npy"
    np.save(out["cells"], econ_t.example_cells(3000))
    return out


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _import(capsys, keras_file: Path, out: Path, *extra: str) -> dict:
    code, stdout, err = _cli(capsys, "import", "--keras", keras_file, "--out", out, "--json", *extra)
    assert code == 0, err
    return json.loads(stdout)


def _refused(capsys, *argv: str) -> str:
    code, _, err = _cli(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trigcomp: error: "), err
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------------------------


def _save_model(path: Path, middle) -> Path:
    """InputLayer(8) -> input quantizer -> ``middle(h)`` -> quantized_bits latent, saved to ``path``."""
    from qkeras import QActivation, quantized_bits
    from tensorflow import keras

    x = keras.Input((8,), name="x")
    h = QActivation(quantized_bits(12, 4, alpha=1), name="input_q")(x)
    h = middle(h)
    latent = QActivation(quantized_bits(8, 3, alpha=1), name="latent")(h)
    keras.Model(x, latent).save(path)
    return path


def _plain_dense(h):
    from tensorflow import keras

    return keras.layers.Dense(4, name="plain_dense")(h)


def _tanh(h):
    from qkeras import QDense, quantized_bits
    from tensorflow import keras

    q = quantized_bits(6, 0, alpha=1)
    h = QDense(4, kernel_quantizer=q, bias_quantizer=q, name="dense")(h)
    return keras.layers.Activation("tanh", name="squash")(h)


def _unquantized_kernel(h):
    from qkeras import QDense

    return QDense(4, name="float_kernel")(h)


@pytest.mark.parametrize(
    ("middle", "named"),
    [
        (_plain_dense, "layer 'plain_dense' (Dense) cannot be converted bit-exactly"),
        (_tanh, "layer 'squash' (Activation) cannot be converted bit-exactly"),
        (_unquantized_kernel, "layer 'float_kernel' (QDense): the kernel has no quantizer"),
    ],
)
def test_unsupported_layers_are_refused_by_name(capsys, tmp_path, middle, named):
    model_file = _save_model(tmp_path / "model.h5", middle)
    line = _refused(capsys, "import", "--keras", model_file, "--out", tmp_path / "out")
    assert named in line
    assert not (tmp_path / "out").exists()


def test_no_input_type_is_refused_and_input_type_supplies_it(capsys, tmp_path, files):
    line = _refused(capsys, "import", "--keras", files["image"], "--out", tmp_path / "m")
    assert "no input type" in line and "--input-type" in line
    info = _import(capsys, files["image"], tmp_path / "m", "--input-type", "ap_fixed<16,7>")
    assert info["input_type"] == "ap_fixed<16,7>" and info["input_type_from"] == "--input-type"
    assert info["input_quantizer"] == {"bits": 16, "integer": 6}
    # a model with its own input quantizer: --input-type may only repeat it
    line = _refused(
        capsys, "import", "--keras", files["conv"], "--out", tmp_path / "c", "--input-type", "ap_fixed<12,5>"
    )
    assert "differs from the model's input quantizer (ap_fixed<16,7>)" in line
    line = _refused(capsys, "import", "--keras", files["image"], "--out", tmp_path / "x", "--input-type", "int16")
    assert "ap_fixed<16,6>" in line


def test_names_must_match_the_inputs(capsys, tmp_path, files):
    line = _refused(capsys, "import", "--keras", files["dense"], "--out", tmp_path / "m", "--names", "a,b,c")
    assert "--names gives 3 names but the model takes 48 input values" in line
    duplicated = ",".join(["a"] * 48)
    assert "distinct" in _refused(
        capsys, "import", "--keras", files["dense"], "--out", tmp_path / "m", "--names", duplicated
    )


def test_files_that_are_no_qkeras_model_are_refused(capsys, tmp_path):
    fake = tmp_path / "model.h5"
    fake.write_text("not HDF5\n")
    assert "is not a Keras/QKeras model file" in _refused(capsys, "import", "--keras", fake, "--out", tmp_path / "m")
    other = tmp_path / "model.onnx"
    other.write_bytes(b"\x08\x01")
    assert "give a Keras model file (.h5 or .keras)" in _refused(
        capsys, "import", "--keras", other, "--out", tmp_path / "m"
    )
    assert "not found" in _refused(capsys, "import", "--keras", tmp_path / "none.h5", "--out", tmp_path / "m")
    code, stdout, _ = _cli(capsys, "import", "--keras", fake, "--out", tmp_path / "m", "--json")
    assert code == 2 and json.loads(stdout)["exit_code"] == 2


def test_accumulators_too_wide_for_float64_are_refused(capsys, tmp_path):
    from qkeras import QDense, quantized_bits

    def wide(h):
        q = quantized_bits(24, 0, alpha=1)
        return QDense(4, kernel_quantizer=q, bias_quantizer=q, name="wide")(h)

    from qkeras import QActivation
    from tensorflow import keras

    x = keras.Input((8,))
    h = QActivation(quantized_bits(32, 16, alpha=1), name="input_q")(x)
    latent = QActivation(quantized_bits(8, 3, alpha=1), name="latent")(wide(h))
    keras.Model(x, latent).save(tmp_path / "wide.h5")
    line = _refused(capsys, "import", "--keras", tmp_path / "wide.h5", "--out", tmp_path / "m")
    assert "layer 'wide'" in line and "float64" in line


# ---------------------------------------------------------------------------------------------------------------
# The model directory
# ---------------------------------------------------------------------------------------------------------------


def test_model_dir_round_trip(capsys, tmp_path, files):
    from trigcomp.imported import ImportedModel, load_encoder_model

    info = _import(capsys, files["conv"], tmp_path / "m")
    source_bytes = files["conv"].read_bytes()
    assert info["sha256"] == hashlib.sha256(source_bytes).hexdigest()
    assert (tmp_path / "m" / "encoder.h5").read_bytes() == source_bytes
    assert info["variables"] == [f"x{i}" for i in range(48)] and info["input_type_from"] == "model"
    model = load_encoder_model(tmp_path / "m")
    assert isinstance(model, ImportedModel) and model.hash == info["hash"]
    assert (model.n_latent, model.latent_quantizer.bits, model.input_shape) == (16, 9, (48,))
    # deterministic: the same file gives the same directory; other names give another hash
    _import(capsys, files["conv"], tmp_path / "again")
    assert (tmp_path / "again" / "model.json").read_bytes() == (tmp_path / "m" / "model.json").read_bytes()
    names = ",".join(f"cell{i}" for i in range(48))
    named = _import(capsys, files["conv"], tmp_path / "named", "--names", names)
    assert named["variables"][0] == "cell0" and named["hash"] != info["hash"]
    # nothing overwritten without --force
    assert "exists" in _refused(capsys, "import", "--keras", files["conv"], "--out", tmp_path / "m")
    _import(capsys, files["dense"], tmp_path / "m", "--force")
    assert load_encoder_model(tmp_path / "m").name == "econ_t_dense"


def test_an_edited_model_file_is_refused(capsys, tmp_path, files):
    from trigcomp.imported import load_encoder_model

    _import(capsys, files["dense"], tmp_path / "m")
    shutil.copyfile(files["conv"], tmp_path / "m" / "encoder.h5")
    with pytest.raises(UserError, match="sha256"):
        load_encoder_model(tmp_path / "m")


def test_verbs_that_need_a_decoder_refuse_an_imported_encoder(capsys, tmp_path, files):
    _import(capsys, files["dense"], tmp_path / "m")
    line = _refused(
        capsys, "evaluate", "--model", tmp_path / "m", "--data", REPO / "data" / "qcd.root", "--out", tmp_path / "e"
    )
    assert "imported encoder" in line and "trigcomp train" in line


@pytest.mark.parametrize("kind", ["dense", "conv", "image"])
def test_reference_is_exact_fixed_point_arithmetic(capsys, tmp_path, files, kind):
    """The float64 QKeras reference equals an independent exact evaluation (constant matrices, numpy), on data
    and on inputs over the whole input range."""
    from trigcomp.imported import load_encoder_model
    from trigcomp.rtl import parse_encoder

    extra = ("--input-type", "ap_fixed<16,7>") if kind == "image" else ()
    _import(capsys, files[kind], tmp_path / "m", *extra)
    model = load_encoder_model(tmp_path / "m")
    rng = np.random.default_rng(5)
    x = np.concatenate([np.load(files["cells"])[:2000], rng.uniform(-70, 70, (2000, 48))])
    spec = parse_encoder(model.firmware_encoder())
    exact, _ = spec.reference(spec.quantize_inputs(x)[0])
    assert np.array_equal(model.encode(x), exact)
    assert np.abs(exact).max() > 0  # not a degenerate all-zero latent


# ---------------------------------------------------------------------------------------------------------------
# Input data
# ---------------------------------------------------------------------------------------------------------------


def _read(paths: list[str], names: tuple[str, ...], selection=None) -> np.ndarray:
    from trigcomp.data import JetSelection
    from trigcomp.inputs import read_inputs

    selection = selection or JetSelection()
    return read_inputs(paths, names, lambda roots: selection.load(roots, names).values)


def test_input_tables(tmp_path):
    from trigcomp.data import JetSelection

    names = ("a", "b", "c", "d")
    values = np.arange(24, dtype=np.float64).reshape(6, 4) / 8
    np.save(tmp_path / "flat.npy", values)
    np.save(tmp_path / "image.npy", values.reshape(6, 2, 2))  # N x input shape
    assert np.array_equal(_read([str(tmp_path / "flat.npy")], names), values)
    assert np.array_equal(_read([str(tmp_path / "image.npy")], names), values)
    # CSV: columns picked by name, in the model's order, whatever the file's order
    header = "d,extra,b,a,c"
    rows = np.column_stack([values[:, 3], np.zeros(6), values[:, 1], values[:, 0], values[:, 2]])
    np.savetxt(tmp_path / "t.csv", rows, delimiter=",", header=header, comments="")
    assert np.array_equal(_read([str(tmp_path / "t.csv")], names), values)
    with pytest.raises(UserError, match="no column"):
        _read([str(tmp_path / "t.csv")], ("a", "zz"))
    with pytest.raises(UserError, match="not N x 3"):
        _read([str(tmp_path / "flat.npy")], names[:3])
    with pytest.raises(UserError, match="not both"):
        _read([str(tmp_path / "flat.npy"), str(REPO / "data" / "qcd.root")], names)
    with pytest.raises(UserError, match="not jet variables"):
        _read([str(REPO / "data" / "qcd.root")], names)
    # inputs named after jet variables (import --names pt,eta,phi,mass) read ROOT jets through trigcomp.data
    jets = _read([str(REPO / "data" / "qcd.root")], ("pt", "eta", "phi", "mass"), JetSelection(pt_min=30.0))
    assert jets.shape[1] == 4 and len(jets) > 1000 and (jets[:, 0] > 30).all()
    np.save(tmp_path / "nan.npy", np.full((2, 4), np.nan))
    with pytest.raises(UserError, match="NaN"):
        _read([str(tmp_path / "nan.npy")], names)


def test_parquet_needs_pyarrow(tmp_path):
    path = tmp_path / "t.parquet"
    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError:
        path.write_bytes(b"PAR1")
        with pytest.raises(UserError, match="needs pyarrow"):
            _read([str(path)], ("a",))
        return
    pq.write_table(pyarrow.table({"b": [1.0, 2.0], "a": [3.0, 4.0]}), path)
    assert np.array_equal(_read([str(path)], ("a", "b")), [[3.0, 1.0], [4.0, 2.0]])


# ---------------------------------------------------------------------------------------------------------------
# One table: trained and imported models through hls -> csim (-> report, build)
# ---------------------------------------------------------------------------------------------------------------

CHAIN = {
    # name: (model source, import options, hls io type)
    "jet4": ("models/jet4", (), "parallel"),
    "econ-t-dense": ("dense", (), "parallel"),
    "econ-t-conv": ("conv", (), "parallel"),
    "econ-t-conv-stream": ("conv", (), "stream"),
    "econ-t-image-stream": ("image", ("--input-type", "ap_fixed<16,7>"), "stream"),
}


@pytest.mark.parametrize("name", list(CHAIN))
def test_hls_csim_report_build_on_trained_and_imported_models(capsys, tmp_path, files, name):
    source, import_options, io = CHAIN[name]
    if source.startswith("models/"):
        model_dir, data = REPO / source, ()
    else:
        model_dir, data = tmp_path / "model", ("--data", files["cells"])
        _import(capsys, files[source], model_dir, *import_options)
    project = tmp_path / "hls"
    code, stdout, err = _cli(
        capsys, "hls", "--model", model_dir, "--board", "vu13p", "--io", io, "--out", project, "--json", *data
    )
    assert code == 0, err
    manifest = json.loads(stdout)
    assert manifest["io"] == io and manifest["inputs"]["size"] in (4, 48)

    junit = tmp_path / "csim.xml"
    code, stdout, err = _cli(
        capsys, "csim", project, "--jets", "4000", "--adversarial", "600", "--junit", junit, "--json", *data
    )
    assert code == 0, err
    result = json.loads(stdout)
    assert result["mismatches"] == 0 and result["jets"] == 4000 and result["adversarial_jets"] == 600
    assert result["saturated"]["input_jets"] > 0  # the adversarial inputs beyond the input type are counted
    # every weight array synthesis compiles is the one csim ran and the QKeras encoder's (conv kernels included)
    assert result["weights"]["passed"] and result["weights"]["compared_with_model"] == result["weights"]["arrays"]
    suite = ET.parse(junit).getroot()
    assert int(suite.get("tests")) >= 3 and suite.get("failures") == "0"

    code, stdout, err = _cli(capsys, "report", project, "--json")
    assert code == 0, err
    assert json.loads(stdout)["resources"]["LUT"] > 0  # the labelled da4ml estimate, dense and conv alike
    if shutil.which("vivado_hls") is None:
        assert "vivado_hls is not on PATH" in _refused(capsys, "build", project, "--csynth")


def test_layer_trace_of_an_imported_conv_encoder(capsys, tmp_path, files):
    """The per-layer trace pairs every hls4ml layer of the conv encoder with its QKeras twin, and they agree."""
    from trigcomp.csim import build_testbench, trace_jet
    from trigcomp.hls import load_project
    from trigcomp.imported import load_encoder_model

    _import(capsys, files["conv"], tmp_path / "m")
    code, _, err = _cli(
        capsys, "hls", "--model", tmp_path / "m", "--board", "vu13p", "--out", tmp_path / "p", "--data", files["cells"]
    )
    assert code == 0, err
    project = load_project(tmp_path / "p")
    binary, _ = build_testbench(project)
    trace = trace_jet(binary, project, load_encoder_model(tmp_path / "m"), np.load(files["cells"])[7])
    traced = [layer["layer"] for layer in trace["layers"]]
    assert {"input_q", "conv", "conv_relu", "to_latent", "latent"} <= set(traced), traced
    assert trace["first_divergent_layer"] is None and all(layer["equal"] for layer in trace["layers"])


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("kind", ["dense", "image"])
def test_rtl_on_imported_encoders(capsys, tmp_path, files, kind):
    """da4ml's Verilog of an imported dense or Conv2D encoder matches QKeras in Verilator."""
    if shutil.which("verilator") is None:
        pytest.skip("verilator not on PATH: apt-get install verilator")
    extra = ("--input-type", "ap_fixed<16,7>") if kind == "image" else ()
    _import(capsys, files[kind], tmp_path / "m", *extra)
    code, stdout, err = _cli(
        capsys,
        "rtl",
        "--model",
        tmp_path / "m",
        "--out",
        tmp_path / "r",
        "--data",
        files["cells"],
        "--jets",
        "2000",
        "--no-synth",
        "--json",
    )
    assert code == 0, err
    result = json.loads(stdout)
    assert result["mismatches"] == 0 and result["qkeras_mismatches"] == 0


def test_keras_v3_files_import_like_h5(capsys, tmp_path, files):
    """A .keras file (which QKeras 0.9 cannot load back by itself) gives the same encoder as the .h5 file."""
    from trigcomp.imported import load_encoder_model

    econ_t.build_encoder("conv", seed=0).save(tmp_path / "conv.keras")
    info = _import(capsys, tmp_path / "conv.keras", tmp_path / "m")
    assert info["model_file"] == "encoder.keras"
    _import(capsys, files["conv"], tmp_path / "h5")
    x = np.load(files["cells"])[:500]
    assert np.array_equal(load_encoder_model(tmp_path / "m").encode(x), load_encoder_model(tmp_path / "h5").encode(x))
