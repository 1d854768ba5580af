// af_window: frame buffer and sliding-window generator, with max or average pooling on write.
//
// Feeds a matrix-vector unit (af_mvu) with one convolution window per output pixel.
// Load phase: takes one frame of H x W pixels, C channels, raster order, LANES channels per
// beat (beat (y, x, g) carries channels g*LANES + i in bits [i*BITS +: BITS], the af_mvu /
// af_requant output format), and stores it, max pooled over POOL_H x POOL_W blocks when
// the block is bigger than a pixel (IntMaxPool with kernel = stride = (POOL_H, POOL_W),
// fused here: a read-modify-write of the stored word). POOL_MODE "avg" (IntAvgPool, the
// area A = POOL_H*POOL_W a power of two) instead accumulates the block's sum in a stored
// lane of BITS + log2(A) bits (exact: no sum of A codes overflows it) and, on the block's
// last beat, stores round_half_even(sum >> log2(A)) through af_round (the contract's
// rounding; the mean of codes fits BITS, so its saturation never acts). Emit phase: for
// every output pixel (oy, ox) in raster order, every tap (ky, kx) and every channel group
// g, one beat with channels g*LANES + i of input pixel
// (oy*STRIDE_H - PAD_T + ky, ox*STRIDE_W - PAD_L + kx) of the pooled frame, or
// zeros where that pixel lies in the padding (DESIGN.md rule 3: zero padding takes part in
// the sum). So the window vector of one output pixel is ordered (ky, kx, c), channels fastest;
// adderflow.hw.network orders the weight columns the same way. A dense layer after a
// flatten is the window KH = FH, KW = FW, PAD = 0 over the whole frame. GROUPS > 1 (a
// grouped or depthwise convolution; C/LANES a multiple of GROUPS): each output pixel's
// taps come group by group, group j's window being its (ky, kx, c) taps over channels
// j*C/GROUPS .. (j+1)*C/GROUPS - 1, the GROUPS input vectors af_mvu's GROUPS expects.
// The beats are the same ones in another order, so the timing does not change.
//
// One frame buffer (no double buffering): in_ready is low during the emit phase. The last
// emitted beat returns to the load phase. The first output beat is offered two cycles after
// the last input transfer and then one beat per cycle while out_ready stays high.
// Addresses are kept in adder-updated registers, so the unit has no multiplier.
// The buffer has one write port and one read port whose address is a register (r_addr),
// loaded at every clock edge with the address the next cycle reads: the counters' next
// state, of the load phase's pooled word or of the emit phase's tap. A read through a
// registered address is what FPGA block RAM does (yosys maps the buffer to DP16KD on ECP5,
// or to LUT RAM with the address register where that is cheaper), and it sees the word
// written at the same edge, so the pool's read-modify-write of consecutive beats of one
// block and the first tap after the last write read what the old combinational read did,
// in the same cycle: the unit's timing is unchanged.
`default_nettype none

module af_window #(
    parameter integer BITS = 8,
    parameter integer C = 1,        // channels
    parameter integer H = 8,        // input frame, before pooling
    parameter integer W = 8,
    /* verilator lint_off UNUSEDPARAM */
    parameter integer POOL = 1,     // pool kernel = stride on the input; 1: none
    /* verilator lint_on UNUSEDPARAM */
    parameter POOL_MODE = "max",    // "max" (IntMaxPool) or "avg" (IntAvgPool)
    parameter integer LANES = 1,    // channels per beat, in and out
    parameter integer KH = 3,
    parameter integer KW = 3,
    // STRIDE, PAD (and POOL) only give the general parameters below their defaults: unused
    // where those are all set.
    /* verilator lint_off UNUSEDPARAM */
    parameter integer STRIDE = 1,   // both directions, unless STRIDE_H / STRIDE_W say
    parameter integer PAD = 1,      // every side, unless PAD_T / PAD_L / PAD_B / PAD_R say
    /* verilator lint_on UNUSEDPARAM */
    parameter integer STRIDE_H = STRIDE,    // rows
    parameter integer STRIDE_W = STRIDE,    // columns
    parameter integer PAD_T = PAD,  // top, left, bottom, right (ONNX's pads order)
    parameter integer PAD_L = PAD,
    parameter integer PAD_B = PAD,
    parameter integer PAD_R = PAD,
    parameter integer POOL_H = POOL,    // the pool's rows and columns (unless POOL says both)
    parameter integer POOL_W = POOL,
    // A grouped convolution's window: each pixel's taps group by group (see the header)
    parameter integer GROUPS = 1,
    // 1: padded taps are the minimum code -2^(BITS-1) instead of 0 (a max pool's window,
    // af_maxpool: padding never wins); 0: zero padding, as a convolution's (DESIGN.md rule 3)
    parameter integer PAD_MIN = 0
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
    localparam integer FH = H / POOL_H;
    localparam integer FW = W / POOL_W;
    localparam integer CG = C / LANES;
    localparam integer GG = CG / GROUPS;    // channel beats of one group
    localparam integer OH = (FH + PAD_T + PAD_B - KH) / STRIDE_H + 1;
    localparam integer OW = (FW + PAD_L + PAD_R - KW) / STRIDE_W + 1;
    localparam integer DEPTH = FH * FW * CG;
    localparam integer A_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer CW_MAX = 16; // the widest counters: bounds the frame (WindowConfig)
`ifndef VERILATOR
    // Signed counter and address width (the counters' form only): every counter, address
    // and compared constant lies within +-SPAN (the padded frame grown by a pixel each way,
    // times the channel groups, plus the loop bounds), so its bits and a sign bit suffice.
    // The step constants may wrap at this width: the sums that use them wrap back into
    // range (two's complement).
    localparam integer SPAN = (FH + PAD_T + PAD_B + 1) * (FW + PAD_L + PAD_R + 1) * CG
                              + POOL_H + POOL_W + STRIDE_H + STRIDE_W + KH + KW;
    localparam integer CW = $clog2(SPAN + 1) + 1;
