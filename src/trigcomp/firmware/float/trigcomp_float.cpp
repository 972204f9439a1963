// Top level of a float-truncation codec project: the board's input words in, every field computed, packed into
// link words little-end first (as trigcomp_codec_top packs its fields).
#include "trigcomp_float.h"

void trigcomp_float_top(trigcomp_input_t jet[TRIGCOMP_N_INPUTS], trigcomp_link_t link[TRIGCOMP_N_LINK_WORDS]) {
    #pragma HLS ARRAY_PARTITION variable=jet complete dim=0
    #pragma HLS ARRAY_PARTITION variable=link complete dim=0
    #pragma HLS PIPELINE II=1

    trigcomp_packed_t packed = 0;
#define TRIGCOMP_PACK_FLOAT(input, sign, exponent_bits, mantissa_bits, lowest, offset)                    \
    packed.range((offset) + (sign) + (exponent_bits) + (mantissa_bits) - 1, (offset)) =                   \
        trigcomp_float_field<sign, exponent_bits, mantissa_bits, lowest>(jet[input]);
    TRIGCOMP_FLOAT_FIELDS(TRIGCOMP_PACK_FLOAT)
#undef TRIGCOMP_PACK_FLOAT

    for (int w = 0; w < TRIGCOMP_N_LINK_WORDS; w++) {
        #pragma HLS UNROLL
        link[w] = packed.range((w + 1) * TRIGCOMP_LINK_WIDTH - 1, w * TRIGCOMP_LINK_WIDTH);
    }
}
