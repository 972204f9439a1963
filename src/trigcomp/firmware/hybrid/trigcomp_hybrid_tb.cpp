// trigcomp's C-simulation test bench for hybrid codec projects (not synthesised).
//
//   trigcomp_hybrid_tb run INPUT.bin OUTPUT.bin   jets as float64 rows -> link words as uint64 rows
//
// The link words are unpacked and compared field by field with the Python codec in trigcomp.hybrid_hls.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "firmware/trigcomp_hybrid_top.h"
#include "trigcomp_tb_rows.h"

// hls4ml's trace hooks (compiled into the encoder, off here: the layer trace is the encoder csim's, `trigcomp csim`
// on an autoencoder project)
namespace nnet {
bool trace_enabled = false;
std::map<std::string, void *> *trace_outputs = NULL;
size_t trace_type_size = sizeof(double);
} // namespace nnet

int main(int argc, char **argv) {
    if (argc == 4 && std::strcmp(argv[1], "run") == 0) {
        return trigcomp_run_rows<trigcomp_hybrid_input_t, TRIGCOMP_HYBRID_N_INPUTS, trigcomp_link_t,
                                 TRIGCOMP_HYBRID_N_LINK_WORDS>(argv[2], argv[3], trigcomp_hybrid_top);
    }
    std::fprintf(stderr, "usage: %s run INPUT.bin OUTPUT.bin\n", argv[0]);
    return 2;
}
