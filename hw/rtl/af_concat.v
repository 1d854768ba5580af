// af_concat: channel concatenation (Concat, axis 1) of two streams of one frame.
//
// Streams a and b carry the same H x W frame in raster order, LANES channels a beat, BITS
// a lane (the IR's Concat keeps the operands' one type: the same width, ±1 codes included);
// a has CA channels, b CB. The output carries, at every pixel, the CA/LANES beats of a
// then the CB/LANES beats of b: channel order a's then b's, as ONNX's Concat on axis 1.
// The unit counts beats only, so it needs neither H nor W.
//
// a_ready and b_ready are registers (the output slice's !full and the phase), so neither
// depends on the other input's valid: while the phase waits for a, b waits too, which the
// graph's FIFOs absorb. With both inputs always valid and the output always ready, P
// pixels take P*(CA + CB)/LANES + 1 cycles from the first input transfer to the last
// output transfer inclusive (latency 1: a beat taken at edge t leaves from edge t+1 on).
//
// Fault injection for the testbench's mutation check only: the define AF_CONCAT_B_FIRST
// takes b's beats of a pixel before a's. Not a supported mode.
`default_nettype none

module af_concat #(
    parameter integer CA = 1,
    parameter integer CB = 1,
    parameter integer LANES = 1,
    parameter integer BITS = 8
) (
    input  wire                  clk,
    input  wire                  rst,        // synchronous, active high
    input  wire                  a_valid,
    output wire                  a_ready,
    input  wire [LANES*BITS-1:0] a_data,
    input  wire                  b_valid,
    output wire                  b_ready,
    input  wire [LANES*BITS-1:0] b_data,
    output wire                  out_valid,
    input  wire                  out_ready,
    output wire [LANES*BITS-1:0] out_data
);
    localparam integer GA = CA / LANES;
    localparam integer GB = CB / LANES;
    localparam integer N = GA + GB;              // beats a pixel
    localparam integer N_W = (N > 1) ? $clog2(N) : 1;

    generate
        if (LANES < 1 || CA < LANES || CB < LANES || CA % LANES != 0 || CB % LANES != 0
            || BITS < 1) begin : g_bad
            af_concat_error_bad_fold_or_width u_error ();
        end
    endgenerate

    /* verilator lint_off WIDTHTRUNC */
    localparam [N_W-1:0] N_LAST = N - 1;
`ifdef AF_CONCAT_B_FIRST
    localparam [N_W-1:0] SWITCH = GB;            // the phase's first beat of the other input
`else
    localparam [N_W-1:0] SWITCH = GA;
`endif
    /* verilator lint_on WIDTHTRUNC */

    reg [N_W-1:0] k;                             // beat within the pixel
    reg           on_a;                          // the phase: a's beats
    wire en;                                     // the output slice has room
`ifdef AF_CONCAT_B_FIRST
    wire from_a = !on_a;
`else
    wire from_a = on_a;
`endif
    assign a_ready = !rst && en && from_a;
    assign b_ready = !rst && en && !from_a;
    wire take = from_a ? a_valid && a_ready : b_valid && b_ready;

    always @(posedge clk)
        if (rst) begin
            k <= {N_W{1'b0}};
            on_a <= 1'b1;
        end else if (take) begin
            k <= (k == N_LAST) ? {N_W{1'b0}} : k + 1'b1;
            if (k == N_LAST) on_a <= 1'b1;
            else if (k == SWITCH - 1'b1) on_a <= 1'b0;
        end

    af_skid #(.WIDTH(LANES * BITS)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(take),
        .in_ready(en),
        .in_data(from_a ? a_data : b_data),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );
endmodule

`default_nettype wire
