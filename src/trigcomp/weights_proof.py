"""Proof that C-simulation runs the weights synthesis compiles, and that they are the model's.

hls4ml writes every weight and bias array twice: ``firmware/weights/<name>.txt``, which the C-simulation loads at
run time (``load_weights_from_txt`` under ``#ifndef __SYNTHESIS__``), and the ``#else`` initialiser in
``firmware/weights/<name>.h``, which synthesis compiles. A csim that passes proves only the ``.txt`` copy. Here both
copies are parsed and converted to integer words exactly as the C++ does (decimal -> double -> the array's ap_fixed
type, with its rounding and overflow modes), then compared element by element with each other and with the
quantized weights of the QKeras encoder that the csim reference runs.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError

WEIGHTS_DIR = Path("firmware") / "weights"
DEFINES = Path("firmware") / "defines.h"
#: How many differences are kept per proof: enough to see a pattern, small enough for a JSON result.
KEEP = 20

_TYPEDEF = re.compile(r"typedef\s+(ap_u?(?:fixed|int)<[^;>]*>)\s+(\w+)\s*;")
_INITIALISER = re.compile(r"#else\s+(\w+)\s+(\w+)\s*\[\s*(\d+)\s*\]\s*=\s*\{([^}]*)\}\s*;")


@dataclass(frozen=True)
class WeightDifference:
    array: str  # e.g. "w3": firmware/weights/w3.h and w3.txt
    index: int  # flat index into the array
    kind: str  # "h_vs_txt" (synthesis vs csim copy) or "vs_model" (both copies vs the QKeras encoder)
    h: str | None  # the value as written in the .h initialiser (None: past its end)
    txt: str | None  # the value as written in the .txt file (None: past its end)
    model: float | None = None  # the QKeras encoder's quantized value (kind "vs_model")

    def describe(self) -> str:
        where = f"{WEIGHTS_DIR / self.array}.h[{self.index}]"
        if self.kind == "h_vs_txt":
            return f"{where} = {self.h} (synthesis) but {self.array}.txt[{self.index}] = {self.txt} (csim)"
        return f"{where} = {self.h} but the QKeras encoder has {self.model!r}"


@dataclass(frozen=True)
class WeightsProof:
    arrays: int
    values: int
    compared_with_model: int  # arrays also checked against the QKeras encoder's quantized weights
    differences: tuple[WeightDifference, ...]
    more_differences: int  # differences beyond the KEEP shown

    @property
    def passed(self) -> bool:
        return not self.differences

    def describe(self) -> str:
        if not self.arrays:
            return "weights: no weight files (the weights are constants in the C++ both csim and synthesis compile)"
        if self.passed:
            return (
                f"weights: the {self.arrays} arrays synthesis compiles (.h) equal the ones csim loads (.txt), "
                f"{self.values} values; {self.compared_with_model} also equal the QKeras encoder's"
            )
        more = f" (and {self.more_differences} more)" if self.more_differences else ""
        return f"weights differ: {self.differences[0].describe()}{more}"

    def to_json(self) -> dict[str, Any]:
        return {
            "arrays": self.arrays,
            "values": self.values,
            "compared_with_model": self.compared_with_model,
            "passed": self.passed,
            "differences": [asdict(d) for d in self.differences],
            "more_differences": self.more_differences,
        }


def fixed_words(values: np.ndarray, precision: str) -> np.ndarray:
    """Integer words of ``values`` (float64) converted to an ap_fixed/ap_int type as the C++ constructor does.

    ``precision`` is a C++ type such as ``ap_fixed<12,1>`` or ``ap_ufixed<8,3,AP_RND_CONV,AP_SAT>``; the
    quantization (AP_TRN ... AP_RND_CONV) and overflow (AP_WRAP, AP_SAT, AP_SAT_ZERO, AP_SAT_SYM) modes apply.
    """
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    p = FPGABackend.convert_precision_string(precision)
    if getattr(p, "saturation_bits", 0):
        raise UserError(f"{precision}: saturation bits are not supported")
    width, signed = p.width, p.signed
    rounding, overflow = str(p.rounding_mode), str(p.saturation_mode)
    x = np.asarray(values, dtype=np.float64) * 2.0 ** (width - p.integer)  # exact: a power-of-two scale
    low = np.floor(x)
    fraction = x - low
    up = fraction > 0.5
    tie = fraction == 0.5
    tie_up = {
        "RND": np.ones_like(tie),
        "RND_ZERO": x < 0,
        "RND_MIN_INF": np.zeros_like(tie),
        "RND_INF": x > 0,
        "RND_CONV": np.mod(low, 2) == 1,
    }
    if rounding == "TRN":
        words = low
    elif rounding == "TRN_ZERO":
        words = np.trunc(x)
    elif rounding in tie_up:
        words = low + (up | (tie & tie_up[rounding]))
    else:
        raise UserError(f"{precision}: unknown rounding mode {rounding}")
    lo, hi = (-(2.0 ** (width - 1)), 2.0 ** (width - 1) - 1) if signed else (0.0, 2.0**width - 1)
    outside = (words < lo) | (words > hi)
    if overflow == "WRAP":
        words = np.mod(words - lo, 2.0**width) + lo
    elif overflow == "SAT":
        words = np.clip(words, lo, hi)
    elif overflow == "SAT_ZERO":
        words = np.where(outside, 0.0, words)
    elif overflow == "SAT_SYM":
        words = np.clip(words, -hi if signed else lo, hi)
    else:
        raise UserError(f"{precision}: unknown overflow mode {overflow}")
    return words.astype(np.int64)


def fractional_bits(precision: str) -> int:
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    p = FPGABackend.convert_precision_string(precision)
    return p.width - p.integer


def _numbers(text: str, where: str) -> list[str]:
    tokens = [token.strip() for token in text.split(",")]
    tokens = tokens[:-1] if tokens and not tokens[-1] else tokens  # a trailing comma
    for token in tokens:
        try:
            float(token)
        except ValueError:
            raise UserError(f"{where}: {token!r} is not a number") from None
    return tokens


def read_typedefs(project: Path) -> dict[str, str]:
    """typedef name -> C++ fixed-point type, from the project's defines.h."""
    return {name: ctype.replace(" ", "") for ctype, name in _TYPEDEF.findall((project / DEFINES).read_text())}


