// af_add: the residual add, lane-wise out = (a << SHIFT_A) + (b << SHIFT_B), exact.
//
// DESIGN.md rule 10: both operands are signed codes (A_BITS, B_BITS) of one stream shape,
// LANES a beat, lane i at bits [i*BITS +: BITS]; the sum is formed in
// OUT_BITS (the IR's out_bits), which must be at least max(A_BITS + SHIFT_A, B_BITS +
// SHIFT_B) + 1, the width of the most negative sum (a narrower one stops elaboration).
// A join: a beat of a and a beat of b are taken in the same cycle, so a_ready is the
// output slice's registered ready AND b_valid (and b_ready likewise with a_valid); no
// path from out_ready reaches them. The sum goes straight into the output register
// slice (af_skid): a pair taken at edge t is offered from edge t+1 on, so with both
// inputs always valid and the output always ready, B beats take B + 1 cycles from the
// first input transfer to the last output transfer inclusive
// (adderflow.hw.units.add.add_cycles). An af_requant follows it in a network.
`default_nettype none

module af_add #(
    parameter integer LANES = 1,
    parameter integer A_BITS = 8,
    parameter integer B_BITS = 8,
    parameter integer SHIFT_A = 0,
    parameter integer SHIFT_B = 0,
    parameter integer OUT_BITS = 9
) (
    input  wire                    clk,
    input  wire                    rst,        // synchronous, active high
    input  wire                    a_valid,
    output wire                    a_ready,
    input  wire [LANES*A_BITS-1:0] a_data,
    input  wire                    b_valid,
    output wire                    b_ready,
    input  wire [LANES*B_BITS-1:0] b_data,
    output wire                    out_valid,
    input  wire                    out_ready,
    output wire [LANES*OUT_BITS-1:0] out_data
);
    localparam integer TA = A_BITS + SHIFT_A;
    localparam integer TB = B_BITS + SHIFT_B;
    localparam integer S_BITS = ((TA > TB) ? TA : TB) + 1;   // every sum fits

    generate
        if (LANES < 1 || A_BITS < 1 || B_BITS < 1 || SHIFT_A < 0 || SHIFT_B < 0
            || OUT_BITS < S_BITS) begin : g_bad_width
            af_add_error_bad_shape_or_OUT_BITS_below_sum_width u_error ();
        end
    endgenerate

    wire slice_ready;
    assign a_ready = !rst && slice_ready && b_valid;   // no transfer during reset
    assign b_ready = !rst && slice_ready && a_valid;
    wire take = a_valid && b_valid && slice_ready && !rst;

    wire [LANES*OUT_BITS-1:0] sum;
    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            wire signed [A_BITS-1:0] a = a_data[i*A_BITS +: A_BITS];
            wire signed [B_BITS-1:0] b = b_data[i*B_BITS +: B_BITS];
            // Sign-extended to OUT_BITS (> A_BITS, B_BITS), then shifted and added: the
            // true sum fits S_BITS <= OUT_BITS, so nothing wraps.
            wire signed [OUT_BITS-1:0] ae = {{(OUT_BITS - A_BITS){a[A_BITS-1]}}, a};
            wire signed [OUT_BITS-1:0] be = {{(OUT_BITS - B_BITS){b[B_BITS-1]}}, b};
            wire signed [OUT_BITS-1:0] se = (ae <<< SHIFT_A) + (be <<< SHIFT_B);
            assign sum[i*OUT_BITS +: OUT_BITS] = se;
        end
    endgenerate

    af_skid #(.WIDTH(LANES * OUT_BITS)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(take),
        .in_ready(slice_ready),
        .in_data(sum),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );
`ifdef VERILATOR
    // Under Verilator only: no register of this unit changes at the next rising edge while
    // rst and a_valid and b_valid are low. The generated top (adderflow.hw.network.gating) gives the unit a
    // clock that skips those edges, so Verilator skips its logic.
    /* verilator lint_off UNUSEDSIGNAL */
    wire af_idle = u_out.af_idle;
    /* verilator lint_on UNUSEDSIGNAL */
`endif
endmodule

`default_nettype wire
