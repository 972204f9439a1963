"""Magnitude pruning of a trained encoder, without retraining: da4ml area against total NMSE.

    cd /work/main && PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/bench_prune.py \
        [--model models/jet10] [--data data/qcd.root] [--sparsity 0 0.25 0.5 0.75]

For each sparsity, the smallest-magnitude fraction of every encoder kernel (first layer as trained, before the
normalisation is folded in) is set to zero, which keeps every weight on its quantizer grid; the encoder is then
costed by da4ml (``trigcomp.rtl.estimate``, the scan's area) and judged by total NMSE on the model's held-out jets
(the test split of its training file), through the same codec path as ``evaluate`` and ``compress``. A lower bound
on what pruning during training (``[training] prune_sparsity``) gives: here nothing is retrained to recover. With
``--sparsity 0`` it measures any model as it is (models/jet10-small, pruned during training: 0.0985, 11,869 LUT).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
from trigcomp.baselines import nmse_per_variable
from trigcomp.codecs import AutoencoderCodec
from trigcomp.data import load_jets
from trigcomp.evaluate import _evaluation_rows
from trigcomp.model import encoder_sparsity, load_model
from trigcomp.rtl import estimate


def pruned(weights: dict[str, list[np.ndarray]], layers: list[str], sparsity: float) -> dict[str, list[np.ndarray]]:
    """The kernels of ``layers`` with their smallest-magnitude ``sparsity`` fraction set to zero (biases untouched)."""
    out = dict(weights)
    for name in layers:
        kernel, *rest = (np.asarray(w) for w in weights[name])
        cut = np.quantile(np.abs(kernel), sparsity) if sparsity > 0 else -1.0
        out[name] = [np.where(np.abs(kernel) <= cut, 0.0, kernel).astype(kernel.dtype), *rest]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "jet10")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "qcd.root")
    parser.add_argument("--sparsity", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75])
    args = parser.parse_args()
    model = load_model(args.model)
    layers = list(encoder_sparsity(model))  # the encoder's kernels
    jets = load_jets([str(args.data)], variables=model.variables)
    rows, how = _evaluation_rows(model, jets)
    truth = jets.values[rows].astype(np.float64)
    variance = truth.var(axis=0)
    print(f"{model.name} on {args.data.name}: {len(truth)} jets, {how}")
    print(f"{'sparsity':>8s} {'zero weights':>12s} {'LUT (da4ml)':>11s} {'latency ns':>10s} {'total NMSE':>10s}")
    for sparsity in args.sparsity:
        variant = dataclasses.replace(model, weights=pruned(model.weights, layers, sparsity))
        zeros = sum(int(np.sum(np.asarray(variant.weights[n][0]) == 0)) for n in layers)
        est = estimate(variant.firmware_encoder())
        codec = AutoencoderCodec(variant)
        reco = codec.decode(codec.encode(truth).codes)
        nmse = float(nmse_per_variable(truth, reco, variance).sum())
        print(f"{sparsity:>8.2f} {zeros:>12d} {est.resources['LUT']:>11,} {est.latency_ns:>10g} {nmse:>10.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
