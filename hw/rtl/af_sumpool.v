// af_sumpool: per-channel window sums (kernel = stride, no padding).
//
// DESIGN.md rule 10: an average over an area that is not a power of two is this exact sum,
// then a requantization (an af_requant after this unit; its multiplier holds 1/area). A
// global average pool is KH = H, KW = W. Bit-exact with adderflow.fixed.window_sum: no
// rounding, no saturation (OUT_BITS holds every sum of KH*KW codes, fixed.window_sum_bits).
//
// Streams: input frames of H x W pixels, C channels, raster order, LANES channels a beat
// (beat (y, x, g) carries channel g*LANES + i in bits [i*IN_BITS +: IN_BITS], signed).
// Output: the OH x OW frame of sums, OH = H / KH and OW = W / KW (rows and columns no
// window covers are taken and dropped), same order and LANES, OUT_BITS a lane.
//
// One accumulator word per (output column, channel group) of the current band of KH rows:
// a beat adds its lanes into word ox*CG + g (the window's first tap overwrites it), and the
// window's last tap (ky = KH-1, kx = KW-1) sends the finished sum to the output slice
// instead. So the output leaves while the band's last row streams in, no frame buffer.
// The accumulators are read combinationally and written at the same edge (a read-modify-
// write per beat, consecutive beats of one window included): LUT RAM or registers.
//
// in_ready is the output slice's !full (a register): one beat a cycle while out_ready is
// high. A beat taken at edge t that ends a window is offered from edge t+1 on (latency 1):
// with input always valid and output always ready, N frames take, from the first input
// transfer to the last output transfer inclusive, (N-1)*H*W*CG + LAST + 2 cycles, LAST the
// frame's beat index of its last window's last tap (adderflow.hw.units.sumpool).
//
// Fault injection for the testbench's mutation check only: the define
// AF_SUMPOOL_ZERO_EXTEND widens the input codes without their sign. Not a supported mode.
`default_nettype none

module af_sumpool #(
    parameter integer C = 1,          // channels
    parameter integer H = 4,          // input frame
    parameter integer W = 4,
    parameter integer KH = 2,         // window = stride
    parameter integer KW = 2,
    parameter integer LANES = 1,      // channels a beat, in and out
    parameter integer IN_BITS = 8,
    parameter integer OUT_BITS = 10
) (
    input  wire                      clk,
    input  wire                      rst,        // synchronous, active high
    input  wire                      in_valid,
    output wire                      in_ready,
    input  wire [LANES*IN_BITS-1:0]  in_data,
    output wire                      out_valid,
    input  wire                      out_ready,
    output wire [LANES*OUT_BITS-1:0] out_data
);
    localparam integer CG = C / LANES;
    localparam integer OH = H / KH;
    localparam integer OW = W / KW;
    localparam integer DEPTH = OW * CG;
    // Counter widths: each holds its bound (the address base reaches DEPTH past the band).
    localparam integer G_W = (CG > 1) ? $clog2(CG) : 1;
    localparam integer X_W = $clog2(W + 1);
    localparam integer Y_W = $clog2(H + 1);
    localparam integer KX_W = (KW > 1) ? $clog2(KW) : 1;
    localparam integer KY_W = (KH > 1) ? $clog2(KH) : 1;
    localparam integer A_W = $clog2(DEPTH + CG + 1);
    localparam integer I_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;   // accumulator index

    generate
        if (C < 1 || LANES < 1 || C % LANES != 0 || KH < 1 || KW < 1 || KH > H || KW > W
            || IN_BITS < 2 || OUT_BITS < IN_BITS) begin : g_bad
            af_sumpool_error_bad_shape_fold_or_width u_error ();
        end
    endgenerate

    /* verilator lint_off WIDTHTRUNC */
    localparam [G_W-1:0] G_LAST = CG - 1;
    localparam [X_W-1:0] X_LAST = W - 1;
    localparam [X_W-1:0] X_END = OW * KW;      // first column no window covers
    localparam [Y_W-1:0] Y_LAST = H - 1;
    localparam [Y_W-1:0] Y_END = OH * KH;      // first row no window covers
    localparam [KX_W-1:0] KX_LAST = KW - 1;
    localparam [KY_W-1:0] KY_LAST = KH - 1;
    localparam [A_W-1:0] A_STEP = CG;
    /* verilator lint_on WIDTHTRUNC */

    reg [G_W-1:0]  g;
    reg [X_W-1:0]  x;
    reg [Y_W-1:0]  y;
    reg [KX_W-1:0] kx;
    reg [KY_W-1:0] ky;
    reg [A_W-1:0]  base;     // ox * CG

    wire en;                                   // the output slice has room
    assign in_ready = !rst && en;
    wire take = in_valid && in_ready;
    wire covered = (x < X_END) && (y < Y_END);
    wire first = (kx == {KX_W{1'b0}}) && (ky == {KY_W{1'b0}});
    wire last = (kx == KX_LAST) && (ky == KY_LAST);
    // Past the last window's columns the address runs beyond the accumulators; nothing
    // is written or sent there, so the index may drop those bits.
    /* verilator lint_off WIDTHEXPAND */
    /* verilator lint_off UNUSEDSIGNAL */
    wire [A_W-1:0] addr = base + g;
    /* verilator lint_on UNUSEDSIGNAL */
    /* verilator lint_on WIDTHEXPAND */
    wire [I_W-1:0] index = addr[I_W-1:0];

    always @(posedge clk)
        if (rst) begin
            g <= {G_W{1'b0}};
            x <= {X_W{1'b0}};
            y <= {Y_W{1'b0}};
            kx <= {KX_W{1'b0}};
            ky <= {KY_W{1'b0}};
            base <= {A_W{1'b0}};
        end else if (take && g != G_LAST) begin
            g <= g + 1'b1;
        end else if (take) begin                // a pixel's last beat
            g <= {G_W{1'b0}};
            kx <= (kx == KX_LAST) ? {KX_W{1'b0}} : kx + 1'b1;
            if (kx == KX_LAST && x < X_END) base <= base + A_STEP;
            if (x != X_LAST) begin
                x <= x + 1'b1;
            end else begin                      // a row's last beat
                x <= {X_W{1'b0}};
                kx <= {KX_W{1'b0}};
                base <= {A_W{1'b0}};
                ky <= (ky == KY_LAST || y >= Y_END) ? {KY_W{1'b0}} : ky + 1'b1;
                y <= (y == Y_LAST) ? {Y_W{1'b0}} : y + 1'b1;
            end
        end

    reg  [LANES*OUT_BITS-1:0] acc [0:DEPTH-1];
    wire [LANES*OUT_BITS-1:0] prev = acc[index];
    wire [LANES*OUT_BITS-1:0] sum;
    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            wire [IN_BITS-1:0] v = in_data[i*IN_BITS +: IN_BITS];
`ifdef AF_SUMPOOL_ZERO_EXTEND
            wire [OUT_BITS-1:0] ve = {{(OUT_BITS - IN_BITS){1'b0}}, v};
`else
            wire [OUT_BITS-1:0] ve = {{(OUT_BITS - IN_BITS){v[IN_BITS-1]}}, v};
`endif
            wire [OUT_BITS-1:0] p = first ? {OUT_BITS{1'b0}} : prev[i*OUT_BITS +: OUT_BITS];
            assign sum[i*OUT_BITS +: OUT_BITS] = p + ve;
        end
    endgenerate

    always @(posedge clk)
        if (take && covered && !last) acc[index] <= sum;

    af_skid #(.WIDTH(LANES * OUT_BITS)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(take && covered && last),
        .in_ready(en),
        .in_data(sum),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );
endmodule

`default_nettype wire
