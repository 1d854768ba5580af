// af_mvu: streaming matrix-vector unit, y[o] = sum_k f(x[k], w[o, k]) (DESIGN.md "RTL").
//
// Folding: SF = K / SIMD input beats per vector, NF = OUT / PE output beats per vector
// (OUT / (PE * GROUPS) for a grouped convolution, below); K % SIMD == 0 and
// OUT % (PE * GROUPS) == 0 are required (adderflow.hw.rtlgen refuses otherwise).
// PE processing elements (af_pe, MODE "adder" | "mac" | "xnor") work in parallel, each on
// SIMD lanes per cycle.
//
// Input stream (in_*): beat s of a vector carries x[s*SIMD + i] in lane i, bits
// [i*BITS +: BITS], BITS-bit two's complement (xnor: BITS = 1, bit 1 codes +1; or BITS = 2,
// codes +1 / -1 / 0 = padding that does not vote, see af_pe).
// Output stream (out_*): one beat per PE group; beat n of a vector carries the signed
// ACC_BITS accumulator y[n*PE + p] in bits [p*ACC_BITS +: ACC_BITS].
// Weights: a ROM of NF*SF words read with $readmemh from WEIGHT_FILE (path relative to
// the simulator's working directory); word n*SF + s holds, for PE p, the SIMD lanes
// w[n*PE + p, s*SIMD + i] at bits [(p*SIMD + i)*WB +: WB], WB = BITS, or 1 for xnor
// (weights are bits there, 1 codes +1) (adderflow.hw.rtlgen.MvuConfig.weight_words).
//
// Grouped convolution (GROUPS > 1): the input is GROUPS vectors a pixel, vector v holding
// the K taps of group v mod GROUPS's channels (af_window's GROUPS order), and vector v is
// multiplied with that group's OUT / GROUPS weight rows only: NF = OUT / (PE * GROUPS)
// output beats a vector, so the output stream is the pixel's OUT channels in order. The
// ROM is the [OUT, K] matrix's words as for GROUPS = 1; the address runs on through the
// groups' blocks and wraps after the last, so no group counter is needed. Every weight
// row meets only its own group's channels: nothing is masked (an adder layer's weight 0
// would not be neutral, |x - 0| != 0) and no cycle is spent on another group's columns.
//
// Schedule: the first neuron fold (n = 0) consumes the input beats and keeps them in a
// SF-entry buffer; folds n > 0 replay the buffer, so the input stalls (in_ready low) for
// (NF-1)*SF cycles per vector. With input always valid and output always ready, N vectors
// take N*NF*SF + 3 cycles from the first input transfer to the last output transfer
// inclusive (rtlgen.mvu_cycles). Pipeline: issue (weight ROM and operand registers) ->
// accumulate (af_pe) -> output register slice (af_skid); every stage advances together
// while the slice has room, so in_ready depends only on registers and rst, never on
// in_valid or out_ready.
`default_nettype none

/* verilator lint_off WIDTHEXPAND */
module af_mvu #(
    parameter MODE = "adder",
    parameter integer BITS = 8,
    parameter integer K = 4,
    parameter integer OUT = 4,
    parameter integer PE = 1,
    parameter integer SIMD = 1,
    parameter integer GROUPS = 1,   // grouped convolution: see the header
    parameter integer ACC_BITS = (MODE == "mac") ? 2 * BITS + $clog2(K)
                               : (MODE == "xnor") ? $clog2(K + 1) + 1
                               : BITS + $clog2(K) + 1,
    parameter WEIGHT_FILE = "weights.hex"
) (
    /* verilator lint_on WIDTHEXPAND */
    input  wire                     clk,
    input  wire                     rst,        // synchronous, active high
    input  wire                     in_valid,
    output wire                     in_ready,
    input  wire [SIMD*BITS-1:0]     in_data,
    output wire                     out_valid,
    input  wire                     out_ready,
    output wire [PE*ACC_BITS-1:0]   out_data
);
    localparam integer SF = K / SIMD;
    localparam integer NF = OUT / (PE * GROUPS);   // output beats a vector
    localparam integer DEPTH = SF * NF * GROUPS;
    localparam integer SF_W = (SF > 1) ? $clog2(SF) : 1;
    localparam integer NF_W = (NF > 1) ? $clog2(NF) : 1;
    localparam integer A_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer X_W = SIMD * BITS;
    // Weight lane width: xnor weights are single bits whatever the input code width.
    /* verilator lint_off WIDTHEXPAND */
    localparam integer WB = (MODE == "xnor") ? 1 : BITS;
    /* verilator lint_on WIDTHEXPAND */
    localparam integer W_W = PE * SIMD * WB;

    // Counter end values at counter width (they fit by construction of the widths).
    /* verilator lint_off WIDTHTRUNC */
    localparam [SF_W-1:0] SF_LAST = SF - 1;
    localparam [NF_W-1:0] NF_LAST = NF - 1;
    localparam [A_W-1:0] A_LAST = DEPTH - 1;
    /* verilator lint_on WIDTHTRUNC */

    generate
        if (K % SIMD != 0 || GROUPS < 1 || OUT % (PE * GROUPS) != 0) begin : g_bad_fold
            af_mvu_error_K_not_multiple_of_SIMD_or_OUT_not_multiple_of_PE u_error ();
        end
    endgenerate

    // ---- weight ROM ---------------------------------------------------------------
    reg [W_W-1:0] rom [0:DEPTH-1];
    initial $readmemh(WEIGHT_FILE, rom);

    // ---- issue stage: fold counters ------------------------------------------------
    wire en;                               // the whole pipeline advances this cycle
    reg  [SF_W-1:0] sf;
    reg  [NF_W-1:0] nf;
    reg  [A_W-1:0] addr;                   // (group * NF + nf) * SF + sf
    wire from_input = (nf == {NF_W{1'b0}});
    wire issue = !rst && en && (!from_input || in_valid);

    assign in_ready = !rst && en && from_input;   // no transfer is taken during reset

`ifdef VERILATOR
    // The same counters, reset written last (issue is low during reset): each counter is
    // read before any write to it in the text, so a cycle-based simulator (Verilator)
    // updates it in place instead of through a shadow copy made on every clock edge
    // (bench/rtl_throughput.py). Synthesis and Icarus read the `else` form.
    always @(posedge clk) begin
        if (issue) begin
            if (sf == SF_LAST) begin
                sf <= {SF_W{1'b0}};
                nf <= (nf == NF_LAST) ? {NF_W{1'b0}} : nf + 1'b1;
            end else begin
                sf <= sf + 1'b1;
            end
            addr <= (addr == A_LAST) ? {A_W{1'b0}} : addr + 1'b1;
        end
        if (rst) begin
            sf <= {SF_W{1'b0}};
            nf <= {NF_W{1'b0}};
            addr <= {A_W{1'b0}};
        end
    end
`else
    always @(posedge clk) begin
        if (rst) begin
            sf <= {SF_W{1'b0}};
            nf <= {NF_W{1'b0}};
            addr <= {A_W{1'b0}};
        end else if (issue) begin
            if (sf == SF_LAST) begin
                sf <= {SF_W{1'b0}};
                nf <= (nf == NF_LAST) ? {NF_W{1'b0}} : nf + 1'b1;
            end else begin
                sf <= sf + 1'b1;
            end
            addr <= (addr == A_LAST) ? {A_W{1'b0}} : addr + 1'b1;
        end
    end
`endif

    // ---- operand registers (ROM read, input or replay buffer) ----------------------
    reg             v1, first1, last1;
    reg [X_W-1:0]   x1;
    reg [W_W-1:0]   w1;
    wire [X_W-1:0]  x_issue;

    generate
        if (NF > 1) begin : g_replay
            reg [X_W-1:0] xbuf [0:SF-1];
            always @(posedge clk)
                if (in_valid && in_ready) xbuf[sf] <= in_data;
            assign x_issue = from_input ? in_data : xbuf[sf];
        end else begin : g_direct
            assign x_issue = in_data;
        end
    endgenerate

    // The operands load only on the cycles that issue: a PE reads them only under v1, and
    // a simulator then copies the PE-wide weight word only when it is used.
    always @(posedge clk) begin
        if (issue) begin
            w1 <= rom[addr];
            x1 <= x_issue;
            first1 <= (sf == {SF_W{1'b0}});
            last1 <= (sf == SF_LAST);
        end
        if (rst) v1 <= 1'b0;
        else if (en) v1 <= issue;
    end

    // ---- accumulate stage ----------------------------------------------------------
    reg done2;                             // the accumulators hold a finished PE group
    wire [PE*ACC_BITS-1:0] accs;

    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            af_pe #(
                .MODE(MODE), .SIMD(SIMD), .BITS(BITS), .K(K), .ACC_BITS(ACC_BITS)
            ) u_pe (
                .clk(clk),
                .ce(en && v1),
                .first(first1),
                .x(x1),
                .w(w1[p*SIMD*WB +: SIMD*WB]),
                .acc(accs[p*ACC_BITS +: ACC_BITS])
            );
        end
    endgenerate

    always @(posedge clk)
        if (rst) done2 <= 1'b0;
        else if (en) done2 <= v1 && last1;

    // ---- output register slice -----------------------------------------------------
    af_skid #(.WIDTH(PE * ACC_BITS)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(done2),
        .in_ready(en),
        .in_data(accs),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );
`ifdef VERILATOR
    // Under Verilator only: no register of this unit changes at the next rising edge while
    // rst and in_valid are low. The generated top (adderflow.hw.network.gating) gives the unit a
    // clock that skips those edges, so Verilator skips its logic.
    /* verilator lint_off UNUSEDSIGNAL */
    wire af_idle = !issue && !v1 && !done2 && u_out.af_idle;
    /* verilator lint_on UNUSEDSIGNAL */
`endif
endmodule

`default_nettype wire
