// af_round: sat(round_half_even(v * 2^-SHIFT)) for one signed lane, combinational.
//
// The RTL twin of adderflow.fixed.round_shift followed by saturate (DESIGN.md rules 4, 5):
// round half to even, then clamp to OUT_BITS signed codes, or to [0, 2^(OUT_BITS-1) - 1]
// with RELU = 1 (a fused ReLU is the lower saturation bound moved to zero).
//
// Rounding uses one adder: floor((v + 2^(SHIFT-1) - 1 + lsb) / 2^SHIFT), where lsb is bit
// SHIFT of v (the parity of floor(v / 2^SHIFT)), rounds ties to the even neighbour.
//
// Fault injection for the testbench's mutation check only: compiling with the define
// AF_ROUND_HALF_UP rounds ties upwards instead. It is not a supported mode.
`default_nettype none

module af_round #(
    parameter integer IN_BITS = 16,
    parameter integer SHIFT = 0,
    parameter integer OUT_BITS = 8,
    parameter integer RELU = 0
) (
    input  wire [IN_BITS-1:0]  v,
    output wire [OUT_BITS-1:0] q
);
    // Working width: room for the rounding constant and one guard bit, whatever SHIFT is.
    localparam integer W = ((IN_BITS > SHIFT + 1) ? IN_BITS : SHIFT + 1) + 1;
    localparam integer R_BITS = W - SHIFT;            // width of the shifted value
    localparam integer C = ((R_BITS > OUT_BITS) ? R_BITS : OUT_BITS) + 1;

    wire signed [W-1:0] ve = {{(W - IN_BITS){v[IN_BITS-1]}}, v};
    wire signed [R_BITS-1:0] r;

    generate
        if (OUT_BITS < 2) begin : g_bad_out_bits
            af_round_error_OUT_BITS_below_2 u_error ();
        end
        if (SHIFT == 0) begin : g_no_shift
            assign r = ve;
        end else begin : g_shift
            wire [W-1:0] one = {{(W - 1){1'b0}}, 1'b1};
            wire [W-1:0] half_m1 = (one << (SHIFT - 1)) - one;
`ifdef AF_ROUND_HALF_UP
            wire tie_up = 1'b1;
`else
            wire tie_up = ve[SHIFT];
`endif
            // The low SHIFT bits of the sum are the discarded fraction.
            /* verilator lint_off UNUSEDSIGNAL */
            wire [W-1:0] sum = ve + half_m1 + {{(W - 1){1'b0}}, tie_up};
            /* verilator lint_on UNUSEDSIGNAL */
            assign r = sum[W-1:SHIFT];
        end
    endgenerate

    wire signed [C-1:0] rc = {{(C - R_BITS){r[R_BITS-1]}}, r};
    wire signed [C-1:0] hi = {{(C - OUT_BITS + 1){1'b0}}, {(OUT_BITS - 1){1'b1}}};
    wire signed [C-1:0] lo = (RELU != 0) ? {C{1'b0}}
                                         : {{(C - OUT_BITS + 1){1'b1}}, {(OUT_BITS - 1){1'b0}}};

    assign q = (rc > hi) ? hi[OUT_BITS-1:0]
             : (rc < lo) ? lo[OUT_BITS-1:0]
             : rc[OUT_BITS-1:0];
endmodule

`default_nettype wire
