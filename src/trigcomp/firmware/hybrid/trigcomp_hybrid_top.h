// trigcomp's hybrid codec on the board (trigcomp.codecs.HybridCodec): fixed-point fields for some variables and an
// autoencoder latent for the rest, packed into one word.
#ifndef TRIGCOMP_HYBRID_TOP_H_
#define TRIGCOMP_HYBRID_TOP_H_

#include "trigcomp_top.h"  // the hls4ml encoder (trigcomp_encode) and its types
#include "trigcomp_hybrid_params.h"

void trigcomp_hybrid_top(trigcomp_hybrid_input_t jet[TRIGCOMP_HYBRID_N_INPUTS],
                         trigcomp_link_t link[TRIGCOMP_HYBRID_N_LINK_WORDS]);

#endif
