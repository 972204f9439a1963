// The anomaly score computed on the board from the latent: the sum of the squared latent values (as CMS's AXOL1TL
// does with its VAE mean). trigcomp_score_t (trigcomp_params.h) is wide enough for every possible sum — N times the
// largest square, 2^(2B-2) LSB^2 for B-bit latent words — so the score is exact and never saturates; csim checks
// every score word against the sum recomputed in Python from the same latent words (trigcomp.anomaly).
#ifndef TRIGCOMP_ANOMALY_H_
#define TRIGCOMP_ANOMALY_H_

#include "trigcomp_params.h"

inline trigcomp_score_t trigcomp_anomaly_score(const trigcomp_latent_t latent[TRIGCOMP_N_LATENT]) {
    #pragma HLS INLINE
    trigcomp_score_t score = 0;
    for (int i = 0; i < TRIGCOMP_N_LATENT; i++) {
        #pragma HLS UNROLL
        score += latent[i] * latent[i];  // the full-precision product (2B bits), then an exact add
    }
    return score;
}

#endif