`endif
    localparam integer D_W = LANES * BITS;
    // Average pooling keeps a block's running sum in the buffer: LOG2A more bits a lane.
    localparam AVG = (POOL_MODE == "avg") && (POOL_H * POOL_W > 1);
    localparam integer LOG2A = $clog2(POOL_H * POOL_W);
    localparam integer MW = AVG ? BITS + LOG2A : BITS;    // stored lane width
    localparam integer M_W = LANES * MW;

    generate
        if (C % LANES != 0 || GROUPS < 1 || CG % GROUPS != 0 || H % POOL_H != 0 || W % POOL_W != 0 || POOL_H < 1 || POOL_W < 1
            || STRIDE_H < 1
            || STRIDE_W < 1 || PAD_T < 0 || PAD_L < 0 || PAD_B < 0 || PAD_R < 0
            || KH < 1 || KW < 1 || KH > FH + PAD_T + PAD_B || KW > FW + PAD_L + PAD_R
            || (FH + PAD_T) * FW * CG >= 2 ** (CW_MAX - 2))
        begin : g_bad_shape
            af_window_error_bad_shape_or_fold u_error ();
        end
        // The mean is a shift only for a power-of-two window area.
        if ((POOL_MODE != "max" && POOL_MODE != "avg")
            || (POOL_MODE == "avg" && ((POOL_H * POOL_W) & (POOL_H * POOL_W - 1)) != 0))
        begin : g_bad_pool
            af_window_error_bad_pool_mode u_error ();
        end
    endgenerate

    // Constants at counter width (they fit: the check above bounds them).
`ifndef VERILATOR
    // (Only the counters' form reads them: under Verilator, tap and beat tables do.)
    /* verilator lint_off WIDTHTRUNC */
    localparam signed [CW-1:0] ONE = 1;
    localparam signed [CW-1:0] CG_L = CG - 1;
    localparam signed [CW-1:0] GG_L = GG - 1;
    localparam signed [CW-1:0] G_L = GROUPS - 1;
    localparam signed [CW-1:0] GCG = GG;                // address step of one group
    localparam signed [CW-1:0] POOLH_L = POOL_H - 1;
    localparam signed [CW-1:0] POOLW_L = POOL_W - 1;
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
    localparam signed [CW-1:0] X_STEP = STRIDE_W * CG;
    localparam signed [CW-1:0] Y_STEP = STRIDE_H * FW * CG;
    localparam signed [CW-1:0] SX_STEP = STRIDE_W;
    localparam signed [CW-1:0] SY_STEP = STRIDE_H;
    localparam signed [CW-1:0] PX0 = -PAD_L;
    localparam signed [CW-1:0] PY0 = -PAD_T;
    localparam signed [CW-1:0] COL0 = -PAD_L * CG;
    localparam signed [CW-1:0] ROW0 = -PAD_T * FW * CG;
    /* verilator lint_on WIDTHTRUNC */
    localparam signed [CW-1:0] ZERO = 0;
