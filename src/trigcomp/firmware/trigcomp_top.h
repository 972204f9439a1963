// trigcomp's top level: runs the hls4ml encoder and packs the quantized latent into link words.
#ifndef TRIGCOMP_TOP_H_
#define TRIGCOMP_TOP_H_

#include "ap_int.h"
#include "trigcomp_params.h"

typedef ap_uint<TRIGCOMP_LINK_WIDTH> trigcomp_link_t;

// The encoder alone: jet values in, latent values out, whatever the io type hls4ml used.
void trigcomp_encode(trigcomp_input_t jet[TRIGCOMP_N_INPUTS], trigcomp_latent_t latent[TRIGCOMP_N_LATENT]);

void trigcomp_top(trigcomp_input_t jet[TRIGCOMP_N_INPUTS], trigcomp_link_t link[TRIGCOMP_N_LINK_WORDS]);

#endif
