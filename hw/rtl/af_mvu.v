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

`ifdef VERILATOR
    // ---- simulation form of an adder unit's PEs (Verilator only) --------------------
    // Every PE sums -|x_i - w_i| over the same SIMD lanes x (af_pe, SWAR form). Here the
    // PEs share what depends on x alone, and what depends on the weights alone is computed
    // once, from the ROM, at start: |x - w| = 2 * relu(x - w) - (x - w), so per beat
    //   sum_i |x_i - w_i| = 2 * sum_i relu(x_i - w_i) + sum_i w_i - sum_i x_i,
    // in offset binary (sign bits flipped: the lanes are unsigned and x - w unchanged).
    // Lanes come in chunks of LC (a 64-bit word), split into the even and odd lanes, each
    // in the low BITS bits of a field of 2*BITS bits. The issue stage writes each x
    // field with its guard bit (bit BITS) set, the weight fields have it clear, so
    // d = x - w per field is 2^BITS + x - w, in [1, 2^(BITS+1) - 1]: no borrow crosses a
    // field and the guard bit stays set exactly where x >= w; the guard bits minus
    // themselves shifted down BITS bits mask the low bits of those fields, where d's low
    // bits are x - w: relu(x - w). Lanes past SIMD in the last chunk are 0 in x and w
    // alike (offset 2^(BITS-1) both): relu 0, and their offsets cancel in the sums. The
    // fields are added word-wise and totalled as in af_pe (one multiply by ONES when the
    // total fits a field, else field by field every GC chunks). The total is exact; its
    // ACC_BITS low bits are negated into the accumulator (modulo 2^ACC_BITS, as af_pe).
    // The PE instances' form costs about 27 operations a chunk a PE, this one about 14,
    // and no PE-wide weight word is copied per beat (bench/rtl_throughput.py). FAST: an
    // adder unit with a chunk of lanes or more; narrower units (ResNet-20x0.25's SIMD 1 to
    // 4) keep the af_pe instances, as fast there (this form measured 1.5% slower streaming).
    /* verilator lint_off WIDTHEXPAND */
    localparam FAST = (MODE == "adder") && ACC_BITS < 64 && BITS >= 2 && BITS <= 16
                      && SIMD >= (64 / BITS) / 2 * 2;
    // A mac unit's form (FASTM, g_fastm): the lanes sign-extended to 64 bits, the x lanes
    // once a beat, the weights once from the ROM at start; every PE's sum of products at
    // 64 bits (modulo 2^64, exact below it), its ACC_BITS low bits into the accumulator.
    localparam FASTM = (MODE == "mac") && ACC_BITS < 64 && BITS <= 16;
    /* verilator lint_on WIDTHEXPAND */
    localparam integer LC = (64 / BITS) / 2 * 2;        // lanes a chunk
    localparam integer NFW = LC / 2;                    // fields a word
    localparam integer NC = (SIMD + LC - 1) / LC;       // chunks a PE
    localparam integer GC = 1 << (BITS - 1);            // chunks a field can hold
    localparam ONE_FIELD = SIMD <= (1 << BITS) + 1;
    localparam integer FW = 2 * BITS;                   // field width
    localparam integer TAIL_AT = (NC - 1) * LC * BITS;
    localparam integer TAIL_W = SIMD * BITS - TAIL_AT;
    localparam integer FULL_W = (NC > 1) ? LC * BITS : TAIL_W;  // in range if NC = 1
    // Sizes of the converted ROM: 1 where the unit is not FAST. Its address range is a
    // power of two, so the simulator reads it at a register's address unchecked.
    localparam integer FA = (FAST || FASTM) ? (1 << A_W) : 1;
    localparam integer FP = (FAST || FASTM) ? PE : 1;
    localparam integer FC = FAST ? NC : 1;
    localparam integer FL = FASTM ? SIMD : 1;

    // `count` runs of `width` ones, `step` bits apart, the first at bit `offset`.
    function automatic [63:0] runs(
        input integer step, input integer width, input integer offset,
        input integer count
    );
        integer j;
        begin
            runs = 64'd0;
            for (j = 0; j < count; j = j + 1)
                runs = runs | (((64'd1 << width) - 64'd1) << (j * step + offset));
        end
    endfunction
    localparam [63:0] SIGN = runs(BITS, 1, BITS - 1, LC);   // lanes' sign bits
    localparam [63:0] LOW = runs(FW, BITS, 0, NFW);
    localparam [63:0] GUARD = runs(FW, 1, BITS, NFW);
    localparam [63:0] ONES = runs(FW, 1, 0, NFW);
    localparam [63:0] FIELD = runs(FW, FW, 0, 1);

    // The weights as fields: [a][p][c] holds chunk c of PE p's lanes at ROM address a, even
    // lanes in w_even, odd in w_odd; w_sum[a][p] the lanes' sum.
    // (Written but not read where the unit is not FAST.)
    /* verilator lint_off UNUSEDSIGNAL */
    reg [63:0] w_even [0:FA-1][0:FP-1][0:FC-1];
    reg [63:0] w_odd [0:FA-1][0:FP-1][0:FC-1];
    reg [63:0] w_sum [0:FA-1][0:FP-1];
    reg [63:0] w_lane [0:FA-1][0:FP-1][0:FL-1];    // FASTM: [a][p][i] sign-extended
    /* verilator lint_on UNUSEDSIGNAL */
    // Total of a word's fields (each below 2^FW, their sum too where `one` is set).
    function automatic [63:0] field_total(input [63:0] f, input one);
        integer j;
        begin
            if (one) begin
                field_total = ((f * ONES) >> ((NFW - 1) * FW)) & FIELD;
            end else begin
                field_total = 64'd0;
                for (j = 0; j < NFW; j = j + 1)
                    field_total = field_total + ((f >> (j * FW)) & FIELD);
            end
        end
    endfunction
    /* verilator lint_off WIDTHEXPAND */
    /* verilator lint_off WIDTHTRUNC */
    task automatic fast_weights;
        integer a, q, c, l, i;
        reg [63:0] wc, total, lane;
        begin
            for (a = 0; a < DEPTH; a = a + 1)
                for (q = 0; q < PE; q = q + 1) begin
                    total = 64'd0;
                    for (c = 0; c < NC; c = c + 1) begin
                        wc = 64'd0;
                        for (l = 0; l < LC; l = l + 1) begin
                            i = c * LC + l;
                            lane = 64'd0;
                            if (i < SIMD) lane[WB-1:0] = rom[a][(q * SIMD + i) * WB +: WB];
                            wc = wc | (lane << (l * BITS));
                        end
                        wc = wc ^ SIGN;
                        w_even[a][q][c] = wc & LOW;
                        w_odd[a][q][c] = (wc >> BITS) & LOW;
                        total = total + field_total((wc & LOW) + ((wc >> BITS) & LOW), 1'b0);
                    end
                    w_sum[a][q] = total;
                end
        end
    endtask
    task automatic mac_weights;
        integer a, q, i;
        reg [63:0] lane;
        begin
            for (a = 0; a < DEPTH; a = a + 1)
                for (q = 0; q < PE; q = q + 1)
                    for (i = 0; i < SIMD; i = i + 1) begin
                        lane = {64{rom[a][(q * SIMD + i) * WB + WB - 1]}};
                        lane[WB-1:0] = rom[a][(q * SIMD + i) * WB +: WB];
                        w_lane[a][q][i] = lane;
                    end
        end
    endtask
    /* verilator lint_on WIDTHTRUNC */
    /* verilator lint_on WIDTHEXPAND */
`endif
    generate
        if (K % SIMD != 0 || GROUPS < 1 || OUT % (PE * GROUPS) != 0) begin : g_bad_fold
            af_mvu_error_K_not_multiple_of_SIMD_or_OUT_not_multiple_of_PE u_error ();
        end
    endgenerate

    // ---- weight ROM ---------------------------------------------------------------
    reg [W_W-1:0] rom [0:DEPTH-1];