`endif

    reg [M_W-1:0] mem [0:DEPTH-1];
    reg loading;                    // 1: load phase, 0: emit phase

    // ---- load: pooled address = row + col + g, kept by additions ------------------
`ifndef VERILATOR
    // (Under Verilator the beat table below, l_n, replaces the load counters.)
    reg signed [CW-1:0] l_g, l_px, l_py, l_fx, l_fy, l_col, l_row;
    reg signed [CW-1:0] n_l_g, n_l_px, n_l_py, n_l_fx, n_l_fy, n_l_col, n_l_row;  // next
`endif
`ifdef VERILATOR
    // The load phase's beats in raster order, one table entry each, filled at start: the
    // pooled word's buffer address (l_row + l_col + l_g of the counters' form) and whether
    // the beat is the first or the last of its pool block. l_n is the beat now; it moves
    // one entry a taken beat and returns to 0 after the frame's last (frame_in), as the
    // counters do. The table's size is a power of two: read unchecked. Its length is
    // H*W*CG, the frame before pooling.
    localparam integer NL_ALL = H * W * CG;             // beats a frame
    localparam integer NL = (NL_ALL > 1) ? NL_ALL : 1;
    localparam integer L_W = (NL > 1) ? $clog2(NL) : 1;
    /* verilator lint_off WIDTHTRUNC */
    localparam [L_W-1:0] NL_L = NL - 1;
    /* verilator lint_on WIDTHTRUNC */
    reg [A_W-1:0] l_addr_t [0:(1 << L_W)-1];
    reg l_first [0:(1 << L_W)-1];
    reg l_last [0:(1 << L_W)-1];
    reg [L_W-1:0] l_n;
    initial begin : fill_beats
        integer y, x, g, n;
        /* verilator lint_off UNUSEDSIGNAL */
        reg [31:0] a;   // its low A_W bits are the address
        /* verilator lint_on UNUSEDSIGNAL */
        n = 0;
        for (y = 0; y < H; y = y + 1)
            for (x = 0; x < W; x = x + 1)
                for (g = 0; g < CG; g = g + 1) begin
                    a = ((y / POOL_H) * FW + x / POOL_W) * CG + g;
                    l_addr_t[n] = a[A_W-1:0];
                    l_first[n] = (y % POOL_H == 0) && (x % POOL_W == 0);
                    l_last[n] = (y % POOL_H == POOL_H - 1) && (x % POOL_W == POOL_W - 1);
                    n = n + 1;
                end
    end
    wire [A_W-1:0] l_addr = l_addr_t[l_n];
    wire take = in_valid && in_ready;
    wire first_of_block = l_first[l_n];
    wire frame_in = (l_n == NL_L);
`else
    // Only the low A_W address bits index the buffer; the sign bits matter for padding
    // taps, which never read it.
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [CW-1:0] l_addr = l_row + l_col + l_g;
`ifndef VERILATOR
    wire signed [CW-1:0] l_addr_n = n_l_row + n_l_col + n_l_g;
