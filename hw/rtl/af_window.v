// af_window: frame buffer and sliding-window generator, with max or average pooling on write.
//
// Feeds a matrix-vector unit (af_mvu) with one convolution window per output pixel.
// Load phase: takes one frame of H x W pixels, C channels, raster order, LANES channels per
// beat (beat (y, x, g) carries channels g*LANES + i in bits [i*BITS +: BITS], the af_mvu /
// af_requant output format), and stores it, max pooled over POOL x POOL blocks when
// POOL > 1 (IntMaxPool with kernel = stride = POOL, fused here: a read-modify-write of the
// stored word). POOL_MODE "avg" (IntAvgPool, POOL a power of two) instead accumulates the
// block's sum in a stored lane of BITS + log2(POOL*POOL) bits (exact: no sum of POOL*POOL
// codes overflows it) and, on the block's last beat, stores round_half_even(sum >>
// log2(POOL*POOL)) through af_round (the contract's rounding; the mean of codes fits BITS,
// so its saturation never acts). Emit phase: for every output pixel (oy, ox) in raster
// order, every tap (ky, kx) and every channel group g, one beat with channels g*LANES + i
// of input pixel (oy*STRIDE - PAD + ky, ox*STRIDE - PAD + kx) of the pooled frame, or
// zeros where that pixel lies in the padding (DESIGN.md rule 3: zero padding takes part in
// the sum). So the window vector of one output pixel is ordered (ky, kx, c), channels fastest;
// adderflow.hw.network orders the weight columns the same way. A dense layer after a
// flatten is the window KH = FH, KW = FW, PAD = 0 over the whole frame.
//
// One frame buffer (no double buffering): in_ready is low during the emit phase. The last
// emitted beat returns to the load phase. The first output beat is offered two cycles after
// the last input transfer and then one beat per cycle while out_ready stays high.
// Addresses are kept in adder-updated registers, so the unit has no multiplier.
`default_nettype none

module af_window #(
    parameter integer BITS = 8,
    parameter integer C = 1,        // channels
    parameter integer H = 8,        // input frame, before pooling
    parameter integer W = 8,
    parameter integer POOL = 1,     // pool kernel = stride on the input; 1: none
    parameter POOL_MODE = "max",    // "max" (IntMaxPool) or "avg" (IntAvgPool)
    parameter integer LANES = 1,    // channels per beat, in and out
    parameter integer KH = 3,
    parameter integer KW = 3,
    parameter integer STRIDE = 1,
    parameter integer PAD = 1
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
    localparam integer FH = H / POOL;
    localparam integer FW = W / POOL;
    localparam integer CG = C / LANES;
    localparam integer OH = (FH + 2 * PAD - KH) / STRIDE + 1;
    localparam integer OW = (FW + 2 * PAD - KW) / STRIDE + 1;
    localparam integer DEPTH = FH * FW * CG;
    localparam integer A_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer CW = 16;     // signed counter and address width
    localparam integer D_W = LANES * BITS;
    // Average pooling keeps a block's running sum in the buffer: LOG2A more bits a lane.
    localparam AVG = (POOL_MODE == "avg") && (POOL > 1);
    localparam integer LOG2A = 2 * $clog2(POOL);
    localparam integer MW = AVG ? BITS + LOG2A : BITS;    // stored lane width
    localparam integer M_W = LANES * MW;

    generate
        if (C % LANES != 0 || H % POOL != 0 || W % POOL != 0 || POOL < 1 || STRIDE < 1
            || PAD < 0 || KH < 1 || KW < 1 || KH > FH + 2 * PAD || KW > FW + 2 * PAD
            || (FH + PAD) * FW * CG >= 2 ** (CW - 2))
        begin : g_bad_shape
            af_window_error_bad_shape_or_fold u_error ();
        end
        // The mean is a shift only for a power-of-two window area.
        if ((POOL_MODE != "max" && POOL_MODE != "avg")
            || (POOL_MODE == "avg" && (POOL & (POOL - 1)) != 0))
        begin : g_bad_pool
            af_window_error_bad_pool_mode u_error ();
        end
    endgenerate

    // Constants at counter width (they fit: the check above bounds them).
    /* verilator lint_off WIDTHTRUNC */
    localparam signed [CW-1:0] ONE = 1;
    localparam signed [CW-1:0] CG_L = CG - 1;
    localparam signed [CW-1:0] POOL_L = POOL - 1;
    localparam signed [CW-1:0] FW_L = FW - 1;
    localparam signed [CW-1:0] FH_L = FH - 1;
    localparam signed [CW-1:0] FW_N = FW;
    localparam signed [CW-1:0] FH_N = FH;
    localparam signed [CW-1:0] KW_L = KW - 1;
    localparam signed [CW-1:0] KH_L = KH - 1;
    localparam signed [CW-1:0] OW_L = OW - 1;
    localparam signed [CW-1:0] OH_L = OH - 1;
    localparam signed [CW-1:0] COL = CG;                // address step of one pixel
    localparam signed [CW-1:0] ROW = FW * CG;           // address step of one row
    localparam signed [CW-1:0] X_STEP = STRIDE * CG;
    localparam signed [CW-1:0] Y_STEP = STRIDE * FW * CG;
    localparam signed [CW-1:0] S_STEP = STRIDE;
    localparam signed [CW-1:0] P0 = -PAD;
    localparam signed [CW-1:0] COL0 = -PAD * CG;
    localparam signed [CW-1:0] ROW0 = -PAD * FW * CG;
    /* verilator lint_on WIDTHTRUNC */
    localparam signed [CW-1:0] ZERO = 0;

    reg [M_W-1:0] mem [0:DEPTH-1];
    reg loading;                    // 1: load phase, 0: emit phase

    // ---- load: pooled address = row + col + g, kept by additions ------------------
    reg signed [CW-1:0] l_g, l_px, l_py, l_fx, l_fy, l_col, l_row;
    // Only the low A_W address bits index the buffer; the sign bits matter for padding
    // taps, which never read it.
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [CW-1:0] l_addr = l_row + l_col + l_g;
    /* verilator lint_on UNUSEDSIGNAL */
    wire take = in_valid && in_ready;
    wire first_of_block = (l_px == ZERO) && (l_py == ZERO);
    wire frame_in = (l_g == CG_L) && (l_px == POOL_L) && (l_fx == FW_L)
                    && (l_py == POOL_L) && (l_fy == FH_L);

    assign in_ready = !rst && loading;

    wire [M_W-1:0] stored = mem[l_addr[A_W-1:0]];
    wire [M_W-1:0] merged;
    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            wire signed [BITS-1:0] a = in_data[i*BITS +: BITS];
            if (AVG) begin : g_avg
                wire last_of_block = (l_px == POOL_L) && (l_py == POOL_L);
                wire signed [MW-1:0] a_ext = {{LOG2A{a[BITS-1]}}, a};
                wire signed [MW-1:0] b = stored[i*MW +: MW];
                // |sum| <= POOL*POOL * 2^(BITS-1) = 2^(MW-1): MW bits never wrap.
                wire signed [MW-1:0] sum = first_of_block ? a_ext : a_ext + b;
                wire [BITS-1:0] mean;
                af_round #(.IN_BITS(MW), .SHIFT(LOG2A), .OUT_BITS(BITS), .RELU(0)) u_round (
                    .v(sum),
                    .q(mean)
                );
                assign merged[i*MW +: MW] = last_of_block ? {{LOG2A{mean[BITS-1]}}, mean} : sum;
            end else begin : g_max
                wire signed [BITS-1:0] b = stored[i*MW +: MW];
                assign merged[i*MW +: MW] = (first_of_block || a > b) ? a : b;
            end
        end
    endgenerate

    always @(posedge clk)
        if (take) mem[l_addr[A_W-1:0]] <= merged;

    always @(posedge clk) begin
        if (rst) begin
            l_g <= ZERO; l_px <= ZERO; l_py <= ZERO; l_fx <= ZERO; l_fy <= ZERO;
            l_col <= ZERO; l_row <= ZERO;
        end else if (take) begin
            // Raster order: channel group, then x = fx*POOL + px, then y = fy*POOL + py.
            l_g <= (l_g == CG_L) ? ZERO : l_g + ONE;
            if (l_g == CG_L) begin
                l_px <= (l_px == POOL_L) ? ZERO : l_px + ONE;
                if (l_px == POOL_L) begin
                    l_fx <= (l_fx == FW_L) ? ZERO : l_fx + ONE;
                    l_col <= (l_fx == FW_L) ? ZERO : l_col + COL;
                    if (l_fx == FW_L) begin
                        l_py <= (l_py == POOL_L) ? ZERO : l_py + ONE;
                        if (l_py == POOL_L) begin
                            l_fy <= (l_fy == FH_L) ? ZERO : l_fy + ONE;
                            l_row <= (l_fy == FH_L) ? ZERO : l_row + ROW;
                        end
                    end
                end
            end
        end
    end

    // ---- emit: window taps, address = row + col + g, kept by additions -----------
    reg signed [CW-1:0] e_g, e_kx, e_ky, e_ox, e_oy;
    reg signed [CW-1:0] e_ix0, e_iy0, e_ix, e_iy;       // input pixel of tap (0, 0) / now
    reg signed [CW-1:0] e_col0, e_row0, e_col, e_row;   // their address parts
    wire slot_free;                                     // the output slice takes a word
    wire emit = !rst && !loading && slot_free;
    wire in_frame = (e_ix >= ZERO) && (e_ix < FW_N) && (e_iy >= ZERO) && (e_iy < FH_N);
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [CW-1:0] e_addr = e_row + e_col + e_g;
    /* verilator lint_on UNUSEDSIGNAL */
    // With average pooling a stored lane is the mean sign-extended to MW bits; the emit
    // reads its low BITS only.
    /* verilator lint_off UNUSEDSIGNAL */
    wire [M_W-1:0] tap = mem[e_addr[A_W-1:0]];
    /* verilator lint_on UNUSEDSIGNAL */
    wire [D_W-1:0] tap_codes;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_tap
            assign tap_codes[i*BITS +: BITS] = tap[i*MW +: BITS];
        end
    endgenerate
    wire frame_out = (e_g == CG_L) && (e_kx == KW_L) && (e_ky == KH_L)
                     && (e_ox == OW_L) && (e_oy == OH_L);

    always @(posedge clk) begin
        if (rst) begin
            loading <= 1'b1;
        end else if (take && frame_in) begin
            loading <= 1'b0;
        end else if (emit && frame_out) begin
            loading <= 1'b1;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            e_g <= ZERO; e_kx <= ZERO; e_ky <= ZERO; e_ox <= ZERO; e_oy <= ZERO;
            e_ix0 <= P0; e_iy0 <= P0; e_ix <= P0; e_iy <= P0;
            e_col0 <= COL0; e_row0 <= ROW0; e_col <= COL0; e_row <= ROW0;
        end else if (emit) begin
            // Later assignments override earlier ones: an outer counter's step sets the
            // tap position of the next window.
            e_g <= (e_g == CG_L) ? ZERO : e_g + ONE;
            if (e_g == CG_L) begin
                e_kx <= (e_kx == KW_L) ? ZERO : e_kx + ONE;
                e_ix <= e_ix + ONE;
                e_col <= e_col + COL;
                if (e_kx == KW_L) begin
                    e_ix <= e_ix0;
                    e_col <= e_col0;
                    e_ky <= (e_ky == KH_L) ? ZERO : e_ky + ONE;
                    e_iy <= e_iy + ONE;
                    e_row <= e_row + ROW;
                    if (e_ky == KH_L) begin
                        e_iy <= e_iy0;
                        e_row <= e_row0;
                        e_ox <= (e_ox == OW_L) ? ZERO : e_ox + ONE;
                        e_ix0 <= e_ix0 + S_STEP;
                        e_ix <= e_ix0 + S_STEP;
                        e_col0 <= e_col0 + X_STEP;
                        e_col <= e_col0 + X_STEP;
                        if (e_ox == OW_L) begin
                            e_ix0 <= P0;
                            e_ix <= P0;
                            e_col0 <= COL0;
                            e_col <= COL0;
                            e_oy <= (e_oy == OH_L) ? ZERO : e_oy + ONE;
                            e_iy0 <= e_iy0 + S_STEP;
                            e_iy <= e_iy0 + S_STEP;
                            e_row0 <= e_row0 + Y_STEP;
                            e_row <= e_row0 + Y_STEP;
                            if (e_oy == OH_L) begin
                                e_iy0 <= P0;
                                e_iy <= P0;
                                e_row0 <= ROW0;
                                e_row <= ROW0;
                            end
                        end
                    end
                end
            end
        end
    end

    af_skid #(.WIDTH(D_W)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(!rst && !loading),
        .in_ready(slot_free),
        .in_data(in_frame ? tap_codes : {D_W{1'b0}}),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );
endmodule

`default_nettype wire
