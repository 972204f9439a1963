// trigcomp's float-truncation codec on the board (trigcomp.codecs.FloatMantissaCodec): per variable a small float,
// [sign] + E exponent bits + M mantissa bits, from the fixed-point input word by a leading-one position and a shift.
//
// With the input word w = value * 2^F and its magnitude |w| (or 0 for a negative value without a sign bit):
//   binade = max(position of the leading one of |w| - F, LOWEST)    (LOWEST: the lowest normal binade; 0 -> LOWEST)
//   k      = binade + F - M                                          (right shift that keeps M fraction bits)
//   q      = |w| / 2^k rounded to nearest, ties to even              (exact left shift when k <= 0)
//   code   = min((binade - LOWEST) * 2^M + q, 2^(E+M) - 1)          (a rounding carry moves into the next binade by
//                                                                     itself; the largest float saturates)
// which equals the IEEE-like exponent field and mantissa the Python codec computes (subnormals included), with the
// sign (w < 0) above them.
#ifndef TRIGCOMP_FLOAT_H_
#define TRIGCOMP_FLOAT_H_

#include "ap_fixed.h"
#include "ap_int.h"
#include "trigcomp_float_params.h"

typedef ap_uint<TRIGCOMP_N_LINK_WORDS * TRIGCOMP_LINK_WIDTH> trigcomp_packed_t;
typedef ap_uint<TRIGCOMP_INPUT_WIDTH> trigcomp_magnitude_t;  // |w| <= 2^(W-1)
typedef ap_uint<64> trigcomp_wide_t;

// Position of the leading one (0 for an input of 0): a priority encoder over the bits.
inline int trigcomp_leading_one(trigcomp_magnitude_t magnitude) {
    #pragma HLS INLINE
    int position = 0;
    for (int b = 0; b < TRIGCOMP_INPUT_WIDTH; b++) {
        #pragma HLS UNROLL
        if (magnitude[b]) position = b;
    }
    return position;
}

template <int SIGN, int E, int M, int LOWEST>
ap_uint<SIGN + E + M> trigcomp_float_field(trigcomp_input_t value) {
    #pragma HLS INLINE
    ap_int<TRIGCOMP_INPUT_WIDTH> word;
    word.range(TRIGCOMP_INPUT_WIDTH - 1, 0) = value.range(TRIGCOMP_INPUT_WIDTH - 1, 0);
    const bool negative = word < 0;
    trigcomp_magnitude_t magnitude = negative ? (SIGN ? trigcomp_magnitude_t(-word) : trigcomp_magnitude_t(0))
                                              : trigcomp_magnitude_t(word);
    const int leading = trigcomp_leading_one(magnitude) - TRIGCOMP_INPUT_FRACTIONAL;
    const int binade = (magnitude == 0 || leading < LOWEST) ? LOWEST : leading;
    const int shift = binade + TRIGCOMP_INPUT_FRACTIONAL - M;
    trigcomp_wide_t q;
    if (shift <= 0) {
        q = trigcomp_wide_t(magnitude) << (-shift);
    } else if (shift >= TRIGCOMP_INPUT_WIDTH + 1) {
        q = 0;  // below half of the smallest step
    } else {
        trigcomp_wide_t kept = trigcomp_wide_t(magnitude) >> shift;
        trigcomp_wide_t rest = trigcomp_wide_t(magnitude) & ((trigcomp_wide_t(1) << shift) - 1);
        trigcomp_wide_t half = trigcomp_wide_t(1) << (shift - 1);
        q = kept + ((rest > half || (rest == half && kept[0])) ? 1 : 0);
    }
    const trigcomp_wide_t largest = (trigcomp_wide_t(1) << (E + M)) - 1;
    trigcomp_wide_t code = (trigcomp_wide_t(binade - LOWEST) << M) + q;
    if (code > largest) code = largest;
    ap_uint<SIGN + E + M> field = code.range(E + M - 1, 0);
    if (SIGN) field[SIGN + E + M - 1] = negative;
    return field;
}

void trigcomp_float_top(trigcomp_input_t jet[TRIGCOMP_N_INPUTS], trigcomp_link_t link[TRIGCOMP_N_LINK_WORDS]);

#endif
