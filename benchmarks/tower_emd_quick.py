"""A tower model's mean EMD on unseen processes against fixed baseline numbers, without a full ``evaluate``.

    PYTHONPATH=src python benchmarks/tower_emd_quick.py --model models/towers8-convmix models/towers8 \
        [--baselines models/towers8/evaluation/evaluation.json] [--processes wjets zprime] [--images 1000]

The yardstick of the model-search runs in models/README.md ("quick" ratios): the first ``--images`` images of each
process file (the images ``evaluate`` uses for a file the model was not trained on), decoded by the model, the exact
EMD (trigcomp.images.emd) averaged, divided by the best baseline's mean EMD at the model's bits per image or fewer as
a full ``evaluate`` recorded it (``--baselines``: an evaluation.json; its baselines were fitted on that model's
training split, so models trained on the same files share the bar). Also printed: the EMD with the decoded shapes
scaled to the true total ET (what the shape alone would give) and the mean relative total-ET error.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from trigcomp.data import load_jets
from trigcomp.images import emd
from trigcomp.model import load_model


def best_baseline_emd(evaluation: dict, sample: str, bits: int) -> float:
    """The lowest per-sample mean EMD among the recorded image baselines of at most ``bits`` bits per image."""
    means = [
        baseline["samples"][sample]["emd_mean"]
        for baseline in evaluation["images"]["baselines"]
        if baseline["possible"] and baseline["bits_per_jet"] <= bits and sample in baseline["samples"]
    ]
    if not means:
        raise SystemExit(f"no baseline of <= {bits} bits for {sample} in the evaluation")
    return min(means)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", default=["models/towers8"])
    parser.add_argument("--baselines", default="models/towers8/evaluation/evaluation.json")
    parser.add_argument("--processes", nargs="+", default=["wjets", "zprime"])
    parser.add_argument("--data", default="data/towers/{}.root", help="{} becomes the process name")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    with open(args.baselines) as file:
        evaluation = json.load(file)
    for path in args.model:
        model = load_model(path)
        for process in args.processes:
            images = load_jets(args.data.format(process), variables=model.variables).values[: args.images]
            images = images.astype(np.float64)
            decoded = np.maximum(model.reconstruct(images).astype(np.float64), 0.0)
            true_total, decoded_total = images.sum(1), decoded.sum(1)
            rescaled = decoded * (true_total / np.where(decoded_total > 0, decoded_total, 1.0))[:, None]
            mean = float(emd(images, decoded).mean())
            bar = best_baseline_emd(evaluation, process, model.bits_per_jet)
            relative_total = np.abs(decoded_total - true_total) / np.where(true_total > 0, true_total, 1.0)
            print(
                f"{model.name} ({model.bits_per_jet} bits) {process}: EMD {mean:.3f} GeV / best baseline {bar:.3f}"
                f" = {mean / bar:.3f}; with the true total ET {emd(images, rescaled).mean():.3f} GeV;"
                f" mean |total ET error| / ET {relative_total.mean():.1%}"
            )


if __name__ == "__main__":
    main()
