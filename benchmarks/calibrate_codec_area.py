"""Calibrate recommend's area model of fixed-point codecs against Yosys (the open RTL path's Verilog).

    cd /work/main && PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/calibrate_codec_area.py \
        [--measurements FILE] [--fit]

Synthesises a few codecs one at a time (Yosys synth_xilinx -family xcup, ~10 min in all on one core): single
scalar ladders of several widths (linear and log), the reference codec's scalar fields, the fractions one by one, the
joint lattice field at several sizes and the reference codec jet10-l1 itself. Prints each codec's Yosys LUTs next
to the model (``FixedPointCodec.area_estimate``) and the model's residual; with ``--fit`` it fits the model's
coefficients (non-negative least squares of the relative error) and prints them, to be copied into ``codecs/fixed_point.py`` and
``codecs/simplex.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

REPO = Path(__file__).resolve().parents[1]
from trigcomp.codec_hls import BoardInput
from trigcomp.codec_rtl import write_codec_rtl
from trigcomp.codecs import FixedPointCodec, FixedPointField, load_codec
from trigcomp.codecs.physics import ENERGY_FRACTIONS, PHYSICS_RANGES
from trigcomp.codecs.simplex import SimplexField
from trigcomp.rtl.synth import run_yosys

BOARD = BoardInput.parse("ap_fixed<21,13>")
COMPANDINGS = ("linear", "log")


def _codec(bits: dict[str, int], simplex: SimplexField | None = None):
    variables = tuple(bits) + tuple(v for v in (simplex.variables if simplex else ()) if v not in bits)
    fields = []
    for v in variables:
        physics = PHYSICS_RANGES[v][0]
        fields.append(FixedPointField(v, bits.get(v, 0), physics.companding, physics.low, physics.high, 0.1,
                                      physics.integer))  # fmt: skip
    return FixedPointCodec(variables=variables, fields=tuple(fields), budget=sum(bits.values()), simplex=simplex)


def calibration_codecs() -> dict[str, FixedPointCodec]:
    scalars = {"pt": 6, "eta": 8, "phi": 7, "mass": 6, "nConstituents": 6}
    return {
        "eta linear 4": _codec({"eta": 4}),
        "eta linear 8": _codec({"eta": 8}),
        "pt, mass log 6": _codec({"pt": 6, "mass": 6}),
        "jet10-l1 scalar fields (33 bits)": _codec(scalars),
        "fractions one by one (3 x 5 bits)": _codec({"chHEF": 5, "neHEF": 5, "neEmEF": 5}),
        "lattice 5 parts, 1/19 (14 bits)": _codec({}, SimplexField(ENERGY_FRACTIONS, 19, slack=False)),
        "lattice 5 parts, 1/7 (9 bits)": _codec({}, SimplexField(ENERGY_FRACTIONS, 7, slack=False)),
        "lattice 3 + slack, 1/19 (11 bits)": _codec({}, SimplexField(ENERGY_FRACTIONS[:3], 19, slack=True)),
        "jet10-l1 (47 bits)": load_codec(REPO / "configs" / "jet10-l1.toml"),
    }


def features(codec: FixedPointCodec) -> np.ndarray:
    """The model's terms: ladder comparators (linear, log), ladder output bits, lattice datapath units."""
    comparators = [sum((1 << f.bits) - 1 for f in codec.fields if f.bits and f.companding == c) for c in COMPANDINGS]
    code_bits = sum(f.bits for f in codec.fields)
    lattice = codec.simplex.datapath_units(BOARD.fractional) if codec.simplex else 0
    return np.array([*comparators, code_bits, lattice], dtype=float)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--measurements",
        type=Path,
        help="JSON of measurements: codecs already in it are not synthesised again, "
        "new ones are added to it (an interrupted calibration resumes)",
    )
    parser.add_argument("--fit", action="store_true", help="fit the model's coefficients to the measurements")
    args = parser.parse_args()
    codecs = calibration_codecs()
    measured = json.loads(args.measurements.read_text()) if args.measurements and args.measurements.exists() else {}
    for name, codec in codecs.items():
        if name in measured:
            continue
        with tempfile.TemporaryDirectory(prefix="trigcomp-area-") as tmp:
            yosys = run_yosys(write_codec_rtl(codec, Path(tmp) / "rtl", BOARD))
        measured[name] = {k: yosys[k] for k in ("lut", "ff", "carry", "dsp", "logic_depth", "seconds")}
        print(f"{name}: {measured[name]}", file=sys.stderr, flush=True)
        if args.measurements:
            args.measurements.write_text(json.dumps(measured, indent=2) + "\n")
    names = list(codecs)
    lut = np.array([measured[n]["lut"] for n in names], dtype=float)
    if args.fit:
        # relative least squares (every codec counts alike, small or large), no negative LUTs per term
        design = np.stack([features(codecs[n]) for n in names])
        coefficients, _ = nnls(design / lut[:, None], np.ones_like(lut))
        terms = [f"per {c} comparator" for c in COMPANDINGS] + ["per code bit", "per lattice unit"]
        print("coefficients (LUT):", ", ".join(f"{term} {c:.3f}" for term, c in zip(terms, coefficients)))
    print(f"{'codec':40s} {'Yosys LUT':>10s} {'model':>8s} {'residual':>9s}")
    residuals = []
    for name, luts in zip(names, lut):
        model = codecs[name].area_estimate()["luts"]
        residuals.append((model - luts) / luts)
        print(f"{name:40s} {int(luts):>10,} {model:>8,} {residuals[-1]:>+9.0%}")
    print(f"worst residual {max(map(abs, residuals)):.0%}, rms {math.sqrt(np.mean(np.square(residuals))):.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
