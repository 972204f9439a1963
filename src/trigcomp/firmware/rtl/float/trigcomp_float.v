// trigcomp's float-truncation codec in Verilog (the open path; the HLS twin is firmware/float/trigcomp_float.h,
// which explains the arithmetic). One stage, II = 1: the raw input words in at a rising edge of `clk`, every field
// computed combinationally and registered, the packed fields (field 0 in the lowest bits) out one edge later (the
// same port and timing as the fixed-point codec's scalar-only module, so both share its Verilator harness). The field list comes from the generated trigcomp_float_params.vh; this file is
// the same for every codec.
`include "trigcomp_float_params.vh"

module trigcomp_float (
    input  wire                               clk,
    input  wire [`TC_N_INPUTS*`TC_WIDTH-1:0] jet,    // input i in bits [i*W +: W], two's complement
    output reg  [`TC_PACKED_BITS-1:0]         fields
);
    localparam integer W = `TC_WIDTH;
    localparam integer F = W - `TC_INTEGER;  // fractional bits of the input
    localparam integer N = `TC_N_FIELDS;
    localparam [32*N-1:0] FIELD_INPUT = `TC_FIELD_INPUT;
    localparam [32*N-1:0] FIELD_SIGN = `TC_FIELD_SIGN;
    localparam [32*N-1:0] FIELD_EXPONENT = `TC_FIELD_EXPONENT;
    localparam [32*N-1:0] FIELD_MANTISSA = `TC_FIELD_MANTISSA;
    localparam [32*N-1:0] FIELD_LOWEST = `TC_FIELD_LOWEST;  // lowest normal binade, two's complement
    localparam [32*N-1:0] FIELD_OFFSET = `TC_FIELD_OFFSET;

    wire [`TC_PACKED_BITS-1:0] computed;
    always @(posedge clk) fields <= computed;

    genvar f;
    generate
        for (f = 0; f < N; f = f + 1) begin : field
            localparam integer IN = FIELD_INPUT[32*f +: 32];
            localparam integer S = FIELD_SIGN[32*f +: 32];
            localparam integer E = FIELD_EXPONENT[32*f +: 32];
            localparam integer M = FIELD_MANTISSA[32*f +: 32];
            localparam integer LOWEST = $signed(FIELD_LOWEST[32*f +: 32]);
            localparam integer OFFSET = FIELD_OFFSET[32*f +: 32];
            localparam [63:0] LARGEST = (64'd1 << (E + M)) - 64'd1;
            wire signed [W-1:0] word = jet[IN*W +: W];
            reg [W-1:0] magnitude;
            reg [63:0] q, rest, half, code;
            integer leading, binade, shift, b;
            always @* begin
                magnitude = word < 0 ? (S != 0 ? -word : {W{1'b0}}) : word;
                leading = 0;
                for (b = 0; b < W; b = b + 1)
                    if (magnitude[b]) leading = b;
                binade = (magnitude == 0 || leading - F < LOWEST) ? LOWEST : leading - F;
                shift = binade + F - M;
                rest = 0;
                half = 0;
                if (shift <= 0) begin
                    q = {{(64 - W){1'b0}}, magnitude} << (-shift);
                end else if (shift >= W + 1) begin
                    q = 0;  // below half of the smallest step
                end else begin
                    q = {{(64 - W){1'b0}}, magnitude} >> shift;
                    rest = {{(64 - W){1'b0}}, magnitude} & ((64'd1 << shift) - 64'd1);
                    half = 64'd1 << (shift - 1);
                    q = q + ((rest > half || (rest == half && q[0])) ? 64'd1 : 64'd0);
                end
                code = ({32'd0, binade - LOWEST} << M) + q;
                if (code > LARGEST) code = LARGEST;
            end
            assign computed[OFFSET +: E + M] = code[E + M - 1:0];
            if (S != 0) begin : sign_bit
                assign computed[OFFSET + E + M] = word < 0;
            end
        end
    endgenerate
endmodule
