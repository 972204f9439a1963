"""Synthetic encoders with the exact layer pattern trigcomp.model produces, for the RTL tests and bench_rtl.py.

Input quantizer, QDense with quantized weights, quantized_relu, quantized_bits latent, and small deterministic
random weights; ``verification_inputs`` adds exact rounding ties of the input grid to trigcomp.stimulus' rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EncoderConfig:
    sizes: tuple[int, ...]
    input_q: tuple[int, int] = (12, 6)
    first_kernel_q: tuple[int, int] = (6, 0)  # wide in real models: the input normalisation is folded in
    first_bias_q: tuple[int, int] = (6, 0)
    kernel_q: tuple[int, int] = (6, 0)
    bias_q: tuple[int, int] = (6, 0)
    hidden_q: tuple[int, int] = (8, 4)
    latent_q: tuple[int, int] = (8, 3)
    latent_symmetric: int = 0
    seed: int = 0


def build_encoder(config: EncoderConfig):
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    inp = tf.keras.Input((config.sizes[0],), name="jet")
    x = QActivation(quantized_bits(*config.input_q, keep_negative=1, alpha=1), name="input_q")(inp)
    n_dense = len(config.sizes) - 1
    for index, units in enumerate(config.sizes[1:]):
        kernel_q, bias_q = (
            (config.first_kernel_q, config.first_bias_q) if index == 0 else (config.kernel_q, config.bias_q)
        )
        x = QDense(
            units,
            kernel_quantizer=quantized_bits(*kernel_q, alpha=1),
            bias_quantizer=quantized_bits(*bias_q, alpha=1),
            name=f"dense{index}",
        )(x)
        if index < n_dense - 1:
            x = QActivation(quantized_relu(*config.hidden_q), name=f"relu{index}")(x)
    latent = quantized_bits(*config.latent_q, alpha=1, symmetric=config.latent_symmetric)
    encoder = tf.keras.Model(inp, QActivation(latent, name="latent")(x), name="encoder")
    rng = np.random.default_rng(config.seed)
    encoder.set_weights([rng.normal(0.0, 0.5, w.shape).astype(np.float32) for w in encoder.get_weights()])
    return encoder


def verification_inputs(encoder, n_jets: int, seed: int = 0) -> np.ndarray:
    """Random jets and the input type's adversarial rows (``trigcomp.stimulus``: edges, out of range, one-hot,
    uniform in range, rounding ties of the jets) plus exact rounding ties all over the input grid."""
    from ..stimulus import make_inputs
    from .tracing import as_encoder_ir

    fmt = as_encoder_ir(encoder).input.format
    rng = np.random.default_rng(seed)
    n_real = max(1, n_jets // 2)
    real_like = rng.lognormal(0.0, 1.5, (n_real, encoder.input_shape[1])) * rng.choice([-1, 1], (n_real, 1))
    jets = make_inputs(real_like, fmt, n_jets, n_jets - n_real, seed)
    ties = (rng.integers(*fmt.word_range, (1000, jets.shape[1])) + 0.5) * fmt.lsb
    return np.concatenate([jets, ties])
