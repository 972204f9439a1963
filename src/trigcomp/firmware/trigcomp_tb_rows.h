// The binary-file loop every trigcomp test bench shares (not synthesised): jets as float64 rows in, the packed link
// words of TOP as uint64 rows out. The conversion of each double to the input type (rounding, saturation) happens
// here, as on the board's input quantizer; the words are unpacked and compared bit for bit in Python.
#ifndef TRIGCOMP_TB_ROWS_H_
#define TRIGCOMP_TB_ROWS_H_

#include <cstdint>
#include <cstdio>

inline int trigcomp_tb_fail(const char *message, const char *detail) {
    std::fprintf(stderr, "trigcomp test bench: %s %s\n", message, detail);
    return 2;
}

template <typename InputT, int N_INPUTS, typename LinkT, int N_LINK_WORDS, typename Top>
int trigcomp_run_rows(const char *input_path, const char *output_path, Top top) {
    FILE *in = std::fopen(input_path, "rb");
    if (!in) return trigcomp_tb_fail("cannot open", input_path);
    FILE *out = std::fopen(output_path, "wb");
    if (!out) return trigcomp_tb_fail("cannot create", output_path);
    double row[N_INPUTS];
    uint64_t words[N_LINK_WORDS];
    while (std::fread(row, sizeof(double), N_INPUTS, in) == N_INPUTS) {
        InputT jet[N_INPUTS];
        for (int i = 0; i < N_INPUTS; i++) jet[i] = row[i];
        LinkT link[N_LINK_WORDS];
        top(jet, link);
        for (int w = 0; w < N_LINK_WORDS; w++) words[w] = link[w].to_uint64();
        std::fwrite(words, sizeof(uint64_t), N_LINK_WORDS, out);
    }
    std::fclose(in);
    return std::fclose(out) == 0 ? 0 : trigcomp_tb_fail("cannot write", output_path);
}

#endif
