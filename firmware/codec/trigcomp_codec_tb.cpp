// trigcomp's C-simulation test bench for codec projects (not synthesised).
//
//   trigcomp_codec_tb run INPUT.bin OUTPUT.bin   jets as float64 rows -> link words as uint64 rows
//
// The conversion of each double to the input type (rounding, saturation) happens here, as on the board's input
// quantizer; the link words are unpacked and compared field by field with the Python codec in trigcomp.codec_hls.
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "firmware/trigcomp_codec.h"

static int fail(const char *message, const char *detail) {
    std::fprintf(stderr, "trigcomp_codec_tb: %s %s\n", message, detail);
    return 2;
}

static int run(const char *input_path, const char *output_path) {
    FILE *in = std::fopen(input_path, "rb");
    if (!in) return fail("cannot open", input_path);
    FILE *out = std::fopen(output_path, "wb");
    if (!out) return fail("cannot create", output_path);
    double row[TRIGCOMP_N_INPUTS];
    uint64_t words[TRIGCOMP_N_LINK_WORDS];
    while (std::fread(row, sizeof(double), TRIGCOMP_N_INPUTS, in) == TRIGCOMP_N_INPUTS) {
        trigcomp_input_t jet[TRIGCOMP_N_INPUTS];
        for (int i = 0; i < TRIGCOMP_N_INPUTS; i++) jet[i] = row[i];
        trigcomp_link_t link[TRIGCOMP_N_LINK_WORDS];
        trigcomp_codec_top(jet, link);
        for (int w = 0; w < TRIGCOMP_N_LINK_WORDS; w++) words[w] = link[w].to_uint64();
        std::fwrite(words, sizeof(uint64_t), TRIGCOMP_N_LINK_WORDS, out);
    }
    std::fclose(in);
    return std::fclose(out) == 0 ? 0 : fail("cannot write", output_path);
}

int main(int argc, char **argv) {
    if (argc == 4 && std::strcmp(argv[1], "run") == 0) return run(argv[2], argv[3]);
    std::fprintf(stderr, "usage: %s run INPUT.bin OUTPUT.bin\n", argv[0]);
    return 2;
}
