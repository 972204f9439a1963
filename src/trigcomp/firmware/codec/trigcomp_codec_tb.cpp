// trigcomp's C-simulation test bench for codec projects (not synthesised).
//
//   trigcomp_codec_tb run INPUT.bin OUTPUT.bin   jets as float64 rows -> link words as uint64 rows
//
// The link words are unpacked and compared field by field with the Python codec in trigcomp.codec_hls.
#include <cstdio>
#include <cstring>

#include "firmware/trigcomp_codec.h"
#include "trigcomp_tb_rows.h"

int main(int argc, char **argv) {
    if (argc == 4 && std::strcmp(argv[1], "run") == 0) {
        return trigcomp_run_rows<trigcomp_input_t, TRIGCOMP_N_INPUTS, trigcomp_link_t, TRIGCOMP_N_LINK_WORDS>(
            argv[2], argv[3], trigcomp_codec_top);
    }
    std::fprintf(stderr, "usage: %s run INPUT.bin OUTPUT.bin\n", argv[0]);
    return 2;
}
