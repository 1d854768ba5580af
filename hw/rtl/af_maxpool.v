// af_maxpool: the max reduce of a max pool's windows (a max pool with padding or with
// kernel != stride; a kernel = stride pool without padding fuses into af_window instead).
//
// Input: an af_window stream with the pool's geometry and PAD_MIN = 1: for every output
// pixel, TAPS = KH*KW taps, each C/LANES beats of LANES channels (beat g of a tap carries
// channels g*LANES + i in bits [i*BITS +: BITS], signed). Padded taps arrive as the
// minimum code -2^(BITS-1), which is at most every code, so a padded position never wins:
// the maximum over the taps is the maximum over the window's frame positions (docs/ir.md:
// padding is -inf for a max pool; every pool window holds a frame position). Output: per
// output pixel, C/LANES beats, lane-wise the maximum over the TAPS taps.
//
// Storage: CG = C/LANES running maxima (one word a channel group) in a small register
// array; beat (t, g) replaces word g by max(word g, beat), or by the beat itself at t = 0,
// and at the last tap the maximum goes to the output slice instead. So the unit takes one
// beat a cycle while its slice has room; in_ready is the slice's registered !full (and
// rst), out_valid the slice's register: no combinational path from out_ready to in_ready.
// A pixel's output beat g leaves one cycle after its last tap's beat g was taken.
`default_nettype none

module af_maxpool #(
    parameter integer BITS = 8,
    parameter integer C = 1,        // channels
    parameter integer LANES = 1,    // channels per beat, in and out
    parameter integer TAPS = 9      // taps a window (KH*KW)
) (
    input  wire                   clk,
    input  wire                   rst,        // synchronous, active high
    input  wire                   in_valid,
    output wire                   in_ready,
    input  wire [LANES*BITS-1:0]  in_data,
    output wire                   out_valid,
    input  wire                   out_ready,
    output wire [LANES*BITS-1:0]  out_data
);
    localparam integer CG = C / LANES;
    localparam integer D_W = LANES * BITS;
    localparam integer G_W = (CG > 1) ? $clog2(CG) : 1;
    localparam integer T_W = (TAPS > 1) ? $clog2(TAPS) : 1;

    generate
        if (C % LANES != 0 || C < 1 || LANES < 1 || TAPS < 1 || BITS < 2)
        begin : g_bad_shape
            af_maxpool_error_bad_shape u_error ();
        end
    endgenerate

    /* verilator lint_off WIDTHTRUNC */
    localparam [G_W-1:0] G_LAST = CG - 1;
    localparam [T_W-1:0] T_LAST = TAPS - 1;
    /* verilator lint_on WIDTHTRUNC */

    reg [D_W-1:0] best [0:CG-1];
    reg [G_W-1:0] g;
    reg [T_W-1:0] t;
    wire slot_free;
    wire take = in_valid && in_ready;
    wire last_tap = (t == T_LAST);
    wire [D_W-1:0] held = best[g];
    wire [D_W-1:0] merged;

    assign in_ready = !rst && slot_free;

    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            wire signed [BITS-1:0] a = in_data[i*BITS +: BITS];
            wire signed [BITS-1:0] b = held[i*BITS +: BITS];
            assign merged[i*BITS +: BITS] = (t == {T_W{1'b0}} || a > b) ? a : b;
        end
    endgenerate

    always @(posedge clk)
        if (take && !last_tap) best[g] <= merged;

    always @(posedge clk) begin
        if (rst) begin
            g <= {G_W{1'b0}};
            t <= {T_W{1'b0}};
        end else if (take) begin
            // Channel groups fastest, then taps: af_window's order within a pixel.
            g <= (g == G_LAST) ? {G_W{1'b0}} : g + 1'b1;
            if (g == G_LAST) t <= last_tap ? {T_W{1'b0}} : t + 1'b1;
        end
    end

    af_skid #(.WIDTH(D_W)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(take && last_tap),
        .in_ready(slot_free),
        .in_data(merged),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );
endmodule

`default_nettype wire
