"""trigcomp.compare: words are the nearest grid points, and every output word of every jet is compared."""

import numpy as np
import pytest

from trigcomp.compare import compare_words, lsb_distance, to_words


def test_words_are_the_nearest_grid_points():
    lsb = 0.1  # not a power of two: value / lsb lands just below or above the integer
    values = np.array([[0.3, 0.7, -0.3, -0.7, 2.9, 0.0]])
    assert np.array_equal(to_words(values, lsb), [[3, 7, -3, -7, 29, 0]])
    below = np.nextafter(np.arange(-8, 9) * 2.0**-3, -np.inf).reshape(1, -1)  # one float step under the grid
    assert np.array_equal(to_words(below, 2.0**-3), np.arange(-8, 9).reshape(1, -1))


def test_off_grid_values_are_refused_naming_the_first_row():
    with pytest.raises(ValueError, match=r"value \[0.3 +0.25\] of row 1 is not on the 0.25 grid"):
        to_words(np.array([[0.25, 0.5], [0.3, 0.25], [0.1, 0.0]]), 0.25)


@pytest.mark.parametrize("column", [0, 1, 5])
def test_a_one_lsb_difference_in_any_output_is_a_mismatch(column):
    lsb = 2.0**-4
    reference = np.random.default_rng(column).integers(-64, 64, size=(50, 6)) * lsb
    firmware = reference.copy()
    firmware[17, column] += lsb
    firmware[40, column] -= lsb
    comparison = compare_words(reference, firmware, lsb)
    assert (comparison.mismatches, comparison.mismatch_indices) == (2, (17, 40))
    assert compare_words(reference, reference.copy(), lsb).mismatches == 0


def test_distance_to_the_float_model_in_lsb():
    lsb = 0.25
    values = np.array([[0.25, 0.5], [-0.25, 0.0], [1.0, 1.0]])
    float_model = values + np.array([[0.125, 0.0], [0.0, -0.25], [0.0, 0.0]])  # 0.5 and 1 LSB off
    max_lsb, mean_lsb = lsb_distance(values, float_model.ravel(), lsb)  # any shape with the same size
    assert (max_lsb, mean_lsb) == (1.0, 0.25)
    assert all(np.isnan(lsb_distance(np.zeros((0, 2)), np.zeros((0, 2)), lsb)))


def test_comparison_keeps_the_first_mismatches_and_the_float_distance():
    lsb = 1.0
    reference = np.zeros((30, 2))
    firmware = reference.copy()
    firmware[[3, 7, 11, 20], 1] = 1.0
    comparison = compare_words(reference, firmware, lsb, float_model=reference + 0.5, keep=3)
    assert comparison.jets == 30 and comparison.mismatches == 4
    assert comparison.mismatch_indices == (3, 7, 11) and comparison.first_mismatch == 3
    assert (comparison.max_lsb_vs_float, comparison.mean_lsb_vs_float) == (0.5, 0.5)
    equal = compare_words(reference, reference, lsb)
    assert equal.first_mismatch is None and np.isnan(equal.max_lsb_vs_float)
    for smaller, larger in ((firmware[:, :1], reference), (reference[:, :1], firmware), (reference[:5], firmware)):
        with pytest.raises(ValueError, match="shape mismatch"):
            compare_words(larger, smaller, lsb)
        with pytest.raises(ValueError, match="shape mismatch"):
            compare_words(smaller, larger, lsb)


def test_ten_mismatching_rows_are_kept_by_default():
    reference = np.zeros((40, 1))
    comparison = compare_words(reference, reference + 1.0, 1.0)
    assert comparison.mismatches == 40 and comparison.mismatch_indices == tuple(range(10))