`endif
    /* verilator lint_on UNUSEDSIGNAL */
    wire take = in_valid && in_ready;
    wire first_of_block = (l_px == ZERO) && (l_py == ZERO);
    wire frame_in = (l_g == CG_L) && (l_px == POOLW_L) && (l_fx == FW_L)
                    && (l_py == POOLH_L) && (l_fy == FH_L);
`endif

    assign in_ready = !rst && loading;

    // The one read port: during the load phase the stored word at l_addr, during the
    // emit phase the tap at e_addr (r_addr holds whichever the cycle needs).
    reg [A_W-1:0] r_addr;
    wire [M_W-1:0] rd = mem[r_addr];
    genvar i;
`ifndef VERILATOR
    wire [M_W-1:0] stored = rd;
    wire [M_W-1:0] merged;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            wire signed [BITS-1:0] a = in_data[i*BITS +: BITS];
            if (AVG) begin : g_avg
                wire last_of_block = (l_px == POOLW_L) && (l_py == POOLH_L);
                wire signed [MW-1:0] a_ext = {{LOG2A{a[BITS-1]}}, a};
                wire signed [MW-1:0] b = stored[i*MW +: MW];
                // |sum| <= POOL_H*POOL_W * 2^(BITS-1) = 2^(MW-1): MW bits never wrap.
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

    always @* begin
        n_l_g = l_g; n_l_px = l_px; n_l_py = l_py; n_l_fx = l_fx; n_l_fy = l_fy;
        n_l_col = l_col; n_l_row = l_row;
        if (rst) begin
            n_l_g = ZERO; n_l_px = ZERO; n_l_py = ZERO; n_l_fx = ZERO; n_l_fy = ZERO;
            n_l_col = ZERO; n_l_row = ZERO;
        end else if (take) begin
            // Raster order: channel group, then x = fx*POOL_W + px, then y = fy*POOL_H + py.
            n_l_g = (l_g == CG_L) ? ZERO : l_g + ONE;
            if (l_g == CG_L) begin
                n_l_px = (l_px == POOLW_L) ? ZERO : l_px + ONE;
                if (l_px == POOLW_L) begin
                    n_l_fx = (l_fx == FW_L) ? ZERO : l_fx + ONE;
                    n_l_col = (l_fx == FW_L) ? ZERO : l_col + COL;
                    if (l_fx == FW_L) begin
                        n_l_py = (l_py == POOLH_L) ? ZERO : l_py + ONE;
                        if (l_py == POOLH_L) begin
                            n_l_fy = (l_fy == FH_L) ? ZERO : l_fy + ONE;
                            n_l_row = (l_fy == FH_L) ? ZERO : l_row + ROW;
                        end
                    end
                end
            end
        end
    end

    always @(posedge clk) begin
        l_g <= n_l_g; l_px <= n_l_px; l_py <= n_l_py; l_fx <= n_l_fx; l_fy <= n_l_fy;
        l_col <= n_l_col; l_row <= n_l_row;
    end
`endif

    // ---- emit: window taps, address = row + col + g, kept by additions -----------
`ifndef VERILATOR
    // (Under Verilator the tap table below, e_n, replaces the emit counters.)
    reg signed [CW-1:0] e_g, e_kx, e_ky, e_ox, e_oy;
    reg signed [CW-1:0] e_ix0, e_iy0, e_ix, e_iy;       // input pixel of tap (0, 0) / now
    reg signed [CW-1:0] e_col0, e_row0, e_col, e_row;   // their address parts
    reg signed [CW-1:0] e_j, e_gb;                      // group and its first channel beat
    reg signed [CW-1:0] n_e_g, n_e_kx, n_e_ky, n_e_ox, n_e_oy;          // next state
    reg signed [CW-1:0] n_e_j, n_e_gb;
    reg signed [CW-1:0] n_e_ix0, n_e_iy0, n_e_ix, n_e_iy;
    reg signed [CW-1:0] n_e_col0, n_e_row0, n_e_col, n_e_row;
`endif
    wire slot_free;                                     // the output slice takes a word
    wire emit = !rst && !loading && slot_free;
