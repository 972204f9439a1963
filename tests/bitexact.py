"""One bit-exactness test for every firmware path, in the style of HGQ2's ``tests/base.py`` (one base class, one
subclass per model): generate the project, compile it (csim: g++, cached by trigcomp.csim; rtl: Verilator), run
the shared stimulus (trigcomp.stimulus: data jets and adversarial inputs), compare with the model's exact reference
word for word.

A subclass says how to load its model and data and which firmware options it supports; the cases are the cross
product of backend x strategy x io type x link width, in three tiers, because compiling costs 10-25 s a case
(distributed arithmetic: minutes):
- default (``make test-fast``): the subclasses' ``default_cases``, chosen together so that every value of every axis,
  and every pair of values of two axes, is compiled at least once (``PAIRWISE``);
- ``slow`` (``make test-slow``, CI): the subclass's ``slow_cases``: the full backend x strategy x io product where
  hls4ml's code differs most (jet4's dense layers, the ECON-T convolution), and every link width once per model;
- ``exhaustive`` (``pytest -m exhaustive tests/test_bitexact.py``, not in CI: ~40 min on 2 cores): the rest of the
  cross product. Only public entry points are used (hls.write_hls_project, csim.run_firmware and
unpack_latent, rtl.write_rtl_project and simulate, EncoderModel.encode), so the tests survive refactors inside.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from trigcomp.boards import get_board
from trigcomp.csim import run_firmware, unpack_latent
from trigcomp.hls import HlsOptions, write_hls_project
from trigcomp.stimulus import latent_ties, make_inputs

REPO = Path(__file__).parents[1]
#: Real jets (CMS Open Data, 200 events; licence in tests/data/README.md): resampled as the data part of the stimulus.
JETS_FILE = REPO / "tests" / "data" / "nanoAOD_2015_CMS_Open_Data_ttbar.root"


@dataclass(frozen=True)
class Case:
    backend: str
    strategy: str
    io: str
    link_width: int

    def __str__(self) -> str:
        return f"{self.backend}-{self.strategy}-{self.io}-link{self.link_width}"

    def options(self) -> HlsOptions:
        return HlsOptions(
            get_board("vu13p"),
            5.0,
            backend=self.backend,
            strategy=self.strategy,
            io=self.io,
            link_width=self.link_width,
        )


AXES = {
    "backend": ("vivado", "vitis"),
    "strategy": ("latency", "resource"),
    "io": ("parallel", "stream"),
    "link_width": (64, 16, 32),
}
#: Six cases covering every pair of values of any two axes (a covering array of strength 2 for 2 x 2 x 2 x 3).
PAIRWISE = (
    Case("vivado", "latency", "parallel", 64),
    Case("vitis", "resource", "stream", 64),
    Case("vivado", "resource", "stream", 16),
    Case("vitis", "latency", "parallel", 16),
    Case("vivado", "latency", "stream", 32),
    Case("vitis", "resource", "parallel", 32),
)


def product(axes: dict[str, tuple], **fixed: tuple) -> tuple[Case, ...]:
    """Every case of ``axes``, with the axes named in ``fixed`` narrowed to the values given."""
    return tuple(Case(*values) for values in itertools.product(*(axes | fixed).values()))


def mismatch_report(expected: np.ndarray, firmware: np.ndarray, x: np.ndarray, n_data: int) -> str | None:
    """None when every word is equal; else how many rows differ and the first one (data or adversarial row,
    its input and both words)."""
    if expected.shape != firmware.shape:
        return f"shapes differ: reference {expected.shape}, firmware {firmware.shape}"
    bad = np.flatnonzero((expected != firmware).any(axis=1))
    if not len(bad):
        return None
    row = int(bad[0])
    kind = "data" if row < n_data else "adversarial"
    return (
        f"{len(bad)} of {len(expected)} rows differ; first: row {row} ({kind}), input {x[row].tolist()}, "
        f"reference {expected[row].tolist()}, firmware {firmware[row].tolist()}"
    )


def assert_bit_exact(expected: np.ndarray, firmware: np.ndarray, x: np.ndarray, n_data: int) -> None:
    report = mismatch_report(expected, firmware, x, n_data)
    assert report is None, report


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} not on PATH: apt-get install {tool}")


class BitExactBase:
    """Override ``subject`` (a class-scoped fixture giving the model and its data), ``default_cases`` and, where a
    path differs from a trained or imported encoder's, ``stimulus``/``reference``/``write_project``/``csim_codes``/
    ``rtl_codes``."""

    axes: ClassVar[dict[str, tuple]] = AXES
    default_cases: tuple[Case, ...] = ()
    slow_cases: tuple[Case, ...] = ()
    data_rows = 6_000
    adversarial_rows = 6_000
    #: of the adversarial rows, at most this many are latent ties (the rest: zeros, extremes, outside, input ties...)
    latent_tie_rows = 1_500
    #: weights_proof knows the Resource strategy's weight layout of dense kernels only (not convolution kernels)
    resource_layout_known = True

    def pytest_generate_tests(self, metafunc):
        if "case" not in metafunc.fixturenames:
            return
        cases = product(self.axes)
        assert set(self.default_cases) | set(self.slow_cases) <= set(cases), "a case outside the class's axes"
        metafunc.parametrize("case", [pytest.param(c, marks=self.marks(c), id=str(c)) for c in cases])

    def marks(self, case: Case) -> tuple:
        if case in self.default_cases:
            return ()
        if case in self.slow_cases:
            return (pytest.mark.slow,)
        return (pytest.mark.slow, pytest.mark.exhaustive)

    @pytest.fixture(scope="class")
    def subject(self, tmp_path_factory):
        raise NotImplementedError

    @pytest.fixture(scope="class")
    def stimulus(self, subject) -> np.ndarray:
        return self.make_stimulus(subject)

    # ------------------------------------------------------------------------------- what a subclass may override

    def make_stimulus(self, subject) -> np.ndarray:
        model, data = subject
        ties = latent_ties(model, data, self.latent_tie_rows)
        assert len(ties) > 100, "too few inputs that tie at the latent quantizer"
        rows = self.data_rows + self.adversarial_rows
        return make_inputs(data, model.input_quantizer, rows, self.adversarial_rows, seed=0, extra_adversarial=ties)

    def reference(self, subject, x: np.ndarray) -> np.ndarray:
        """The exact reference's latent words (integers)."""
        model, _ = subject
        latent = np.asarray(model.encode(x), dtype=np.float64).reshape(len(x), -1) / model.latent_lsb
        assert np.array_equal(latent, np.rint(latent)), "the reference latent is off the latent grid"
        return latent.astype(np.int64)

    def write_project(self, subject, out: Path, case: Case):
        model, data = subject
        return write_hls_project(model, out, case.options(), data[:100])

    def check_project(self, subject, project, case: Case) -> None:
        """What synthesis compiles is what csim runs: every weight array's .h = its .txt = the model's."""
        from trigcomp.weights_proof import prove_weights

        model, _ = subject
        proof = prove_weights(project.path, model.firmware_encoder(), transposed=case.strategy == "resource")
        assert proof.passed, proof.describe()
        # distributed arithmetic writes the weights as constants into the C++ that csim and synthesis both compile
        assert (proof.arrays > 0) is (case.strategy != "distributed_arithmetic")
        if case.strategy != "resource" or self.resource_layout_known:
            assert proof.compared_with_model == proof.arrays, proof.describe()

    def csim_codes(self, subject, project, x: np.ndarray) -> np.ndarray:
        words, _, _, _ = run_firmware(project, x, processes=1, progress=False)
        return unpack_latent(words, project.n_latent, project.latent_bits, project.link_width)

    def rtl_codes(self, subject, out: Path, x: np.ndarray) -> np.ndarray:
        from trigcomp.rtl import simulate, write_rtl_project

        model, _ = subject
        project = write_rtl_project(model.firmware_encoder(), out)
        return np.rint(simulate(project, x) / model.latent_lsb).astype(np.int64)

    # ------------------------------------------------------------------------------- the tests

    def test_csim_bit_exact(self, subject, stimulus, tmp_path, case):
        project = self.write_project(subject, tmp_path / "hls", case)
        assert project.link_width == case.link_width
        self.check_project(subject, project, case)
        assert_bit_exact(
            self.reference(subject, stimulus), self.csim_codes(subject, project, stimulus), stimulus, self.data_rows
        )

    @pytest.mark.slow
    @pytest.mark.rtl
    def test_rtl_bit_exact(self, subject, stimulus, tmp_path):
        require("verilator")
        assert_bit_exact(
            self.reference(subject, stimulus),
            self.rtl_codes(subject, tmp_path / "rtl", stimulus),
            stimulus,
            self.data_rows,
        )
