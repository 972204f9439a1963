"""Bit-exactness of every firmware path (csim and Verilator) for the reference models, the imported ECON-T conv
example and the jet10-l1 codec, over backend x strategy x io type x link width (tests/bitexact.py)."""

from __future__ import annotations

import importlib.util
from typing import ClassVar

import numpy as np
import pytest

from tests.bitexact import AXES, JETS_FILE, PAIRWISE, REPO, BitExactBase, Case, mismatch_report, product, require
from trigcomp.cli import main
from trigcomp.csim import run_firmware
from trigcomp.data import JetSelection
from trigcomp.imported import load_encoder_model
from trigcomp.stimulus import latent_tie_mask


def _jets(variables) -> np.ndarray:
    return JetSelection().load([str(JETS_FILE)], tuple(variables)).values.astype(np.float64)


class TrainedModelBitExact(BitExactBase):
    model_dir: str

    @pytest.fixture(scope="class")
    def subject(self):
        model = load_encoder_model(REPO / "models" / self.model_dir)
        return model, _jets(model.variables)


class TestJet4(TrainedModelBitExact):
    """Also distributed arithmetic (hls4ml's DA strategy, weights as constants in the C++), on the cheapest model."""

    model_dir = "jet4"
    axes = AXES | {"strategy": ("latency", "resource", "distributed_arithmetic")}
    default_cases = PAIRWISE[0:2]
    slow_cases = (
        *product(AXES, link_width=(64,)),
        Case("vivado", "latency", "parallel", 16),
        Case("vitis", "resource", "stream", 32),
        Case("vivado", "distributed_arithmetic", "parallel", 64),
    )


class TestJet10(TrainedModelBitExact):
    model_dir = "jet10"
    default_cases = PAIRWISE[2:4]
    slow_cases = (Case("vivado", "latency", "parallel", 64), Case("vitis", "resource", "stream", 32))


class TestEconTConv(BitExactBase):
    """The README's bring-your-own-model example: examples/econ_t_encoder.py --kind conv, through `trigcomp import`."""

    default_cases = PAIRWISE[4:6]
    slow_cases = (*product(AXES, link_width=(64,)), Case("vitis", "latency", "stream", 16))
    resource_layout_known = False

    @pytest.fixture(scope="class")
    def subject(self, tmp_path_factory):
        spec = importlib.util.spec_from_file_location("econ_t_encoder", REPO / "examples" / "econ_t_encoder.py")
        example = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(example)
        root = tmp_path_factory.mktemp("econ_t")
        example.build_encoder("conv", seed=0).save(root / "conv.h5")
        assert main(["import", "--keras", str(root / "conv.h5"), "--out", str(root / "model"), "--quiet"]) == 0
        return load_encoder_model(root / "model"), example.example_cells(3000)


class TestJet10L1Codec(BitExactBase):
    """The reference codec (configs/jet10-l1.toml): fixed-point fields, no encoder network, so only the link width
    changes its firmware (hls --codec takes no strategy or io type, and both backends compile the same C++). Its
    stimulus is csim's with the codec's own threshold and lattice ties among the adversarial rows; its reference is
    the Python codec on the values the board sees."""

    axes: ClassVar[dict[str, tuple]] = {
        "backend": ("vivado",),
        "strategy": ("latency",),
        "io": ("parallel",),
        "link_width": (64, 16, 32),
    }
    default_cases = (Case("vivado", "latency", "parallel", 16),)
    slow_cases = product(axes)
    adversarial_rows = 10_000

    @pytest.fixture(scope="class")
    def subject(self):
        from trigcomp.codec_hls import BoardInput
        from trigcomp.codecs import load_codec

        codec = load_codec(REPO / "configs" / "jet10-l1.toml")
        return codec, BoardInput.parse("ap_fixed<21,13>"), _jets(codec.variables)

    def make_stimulus(self, subject):
        from trigcomp.codec_hls import codec_stimulus

        codec, board, data = subject
        rows = self.data_rows + self.adversarial_rows
        x, counts = codec_stimulus(codec, board, data, rows, self.adversarial_rows, seed=0)
        assert counts["tie_jets"] > 1000 and counts["tie_jets_left_out"] == 0
        return x

    def reference(self, subject, x):
        codec, board, _ = subject
        return codec.encode(board.values(x)).codes

    def write_project(self, subject, out, case):
        from trigcomp.codec_hls import write_codec_project

        codec, board, _ = subject
        return write_codec_project(codec, out, case.options(), board)

    def check_project(self, subject, project, case):
        """A codec has no weights: its thresholds are checked by the comparison itself."""

    def csim_codes(self, subject, project, x):
        from trigcomp.codec_hls import field_offsets, unpack_fields

        codec = subject[0]
        words, _, _, _ = run_firmware(project, x, processes=1, progress=False)
        return unpack_fields(words, list(codec.field_bits), field_offsets(codec), project.link_width)

    @pytest.mark.rtl
    def test_rtl_bit_exact(self, subject, stimulus, tmp_path):
        """The codec's Verilog through run_codec_rtl, which compares with the same Python reference internally
        (a few seconds of Verilator: in the default run, unlike the encoders')."""
        require("verilator")
        from trigcomp.codec_rtl import run_codec_rtl

        codec, board, data = subject
        result = run_codec_rtl(
            codec,
            tmp_path / "rtl",
            board,
            data,
            self.data_rows + self.adversarial_rows,
            self.adversarial_rows,
            synthesize=False,
        )
        assert result.tie_jets > 1000 and result.jets == len(stimulus)
        assert result.mismatches == 0, result.first_mismatch


# ---------------------------------------------------------------------------------------------------------------
# The base test's own pieces


def test_default_cases_compile_every_pair_of_axis_values():
    """The default (not slow) cases, over all classes, meet every value pair of any two axes."""
    default = [c for cls in (TestJet4, TestJet10, TestEconTConv) for c in cls.default_cases]
    fields = ("backend", "strategy", "io", "link_width")
    for a, b in [(a, b) for i, a in enumerate(fields) for b in fields[i + 1 :]]:
        seen = {(getattr(c, a), getattr(c, b)) for c in default}
        values = AXES
        assert seen == {(u, v) for u in values[a] for v in values[b]}, (a, b)


def test_one_flipped_lsb_is_reported_with_its_row():
    rng = np.random.default_rng(0)
    expected = rng.integers(-32, 32, (500, 6))
    x = rng.normal(size=(500, 4))
    assert mismatch_report(expected, expected.copy(), x, 300) is None
    flipped = expected.copy()
    flipped[417, 5] ^= 1
    report = mismatch_report(expected, flipped, x, 300)
    assert report.startswith("1 of 500 rows differ; first: row 417 (adversarial)")
    assert mismatch_report(expected, expected[:, :5], x, 300).startswith("shapes differ")


def test_latent_tie_mask_finds_exact_half_lsb_values_inside_the_range():
    from trigcomp.config import FixedPoint

    latent = FixedPoint(6, 2)  # LSB 1/8, range [-4, 3.875]
    accumulator = np.array([[0.0625, 0.0], [0.0626, 0.0], [3.9375, 0.0], [0.0, -4.0625], [0.0, -3.0625]])
    assert latent_tie_mask(accumulator, latent).tolist() == [True, False, False, False, True]