`ifdef VERILATOR
    // Under Verilator, an adder unit (FAST, below) keeps its weights also in the form its
    // accumulate stage reads (g_fast): the ROM is read here, then converted once.
    initial begin
        $readmemh(WEIGHT_FILE, rom);
        if (FAST) fast_weights();
        if (FASTM) mac_weights();
    end
`else
    initial $readmemh(WEIGHT_FILE, rom);
`endif

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
`ifdef VERILATOR
    // A FAST or FASTM unit reads neither (g_fast's, g_fastm's operands replace them).
    /* verilator lint_off UNUSEDSIGNAL */
    /* verilator lint_off UNDRIVEN */
`endif
    reg [X_W-1:0]   x1;
    reg [W_W-1:0]   w1;
`ifdef VERILATOR
    /* verilator lint_on UNDRIVEN */
    /* verilator lint_on UNUSEDSIGNAL */
`endif
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

`ifdef VERILATOR
    // The same registers; a FAST unit loads its own operands (g_fast) instead of x1, w1.
    always @(posedge clk) begin
        if (issue) begin
            if (!FAST && !FASTM) begin
                w1 <= rom[addr];
                x1 <= x_issue;
            end
            first1 <= (sf == {SF_W{1'b0}});
            last1 <= (sf == SF_LAST);
        end
        if (rst) v1 <= 1'b0;
        else if (en) v1 <= issue;
    end
`else
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
`endif

    // ---- accumulate stage ----------------------------------------------------------
    reg done2;                             // the accumulators hold a finished PE group
    wire [PE*ACC_BITS-1:0] accs;

`ifdef VERILATOR
    genvar p;
    generate
        if (FAST) begin : g_fast
            // Issue: the x fields of every chunk (guard bits set) and the lanes' sum; the
            // ROM address. Accumulate: every PE's sum of relu(x - w) fields, its total,
            // and the accumulator (see the header of this form above). The issue block's
            // temporaries are assigned before they are read on the same edge (blocking on
            // purpose), 64-bit module variables.
            reg [A_W-1:0] a1;
            reg [63:0] x_even [0:NC-1];
            reg [63:0] x_odd [0:NC-1];
            reg [63:0] x_sum;
            integer c;
            reg [63:0] xc, xf, xs;
            /* verilator lint_off BLKSEQ */
            /* verilator lint_off WIDTHEXPAND */
            /* verilator lint_off WIDTHTRUNC */
            always @(posedge clk)
                if (issue) begin
                    a1 <= addr;
                    xf = 64'd0;
                    xs = 64'd0;
                    for (c = 0; c < NC; c = c + 1) begin
                        if (c < NC - 1)  // zero-extended: lanes above a chunk's are 0
                            xc = x_issue[c * LC * BITS +: FULL_W];
                        else
                            xc = x_issue[TAIL_AT +: TAIL_W];
                        xc = xc ^ SIGN;
                        x_even[c] <= (xc & LOW) | GUARD;
                        x_odd[c] <= ((xc >> BITS) & LOW) | GUARD;
                        xf = xf + (xc & LOW) + ((xc >> BITS) & LOW);
                        if (c % GC == GC - 1 || c == NC - 1) begin
                            xs = xs + field_total(xf, 1'b0);
                            xf = 64'd0;
                        end
                    end
                    x_sum <= xs;
                end
            /* verilator lint_on WIDTHTRUNC */
            /* verilator lint_on WIDTHEXPAND */
            /* verilator lint_on BLKSEQ */
            // sum_i |x_i - w_i| of PE q at ROM address a (its locals are the simulator's
            // locals, not module variables).
            /* verilator lint_off UNUSEDSIGNAL */
            function automatic [63:0] pe_total(input [A_W-1:0] a, input integer q);
                integer k;
                reg [63:0] d, g, f, s;
                begin
                    f = 64'd0;
                    s = 64'd0;
                    for (k = 0; k < NC; k = k + 1) begin
                        d = x_even[k] - w_even[a][q][k];
                        g = d & GUARD;
                        f = f + (d & (g - (g >> BITS)));
                        d = x_odd[k] - w_odd[a][q][k];
                        g = d & GUARD;
                        f = f + (d & (g - (g >> BITS)));
                        if (!ONE_FIELD && (k % GC == GC - 1 || k == NC - 1)) begin
                            s = s + field_total(f, 1'b0);
                            f = 64'd0;
                        end
                    end
                    if (ONE_FIELD) s = field_total(f, 1'b1);
                    pe_total = (s << 1) + w_sum[a][q] - x_sum;
                end
            endfunction
            /* verilator lint_on UNUSEDSIGNAL */
            for (p = 0; p < PE; p = p + 1) begin : g_acc
                reg [ACC_BITS-1:0] acc;
                /* verilator lint_off WIDTHTRUNC */
                always @(posedge clk)
                    if (en && v1)
                        acc <= (first1 ? 64'd0 : {{(64 - ACC_BITS){1'b0}}, acc})
                               - pe_total(a1, p);
                /* verilator lint_on WIDTHTRUNC */
                assign accs[p*ACC_BITS +: ACC_BITS] = acc;
            end
        end else if (FASTM) begin : g_fastm
            reg [A_W-1:0] a1;
            reg [63:0] x_lane [0:SIMD-1];
            integer i;
            always @(posedge clk)
                if (issue) begin
                    a1 <= addr;
                    for (i = 0; i < SIMD; i = i + 1)
                        x_lane[i] <= {{(64 - BITS){x_issue[i * BITS + BITS - 1]}},
                                      x_issue[i * BITS +: BITS]};
                end
            // sum_i x_i * w_i of PE q at ROM address a, modulo 2^64.
            /* verilator lint_off UNUSEDSIGNAL */
            function automatic [63:0] pe_dot(input [A_W-1:0] a, input integer q);
                integer k;
                begin
                    pe_dot = 64'd0;
                    for (k = 0; k < SIMD; k = k + 1)
                        pe_dot = pe_dot + x_lane[k] * w_lane[a][q][k];
                end
            endfunction
            /* verilator lint_on UNUSEDSIGNAL */
            for (p = 0; p < PE; p = p + 1) begin : g_acc
                reg [ACC_BITS-1:0] acc;
                /* verilator lint_off WIDTHTRUNC */
                always @(posedge clk)
                    if (en && v1)
                        acc <= (first1 ? 64'd0 : {{(64 - ACC_BITS){1'b0}}, acc})
                               + pe_dot(a1, p);
                /* verilator lint_on WIDTHTRUNC */
                assign accs[p*ACC_BITS +: ACC_BITS] = acc;
            end
        end else begin : g_pes
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
        end
    endgenerate
`else
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
`endif

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
