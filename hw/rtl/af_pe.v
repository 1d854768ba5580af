// af_pe: one processing element of the matrix-vector unit (adderflow, DESIGN.md "RTL").
//
// Every enabled cycle it folds SIMD lane pairs (x_i, w_i) into a signed accumulator:
//
//   MODE "adder": acc += -|x_i - w_i|          (DESIGN.md rule 2, multiplication-free)
//   MODE "mac"  : acc +=   x_i * w_i           (the multiplier twin)
//   MODE "xnor" : acc += xnor(x_i, w_i) ? +1 : -1 over bipolar values (DESIGN.md rule 6);
//                 weights are 1-bit lanes, bit 1 codes +1 and bit 0 codes -1, and x is
//                 BITS = 1: one bit, coded like the weights; over K lanes the sum is
//                            2*popcount(xnor(x, w)) - K;
//                 BITS = 2: a signed code, +1 = 2'b01, -1 = 2'b11, or 0 = 2'b00 for a
//                            padded tap that does not vote (term 0, DESIGN.md rule 6 via
//                            docs/ir.md: padding is masked out of the popcount). Bit 0 says
//                            whether the lane votes, bit 1 is its sign (2'b10 never occurs;
//                            it would not vote). af_window emits padding as code 0, so a
//                            binary layer's window needs no mask of its own.
//
// Lane i of x occupies bits [i*BITS +: BITS] (lane 0 in the least significant bits),
// BITS-bit two's complement; lane i of w bits [i*WB +: WB], WB = 1 for xnor, else BITS.
// `first` starts a new dot product (acc <= beat instead of acc + beat), so the element
// needs no reset. ACC_BITS defaults to the contract's bound for K terms
// (adderflow.fixed.adder_acc_bits / mul_acc_bits / xnor_acc_bits): the sum never wraps.
`default_nettype none

// String parameters of different lengths compare at different widths; that is the intent.
/* verilator lint_off WIDTHEXPAND */
module af_pe #(
    parameter MODE = "adder",
    parameter integer SIMD = 1,
    parameter integer BITS = 8,
    parameter integer K = 1,
    parameter integer ACC_BITS = (MODE == "mac") ? 2 * BITS + $clog2(K)
                               : (MODE == "xnor") ? $clog2(K + 1) + 1
                               : BITS + $clog2(K) + 1
) (
    input  wire                       clk,
    input  wire                       ce,     // accumulate this beat
    input  wire                       first,  // this beat starts a new dot product
    input  wire [SIMD*BITS-1:0]       x,
    input  wire [SIMD*((MODE == "xnor") ? 1 : BITS)-1:0] w,
    output reg  signed [ACC_BITS-1:0] acc
);
    localparam IS_MAC = (MODE == "mac");
    localparam IS_XNOR = (MODE == "xnor");
    localparam IS_ADDER = (MODE == "adder");
    /* verilator lint_on WIDTHEXPAND */
    // Width of one lane's term: -|x-w| needs BITS+1 signed bits, x*w needs 2*BITS, +-1 needs 2.
    localparam integer TERM_BITS = IS_MAC ? 2 * BITS : IS_XNOR ? 2 : BITS + 1;
    localparam integer WB = IS_XNOR ? 1 : BITS;     // weight lane width

`ifdef VERILATOR
    // A constant function of the simulation form of the adder element (g_adder); IEEE
    // 1800 does not allow one declared under generate.
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
`endif

    // The lanes are summed inside the clocked block, under `ce`, not in a continuous
    // assignment: the hardware is the same (the sum feeds the enabled accumulator), but a
    // cycle-based simulator such as Verilator then evaluates the SIMD lanes only on the
    // cycles that accumulate instead of on every clock edge (bench/rtl_throughput.py).
    generate
        // Verilog-2005 has no elaboration-time $error: an unknown MODE (or an xnor element
        // with BITS other than 1 or 2) instantiates a module that does not exist, failing
        // every tool.
        if (!(IS_MAC || IS_XNOR || IS_ADDER) || (IS_XNOR && BITS != 1 && BITS != 2))
        begin : g_bad_mode
            af_pe_error_unknown_mode_or_xnor_bits_not_1_or_2 u_error ();
        end
        if (IS_MAC) begin : g_mac
            // x_i * w_i, in 2*BITS bits.
            function automatic [ACC_BITS-1:0] next_acc(
                input [ACC_BITS-1:0] a, input f, input [SIMD*BITS-1:0] xs,
                input [SIMD*WB-1:0] ws
            );
                integer i;
                reg signed [BITS-1:0] xi;
                reg signed [WB-1:0] wi;
                reg signed [TERM_BITS-1:0] t;
                reg [ACC_BITS-1:0] sum;
                begin
                    sum = {ACC_BITS{1'b0}};
                    for (i = 0; i < SIMD; i = i + 1) begin
                        xi = xs[i*BITS +: BITS];
                        wi = ws[i*WB +: WB];
                        t = xi * wi;
                        sum = sum + {{(ACC_BITS - TERM_BITS){t[TERM_BITS-1]}}, t};
                    end
                    next_acc = f ? sum : a + sum;
                end
            endfunction
            always @(posedge clk)
                if (ce) acc <= next_acc(acc, first, x, w);
        end
        if (IS_XNOR) begin : g_xnor
            // +1 (2'b01) where x and w agree, -1 (2'b11) where not, 0 where x does not vote.
            function automatic [ACC_BITS-1:0] next_acc(
                input [ACC_BITS-1:0] a, input f, input [SIMD*BITS-1:0] xs,
                input [SIMD*WB-1:0] ws
            );
                integer i;
                reg [BITS-1:0] xi;
                reg neg, votes, agree;
                reg [TERM_BITS-1:0] t;
                reg [ACC_BITS-1:0] sum;
                begin
                    sum = {ACC_BITS{1'b0}};
                    for (i = 0; i < SIMD; i = i + 1) begin
                        // neg: x codes -1; votes: x is not a padded tap. The values agree
                        // where x is negative and the weight bit is 0 (-1), or x positive
                        // and it is 1.
                        xi = xs[i*BITS +: BITS];
                        neg = (BITS == 1) ? ~xi[0] : xi[BITS-1];
                        votes = (BITS == 1) ? 1'b1 : xi[0];
                        agree = neg ^ ws[i];
                        t = {votes & ~agree, votes};
                        sum = sum + {{(ACC_BITS - TERM_BITS){t[TERM_BITS-1]}}, t};
                    end
                    next_acc = f ? sum : a + sum;
                end
            endfunction
            always @(posedge clk)
                if (ce) acc <= next_acc(acc, first, x, w);
        end
        if (IS_ADDER) begin : g_adder
            // -|x_i - w_i|: x - w in BITS+1 bits never overflows; -|d| is d itself when d < 0.
`ifdef VERILATOR
            // The same sum, SIMD within a register (SWAR). In offset binary (sign bits
            // flipped: x + 2^(BITS-1) - (w + 2^(BITS-1)) = x - w) the lanes are unsigned.
            // The lanes come in chunks of LC lanes (a 64-bit word, LC even). Masking a
            // chunk with LOW keeps its even lanes, each in the low BITS bits of a field of
            // 2*BITS bits whose bit BITS (GUARD) is free: (x | GUARD) - w is then
            // 2^BITS + x - w per field, in [1, 2^(BITS+1) - 1], so no borrow crosses a
            // field; its guard bit is clear where x < w, and there the low bits are
            // 2^BITS - (w - x): complemented plus one they give w - x, where x >= w they
            // are x - w already. The chunk shifted right BITS bits gives the odd lanes the
            // same way. The fields of |x - w| (below 2^BITS each) are added word-wise; the
            // total is one multiply by ONES (the field sum lands in the top field) when it
            // cannot exceed one field (SIMD <= 2^BITS + 1), else the fields are added one
            // by one every GC chunks, before any can overflow. The sum is exact and
            // nonnegative; its ACC_BITS low bits are negated into the accumulator (modulo
            // 2^ACC_BITS, as the `else` form; the sum does not wrap at all, see ACC_BITS).
            // A lane-by-lane form compiles to about 10 instructions a lane in Verilator
            // (the `else` form to 25), this one to 7.5 at BITS = 8 and 32 lanes, loads
            // included (bench/rtl_throughput.py). Synthesis and Icarus read the `else`
            // form, whose negation is BITS+1 bits wide (25 LUT4s a lane on ECP5, not 34).
            localparam integer LC = (64 / BITS) / 2 * 2;    // lanes a chunk
            localparam integer NF = LC / 2;                 // fields a word
            localparam integer NC = (SIMD + LC - 1) / LC;   // chunks
            localparam integer GC = 1 << (BITS - 1);        // chunks a field can hold
            localparam ONE_FIELD = SIMD <= (1 << BITS) + 1;
            localparam integer FW = 2 * BITS;               // field width
            localparam [63:0] SIGN = runs(BITS, 1, BITS - 1, LC);  // lanes' sign bits
            localparam [63:0] LOW = runs(FW, BITS, 0, NF);
            localparam [63:0] GUARD = runs(FW, 1, BITS, NF);
            localparam [63:0] ONES = runs(FW, 1, 0, NF);
            localparam [63:0] FIELD = runs(FW, FW, 0, 1);
            // |x - w| in each field of two words of fields (lanes in the low BITS bits).
            function automatic [63:0] abs_diff(input [63:0] xf, input [63:0] wf);
                reg [63:0] d, lt, lt_one;
                begin
                    d = (xf | GUARD) - wf;
                    lt = GUARD & ~d;                // guard bits of the fields with x < w
                    lt_one = lt >> BITS;            // a one at the bottom of those fields
                    abs_diff = ((d & LOW) ^ (lt - lt_one)) + lt_one;
                end
            endfunction
            // The fields of |x - w| of one chunk (x and w lanes in the low bits).
            function automatic [63:0] chunk_fields(input [63:0] xw, input [63:0] ww);
                reg [63:0] xc, wc;
                begin
                    xc = xw ^ SIGN;
                    wc = ww ^ SIGN;
                    chunk_fields = abs_diff(xc & LOW, wc & LOW)
                                 + abs_diff((xc >> BITS) & LOW, (wc >> BITS) & LOW);
                end
            endfunction
            // Chunks are read straight from the ports, each at its own width (the last one
            // may hold fewer lanes), so no wide copy of x or w is made. The clocked block's
            // temporaries are assigned before they are read on the same edge (blocking on
            // purpose): module variables, as the simulator would clear a function's wide
            // locals on every clock edge, used or not.
            localparam integer TAIL_AT = (NC - 1) * LC * BITS;
            localparam integer TAIL_W = SIMD * BITS - TAIL_AT;
            localparam integer FULL_W = (NC > 1) ? LC * BITS : TAIL_W;  // in range if NC = 1
            integer c, j;
            reg [63:0] fields, sum;
            // ACC_BITS may exceed 64 (a wider accumulator asked for); the sum's bits above
            // ACC_BITS are then zero or, below, not read.
            /* verilator lint_off UNUSEDSIGNAL */
            reg [((ACC_BITS > 64) ? ACC_BITS : 64)-1:0] wide;
            /* verilator lint_on UNUSEDSIGNAL */
            /* verilator lint_off BLKSEQ */
            /* verilator lint_off WIDTHEXPAND */
            always @(posedge clk)
                if (ce) begin
                    fields = 64'd0;
                    sum = 64'd0;
                    for (c = 0; c < NC; c = c + 1) begin
                        if (c < NC - 1)  // zero-extended: lanes above a chunk's are 0
                            fields = fields + chunk_fields(x[c * LC * BITS +: FULL_W],
                                                           w[c * LC * BITS +: FULL_W]);
                        else
                            fields = fields + chunk_fields(x[TAIL_AT +: TAIL_W],
                                                           w[TAIL_AT +: TAIL_W]);
                        if (!ONE_FIELD && (c % GC == GC - 1 || c == NC - 1)) begin
                            for (j = 0; j < NF; j = j + 1)
                                sum = sum + ((fields >> (j * FW)) & FIELD);
                            fields = 64'd0;
                        end
                    end
                    if (ONE_FIELD) sum = ((fields * ONES) >> ((NF - 1) * FW)) & FIELD;
                    wide = 0;
                    wide[63:0] = sum;
                    acc <= first ? -wide[ACC_BITS-1:0] : acc - wide[ACC_BITS-1:0];
                end
            /* verilator lint_on WIDTHEXPAND */
            /* verilator lint_on BLKSEQ */
`else
            function automatic [ACC_BITS-1:0] next_acc(
                input [ACC_BITS-1:0] a, input f, input [SIMD*BITS-1:0] xs,
                input [SIMD*WB-1:0] ws
            );
                integer i;
                reg signed [BITS-1:0] xi, wi;
                reg signed [TERM_BITS-1:0] d;
                reg signed [ACC_BITS-1:0] sum;
                reg signed [TERM_BITS-1:0] t;
                begin
                    sum = {ACC_BITS{1'b0}};
                    for (i = 0; i < SIMD; i = i + 1) begin
                        xi = xs[i*BITS +: BITS];
                        wi = ws[i*WB +: WB];
                        d = xi - wi;
                        t = d[BITS] ? d : -d;
                        sum = sum + {{(ACC_BITS - TERM_BITS){t[TERM_BITS-1]}}, t};
                    end
                    next_acc = f ? sum : a + sum;
                end
            endfunction
            always @(posedge clk)
                if (ce) acc <= next_acc(acc, first, x, w);
`endif
        end
    endgenerate
endmodule

`default_nettype wire
