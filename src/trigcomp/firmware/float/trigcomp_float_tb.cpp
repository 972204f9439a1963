// trigcomp's C-simulation test bench for float-truncation codec projects (not synthesised).
//
//   trigcomp_float_tb run INPUT.bin OUTPUT.bin   jets as float64 rows -> link words as uint64 rows
//
// The link words are unpacked and compared field by field with the Python codec in trigcomp.float_hls.
#include <cstdio>
#include <cstring>

#include "firmware/trigcomp_float.h"
#include "trigcomp_tb_rows.h"

int main(int argc, char **argv) {
    if (argc == 4 && std::strcmp(argv[1], "run") == 0) {
        return trigcomp_run_rows<trigcomp_input_t, TRIGCOMP_N_INPUTS, trigcomp_link_t, TRIGCOMP_N_LINK_WORDS>(
            argv[2], argv[3], trigcomp_float_top);
    }
    std::fprintf(stderr, "usage: %s run INPUT.bin OUTPUT.bin\n", argv[0]);
    return 2;
}
