// af_linewin: line-buffered sliding-window generator, input loading overlapped with emission.
//
// The same streams as af_window without pooling: input in raster order, beat (y, x, g)
// carrying channels g*LANES + i in bits [i*BITS +: BITS]; output, for every output pixel
// (oy, ox) in raster order, every tap (ky, kx) and every channel group g, one beat with
// channels g*LANES + i of input pixel (oy*STRIDE_H - PAD_T + ky, ox*STRIDE_W - PAD_L + kx), or
// code 0 where that pixel lies in the padding (DESIGN.md rule 3). So it is a drop-in for
// af_window (POOL = 1) that stores R rows instead of a frame, GROUPS included (a grouped
// convolution's taps group by group at each output pixel: the same beats, reordered).
//
// Storage: a ring of R = min(KH + STRIDE_H, H) rows of W*C codes. Global input row G (rows
// counted over all frames) lives in slot G mod R. While output row oy is emitted it reads
// its KH rows, and the STRIDE_H rows the next output row needs in addition can be loaded
// into the other slots at the same time, so in steady state neither side waits for a slot
// because of the ring's size; with H < KH + STRIDE_H a frame's worth of rows is enough.
//
// Schedule (all at row granularity): let rel be the lowest global row the current output
// row still reads (its first row clipped to the frame; the next frame's row 0 once a frame's
// last output row is done), and D the number of fully received rows minus rel.
//   * input row G may be written once G < rel + R, i.e. the slot's previous row (G - R) is
//     below rel and no longer read: in_ready = (D < R), a register (it is written from
//     D's next value, so it equals D < R every cycle);
//   * output row oy may be emitted once all its rows inside the frame have arrived:
//     D >= nrows(oy) = min(H, lo + KH) - max(0, lo), lo = oy*STRIDE_H - PAD_T. D only grows
//     during a row, so a started row never stops for lack of input, only for back-pressure.
// The last beat of an output row advances rel (and lowers D) by max(0, lo + STRIDE_H) -
// max(0, lo), or H - max(0, lo) at the end of a frame. Every row written is in a slot
// outside [rel, rel + nrows) (it is in [rel + nrows, rel + R)), so no read sees a write.
// Rows below the last window (stride leftovers) are still taken; the last output beat of a
// frame may leave before them.
//
// Ring addresses (slot*W*C/LANES + x*C/LANES + g) are kept in registers updated by
// additions and a conditional subtraction of the ring size: the unit has no multiplier.
// in_ready is a register (and rst), the output leaves through an af_skid.
`default_nettype none

module af_linewin #(
    parameter integer BITS = 8,
    parameter integer C = 1,        // channels
    parameter integer H = 8,        // input frame
    parameter integer W = 8,
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
    // top, left, bottom, right (ONNX's order); each below the kernel (no all-padding row)
    parameter integer PAD_T = PAD,
    parameter integer PAD_L = PAD,
    parameter integer PAD_B = PAD,
    parameter integer PAD_R = PAD,
    // A grouped convolution's window: each pixel's taps group by group (as af_window)
    parameter integer GROUPS = 1
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
    localparam integer CG = C / LANES;
    localparam integer GG = CG / GROUPS;    // channel beats of one group
    localparam integer OH = (H + PAD_T + PAD_B - KH) / STRIDE_H + 1;
    localparam integer OW = (W + PAD_L + PAD_R - KW) / STRIDE_W + 1;
    localparam integer R = (KH + STRIDE_H < H) ? KH + STRIDE_H : H;    // ring rows
    localparam integer ROWW = W * CG;                                // words a row
    localparam integer DEPTH = R * ROWW;
    localparam integer A_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer CW = 16;     // signed counter and address width
    localparam integer D_W = LANES * BITS;
    // Ring slot steps, reduced modulo R so one conditional subtraction wraps them: the next
    // output row's first row is STRIDE_H rows on; the next frame's first row (-PAD_T of
    // frame f + 1) is H - (OH-1)*STRIDE_H rows after the last output row's first row.
    localparam integer S_SLOTS = STRIDE_H % R;
    localparam integer F_SLOTS = ((H - (OH - 1) * STRIDE_H) % R + R) % R;
    localparam integer P_SLOT = ((-PAD_T) % R + R) % R;   // slot of row -PAD_T of frame 0

    generate
        // Pads below the kernel: every window holds a frame row and column, which the row
        // accounting (nrows >= 1, lo <= H - 1) relies on. The bounds keep every address
        // and counter below 2^(CW-2), so sums of two never overflow CW signed bits.
        if (C % LANES != 0 || GROUPS < 1 || CG % GROUPS != 0 || STRIDE_H < 1 || STRIDE_W < 1
            || PAD_T < 0 || PAD_L < 0 || PAD_B < 0 || PAD_R < 0 || KH < 1 || KW < 1 || H < 1 || W < 1
            || PAD_T >= KH || PAD_B >= KH || PAD_L >= KW || PAD_R >= KW
            || KH > H + PAD_T + PAD_B || KW > W + PAD_L + PAD_R
            || DEPTH >= 2 ** (CW - 2) || (W + PAD_L + PAD_R + STRIDE_W) * CG >= 2 ** (CW - 2)
            || H + PAD_T + PAD_B + STRIDE_H >= 2 ** (CW - 2))
        begin : g_bad_shape
            af_linewin_error_bad_shape_or_fold u_error ();
        end
    endgenerate

    // Constants at counter width (they fit: the check above bounds them).
    /* verilator lint_off WIDTHTRUNC */
    localparam signed [CW-1:0] ONE = 1;
    localparam signed [CW-1:0] CG_L = CG - 1;
    localparam signed [CW-1:0] GG_L = GG - 1;
    localparam signed [CW-1:0] G_L = GROUPS - 1;
    localparam signed [CW-1:0] GCG = GG;                // address step of one group
    localparam signed [CW-1:0] W_L = W - 1;
    localparam signed [CW-1:0] W_N = W;
    localparam signed [CW-1:0] H_N = H;
    localparam signed [CW-1:0] R_N = R;
    localparam signed [CW-1:0] KW_L = KW - 1;
    localparam signed [CW-1:0] KH_L = KH - 1;
    localparam signed [CW-1:0] KH_N = KH;
    localparam signed [CW-1:0] OW_L = OW - 1;
    localparam signed [CW-1:0] OH_L = OH - 1;
    localparam signed [CW-1:0] COL = CG;                    // address step of one pixel
    localparam signed [CW-1:0] ROW = ROWW;                  // address step of one slot
    localparam signed [CW-1:0] RING = DEPTH;
    localparam signed [CW-1:0] S_ROW = S_SLOTS * ROWW;
    localparam signed [CW-1:0] F_ROW = F_SLOTS * ROWW;
    localparam signed [CW-1:0] X_STEP = STRIDE_W * CG;
    localparam signed [CW-1:0] SX_STEP = STRIDE_W;
    localparam signed [CW-1:0] SY_STEP = STRIDE_H;
    localparam signed [CW-1:0] PX0 = -PAD_L;
    localparam signed [CW-1:0] PY0 = -PAD_T;
    localparam signed [CW-1:0] COL0 = -PAD_L * CG;
    localparam signed [CW-1:0] ROW0 = P_SLOT * ROWW;
    /* verilator lint_on WIDTHTRUNC */
    localparam signed [CW-1:0] ZERO = 0;

    reg [D_W-1:0] mem [0:DEPTH-1];

    // ---- row accounting -------------------------------------------------------------
    // Rows fully received minus rel, in -H..R: negative while a frame's stride leftovers
    // are still due after its last output row moved rel to the next frame.
    reg signed [CW-1:0] d;
    reg in_ok;                      // d < R, registered
    reg signed [CW-1:0] e_iy0;      // lo: first row of the current output row's windows
    wire take = in_valid && in_ready;
    wire slot_free;                 // the output slice takes a word
    wire signed [CW-1:0] lo_s = e_iy0 + SY_STEP;
    wire signed [CW-1:0] lo_k = e_iy0 + KH_N;
    wire signed [CW-1:0] rel_c = (e_iy0 < ZERO) ? ZERO : e_iy0;     // max(0, lo)
    wire signed [CW-1:0] rel_s = (lo_s < ZERO) ? ZERO : lo_s;       // max(0, lo + STRIDE_H)
    wire signed [CW-1:0] hi_c = (lo_k > H_N) ? H_N : lo_k;          // min(H, lo + KH)
    wire signed [CW-1:0] nrows = hi_c - rel_c;
    wire row_ok = (d >= nrows);     // every row of the current output row has arrived
    wire emit = !rst && row_ok && slot_free;

    assign in_ready = !rst && in_ok;

    // ---- input: address = slot row + col + g, kept by additions ----------------------
    reg signed [CW-1:0] l_g, l_x, l_col, l_row;
    /* verilator lint_off UNUSEDSIGNAL */
    // Only the low A_W bits index the ring; the sign bits are always 0 here.
    wire signed [CW-1:0] l_addr = l_row + l_col + l_g;
    /* verilator lint_on UNUSEDSIGNAL */
    wire row_in = take && (l_g == CG_L) && (l_x == W_L);
    wire signed [CW-1:0] l_row_up = l_row + ROW;
    wire signed [CW-1:0] l_row_w = l_row_up - RING;

    always @(posedge clk)
        if (take) mem[l_addr[A_W-1:0]] <= in_data;

    always @(posedge clk) begin
        if (rst) begin
            l_g <= ZERO; l_x <= ZERO; l_col <= ZERO; l_row <= ZERO;
        end else if (take) begin
            // Raster order: channel group, then x; rows go to consecutive ring slots
            // across frame boundaries (global row G in slot G mod R).
            l_g <= (l_g == CG_L) ? ZERO : l_g + ONE;
            if (l_g == CG_L) begin
                l_x <= (l_x == W_L) ? ZERO : l_x + ONE;
                l_col <= (l_x == W_L) ? ZERO : l_col + COL;
                if (l_x == W_L) l_row <= (l_row_w >= ZERO) ? l_row_w : l_row_up;
            end
        end
    end

    // ---- emit: window taps, address = slot row + col + g, kept by additions -----------
    reg signed [CW-1:0] e_g, e_kx, e_ky, e_ox, e_oy;
    reg signed [CW-1:0] e_j, e_gb;                      // group and its first channel beat
    reg signed [CW-1:0] e_ix0, e_ix, e_iy;              // input pixel of tap (0, 0) / now
    reg signed [CW-1:0] e_col0, e_col, e_row0, e_row;   // their address parts
    wire in_frame = (e_ix >= ZERO) && (e_ix < W_N) && (e_iy >= ZERO) && (e_iy < H_N);
    /* verilator lint_off UNUSEDSIGNAL */
    // Padded taps may point outside the ring; they are replaced by zeros below.
    wire signed [CW-1:0] e_addr = e_row + e_col + e_gb + e_g;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [D_W-1:0] tap = mem[e_addr[A_W-1:0]];
    wire row_out = emit && (e_g == GG_L) && (e_kx == KW_L) && (e_ky == KH_L) && (e_j == G_L)
                   && (e_ox == OW_L);
    wire frame_out = e_oy == OH_L;
    // Ring steps: next tap row (one slot), next output row (STRIDE_H slots), next frame.
    wire signed [CW-1:0] e_row_up = e_row + ROW;
    wire signed [CW-1:0] e_row_w = e_row_up - RING;
    wire signed [CW-1:0] e_row_dn = (e_row_w >= ZERO) ? e_row_w : e_row_up;
    wire signed [CW-1:0] e_s_up = e_row0 + S_ROW;
    wire signed [CW-1:0] e_s_w = e_s_up - RING;
    wire signed [CW-1:0] e_s_dn = (e_s_w >= ZERO) ? e_s_w : e_s_up;
    wire signed [CW-1:0] e_f_up = e_row0 + F_ROW;
    wire signed [CW-1:0] e_f_w = e_f_up - RING;
    wire signed [CW-1:0] e_f_dn = (e_f_w >= ZERO) ? e_f_w : e_f_up;

    // rel's advance when the current output row ends (frame end: to the next frame's row 0).
    wire signed [CW-1:0] rel_step = frame_out ? H_N - rel_c : rel_s - rel_c;
    wire signed [CW-1:0] d_next = d + (row_in ? ONE : ZERO) - (row_out ? rel_step : ZERO);

    always @(posedge clk) begin
        if (rst) begin
            d <= ZERO;
            in_ok <= 1'b1;
        end else begin
            d <= d_next;
            in_ok <= d_next < R_N;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            e_g <= ZERO; e_kx <= ZERO; e_ky <= ZERO; e_ox <= ZERO; e_oy <= ZERO;
            e_j <= ZERO; e_gb <= ZERO;
            e_ix0 <= PX0; e_iy0 <= PY0; e_ix <= PX0; e_iy <= PY0;
            e_col0 <= COL0; e_col <= COL0; e_row0 <= ROW0; e_row <= ROW0;
        end else if (emit) begin
            // Later assignments override earlier ones: an outer counter's step sets the
            // tap position of the next window.
            e_g <= (e_g == GG_L) ? ZERO : e_g + ONE;
            if (e_g == GG_L) begin
                e_kx <= (e_kx == KW_L) ? ZERO : e_kx + ONE;
                e_ix <= e_ix + ONE;
                e_col <= e_col + COL;
                if (e_kx == KW_L) begin
                    e_ix <= e_ix0;
                    e_col <= e_col0;
                    e_ky <= (e_ky == KH_L) ? ZERO : e_ky + ONE;
                    e_iy <= e_iy + ONE;
                    e_row <= e_row_dn;
                    if (e_ky == KH_L) begin
                        e_iy <= e_iy0;
                        e_row <= e_row0;
                        e_j <= e_j + ONE;
                        e_gb <= e_gb + GCG;
                        if (e_j == G_L) begin
                            e_j <= ZERO;
                            e_gb <= ZERO;
                            e_ox <= (e_ox == OW_L) ? ZERO : e_ox + ONE;
                            e_ix0 <= e_ix0 + SX_STEP;
                            e_ix <= e_ix0 + SX_STEP;
                            e_col0 <= e_col0 + X_STEP;
                            e_col <= e_col0 + X_STEP;
                            if (e_ox == OW_L) begin
                                e_ix0 <= PX0;
                                e_ix <= PX0;
                                e_col0 <= COL0;
                                e_col <= COL0;
                                e_oy <= (e_oy == OH_L) ? ZERO : e_oy + ONE;
                                e_iy0 <= lo_s;
                                e_iy <= lo_s;
                                e_row0 <= e_s_dn;
                                e_row <= e_s_dn;
                                if (frame_out) begin
                                    e_iy0 <= PY0;
                                    e_iy <= PY0;
                                    e_row0 <= e_f_dn;
                                    e_row <= e_f_dn;
                                end
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
        .in_valid(!rst && row_ok),
        .in_ready(slot_free),
        .in_data(in_frame ? tap : {D_W{1'b0}}),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );
endmodule

`default_nettype wire
