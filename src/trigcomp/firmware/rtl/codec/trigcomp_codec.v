// trigcomp's per-variable fixed-point codec in Verilog (the open path; the HLS twin is firmware/codec/).
//
// Pipelined, II = 1: a jet on `jet` at one rising edge of `clk` has its packed fields (field 0 in the lowest bits) on
// `fields` TC_LATENCY edges later (the last stage is registered; 5 with the lattice field, 1 without). Scalar fields
// are comparator ladders (code = number of thresholds <= the word) whose thermometer code is turned into binary by
// OR gates; the energy fractions' joint lattice field is the exact integer arithmetic of trigcomp_codec.h, written
// for area: constant multiplies as shift-adds, the division as a few restoring steps (the quotient is at most
// LEVELS), each remainder pair compared once, one small binomial table per boundary. The tables come from the
// generated trigcomp_codec_params.vh; this file is the same for every codec.
`include "trigcomp_codec_params.vh"

module trigcomp_codec (
    input  wire                               clk,
    input  wire [`TC_N_INPUTS*`TC_WIDTH-1:0] jet,    // input i in bits [i*W +: W], two's complement
    output wire [`TC_PACKED_BITS-1:0]         fields
);
    localparam integer W = `TC_WIDTH;
    localparam integer TW = W + 1;  // thresholds are one bit wider: max word + 1 is never reached
    localparam integer PACKED = `TC_PACKED_BITS;
    localparam integer LATENCY = `TC_LATENCY;
    localparam integer N_SCALAR = `TC_N_SCALAR;
    localparam [32*`TC_N_SCALAR_SLOTS-1:0] SCALAR_INPUT = `TC_SCALAR_INPUT;
    localparam [32*`TC_N_SCALAR_SLOTS-1:0] SCALAR_BITS = `TC_SCALAR_BITS;
    localparam [32*`TC_N_SCALAR_SLOTS-1:0] SCALAR_OFFSET = `TC_SCALAR_OFFSET;
    localparam [32*`TC_N_SCALAR_SLOTS-1:0] SCALAR_FIRST = `TC_SCALAR_FIRST;  // index of its first threshold
    localparam [TW*`TC_N_THRESHOLDS-1:0] THRESHOLDS = `TC_THRESHOLDS;

    // Scalar fields, computed in the first stage and delayed to the lattice field's latency.
    wire [PACKED-1:0] scalar_codes;
    genvar f, k, i;
    generate
        for (f = 0; f < N_SCALAR; f = f + 1) begin : scalar
            localparam integer IN = SCALAR_INPUT[32*f +: 32];
            localparam integer BITS = SCALAR_BITS[32*f +: 32];
            localparam integer OFFSET = SCALAR_OFFSET[32*f +: 32];
            localparam integer FIRST = SCALAR_FIRST[32*f +: 32];
            wire signed [TW-1:0] word = {jet[IN*W + W - 1], jet[IN*W +: W]};
            // reached[k]: the word reaches threshold k; sorted thresholds make it a thermometer code (1..10..0)
            wire [(1 << BITS)-1:0] reached;
            for (k = 0; k < (1 << BITS) - 1; k = k + 1) begin : step
                assign reached[k] = word >= $signed(THRESHOLDS[TW*(FIRST + k) +: TW]);
            end
            assign reached[(1 << BITS) - 1] = 1'b0;
            // bit i of the count is set iff the thermometer ends inside an odd block of 2^i steps
            for (i = 0; i < BITS; i = i + 1) begin : code_bit
                reg set;
                integer m;
                always @* begin
                    set = 1'b0;
                    for (m = 1; m < (1 << (BITS - i)); m = m + 2)
                        set = set | (reached[m*(1 << i) - 1] & ~reached[(m + 1)*(1 << i) - 1]);
                end
                assign scalar_codes[OFFSET + i] = set;
            end
        end
    endgenerate

    reg [PACKED-1:0] scalar_stage [0:LATENCY-1];
    integer s;
    always @(posedge clk) begin
        scalar_stage[0] <= scalar_codes;
        for (s = 1; s < LATENCY; s = s + 1) scalar_stage[s] <= scalar_stage[s-1];
    end

`ifdef TC_SIMPLEX
    localparam integer FRACTIONS = `TC_SIMPLEX_FRACTIONS;
    localparam integer PARTS = `TC_SIMPLEX_PARTS;
    localparam integer LEVELS = `TC_SIMPLEX_LEVELS;
    localparam integer BITS = `TC_SIMPLEX_BITS;
    localparam integer SB = `TC_SIMPLEX_SHARE_BITS;
    localparam integer PB = `TC_SIMPLEX_PRODUCT_BITS;
    localparam integer UB = `TC_SIMPLEX_UNIT_BITS;  // holds LEVELS + PARTS: units, positions, counts
    localparam integer QB = `TC_SIMPLEX_QUOTIENT_BITS;  // holds LEVELS: share <= total, so share*LEVELS/total too
    localparam integer EARLY = QB / 2;  // quotient bits >= EARLY in stage 2, the others in stage 3
    localparam integer ROWS = LEVELS + PARTS - 1;
    localparam [32*FRACTIONS-1:0] INPUTS = `TC_SIMPLEX_INPUTS;
    localparam [BITS*ROWS*PARTS-1:0] BINOMIALS = `TC_SIMPLEX_BINOMIALS;  // C(c, j) at (c*PARTS + j)
    localparam [SB-1:0] ONE = 1 << (W - `TC_INTEGER);
    assign scalar_codes[`TC_SIMPLEX_OFFSET +: BITS] = {BITS{1'b0}};  // the lattice field joins at the end

    // Stage 1: shares clipped to [0, one] (plus the slack part) and their total.
    reg [SB-1:0] share [0:PARTS-1];
    reg [SB-1:0] sum, total;
    reg signed [TW-1:0] word;
    reg [SB-1:0] total_1, total_2;
    integer p;
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
    end
    always @(posedge clk) begin
        total_1 <= total;
        total_2 <= total_1;
    end

    // Per part: share * LEVELS as shift-adds (stage 1), floor(scaled / total) by restoring division, quotient bits
    // >= EARLY in stage 2 and the others in stage 3 (the remainder is what is left).
    wire [SB-1:0] remainder_3 [0:PARTS-1];
    wire [QB-1:0] units_3 [0:PARTS-1];
    generate
        for (k = 0; k < PARTS; k = k + 1) begin : part
            reg [PB-1:0] scaled, scaled_1, left, left_2, rest;
            reg [QB-1:0] quotient, quotient_2, units;
            reg [SB-1:0] remainder;
            reg [QB-1:0] floor_units;
            integer b;
            always @* begin
                scaled = 0;
                for (b = 0; b < 32; b = b + 1)
                    if (LEVELS[b]) scaled = scaled + ({{PB-SB{1'b0}}, share[k]} << b);
            end
            always @(posedge clk) begin
                scaled_1 <= scaled;
                left = scaled_1;
                quotient = 0;
                for (b = QB - 1; b >= EARLY; b = b - 1)
                    if (left >= ({{PB-SB{1'b0}}, total_1} << b)) begin
                        left = left - ({{PB-SB{1'b0}}, total_1} << b);
                        quotient[b] = 1'b1;
                    end
                left_2 <= left;
                quotient_2 <= quotient;
                rest = left_2;
                units = quotient_2;
                for (b = EARLY - 1; b >= 0; b = b - 1)
                    if (rest >= ({{PB-SB{1'b0}}, total_2} << b)) begin
                        rest = rest - ({{PB-SB{1'b0}}, total_2} << b);
                        units[b] = 1'b1;
                    end
                remainder <= rest[SB-1:0];  // < total
                floor_units <= units;
            end
            assign remainder_3[k] = remainder;
            assign units_3[k] = floor_units;
        end
    endgenerate

    // Stage 4: the missing units go to the largest remainders (ties: the lower part), each pair compared once;
    // and the running sums of the floors, so that stage 5 only adds the extra units.
    reg [PARTS*PARTS-1:0] not_below;  // bit q*PARTS + p, q < p: remainder q >= remainder p, so q comes first
    reg [UB-1:0] ahead, placed, floors;
    reg [PARTS-1:0] extra_4;
    reg [UB-1:0] floors_4 [0:PARTS-2];  // units of parts 0..j plus j, before the extra units
    integer r, q;
    always @(posedge clk) begin
        placed = 0;
        for (r = 0; r < PARTS; r = r + 1) placed = placed + units_3[r];
        for (r = 0; r < PARTS; r = r + 1)
            for (q = 0; q < r; q = q + 1) not_below[q*PARTS + r] = remainder_3[q] >= remainder_3[r];
        for (r = 0; r < PARTS; r = r + 1) begin
            ahead = 0;
            for (q = 0; q < PARTS; q = q + 1)
                if (q < r) ahead = ahead + not_below[q*PARTS + r];
                else if (q > r) ahead = ahead + !not_below[r*PARTS + q];
            extra_4[r] <= ahead + placed < LEVELS;
        end
        floors = 0;
        for (r = 0; r < PARTS - 1; r = r + 1) begin
            floors = floors + units_3[r];
            floors_4[r] <= floors + r;
        end
    end

    // Stage 5: the lattice point's rank, sum over boundaries j of C(position_j, j + 1), one table per boundary.
    reg [UB-1:0] position [0:PARTS-2];
    reg [UB-1:0] extras;
    integer e;
    always @* begin
        extras = 0;
        for (e = 0; e < PARTS - 1; e = e + 1) begin
            extras = extras + extra_4[e];
            position[e] = floors_4[e] + extras;
        end
    end
    wire [BITS-1:0] term [0:PARTS-2];
    generate
        for (k = 0; k < PARTS - 1; k = k + 1) begin : boundary
            wire [BITS-1:0] column [0:ROWS-1];
            for (i = 0; i < ROWS; i = i + 1) begin : row
                assign column[i] = BINOMIALS[BITS*(i*PARTS + k + 1) +: BITS];
            end
            assign term[k] = column[position[k]];
        end
    endgenerate
    reg [BITS-1:0] rank, rank_5;
    integer t;
    always @* begin
        rank = 0;
        for (t = 0; t < PARTS - 1; t = t + 1) rank = rank + term[t];
    end
    always @(posedge clk) rank_5 <= rank;
    assign fields = scalar_stage[LATENCY-1] | ({{PACKED{1'b0}}, rank_5} << `TC_SIMPLEX_OFFSET);
`else
    assign fields = scalar_stage[LATENCY-1];
`endif
endmodule
