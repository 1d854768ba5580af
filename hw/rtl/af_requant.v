// af_requant: per-channel requantization out = sat(round((acc * M + B) * 2^-SHIFT)).
//
// DESIGN.md rules 4 and 5, bit-exact with adderflow.fixed.requantize: round half to even,
// saturation to OUT_BITS signed codes, or to [0, max] with RELU = 1 (fused ReLU).
// One SHIFT per layer (a parameter); M (M_BITS signed) and B (B_BITS signed) per channel.
//
// Streams: CF = CH / PE beats per vector (CH % PE == 0 required). Input beat c carries the
// signed ACC_BITS accumulator of channel c*PE + p in bits [p*ACC_BITS +: ACC_BITS] (the
// af_mvu output format); output beat c carries the OUT_BITS code of the same channel in
// bits [p*OUT_BITS +: OUT_BITS]. MULT_FILE and BIAS_FILE ($readmemh, CF words each) hold
// the lanes M[c*PE + p] / B[c*PE + p] at bits [p*M_BITS +: M_BITS] / [p*B_BITS +: B_BITS]
// (adderflow.hw.rtlgen.RequantConfig.channel_words). With input always valid and output
// always ready, N vectors take N*CF + 3 cycles from the first input transfer to the last
// output transfer inclusive (rtlgen.requant_cycles). Pipeline: operand registers (M, B
// ROM read) -> product register -> rounding and saturation into an output register
// slice (af_skid).
`default_nettype none

module af_requant #(
    parameter integer CH = 1,
    parameter integer PE = 1,
    parameter integer ACC_BITS = 16,
    parameter integer M_BITS = 16,
    parameter integer B_BITS = 32,
    parameter integer SHIFT = 0,
    parameter integer OUT_BITS = 8,
    parameter integer RELU = 0,
    parameter MULT_FILE = "mult.hex",
    parameter BIAS_FILE = "bias.hex"
) (
    input  wire                     clk,
    input  wire                     rst,        // synchronous, active high
    input  wire                     in_valid,
    output wire                     in_ready,
    input  wire [PE*ACC_BITS-1:0]   in_data,
    output wire                     out_valid,
    input  wire                     out_ready,
    output wire [PE*OUT_BITS-1:0]   out_data
);
    localparam integer CF = CH / PE;
    localparam integer CF_W = (CF > 1) ? $clog2(CF) : 1;
    localparam integer PROD_BITS = ACC_BITS + M_BITS;
    // acc * M + B never overflows this width.
    localparam integer P_BITS = ((PROD_BITS > B_BITS) ? PROD_BITS : B_BITS) + 1;

    /* verilator lint_off WIDTHTRUNC */
    localparam [CF_W-1:0] CF_LAST = CF - 1;
    /* verilator lint_on WIDTHTRUNC */

    generate
        if (CH % PE != 0) begin : g_bad_fold
            af_requant_error_CH_not_multiple_of_PE u_error ();
        end
    endgenerate

    reg [PE*M_BITS-1:0] mrom [0:CF-1];
    reg [PE*B_BITS-1:0] brom [0:CF-1];
    initial begin
        $readmemh(MULT_FILE, mrom);
        $readmemh(BIAS_FILE, brom);
    end

    wire en;                               // the whole pipeline advances this cycle
    reg  [CF_W-1:0] cf;
    assign in_ready = !rst && en;          // no transfer is taken during reset

`ifdef VERILATOR
    // The same counter, reset written last (no transfer during reset): read before it is
    // written in the text, Verilator updates it in place instead of through a shadow
    // copy made on every clock edge (bench/rtl_throughput.py).
    always @(posedge clk) begin
        if (in_valid && in_ready) cf <= (cf == CF_LAST) ? {CF_W{1'b0}} : cf + 1'b1;
        if (rst) cf <= {CF_W{1'b0}};
    end
`else
    always @(posedge clk)
        if (rst) cf <= {CF_W{1'b0}};
        else if (in_valid && in_ready) cf <= (cf == CF_LAST) ? {CF_W{1'b0}} : cf + 1'b1;
`endif

    // ---- stage 1: operands ---------------------------------------------------------
    reg                   v1, v2;
    reg [PE*ACC_BITS-1:0] a1;
    reg [PE*M_BITS-1:0]   m1;
    reg [PE*B_BITS-1:0]   b1;
    always @(posedge clk) begin
        if (in_valid && in_ready) begin  // loaded only by a transfer: see y2
            a1 <= in_data;
            m1 <= mrom[cf];
            b1 <= brom[cf];
        end
        if (rst) begin
            v1 <= 1'b0;
            v2 <= 1'b0;
        end else if (en) begin
            v1 <= in_valid && in_ready;
            v2 <= v1;
        end
    end

    // ---- stage 2: acc * M + B, then rounding and saturation -------------------------
    // a * m + b exactly: the product in PROD_BITS signed bits, both terms sign-extended.
    function automatic signed [P_BITS-1:0] affine(
        input signed [ACC_BITS-1:0] x, input signed [M_BITS-1:0] y, input signed [B_BITS-1:0] z
    );
        reg signed [PROD_BITS-1:0] prod;
        begin
            prod = x * y;
            affine = {{(P_BITS - PROD_BITS){prod[PROD_BITS-1]}}, prod}
                   + {{(P_BITS - B_BITS){z[B_BITS-1]}}, z};
        end
    endfunction

    wire [PE*OUT_BITS-1:0] q;
`ifdef VERILATOR
    // A cycle-based simulator (Verilator) evaluates every continuous assignment on every
    // clock edge, so here the rounding and saturation (af_round's, bit for bit: af_round.v
    // holds the reasoning) are computed inside the clocked block, once per loaded vector,
    // and the register holds the output code instead of a * m + b. af_skid reads the same
    // codes: it reads q only on the cycle after a load (v2). Synthesis and Icarus read the
    // `else` form: one af_round per lane after the P_BITS register.
    generate
        if (OUT_BITS < 2) begin : g_bad_out_bits  // what af_round refuses, by the same name
            af_round_error_OUT_BITS_below_2 u_error ();
        end
    endgenerate
    localparam integer RW = ((P_BITS > SHIFT + 1) ? P_BITS : SHIFT + 1) + 1;
    localparam integer R_BITS = RW - SHIFT;
    localparam integer RC = ((R_BITS > OUT_BITS) ? R_BITS : OUT_BITS) + 1;
    localparam [RW-1:0] ONE = {{(RW - 1){1'b0}}, 1'b1};
    localparam [RW-1:0] HALF_M1 = ((ONE << SHIFT) >> 1) - ((SHIFT > 0) ? ONE : {RW{1'b0}});
    localparam signed [RC-1:0] HI = {{(RC - OUT_BITS + 1){1'b0}}, {(OUT_BITS - 1){1'b1}}};
    localparam signed [RC-1:0] LO =
        (RELU != 0) ? {RC{1'b0}} : {{(RC - OUT_BITS + 1){1'b1}}, {(OUT_BITS - 1){1'b0}}};

    function automatic [OUT_BITS-1:0] round_sat(input signed [P_BITS-1:0] v);
        reg signed [RW-1:0] ve;
        // The low SHIFT bits of the sum are the discarded fraction.
        /* verilator lint_off UNUSEDSIGNAL */
        reg [RW-1:0] sum;
        /* verilator lint_on UNUSEDSIGNAL */
        reg signed [R_BITS-1:0] r;
        reg signed [RC-1:0] rc;
        begin
            ve = {{(RW - P_BITS){v[P_BITS-1]}}, v};
`ifdef AF_ROUND_HALF_UP
            sum = ve + HALF_M1 + ((SHIFT > 0) ? ONE : {RW{1'b0}});
`else
            sum = ve + HALF_M1 + ((SHIFT > 0) ? {{(RW - 1){1'b0}}, ve[SHIFT]} : {RW{1'b0}});
`endif
            r = sum[RW-1:SHIFT];
            rc = {{(RC - R_BITS){r[R_BITS-1]}}, r};
            round_sat = (rc > HI) ? HI[OUT_BITS-1:0] : (rc < LO) ? LO[OUT_BITS-1:0]
                      : rc[OUT_BITS-1:0];
        end
    endfunction

    // One register for all lanes, loaded lane by lane in one block: per-lane registers
    // would be packed into q by a continuous assignment on every clock edge.
    reg [PE*OUT_BITS-1:0] q2;
    integer lane;
    always @(posedge clk)
        if (en && v1)
            for (lane = 0; lane < PE; lane = lane + 1)
                q2[lane*OUT_BITS +: OUT_BITS] <= round_sat(affine(
                    a1[lane*ACC_BITS +: ACC_BITS], m1[lane*M_BITS +: M_BITS],
                    b1[lane*B_BITS +: B_BITS]));
    assign q = q2;
`else
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_lane
            wire signed [ACC_BITS-1:0] a = a1[p*ACC_BITS +: ACC_BITS];
            wire signed [M_BITS-1:0] m = m1[p*M_BITS +: M_BITS];
            wire signed [B_BITS-1:0] b = b1[p*B_BITS +: B_BITS];
            reg  signed [P_BITS-1:0] y2;
            // The product is formed inside the clocked block (a simulator then multiplies
            // only on the cycles that load y2); affine() keeps the product PROD_BITS wide.
            always @(posedge clk)
                if (en && v1) y2 <= affine(a, m, b);
            af_round #(
                .IN_BITS(P_BITS), .SHIFT(SHIFT), .OUT_BITS(OUT_BITS), .RELU(RELU)
            ) u_round (
                .v(y2),
                .q(q[p*OUT_BITS +: OUT_BITS])
            );
        end
    endgenerate

`endif

    af_skid #(.WIDTH(PE * OUT_BITS)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(v2),
        .in_ready(en),
        .in_data(q),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );
`ifdef VERILATOR
    // Under Verilator only: no register of this unit changes at the next rising edge while
    // rst and in_valid are low. The generated top (adderflow.hw.network.gating) gives the unit a
    // clock that skips those edges, so Verilator skips its logic.
    /* verilator lint_off UNUSEDSIGNAL */
    wire af_idle = !v1 && !v2 && u_out.af_idle;
    /* verilator lint_on UNUSEDSIGNAL */
`endif
endmodule

`default_nettype wire
