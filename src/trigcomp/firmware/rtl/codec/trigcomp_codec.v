// trigcomp's per-variable fixed-point codec in Verilog (the open path; the HLS twin is firmware/codec/).
//
// Combinational: the raw input words in, every field computed, the packed fields out (field 0 in the lowest
// bits). Scalar fields are comparator ladders (code = number of thresholds <= the word); the energy fractions'
// joint lattice field is the same exact integer arithmetic as trigcomp_codec.h. The tables come from the generated
// trigcomp_codec_params.vh; this file is the same for every codec.
`include "trigcomp_codec_params.vh"

module trigcomp_codec (
    input  wire [`TC_N_INPUTS*`TC_WIDTH-1:0] jet,    // input i in bits [i*W +: W], two's complement
    output wire [`TC_PACKED_BITS-1:0]         fields
);
    localparam integer W = `TC_WIDTH;
    localparam integer TW = W + 1;  // thresholds are one bit wider: max word + 1 is never reached
    localparam integer N_SCALAR = `TC_N_SCALAR;
    localparam [32*`TC_N_SCALAR_SLOTS-1:0] SCALAR_INPUT = `TC_SCALAR_INPUT;
    localparam [32*`TC_N_SCALAR_SLOTS-1:0] SCALAR_BITS = `TC_SCALAR_BITS;
    localparam [32*`TC_N_SCALAR_SLOTS-1:0] SCALAR_OFFSET = `TC_SCALAR_OFFSET;
    localparam [32*`TC_N_SCALAR_SLOTS-1:0] SCALAR_FIRST = `TC_SCALAR_FIRST;  // index of its first threshold
    localparam [TW*`TC_N_THRESHOLDS-1:0] THRESHOLDS = `TC_THRESHOLDS;

    genvar f;
    generate
        for (f = 0; f < N_SCALAR; f = f + 1) begin : scalar
            localparam integer IN = SCALAR_INPUT[32*f +: 32];
            localparam integer BITS = SCALAR_BITS[32*f +: 32];
            localparam integer OFFSET = SCALAR_OFFSET[32*f +: 32];
            localparam integer FIRST = SCALAR_FIRST[32*f +: 32];
            wire signed [TW-1:0] word = {jet[IN*W + W - 1], jet[IN*W +: W]};
            reg [BITS-1:0] code;
            integer k;
            always @* begin
                code = 0;
                for (k = 0; k < (1 << BITS) - 1; k = k + 1)
                    code = code + (word >= $signed(THRESHOLDS[TW*(FIRST + k) +: TW]));
            end
            assign fields[OFFSET +: BITS] = code;
        end
    endgenerate

`ifdef TC_SIMPLEX
    localparam integer FRACTIONS = `TC_SIMPLEX_FRACTIONS;
    localparam integer PARTS = `TC_SIMPLEX_PARTS;
    localparam integer LEVELS = `TC_SIMPLEX_LEVELS;
    localparam integer BITS = `TC_SIMPLEX_BITS;
    localparam integer SB = `TC_SIMPLEX_SHARE_BITS;
    localparam integer PB = `TC_SIMPLEX_PRODUCT_BITS;
    localparam integer UB = `TC_SIMPLEX_UNIT_BITS;  // holds LEVELS + PARTS: units, positions, counts
    localparam [32*FRACTIONS-1:0] INPUTS = `TC_SIMPLEX_INPUTS;
    localparam [BITS*(LEVELS+PARTS-1)*PARTS-1:0] BINOMIALS = `TC_SIMPLEX_BINOMIALS;  // C(c, j) at (c*PARTS + j)
    localparam [SB-1:0] ONE = 1 << (W - `TC_INTEGER);

    reg [SB-1:0] share [0:PARTS-1];
    reg [PB-1:0] scaled, remainder [0:PARTS-1];
    reg [UB-1:0] units [0:PARTS-1];
    reg [UB-1:0] ahead, placed, position;  // narrow on purpose: position indexes the binomial table (a mux)
    reg [SB-1:0] sum, total;
    reg signed [TW-1:0] word;
    reg [BITS-1:0] rank;
    integer p, q;
    always @* begin
        sum = 0;
        for (p = 0; p < FRACTIONS; p = p + 1) begin
            word = {jet[INPUTS[32*p +: 32]*W + W - 1], jet[INPUTS[32*p +: 32]*W +: W]};
            share[p] = word < 0 ? 0 : (word > $signed({1'b0, ONE}) ? ONE : word);
            sum = sum + share[p];
        end
        if (PARTS > FRACTIONS) share[PARTS-1] = sum < ONE ? ONE - sum : 0;
        total = 0;
        for (p = 0; p < PARTS; p = p + 1) total = total + share[p];
        if (total == 0) begin  // no energy at all: equal shares
            for (p = 0; p < PARTS; p = p + 1) share[p] = 1;
            total = PARTS;
        end
        placed = 0;
        for (p = 0; p < PARTS; p = p + 1) begin
            scaled = share[p] * LEVELS;
            units[p] = scaled / total;
            remainder[p] = scaled % total;
            placed = placed + units[p];
        end
        for (p = 0; p < PARTS; p = p + 1) begin  // the missing units to the largest remainders, ties: lower part
            ahead = 0;
            for (q = 0; q < PARTS; q = q + 1)
                ahead = ahead + ((remainder[q] > remainder[p]) || (remainder[q] == remainder[p] && q < p));
            if (ahead + placed < LEVELS) units[p] = units[p] + 1;
        end
        rank = 0;
        position = 0;
        for (p = 0; p < PARTS - 1; p = p + 1) begin
            position = position + units[p];
            rank = rank + BINOMIALS[BITS*((position + p)*PARTS + p + 1) +: BITS];
        end
    end
    assign fields[`TC_SIMPLEX_OFFSET +: BITS] = rank;
`endif
endmodule
