// trigcomp's C-simulation test bench (not synthesised).
//
//   trigcomp_tb run   INPUT.bin OUTPUT.bin   jets as float64 rows -> link words as uint64 rows, via trigcomp_top
//   trigcomp_tb trace INPUT.bin ROW OUT.txt  one jet through the encoder, every traced layer's output as text
//
// Inputs are doubles so that the conversion to the input type (rounding, saturation) happens here, exactly as
// on the board's input quantizer; outputs are the raw link words, unpacked and compared bit for bit in Python.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "firmware/myproject.h"
#include "firmware/nnet_utils/nnet_helpers.h"
#include "firmware/trigcomp_top.h"
#include "trigcomp_tb_rows.h"

namespace nnet {
bool trace_enabled = false;
std::map<std::string, void *> *trace_outputs = NULL;
size_t trace_type_size = sizeof(double);
} // namespace nnet

struct TracedLayer {
    const char *name;
    size_t size;
};
static const TracedLayer traced_layers[] = {TRIGCOMP_TRACED_LAYERS};

static int fail(const char *message, const char *detail) { return trigcomp_tb_fail(message, detail); }

static int run(const char *input_path, const char *output_path) {
    return trigcomp_run_rows<trigcomp_input_t, TRIGCOMP_N_INPUTS, trigcomp_link_t, TRIGCOMP_N_LINK_WORDS>(
        input_path, output_path, trigcomp_top);
}

static int trace(const char *input_path, long row_index, const char *output_path) {
    FILE *in = std::fopen(input_path, "rb");
    if (!in) return fail("cannot open", input_path);
    double row[TRIGCOMP_N_INPUTS];
    std::fseek(in, row_index * (long)sizeof(row), SEEK_SET);
    if (std::fread(row, sizeof(double), TRIGCOMP_N_INPUTS, in) != TRIGCOMP_N_INPUTS) return fail("no such row in", input_path);
    std::fclose(in);

    std::map<std::string, void *> buffers;
    std::vector<std::vector<double> > storage;
    const size_t n_traced = sizeof(traced_layers) / sizeof(traced_layers[0]);
    storage.reserve(n_traced);
    for (size_t l = 0; l < n_traced; l++) {
        storage.push_back(std::vector<double>(traced_layers[l].size, 0.0));
        buffers[traced_layers[l].name] = storage.back().data();
    }
    nnet::trace_outputs = &buffers;
    nnet::trace_enabled = true;
    trigcomp_input_t jet[TRIGCOMP_N_INPUTS];
    for (int i = 0; i < TRIGCOMP_N_INPUTS; i++) jet[i] = row[i];
    trigcomp_latent_t latent[TRIGCOMP_N_LATENT];
    trigcomp_encode(jet, latent);

    FILE *out = std::fopen(output_path, "w");
    if (!out) return fail("cannot create", output_path);
    std::fprintf(out, "input");
    for (int i = 0; i < TRIGCOMP_N_INPUTS; i++) std::fprintf(out, " %.17g", jet[i].to_double());
    std::fprintf(out, "\n");
    for (size_t l = 0; l < n_traced; l++) {
        std::fprintf(out, "%s", traced_layers[l].name);
        for (size_t i = 0; i < traced_layers[l].size; i++) std::fprintf(out, " %.17g", storage[l][i]);
        std::fprintf(out, "\n");
    }
    std::fprintf(out, "output");
    for (int i = 0; i < TRIGCOMP_N_LATENT; i++) std::fprintf(out, " %.17g", latent[i].to_double());
    std::fprintf(out, "\n");
    return std::fclose(out) == 0 ? 0 : fail("cannot write", output_path);
}

int main(int argc, char **argv) {
    if (argc == 4 && std::strcmp(argv[1], "run") == 0) return run(argv[2], argv[3]);
    if (argc == 5 && std::strcmp(argv[1], "trace") == 0) return trace(argv[2], std::atol(argv[3]), argv[4]);
    std::fprintf(stderr, "usage: %s run INPUT.bin OUTPUT.bin | trace INPUT.bin ROW OUT.txt\n", argv[0]);
    return 2;
}
