// Verilator harness of the codec (not synthesised): raw input words as int32 rows in, one per clock edge, the
// packed fields as uint32 rows out in the same order (bit 0 of row word 0 is bit 0 of `fields`), compared with the
// Python codec by trigcomp.codec_rtl.
//   trigcomp_codec_sim INPUT.i32 OUTPUT.u32
#include <cstdint>
#include <cstdio>

#include "Vtrigcomp_codec.h"
#include "verilated.h"

static const int kWidth = TC_WIDTH_VALUE;
static const int kInputs = TC_N_INPUTS_VALUE;
static const int kInWords = (kWidth * kInputs + 31) / 32;
static const int kOutWords = (TC_PACKED_BITS_VALUE + 31) / 32;
static const long kLatency = TC_LATENCY_VALUE;

// Verilator ports are CData/SData/IData (<= 32 bits), QData (<= 64) or VlWide (wider): one loader per kind.
template <typename T> static void load(T &port, const uint32_t *words) { port = (T)words[0]; }
static void load(QData &port, const uint32_t *words) { port = (QData)words[0] | ((QData)words[1] << 32); }
template <std::size_t N> static void load(VlWide<N> &port, const uint32_t *words) {
    for (std::size_t i = 0; i < N; i++) port[i] = words[i];
}
template <typename T> static void store(const T &port, uint32_t *words) { words[0] = (uint32_t)port; }
static void store(const QData &port, uint32_t *words) {
    words[0] = (uint32_t)port;
    words[1] = (uint32_t)(port >> 32);
}
template <std::size_t N> static void store(const VlWide<N> &port, uint32_t *words) {
    for (std::size_t i = 0; i < N; i++) words[i] = port[i];
}

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s INPUT.i32 OUTPUT.u32\n", argv[0]);
        return 2;
    }
    FILE *in = std::fopen(argv[1], "rb");
    FILE *out = std::fopen(argv[2], "wb");
    if (!in || !out) {
        std::fprintf(stderr, "trigcomp_codec_sim: cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    VerilatedContext context;
    Vtrigcomp_codec codec(&context);
    codec.clk = 0;
    codec.eval();
    // One jet per rising edge (II = 1): jet j enters at edge j + 1 and its fields are on the output after edge
    // j + kLatency; after the last jet, the inputs stay zero until its fields are out.
    int32_t row[kInputs];
    long jets = 0, edges = 0;
    bool more = true;
    for (;;) {
        more = more && std::fread(row, sizeof(int32_t), kInputs, in) == (size_t)kInputs;
        if (!more && edges >= jets - 1 + kLatency) break;
        uint32_t jet[kInWords + 2] = {0};  // two spare words: QData loads read words[1]
        if (more) {
            jets++;
            for (int i = 0; i < kInputs; i++) {
                for (int b = 0; b < kWidth; b++) {
                    int bit = i * kWidth + b;
                    jet[bit / 32] |= (uint32_t)(((uint32_t)row[i] >> b) & 1u) << (bit % 32);
                }
            }
        }
        load(codec.jet, jet);
        codec.clk = 1;
        codec.eval();
        codec.clk = 0;
        codec.eval();
        edges++;
        if (edges >= kLatency) {  // the fields of jet edges - kLatency
            uint32_t packed[kOutWords + 2] = {0};
            store(codec.fields, packed);
            std::fwrite(packed, sizeof(uint32_t), kOutWords, out);
        }
    }
    std::fclose(in);
    return std::fclose(out) == 0 ? 0 : 2;
}
