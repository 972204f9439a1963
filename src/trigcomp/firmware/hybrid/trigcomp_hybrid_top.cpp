// The packed word holds the fixed-point fields first (as trigcomp_codec_top packs them, little-end first), then
// each latent word (two's complement, LATENT_BITS wide), as trigcomp_top packs them. Unused high bits are zero.
#include "trigcomp_hybrid_top.h"

void trigcomp_hybrid_top(trigcomp_hybrid_input_t jet[TRIGCOMP_HYBRID_N_INPUTS],
                         trigcomp_link_t link[TRIGCOMP_HYBRID_N_LINK_WORDS]) {
    #pragma HLS ARRAY_PARTITION variable=jet complete dim=0
    #pragma HLS ARRAY_PARTITION variable=link complete dim=0
    #pragma HLS PIPELINE II=1

    // the fields: the fixed-point codec's own top (comparator ladders, lattice) on its variables
    trigcomp_hybrid_input_t fixed_jet[TRIGCOMP_HYBRID_N_FIXED];
    #pragma HLS ARRAY_PARTITION variable=fixed_jet complete dim=0
    for (int f = 0; f < TRIGCOMP_HYBRID_N_FIXED; f++) {
        #pragma HLS UNROLL
        fixed_jet[f] = jet[trigcomp_hybrid_fixed_inputs[f]];
    }
    trigcomp_link_t fields[TRIGCOMP_HYBRID_FIXED_LINK_WORDS];
    #pragma HLS ARRAY_PARTITION variable=fields complete dim=0
    trigcomp_codec_top(fixed_jet, fields);

    // the latent: the hls4ml encoder on the other variables; its input type has the board's grid, so this
    // conversion is exact
    trigcomp_input_t latent_jet[TRIGCOMP_N_INPUTS];
    #pragma HLS ARRAY_PARTITION variable=latent_jet complete dim=0
    for (int a = 0; a < TRIGCOMP_N_INPUTS; a++) {
        #pragma HLS UNROLL
        latent_jet[a] = jet[trigcomp_hybrid_latent_inputs[a]];
    }
    trigcomp_latent_t latent[TRIGCOMP_N_LATENT];
    #pragma HLS ARRAY_PARTITION variable=latent complete dim=0
    trigcomp_encode(latent_jet, latent);

    ap_uint<TRIGCOMP_HYBRID_FIXED_LINK_WORDS * TRIGCOMP_LINK_WIDTH> fixed_packed = 0;
    for (int w = 0; w < TRIGCOMP_HYBRID_FIXED_LINK_WORDS; w++) {
        #pragma HLS UNROLL
        fixed_packed.range((w + 1) * TRIGCOMP_LINK_WIDTH - 1, w * TRIGCOMP_LINK_WIDTH) = fields[w];
    }
    ap_uint<TRIGCOMP_HYBRID_N_LINK_WORDS * TRIGCOMP_LINK_WIDTH> packed = 0;
    packed.range(TRIGCOMP_HYBRID_FIXED_BITS - 1, 0) = fixed_packed.range(TRIGCOMP_HYBRID_FIXED_BITS - 1, 0);
    for (int i = 0; i < TRIGCOMP_N_LATENT; i++) {
        #pragma HLS UNROLL
        packed.range(TRIGCOMP_HYBRID_FIXED_BITS + (i + 1) * TRIGCOMP_LATENT_BITS - 1,
                     TRIGCOMP_HYBRID_FIXED_BITS + i * TRIGCOMP_LATENT_BITS) = latent[i].range(TRIGCOMP_LATENT_BITS - 1, 0);
    }
    for (int w = 0; w < TRIGCOMP_HYBRID_N_LINK_WORDS; w++) {
        #pragma HLS UNROLL
        link[w] = packed.range((w + 1) * TRIGCOMP_LINK_WIDTH - 1, w * TRIGCOMP_LINK_WIDTH);
    }
}
