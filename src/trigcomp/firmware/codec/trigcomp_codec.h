// trigcomp's per-variable fixed-point codec on the board (trigcomp.codecs.FixedPointCodec).
//
// Every scalar field is a comparator ladder: code = number of thresholds t_k <= the input's raw word, which covers
// linear and log companding alike (the thresholds, generated into trigcomp_codec_params.h, are the input words where
// the Python codec's code steps up). The energy fractions' joint field (trigcomp.codecs.simplex) is computed in exact
// integer arithmetic on the input grid. Fields are packed little-end first into link words, like trigcomp_top.
#ifndef TRIGCOMP_CODEC_H_
#define TRIGCOMP_CODEC_H_

#include "ap_fixed.h"
#include "ap_int.h"
#include "trigcomp_codec_params.h"

typedef ap_uint<TRIGCOMP_N_LINK_WORDS * TRIGCOMP_LINK_WIDTH> trigcomp_packed_t;

// The input's raw word (two's complement), widened by one bit so that a threshold above every word fits.
inline trigcomp_word_t trigcomp_raw_word(trigcomp_input_t value) {
    #pragma HLS INLINE
    ap_int<TRIGCOMP_INPUT_WIDTH> raw;
    raw.range(TRIGCOMP_INPUT_WIDTH - 1, 0) = value.range(TRIGCOMP_INPUT_WIDTH - 1, 0);
    return raw;
}

// Thresholds are sorted, so the comparators form a thermometer code and their sum is the bin index.
template <int BITS>
ap_uint<BITS> trigcomp_ladder(trigcomp_word_t word, const trigcomp_word_t thresholds[(1 << BITS) - 1]) {
    #pragma HLS INLINE
    ap_uint<BITS> code = 0;
    for (int k = 0; k < (1 << BITS) - 1; k++) {
        #pragma HLS UNROLL
        code += (word >= thresholds[k]) ? 1 : 0;
    }
    return code;
}

// The lattice point of the fractions: shares clipped to [0, one] on the input grid (plus the slack part one - sum),
// floor(share * LEVELS / total), the missing units to the largest remainders (ties: the lower part), then the
// point's rank in the combinatorial number system. Scaling every share by 2^k changes neither the floors nor the
// order of the remainders, so this equals the Python codec's 2^-24 grid for any input grid of at most 24 bits.
// SHARE_BITS holds PARTS * one, UNIT_BITS holds LEVELS + PARTS, PRODUCT_BITS holds one * LEVELS, QUOTIENT_BITS
// holds LEVELS. Written for area, like the open path's Verilog: share <= total, so the quotient has QUOTIENT_BITS
// bits and the division is that many restoring steps (no general divider), and each remainder pair is compared once.
template <int FRACTIONS, int PARTS, int LEVELS, int BITS, int SHARE_BITS, int UNIT_BITS, int PRODUCT_BITS,
          int QUOTIENT_BITS>
ap_uint<BITS> trigcomp_simplex(const trigcomp_word_t fractions[FRACTIONS],
                               const unsigned long long binomials[LEVELS + PARTS - 1][PARTS]) {
    #pragma HLS INLINE
    typedef ap_uint<SHARE_BITS> share_t;
    typedef ap_uint<PRODUCT_BITS> product_t;
    const share_t one = share_t(1) << TRIGCOMP_INPUT_FRACTIONAL;

    share_t share[PARTS];
    #pragma HLS ARRAY_PARTITION variable=share complete dim=0
    share_t sum = 0;
    for (int p = 0; p < FRACTIONS; p++) {
        #pragma HLS UNROLL
        trigcomp_word_t word = fractions[p];
        share[p] = word < 0 ? share_t(0) : (word > one ? one : share_t(word));
        sum += share[p];
    }
    if (PARTS > FRACTIONS) share[PARTS - 1] = sum < one ? share_t(one - sum) : share_t(0);
    share_t total = 0;
    for (int p = 0; p < PARTS; p++) {
        #pragma HLS UNROLL
        total += share[p];
    }
    if (total == 0) {  // no energy at all: equal shares
        for (int p = 0; p < PARTS; p++) {
            #pragma HLS UNROLL
            share[p] = 1;
        }
        total = PARTS;
    }

    ap_uint<UNIT_BITS> units[PARTS];
    share_t remainder[PARTS];
    #pragma HLS ARRAY_PARTITION variable=units complete dim=0
    #pragma HLS ARRAY_PARTITION variable=remainder complete dim=0
    int placed = 0;
    for (int p = 0; p < PARTS; p++) {
        #pragma HLS UNROLL
        product_t left = product_t(share[p]) * LEVELS;
        ap_uint<QUOTIENT_BITS> quotient = 0;
        for (int b = QUOTIENT_BITS - 1; b >= 0; b--) {
            #pragma HLS UNROLL
            const product_t step = product_t(total) << b;
            if (left >= step) {
                left -= step;
                quotient[b] = 1;
            }
        }
        units[p] = quotient;
        remainder[p] = left;  // < total
        placed += quotient;
    }
    bool not_below[PARTS][PARTS];  // [q][p], q < p: remainder q >= remainder p, so q comes first
    #pragma HLS ARRAY_PARTITION variable=not_below complete dim=0
    for (int p = 0; p < PARTS; p++) {
        #pragma HLS UNROLL
        for (int q = 0; q < p; q++) {
            #pragma HLS UNROLL
            not_below[q][p] = remainder[q] >= remainder[p];
        }
    }
    const int missing = LEVELS - placed;
    for (int p = 0; p < PARTS; p++) {
        #pragma HLS UNROLL
        int ahead = 0;  // parts whose remainder comes first: larger, or equal and lower
        for (int q = 0; q < PARTS; q++) {
            #pragma HLS UNROLL
            if (q < p) ahead += not_below[q][p] ? 1 : 0;
            if (q > p) ahead += not_below[p][q] ? 0 : 1;
        }
        if (ahead < missing) units[p] += 1;
    }

    ap_uint<BITS> rank = 0;
    int position = 0;
    for (int j = 0; j < PARTS - 1; j++) {
        #pragma HLS UNROLL
        position += units[j];
        rank += ap_uint<BITS>(binomials[position + j][j + 1]);
    }
    return rank;
}

void trigcomp_codec_top(trigcomp_input_t jet[TRIGCOMP_N_INPUTS], trigcomp_link_t link[TRIGCOMP_N_LINK_WORDS]);

#endif
