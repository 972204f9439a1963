"""What a tower-image autoencoder needs beyond a jet-variable one (used by trigcomp.model).

A model whose variables are the towers ``tower_0 … tower_{n²-1}`` of an n×n η×φ image (k = iη·n + iφ) is an image
model:

* **Normalisation** is one power-of-two scale for every tower and no offset (tower ET is >= 0 and mostly zero):
  it folds exactly into the first layer, a QConv2D as well as a QDense, since every input shares it.
* **Decoder** (offline, float): the latent gives an energy *shape*, a softmax over the towers, and a *total*,
  ``exp`` of one output; the decoded image is shape × total (in normalised units), never negative, and its total
  ET is carried by the latent (no extra field).
* **Loss ``emd``**: the energy mover's distance the images are judged by (trigcomp.images: transport cost over
  the jet radius plus the total ET missing or created, so hard jets weigh as they do in the mean), with the
  transport part approximated by the sliced EMD. Image MSE rewards blurring energy over the towers. The exact
  EMD (one transport problem per image) measured ~1 ms per image on this loaded machine, 100 s per training
  epoch; the sliced one costs a few cumulative sums.
"""

from __future__ import annotations

import math

import numpy as np

from .generate import quantize_towers
from .records import TOWER_SIZE, tower_grid

SLICED_DIRECTIONS = 8


def image_side(variables: tuple[str, ...]) -> int | None:
    """n when ``variables`` are exactly the towers of one n×n image (tower_0 … tower_{n²-1}), else None."""
    try:
        side = tower_grid(variables)
    except ValueError:
        return None
    return side if side and len(variables) == side * side else None


def common_scale(values: np.ndarray) -> float:
    """The power of two nearest to 1 / (standard deviation of all tower values)."""
    std = float(np.asarray(values, dtype=np.float64).std())
    return 2.0 ** -round(math.log2(std)) if std > 0 else 1.0


def with_scaled_copies(images: np.ndarray, scale_max: float, seed: int) -> np.ndarray:
    """``images`` followed by a copy of each with its tower ET times a factor drawn log-uniformly from
    [1, scale_max], quantized again as the L1 towers are (harder jets than the files hold, same shapes)."""
    rng = np.random.default_rng(seed)
    factors = np.exp(rng.uniform(0.0, math.log(scale_max), len(images)))
    return np.concatenate([images, quantize_towers(images * factors[:, None]).astype(images.dtype)])


def image_decoder(latent_in, n_towers: int, hidden: tuple[int, ...]):
    """Latent -> decoded image (normalised units) = softmax shape × exp(total)."""
    import tensorflow as tf
    from tensorflow import keras

    d = latent_in
    for i, width in enumerate(hidden):
        d = keras.layers.Dense(width, activation="relu", name=f"dec_dense{i}")(d)
    shape = keras.layers.Dense(n_towers, activation="softmax", name="dec_shape")(d)
    log_total = keras.layers.Dense(1, name="dec_total")(d)
    # the clip keeps exp finite for a latent far outside the training range; it spans any total a tower word holds
    total = keras.layers.Lambda(lambda t: tf.exp(tf.clip_by_value(t, -30.0, 30.0)), name="total")(log_total)
    return keras.layers.Multiply(name="dec_out")([shape, total])


def sliced_emd(decoded, true, side: int, directions: int = SLICED_DIRECTIONS):
    """Per image: the sliced energy mover's distance of two batches of normalised images (tower units).

    Projected on a direction, both images are weights on the same sorted points, and the 1-D EMD is the integral of
    the difference of their cumulative sums; the mean over ``directions`` evenly spaced directions is a lower
    bound of the 2-D EMD that tracks it closely (correlation 0.997 over random pairs of 8x8 jet-like images, 8
    directions), at a cost of a few cumulative sums instead of one transport problem per image.
    """
    import tensorflow as tf

    eta, phi = np.divmod(np.arange(side * side), side)
    total = 0.0
    for k in range(directions):
        angle = np.pi * k / directions
        position = eta * np.cos(angle) + phi * np.sin(angle)
        order = np.argsort(position, kind="stable")
        gaps = tf.constant(np.diff(position[order]), dtype=decoded.dtype)
        cumulative = tf.cumsum(tf.gather(decoded - true, order, axis=-1), axis=-1)[:, :-1]
        total += tf.reduce_sum(tf.abs(cumulative) * gaps, axis=-1)
    return total / directions


def emd_loss(side: int, relative: bool = False, et_power: float = 1.0, total_weight: float = 1.0):
    """Keras loss: the EMD of trigcomp.images in normalised units (the tower scale times GeV), its transport part
    the sliced EMD of the normalised images times the smaller total, moved by TOWER_SIZE / EMD_R per tower unit,
    plus ``total_weight`` times the total ET that is missing or created. ``relative``: each image's EMD divided by
    its total ET to the power ``et_power`` (an empty image's by 1); at 1 a 20 GeV and a 2 TeV jet count alike (in
    GeV the TeV jets of a mixed sample outweigh the rest ~100 to 1), at 0 it is the EMD itself."""
    import tensorflow as tf

    from .images import EMD_R

    tiny = 1e-6
    per_tower = TOWER_SIZE / EMD_R

    def loss(y_true, y_pred):
        total_true = tf.reduce_sum(y_true, axis=-1, keepdims=True)
        total_pred = tf.reduce_sum(y_pred, axis=-1, keepdims=True)
        shapes = (y_pred / (total_pred + tiny), y_true / (total_true + tiny))
        moved = sliced_emd(*shapes, side) * per_tower * tf.minimum(total_pred, total_true)[:, 0]
        distance = moved + total_weight * tf.abs(total_pred - total_true)[:, 0]
        return distance / _relative_scale(total_true[:, 0], et_power, tiny) if relative else distance

    return loss


def _relative_scale(total_true, et_power: float, tiny: float = 0.0):
    """What a relative EMD loss divides each image's EMD by: its true total ET (+ ``tiny``) to ``et_power``. An empty
    image has no scale: divided by 1, it costs the energy created, as in the absolute loss."""
    import tensorflow as tf

    return tf.where(total_true > 0, (total_true + tiny) ** et_power, tf.ones_like(total_true))


def exact_emd_loss(relative: bool = False, et_power: float = 1.0):
    """Keras loss: the exact EMD of trigcomp.images per image (in normalised units: the EMD scales with the images),
    its gradient with respect to the decoded towers from the optimal dual potentials (images.emd_and_gradient,
    POT's network simplex in NumPy, ~1 ms per image). ``relative`` and ``et_power`` as in emd_loss."""
    import tensorflow as tf

    from .images import emd_and_gradient

    def solve(y_true, y_pred):
        distance, slope = emd_and_gradient(y_true, y_pred)
        return distance.astype(np.float32), slope.astype(np.float32)

    def loss(y_true, y_pred):
        distance, slope = tf.numpy_function(solve, [y_true, y_pred], [tf.float32, tf.float32], stateful=False)
        distance = tf.ensure_shape(distance, y_pred.shape[:1])
        slope = tf.ensure_shape(slope, y_pred.shape)
        # the value is the exact EMD; only the second term carries a gradient, the dual potentials' slope
        distance += tf.reduce_sum(slope * (y_pred - tf.stop_gradient(y_pred)), axis=-1)
        return distance / _relative_scale(tf.reduce_sum(y_true, axis=-1), et_power) if relative else distance

    return loss