`ifdef VERILATOR
    // The emit phase's taps in order, one table entry each, filled at start: the buffer
    // address (e_row + e_col + e_gb + e_g of the counters' form, its low A_W bits) and
    // whether the tap lies in the frame. e_n is the tap now; it moves one entry an
    // emitted beat and returns to 0 after the last (frame_out), as the counters do. One
    // increment and two table reads a beat instead of the counters' nested steps (the
    // window's emit was a fifth of the digits network's streaming time,
    // bench/rtl_throughput.py). The table's size is a power of two: read unchecked. Its
    // length is OH*OW*KH*KW*CG, under 2^14*KH*KW for any frame g_bad_shape lets through.
    // Taps a frame (at least 1, and no division by a zero stride, where g_bad_shape stops
    // the elaboration anyway: its error is then the one reported).
    localparam integer NE_ALL = (STRIDE_H < 1 || STRIDE_W < 1) ? 1
                              : OH * OW * GROUPS * KH * KW * GG;
    localparam integer NE = (NE_ALL > 1) ? NE_ALL : 1;
    localparam integer E_W = (NE > 1) ? $clog2(NE) : 1;
    /* verilator lint_off WIDTHTRUNC */
    localparam [E_W-1:0] NE_L = NE - 1;
    /* verilator lint_on WIDTHTRUNC */
    reg [A_W-1:0] e_addr [0:(1 << E_W)-1];
    reg e_in [0:(1 << E_W)-1];
    reg [E_W-1:0] e_n;
    initial begin : fill_taps
        integer oy, ox, j, ky, kx, g, n, ix, iy;
        /* verilator lint_off UNUSEDSIGNAL */
        reg [31:0] a;   // its low A_W bits are the address
        /* verilator lint_on UNUSEDSIGNAL */
        n = 0;
        for (oy = 0; oy < OH; oy = oy + 1)
            for (ox = 0; ox < OW; ox = ox + 1)
                for (j = 0; j < GROUPS; j = j + 1)
                    for (ky = 0; ky < KH; ky = ky + 1)
                        for (kx = 0; kx < KW; kx = kx + 1)
                            for (g = 0; g < GG; g = g + 1) begin
                                ix = ox * STRIDE_W - PAD_L + kx;
                                iy = oy * STRIDE_H - PAD_T + ky;
                                a = (iy * FW + ix) * CG + j * GG + g;
                                e_in[n] = (ix >= 0) && (ix < FW) && (iy >= 0) && (iy < FH);
                                e_addr[n] = a[A_W-1:0];
                                n = n + 1;
                            end
    end
    wire in_frame = e_in[e_n];
`else
    wire in_frame = (e_ix >= ZERO) && (e_ix < FW_N) && (e_iy >= ZERO) && (e_iy < FH_N);
`endif
`ifndef VERILATOR
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [CW-1:0] e_addr_n = n_e_row + n_e_col + n_e_gb + n_e_g;
    /* verilator lint_on UNUSEDSIGNAL */
`endif
    // With average pooling a stored lane is the mean sign-extended to MW bits; the emit
    // reads its low BITS only.
    /* verilator lint_off UNUSEDSIGNAL */
    wire [M_W-1:0] tap = rd;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [D_W-1:0] tap_codes;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_tap
            assign tap_codes[i*BITS +: BITS] = tap[i*MW +: BITS];
        end
    endgenerate
    wire [BITS-1:0] pad_lane = (PAD_MIN != 0) ? {1'b1, {(BITS - 1){1'b0}}} : {BITS{1'b0}};
    wire [D_W-1:0] pad_word = {LANES{pad_lane}};
`ifdef VERILATOR
    wire frame_out = (e_n == NE_L);
`else
    wire frame_out = (e_g == GG_L) && (e_kx == KW_L) && (e_ky == KH_L) && (e_j == G_L)
                     && (e_ox == OW_L) && (e_oy == OH_L);
`endif