def read_weight_arrays(project: Path) -> dict[str, tuple[str, list[str], list[str]]]:
    """array name -> (typedef name, values in the .h initialiser, values in the .txt), as written."""
    arrays = {}
    for header in sorted((project / WEIGHTS_DIR).glob("*.h")):
        match = _INITIALISER.search(header.read_text())
        if match is None:
            raise UserError(f"{header}: no initialised array in the #else (synthesis) branch")
        typedef, name, size, body = match.groups()
        h_values = _numbers(body, str(header))
        if len(h_values) != int(size):
            raise UserError(f"{header}: {name}[{size}] has {len(h_values)} initialisers")
        txt = header.with_suffix(".txt")
        if not txt.is_file():
            raise UserError(f"{header} has no {txt.name} for the C-simulation")
        # load_weights_from_txt reads the first line only
        arrays[name] = (typedef, h_values, _numbers(txt.read_text().split("\n", 1)[0], str(txt)))
    return arrays


def model_weights(encoder, transposed: bool) -> dict[str, np.ndarray]:
    """typedef name -> the flat quantized values each QDense (and QConv1D/2D) of the QKeras encoder computes with.

    hls4ml names a layer's weight types "<layer>_weight_t" and "<layer>_bias_t" (see defines.h). Convolution
    kernels are written in Keras' order (checked with the Latency strategy, io_parallel and io_stream); their
    Resource-strategy layout is not, so they are compared only without ``transposed``.
    """
    compared = ("QDense",) if transposed else ("QDense", "QConv1D", "QConv2D")
    weights = {}
    for layer in encoder.layers:
        if type(layer).__name__ not in compared:
            continue
        kernel_quantizer, bias_quantizer = layer.get_quantizers()
        kernel = np.asarray(kernel_quantizer(layer.kernel), dtype=np.float64)
        weights[f"{layer.name}_weight_t"] = (kernel.T if transposed else kernel).ravel()
        weights[f"{layer.name}_bias_t"] = np.asarray(bias_quantizer(layer.bias), dtype=np.float64).ravel()
    return weights


def prove_weights(project: Path, encoder=None, transposed: bool = False) -> WeightsProof:
    """Compare every weight/bias array's .h initialiser with its .txt, and both with ``encoder`` when given.

    ``transposed``: hls4ml stores dense kernels transposed (the Resource strategy), so the model's are too.
    """
    project = Path(project)
    typedefs = read_typedefs(project)
    expected = model_weights(encoder, transposed) if encoder is not None else {}
    differences: list[WeightDifference] = []
    n_values = n_model = 0
    arrays = read_weight_arrays(project)
    for name, (typedef, h_values, txt_values) in arrays.items():
        if typedef not in typedefs:
            raise UserError(f"{project / DEFINES}: no typedef for {typedef} (array {name})")
        precision = typedefs[typedef]
        n = min(len(h_values), len(txt_values))
        n_values += len(h_values)
        h_words = fixed_words(np.array(h_values[:n], dtype=np.float64), precision)
        txt_words = fixed_words(np.array(txt_values[:n], dtype=np.float64), precision)
        for index in np.flatnonzero(h_words != txt_words):
            differences.append(WeightDifference(name, int(index), "h_vs_txt", h_values[index], txt_values[index]))
        for index in range(n, max(len(h_values), len(txt_values))):  # one copy longer than the other
            h, txt = (values[index] if index < len(values) else None for values in (h_values, txt_values))
            differences.append(WeightDifference(name, index, "h_vs_txt", h, txt))
        if typedef in expected:
            n_model += 1
            model = expected[typedef]
            if len(model) != len(h_values):
                differences.append(WeightDifference(name, min(len(model), len(h_values)), "vs_model", None, None))
                continue
            # the value the synthesised word stands for must be the model's value exactly (not merely round to it)
            h_exact = fixed_words(np.array(h_values, dtype=np.float64), precision) * 2.0 ** -fractional_bits(precision)
            for index in np.flatnonzero(h_exact != model):
                txt = txt_values[index] if index < len(txt_values) else None
                differences.append(WeightDifference(name, int(index), "vs_model", h_values[index], txt, model[index]))
    return WeightsProof(
        arrays=len(arrays),
        values=n_values,
        compared_with_model=n_model,
        differences=tuple(differences[:KEEP]),
        more_differences=max(0, len(differences) - KEEP),
    )
