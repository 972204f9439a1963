// The latent words (then the anomaly score, when the project has one) are packed little-end first: latent[0] occupies bits [LATENT_BITS-1:0] of link[0], and a
// latent word may straddle two link words. Unused high bits of the last link word are zero.
#include "trigcomp_top.h"
#include "trigcomp_anomaly.h"

void trigcomp_encode(trigcomp_input_t jet[TRIGCOMP_N_INPUTS], trigcomp_latent_t latent[TRIGCOMP_N_LATENT]) {
    #pragma HLS INLINE
#if TRIGCOMP_IO_STREAM
    hls::stream<trigcomp_input_port_t> jet_stream;
    hls::stream<trigcomp_latent_port_t> latent_stream;
    // an image input streams one pixel (all its channels) per word; a flat input is one word
    for (int w = 0; w < TRIGCOMP_N_INPUTS / TRIGCOMP_INPUT_WORD; w++) {
        #pragma HLS UNROLL
        trigcomp_input_port_t jet_word;
        for (int i = 0; i < TRIGCOMP_INPUT_WORD; i++) {
            #pragma HLS UNROLL
            jet_word[i] = jet[w * TRIGCOMP_INPUT_WORD + i];
        }
        jet_stream.write(jet_word);
    }
    myproject(jet_stream, latent_stream);
    trigcomp_latent_port_t latent_word = latent_stream.read();
    for (int i = 0; i < TRIGCOMP_N_LATENT; i++) {
        #pragma HLS UNROLL
        latent[i] = latent_word[i];
    }
#else
    myproject(jet, latent);
#endif
}

void trigcomp_top(trigcomp_input_t jet[TRIGCOMP_N_INPUTS], trigcomp_link_t link[TRIGCOMP_N_LINK_WORDS]) {
    #pragma HLS ARRAY_PARTITION variable=jet complete dim=0
    #pragma HLS ARRAY_PARTITION variable=link complete dim=0
    #pragma HLS PIPELINE II=1

    trigcomp_latent_t latent[TRIGCOMP_N_LATENT];
    #pragma HLS ARRAY_PARTITION variable=latent complete dim=0
    trigcomp_encode(jet, latent);

    ap_uint<TRIGCOMP_N_LINK_WORDS * TRIGCOMP_LINK_WIDTH> packed = 0;
    for (int i = 0; i < TRIGCOMP_N_LATENT; i++) {
        #pragma HLS UNROLL
        packed.range((i + 1) * TRIGCOMP_LATENT_BITS - 1, i * TRIGCOMP_LATENT_BITS) =
            latent[i].range(TRIGCOMP_LATENT_BITS - 1, 0);
    }
#if TRIGCOMP_SCORE_BITS > 0
    // the anomaly score rides right after the latent words (trigcomp hls --anomaly-score)
    trigcomp_score_t score = trigcomp_anomaly_score(latent);
    packed.range(TRIGCOMP_N_LATENT * TRIGCOMP_LATENT_BITS + TRIGCOMP_SCORE_BITS - 1,
                 TRIGCOMP_N_LATENT * TRIGCOMP_LATENT_BITS) = score.range(TRIGCOMP_SCORE_BITS - 1, 0);
#endif
    for (int w = 0; w < TRIGCOMP_N_LINK_WORDS; w++) {
        #pragma HLS UNROLL
        link[w] = packed.range((w + 1) * TRIGCOMP_LINK_WIDTH - 1, w * TRIGCOMP_LINK_WIDTH);
    }
}
