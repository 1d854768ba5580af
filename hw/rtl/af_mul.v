// af_mul: a squeeze-excite gate, x times a per-image, per-channel gate.
//
// Bit-exact with adderflow.fixed.gate_product: every lane's product is exact (OUT_BITS
// holds every product of an A_BITS and a B_BITS code, fixed.product_bits; an af_requant
// follows, the requantizer of the IR).
//
// Streams: b is the gate, C/LANES beats an image (beat g: channels g*LANES + i, B_BITS
// signed a lane); a is x, the image's PIXELS = H*W pixels in raster order, C/LANES beats
// a pixel, A_BITS signed a lane. The output is x's frame, lane i of beat (pixel, g) the
// product x * gate[g*LANES + i], OUT_BITS a lane.
//
// The gate comes first: the unit takes an image's C/LANES gate beats (b_ready high, a_ready
// low), then its PIXELS*C/LANES x beats (a_ready high while the output slice has room),
// then the next image's gate. Both readies are registers. In the network x waits for its
// gate in an af_fifo the cycle model sizes. Pipeline: product register, then the output
// slice (latency 2). With both inputs always valid and the output always ready, N images
// take N*(PIXELS + 1)*C/LANES + 2 cycles from the first (gate) transfer to the last output
// transfer inclusive.
//
// Fault injection for the testbench's mutation check only: the define
// AF_MUL_UNSIGNED_GATE reads the gate codes as unsigned. Not a supported mode.
`default_nettype none

module af_mul #(
    parameter integer C = 1,          // channels
    parameter integer PIXELS = 1,     // H * W of x
    parameter integer LANES = 1,
    parameter integer A_BITS = 8,     // x
    parameter integer B_BITS = 8,     // gate
    parameter integer OUT_BITS = 16
) (
    input  wire                      clk,
    input  wire                      rst,        // synchronous, active high
    input  wire                      a_valid,
    output wire                      a_ready,
    input  wire [LANES*A_BITS-1:0]   a_data,
    input  wire                      b_valid,
    output wire                      b_ready,
    input  wire [LANES*B_BITS-1:0]   b_data,
    output wire                      out_valid,
    input  wire                      out_ready,
    output wire [LANES*OUT_BITS-1:0] out_data
);
    localparam integer CG = C / LANES;
    localparam integer G_W = (CG > 1) ? $clog2(CG) : 1;
    localparam integer P_W = (PIXELS > 1) ? $clog2(PIXELS) : 1;
    // The product's working width: both operands and the output fit it.
    localparam integer PW = (A_BITS + B_BITS > OUT_BITS) ? A_BITS + B_BITS : OUT_BITS;

    generate
        if (C < 1 || LANES < 1 || C % LANES != 0 || PIXELS < 1 || A_BITS < 2 || B_BITS < 2
            || OUT_BITS < 2) begin : g_bad
            af_mul_error_bad_shape_fold_or_width u_error ();
        end
    endgenerate

    /* verilator lint_off WIDTHTRUNC */
    localparam [G_W-1:0] G_LAST = CG - 1;
    localparam [P_W-1:0] P_LAST = PIXELS - 1;
    /* verilator lint_on WIDTHTRUNC */

    reg [LANES*B_BITS-1:0] gate [0:CG-1];
    reg [G_W-1:0] g;
    reg [P_W-1:0] p;
    reg           load;                  // taking the gate
    wire en;                             // the pipeline advances (the slice has room)
    assign b_ready = !rst && load;
    assign a_ready = !rst && en && !load;
    wire take_b = b_valid && b_ready;
    wire take_a = a_valid && a_ready;

    always @(posedge clk) begin
        if (take_b) gate[g] <= b_data;
        if (rst) begin
            g <= {G_W{1'b0}};
            p <= {P_W{1'b0}};
            load <= 1'b1;
        end else if (take_a || take_b) begin
            g <= (g == G_LAST) ? {G_W{1'b0}} : g + 1'b1;
            if (take_b && g == G_LAST) load <= 1'b0;
            if (take_a && g == G_LAST) begin
                p <= (p == P_LAST) ? {P_W{1'b0}} : p + 1'b1;
                if (p == P_LAST) load <= 1'b1;
            end
        end
    end

    // ---- product register, then the output slice -----------------------------------
    wire [LANES*B_BITS-1:0] gw = gate[g];
    reg  v1;
    reg  [LANES*OUT_BITS-1:0] q1;
    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            wire signed [A_BITS-1:0] xa = a_data[i*A_BITS +: A_BITS];
`ifdef AF_MUL_UNSIGNED_GATE
            wire signed [B_BITS:0] gb = {1'b0, gw[i*B_BITS +: B_BITS]};
`else
            wire signed [B_BITS-1:0] gb = gw[i*B_BITS +: B_BITS];
`endif
            /* verilator lint_off UNUSEDSIGNAL */
            wire signed [PW:0] prod = xa * gb;
            /* verilator lint_on UNUSEDSIGNAL */
            always @(posedge clk)
                if (en) q1[i*OUT_BITS +: OUT_BITS] <= prod[OUT_BITS-1:0];
        end
    endgenerate

    always @(posedge clk)
        if (rst) v1 <= 1'b0;
        else if (en) v1 <= take_a;

    af_skid #(.WIDTH(LANES * OUT_BITS)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(v1),
        .in_ready(en),
        .in_data(q1),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );
endmodule

`default_nettype wire
