// Top level of a codec project: the board's input words in, every field computed, packed into link words.
#include "trigcomp_codec.h"

void trigcomp_codec_top(trigcomp_input_t jet[TRIGCOMP_N_INPUTS], trigcomp_link_t link[TRIGCOMP_N_LINK_WORDS]) {
    #pragma HLS ARRAY_PARTITION variable=jet complete dim=0
    #pragma HLS ARRAY_PARTITION variable=link complete dim=0
    #pragma HLS PIPELINE II=1

    trigcomp_word_t words[TRIGCOMP_N_INPUTS];
    #pragma HLS ARRAY_PARTITION variable=words complete dim=0
    for (int i = 0; i < TRIGCOMP_N_INPUTS; i++) {
        #pragma HLS UNROLL
        words[i] = trigcomp_raw_word(jet[i]);
    }

    trigcomp_packed_t packed = 0;
#define TRIGCOMP_PACK_SCALAR(input, bits, offset, thresholds) \
    packed.range((offset) + (bits) - 1, (offset)) = trigcomp_ladder<bits>(words[input], thresholds);
    TRIGCOMP_SCALAR_FIELDS(TRIGCOMP_PACK_SCALAR)
#undef TRIGCOMP_PACK_SCALAR

#if TRIGCOMP_SIMPLEX
    trigcomp_word_t fractions[TRIGCOMP_SIMPLEX_FRACTIONS];
    #pragma HLS ARRAY_PARTITION variable=fractions complete dim=0
    for (int f = 0; f < TRIGCOMP_SIMPLEX_FRACTIONS; f++) {
        #pragma HLS UNROLL
        fractions[f] = words[trigcomp_simplex_inputs[f]];
    }
    packed.range(TRIGCOMP_SIMPLEX_OFFSET + TRIGCOMP_SIMPLEX_BITS - 1, TRIGCOMP_SIMPLEX_OFFSET) =
        trigcomp_simplex<TRIGCOMP_SIMPLEX_FRACTIONS, TRIGCOMP_SIMPLEX_PARTS, TRIGCOMP_SIMPLEX_LEVELS,
                         TRIGCOMP_SIMPLEX_BITS, TRIGCOMP_SIMPLEX_SHARE_BITS, TRIGCOMP_SIMPLEX_UNIT_BITS,
                         TRIGCOMP_SIMPLEX_PRODUCT_BITS, TRIGCOMP_SIMPLEX_QUOTIENT_BITS>(fractions,
                                                                                       trigcomp_simplex_binomials);
#endif

    for (int w = 0; w < TRIGCOMP_N_LINK_WORDS; w++) {
        #pragma HLS UNROLL
        link[w] = packed.range((w + 1) * TRIGCOMP_LINK_WIDTH - 1, w * TRIGCOMP_LINK_WIDTH);
    }
}
