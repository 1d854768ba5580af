// af_threshold: per-channel binary threshold, out = +1 if DIR*acc >= T else -1.
//
// DESIGN.md rule 6: batch norm + sign folded into an integer threshold T and a direction
// DIR (+1, or -1 where the folded gain is negative), bit-exact with the IR's
// BinaryThreshold (adderflow.fixed.binarize). The output codes are the binary stream
// format the xnor af_pe reads with BITS = 2: +1 = 2'b01, -1 = 2'b11 (two's complement, so
// af_window's max pooling on them is IntMaxPool and its zero padding is the code that
// does not vote).
//
// Streams: CF = CH / PE beats per vector (CH % PE == 0 required). Input beat c carries the
// signed ACC_BITS accumulator of channel c*PE + p in bits [p*ACC_BITS +: ACC_BITS] (the
// af_mvu output format); output beat c carries the 2-bit code of the same channel in
// bits [2*p +: 2]. THRESH_FILE and DIR_FILE ($readmemh, CF words each) hold the lanes
// T[c*PE + p] (T_BITS signed) at bits [p*T_BITS +: T_BITS] and DIR[c*PE + p] as one bit,
// 1 for +1 and 0 for -1, at bit p (adderflow.hw.rtlgen.ThresholdConfig.channel_words).
//
// DIR*acc is formed in ACC_BITS + 1 bits (-acc of the most negative accumulator fits) and
// compared with T at the wider of the two widths, so no threshold or accumulator wraps.
// T_BITS >= 2 and CH % PE == 0 are required (rtlgen.ThresholdConfig refuses otherwise).
// Pipeline, as af_requant's so every layer of a network has the same latency: operand
// registers (T, DIR ROM read) -> comparison register -> output register slice (af_skid).
// With input always valid and output always ready, N vectors take N*CF + 3 cycles from
// the first input transfer to the last output transfer inclusive
// (rtlgen.threshold_cycles); in_ready and out_valid depend only on registers and rst.
`default_nettype none

module af_threshold #(
    parameter integer CH = 1,
    parameter integer PE = 1,
    parameter integer ACC_BITS = 16,
    parameter integer T_BITS = 17,
    parameter THRESH_FILE = "thresh.hex",
    parameter DIR_FILE = "dir.hex"
) (
    input  wire                     clk,
    input  wire                     rst,        // synchronous, active high
    input  wire                     in_valid,
    output wire                     in_ready,
    input  wire [PE*ACC_BITS-1:0]   in_data,
    output wire                     out_valid,
    input  wire                     out_ready,
    output wire [PE*2-1:0]          out_data
);
    localparam integer CF = CH / PE;
    localparam integer CF_W = (CF > 1) ? $clog2(CF) : 1;
    localparam integer S_BITS = ACC_BITS + 1;                       // DIR * acc
    localparam integer C_BITS = (S_BITS > T_BITS) ? S_BITS : T_BITS; // comparison width

    /* verilator lint_off WIDTHTRUNC */
    localparam [CF_W-1:0] CF_LAST = CF - 1;
    /* verilator lint_on WIDTHTRUNC */

    generate
        if (CH % PE != 0 || ACC_BITS < 1 || T_BITS < 2) begin : g_bad_fold
            af_threshold_error_CH_not_multiple_of_PE_or_bad_width u_error ();
        end
    endgenerate

    reg [PE*T_BITS-1:0] trom [0:CF-1];
    reg [PE-1:0]        drom [0:CF-1];
    initial begin
        $readmemh(THRESH_FILE, trom);
        $readmemh(DIR_FILE, drom);
    end

    wire en;                               // the whole pipeline advances this cycle
    reg  [CF_W-1:0] cf;
    assign in_ready = !rst && en;          // no transfer is taken during reset

    always @(posedge clk)
        if (rst) cf <= {CF_W{1'b0}};
        else if (in_valid && in_ready) cf <= (cf == CF_LAST) ? {CF_W{1'b0}} : cf + 1'b1;

    // ---- stage 1: operands ---------------------------------------------------------
    reg                   v1, v2;
    reg [PE*ACC_BITS-1:0] a1;
    reg [PE*T_BITS-1:0]   t1;
    reg [PE-1:0]          d1;
    always @(posedge clk) begin
        if (en) begin
            a1 <= in_data;
            t1 <= trom[cf];
            d1 <= drom[cf];
        end
        if (rst) begin
            v1 <= 1'b0;
            v2 <= 1'b0;
        end else if (en) begin
            v1 <= in_valid && in_ready;
            v2 <= v1;
        end
    end

    // ---- stage 2: DIR * acc >= T, registered; the code is formed into the slice -----
    reg  [PE-1:0]   ge2;
    wire [PE*2-1:0] q;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_lane
            wire signed [ACC_BITS-1:0] a = a1[p*ACC_BITS +: ACC_BITS];
            wire signed [T_BITS-1:0] t = t1[p*T_BITS +: T_BITS];
            wire signed [S_BITS-1:0] a_wide = {a[ACC_BITS-1], a};
            wire signed [S_BITS-1:0] s = d1[p] ? a_wide : -a_wide;
            wire signed [C_BITS-1:0] s_c = {{(C_BITS - S_BITS + 1){s[S_BITS-1]}}, s[S_BITS-2:0]};
            wire signed [C_BITS-1:0] t_c = {{(C_BITS - T_BITS + 1){t[T_BITS-1]}}, t[T_BITS-2:0]};
            always @(posedge clk)
                if (en) ge2[p] <= (s_c >= t_c);
            // +1 = 2'b01, -1 = 2'b11
            assign q[2*p +: 2] = {~ge2[p], 1'b1};
        end
    endgenerate

    af_skid #(.WIDTH(PE * 2)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(v2),
        .in_ready(en),
        .in_data(q),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );
endmodule

`default_nettype wire
