"""How well the training loss's sliced EMD tracks the exact EMD evaluate judges by, on a tower model's own outputs.

    PYTHONPATH=src python benchmarks/bench_sliced_emd.py --model models/towers8-convmix [--images 1000]

Per process (the first ``--images`` images, as evaluate takes them): the exact EMD (trigcomp.images.emd, POT's
network simplex) against the loss's EMD in GeV (sliced transport times TOWER_SIZE / EMD_R times the smaller total,
plus |total difference|) with 8, 16 and 32 directions: the ratio of the means, the Pearson and Spearman
correlations per image, and the same for the transport parts alone (the exact transport is the exact EMD minus the
|total difference|; both sides carry that term identically). A loss that ranks images as the metric does but
scales transport by a constant c weighs transport against the total ET c times too little; one that ranks them
differently steers training elsewhere.
"""

from __future__ import annotations

import argparse

import numpy as np

from trigcomp.data import load_jets
from trigcomp.images import EMD_R, emd
from trigcomp.model import load_model
from trigcomp.records import TOWER_SIZE
from trigcomp.tower_autoencoder import image_side, sliced_emd

PROCESSES = ("wjets", "zprime", "qcd-highpt")
DIRECTIONS = (8, 16, 32)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


def sliced_transport(original: np.ndarray, decoded: np.ndarray, side: int, directions: int) -> np.ndarray:
    """The loss's transport term in GeV: sliced EMD of the normalised images x per-tower cost x the smaller total."""
    import tensorflow as tf

    totals = original.sum(1), decoded.sum(1)
    shapes = [x / np.maximum(t, 1e-12)[:, None] for x, t in ((decoded, totals[1]), (original, totals[0]))]
    sliced = sliced_emd(tf.constant(shapes[0]), tf.constant(shapes[1]), side, directions).numpy()
    return sliced * TOWER_SIZE / EMD_R * np.minimum(*totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/towers8-convmix")
    parser.add_argument("--data", default="data/towers/{}.root", help="{} becomes the process name")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    model = load_model(args.model)
    side = image_side(model.variables)
    for process in PROCESSES:
        images = load_jets(args.data.format(process), variables=model.variables).values[: args.images]
        images = images.astype(np.float64)
        decoded = np.maximum(model.reconstruct(images).astype(np.float64), 0.0)
        exact = emd(images, decoded)
        total_error = np.abs(images.sum(1) - decoded.sum(1))
        exact_transport = exact - total_error
        print(
            f"{process}: exact EMD {exact.mean():.3f} GeV = transport {exact_transport.mean():.3f} "
            f"+ |total ET error| {total_error.mean():.3f}"
        )
        relative = exact / np.where(images.sum(1) > 0, images.sum(1), 1.0)
        for directions in DIRECTIONS:
            transport = sliced_transport(images, decoded, side, directions)
            loss = transport + total_error
            loss_relative = loss / np.where(images.sum(1) > 0, images.sum(1), 1.0)
            print(
                f"  {directions:2d} directions: loss EMD {loss.mean():.3f} GeV (ratio to exact {loss.mean() / exact.mean():.3f}), "
                f"per image pearson {np.corrcoef(loss, exact)[0, 1]:.4f} spearman {spearman(loss, exact):.4f}; "
                f"relative spearman {spearman(loss_relative, relative):.4f}; "
                f"transport ratio {transport.mean() / exact_transport.mean():.3f} "
                f"(per image {np.median(transport / np.maximum(exact_transport, 1e-12)):.3f} median, "
                f"{np.percentile(transport / np.maximum(exact_transport, 1e-12), 10):.3f}-"
                f"{np.percentile(transport / np.maximum(exact_transport, 1e-12), 90):.3f} 10-90 %), "
                f"spearman {spearman(transport, exact_transport):.4f}"
            )


if __name__ == "__main__":
    main()