`ifndef VERILATOR
    wire loading_n = rst ? 1'b1 : (take && frame_in) ? 1'b0 : (emit && frame_out) ? 1'b1 : loading;

    always @(posedge clk) begin
        loading <= loading_n;
        r_addr <= loading_n ? l_addr_n[A_W-1:0] : e_addr_n[A_W-1:0];
    end

    always @* begin
        n_e_g = e_g; n_e_kx = e_kx; n_e_ky = e_ky; n_e_ox = e_ox; n_e_oy = e_oy;
        n_e_j = e_j; n_e_gb = e_gb;
        n_e_ix0 = e_ix0; n_e_iy0 = e_iy0; n_e_ix = e_ix; n_e_iy = e_iy;
        n_e_col0 = e_col0; n_e_row0 = e_row0; n_e_col = e_col; n_e_row = e_row;
        if (rst) begin
            n_e_g = ZERO; n_e_kx = ZERO; n_e_ky = ZERO; n_e_ox = ZERO; n_e_oy = ZERO;
            n_e_j = ZERO; n_e_gb = ZERO;
            n_e_ix0 = PX0; n_e_iy0 = PY0; n_e_ix = PX0; n_e_iy = PY0;
            n_e_col0 = COL0; n_e_row0 = ROW0; n_e_col = COL0; n_e_row = ROW0;
        end else if (emit) begin
            // Later assignments override earlier ones: an outer counter's step sets the
            // tap position of the next window.
            n_e_g = (e_g == GG_L) ? ZERO : e_g + ONE;
            if (e_g == GG_L) begin
                n_e_kx = (e_kx == KW_L) ? ZERO : e_kx + ONE;
                n_e_ix = e_ix + ONE;
                n_e_col = e_col + COL;
                if (e_kx == KW_L) begin
                    n_e_ix = e_ix0;
                    n_e_col = e_col0;
                    n_e_ky = (e_ky == KH_L) ? ZERO : e_ky + ONE;
                    n_e_iy = e_iy + ONE;
                    n_e_row = e_row + ROW;
                    if (e_ky == KH_L) begin
                        n_e_iy = e_iy0;
                        n_e_row = e_row0;
                        n_e_j = e_j + ONE;
                        n_e_gb = e_gb + GCG;
                        if (e_j == G_L) begin
                            n_e_j = ZERO;
                            n_e_gb = ZERO;
                            n_e_ox = (e_ox == OW_L) ? ZERO : e_ox + ONE;
                            n_e_ix0 = e_ix0 + SX_STEP;
                            n_e_ix = e_ix0 + SX_STEP;
                            n_e_col0 = e_col0 + X_STEP;
                            n_e_col = e_col0 + X_STEP;
                            if (e_ox == OW_L) begin
                                n_e_ix0 = PX0;
                                n_e_ix = PX0;
                                n_e_col0 = COL0;
                                n_e_col = COL0;
                                n_e_oy = (e_oy == OH_L) ? ZERO : e_oy + ONE;
                                n_e_iy0 = e_iy0 + SY_STEP;
                                n_e_iy = e_iy0 + SY_STEP;
                                n_e_row0 = e_row0 + Y_STEP;
                                n_e_row = e_row0 + Y_STEP;
                                if (e_oy == OH_L) begin
                                    n_e_iy0 = PY0;
                                    n_e_iy = PY0;
                                    n_e_row0 = ROW0;
                                    n_e_row = ROW0;
                                end
                            end
                        end
                    end
                end
            end
        end
    end

    always @(posedge clk) begin
        e_g <= n_e_g; e_kx <= n_e_kx; e_ky <= n_e_ky; e_ox <= n_e_ox; e_oy <= n_e_oy;
        e_j <= n_e_j; e_gb <= n_e_gb;
        e_ix0 <= n_e_ix0; e_iy0 <= n_e_iy0; e_ix <= n_e_ix; e_iy <= n_e_iy;
        e_col0 <= n_e_col0; e_row0 <= n_e_row0; e_col <= n_e_col; e_row <= n_e_row;
    end
`else
    // A cycle-based simulator (Verilator) evaluates every `always @*` block and continuous
    // assignment of the whole network on every clock edge, busy or not. Here the counters'
    // next state, the read address and the pooled word are computed inside the clocked
    // block, only on the cycles that load (take) or emit a beat. On the other cycles
    // nothing changes: no counter moves, and r_addr already holds the address of the
    // current state, which is what the `else` form loads again. The same values at every
    // edge; synthesis and Icarus read the `else` form (bench/rtl_throughput.py).
    // af_round's working width and rounding constant for the block's mean (SH = its shift).
    localparam integer SH = AVG ? LOG2A : 0;
    localparam integer RW = ((MW > SH + 1) ? MW : SH + 1) + 1;
    localparam [RW-1:0] R_ONE = {{(RW - 1){1'b0}}, 1'b1};
    localparam [RW-1:0] HALF_M1 = ((R_ONE << SH) >> 1) - ((SH > 0) ? R_ONE : {RW{1'b0}});

    // The stored word after beat d meets stored word s: g_lane's `merged`, lane by lane,
    // at RW bits (MW and BITS < RW: the values are the same sign-extended). The block's
    // mean is af_round's round-half-even of sum >> SH without its saturation, which never
    // acts here (the mean of codes is a code, see the header).
    function automatic [M_W-1:0] pooled(
        input [D_W-1:0] d, input [M_W-1:0] s, input first, input last
    );
        integer j;
        reg signed [BITS-1:0] a, b, m;
        reg signed [RW-1:0] a_w, b_w, sum;
        // Bits above the mean and the discarded fraction, and the sign bits above MW, are
        // not read.
        /* verilator lint_off UNUSEDSIGNAL */
        reg [RW-1:0] rounded, out;
        /* verilator lint_on UNUSEDSIGNAL */
        begin
            pooled = {M_W{1'b0}};
            for (j = 0; j < LANES; j = j + 1) begin
                a = d[j*BITS +: BITS];
                a_w = {{(RW - BITS){a[BITS-1]}}, a};
                if (AVG) begin
                    b_w = {{(RW - MW){s[j*MW + MW - 1]}}, s[j*MW +: MW]};
                    sum = first ? a_w : a_w + b_w;
`ifdef AF_ROUND_HALF_UP
                    rounded = sum + HALF_M1 + R_ONE;
`else
                    rounded = sum + HALF_M1 + {{(RW - 1){1'b0}}, sum[SH]};
`endif
                    m = rounded[SH +: BITS];
                    out = last ? {{(RW - BITS){m[BITS-1]}}, m} : sum;
                end else begin
                    b = s[j*MW +: BITS];
                    m = (first || a > b) ? a : b;
                    out = {{(RW - BITS){m[BITS-1]}}, m};
                end
                pooled[j*MW +: MW] = out[MW-1:0];
            end
        end
    endfunction

    always @(posedge clk)
        if (take) mem[l_addr] <= pooled(in_data, rd, first_of_block, l_last[l_n]);

    // Each state register is read before any nonblocking write to it in the text (reset
    // comes last; take and emit are low during reset), so Verilator updates it in place
    // instead of through a shadow copy made on every edge.
    always @(posedge clk) begin
        if (take) begin
            // The last beat of the frame starts the emit phase at the emit table's tap.
            loading <= !frame_in;
            l_n <= frame_in ? {L_W{1'b0}} : l_n + 1'b1;
            r_addr <= frame_in ? e_addr[e_n] : l_addr_t[l_n + 1'b1];
        end else if (emit) begin
            // The frame's last tap returns to the load phase at the load table's beat.
            loading <= frame_out;
            e_n <= frame_out ? {E_W{1'b0}} : e_n + 1'b1;
            r_addr <= frame_out ? l_addr : e_addr[e_n + 1'b1];
        end
        if (rst) begin
            l_n <= {L_W{1'b0}};
            e_n <= {E_W{1'b0}};
            loading <= 1'b1;
            r_addr <= {A_W{1'b0}};
        end
    end
`endif

    af_skid #(.WIDTH(D_W)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(!rst && !loading),
        .in_ready(slot_free),
        .in_data(in_frame ? tap_codes : pad_word),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );
`ifdef VERILATOR
    // Under Verilator only: no register of this unit changes at the next rising edge while
    // rst and in_valid are low. The generated top (adderflow.hw.network.gating) gives the unit a
    // clock that skips those edges, so Verilator skips its logic.
    /* verilator lint_off UNUSEDSIGNAL */
    wire af_idle = loading && u_out.af_idle;
    /* verilator lint_on UNUSEDSIGNAL */
`endif
endmodule

`default_nettype wire
