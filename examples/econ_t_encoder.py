"""A small ECON-T-shaped QKeras encoder (48 sensor cells -> 16 latent values), built and saved deterministically.

The CMS HGCAL ECON-T ASIC compresses the charges of 48 trigger cells (a 4x4 grid in 3 layers) into a short
latent word with a small Conv2D autoencoder. This script builds such an encoder with QKeras, with seeded weights
(no training, no downloaded weights), for trying ``trigcomp import`` and for the tests:

    python examples/econ_t_encoder.py --kind conv --out econ_t_conv.h5
    python examples/econ_t_encoder.py --kind dense --out econ_t_dense.h5
    python examples/econ_t_encoder.py --cells 10000 --out cells.npy      # example inputs (sensor charges)

conv:  48 cells -> quantized_bits(16,6) -> Reshape 4x4x3 -> QConv2D(8, 3x3) -> quantized_relu -> Flatten
       -> QDense(16) -> quantized_bits(9,4) latent
dense: 48 cells -> quantized_bits(16,6) -> QDense(32) -> quantized_relu -> QDense(16) -> quantized_bits(9,4) latent
image: a 4x4x3 input with no input quantizer (import it with --input-type 'ap_fixed<16,7>') -> QConv2D as conv
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

N_CELLS = 48
N_LATENT = 16
GRID = (4, 4, 3)
KINDS = ("conv", "dense", "image")


def example_cells(n: int, seed: int = 1):
    """``n`` rows of 48 sensor charges (exponential, mean 1; a few beyond the input range), deterministic."""
    import numpy as np

    return np.random.default_rng(seed).exponential(1.0, (n, N_CELLS))


def build_encoder(kind: str = "conv", seed: int = 0):
    """The encoder with weights drawn from ``seed`` (the same seed gives the same weights)."""
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu
    from tensorflow import keras

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    keras.utils.set_random_seed(seed)
    weight_q = {"kernel_quantizer": quantized_bits(6, 0, alpha=1), "bias_quantizer": quantized_bits(10, 3, alpha=1)}
    if kind == "image":
        cells = h = keras.Input(GRID, name="cells")
    else:
        cells = keras.Input((N_CELLS,), name="cells")
        h = QActivation(quantized_bits(16, 6, alpha=1), name="input_q")(cells)
    if kind == "conv":
        h = keras.layers.Reshape(GRID, name="grid")(h)
    if kind in ("conv", "image"):
        h = QConv2D(8, (3, 3), name="conv", **weight_q)(h)
        h = QActivation(quantized_relu(8, 4), name="conv_relu")(h)
        h = keras.layers.Flatten(name="flatten")(h)
    else:
        h = QDense(32, name="dense", **weight_q)(h)
        h = QActivation(quantized_relu(8, 4), name="dense_relu")(h)
    h = QDense(N_LATENT, name="to_latent", **weight_q)(h)
    latent = QActivation(quantized_bits(9, 4, alpha=1), name="latent")(h)
    return keras.Model(cells, latent, name=f"econ_t_{kind}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=KINDS, default="conv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cells", type=int, metavar="N", help="write N rows of example inputs (.npy) instead")
    parser.add_argument("--out", required=True, help="model file (.h5 or .keras), or .npy with --cells")
    args = parser.parse_args()
    if args.cells:
        import numpy as np

        np.save(args.out, example_cells(args.cells, args.seed))
    else:
        build_encoder(args.kind, args.seed).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
