// af_uart_top: board shim — UART image bytes in, af_network, class index byte out.
//
// A host sends one image as raw bytes over the UART (8N1, BAUD), in the order the network
// streams it (adderflow.hw.network.Design.input_words): raster order, channels fastest.
// Each input code takes CODE_BYTES bytes, least significant byte first; only its low
// IN_BITS bits are kept (two's complement). When the network's last output beat has
// arrived, the shim sends one byte: the index of the largest output code (the first one on
// a tie, as numpy.argmax), i.e. the predicted class.
//
// The host must wait for the reply before sending the next image: the network takes no
// input while it computes, and the shim holds one input word (no FIFO), so bytes that
// arrive while a word is still waiting are dropped (and counted on `overrun`).
// Reset: a power-on counter, so no reset pin is needed.
`default_nettype none

module af_uart_top #(
    parameter integer CLK_HZ = 25000000,
    parameter integer BAUD = 115200,
    parameter integer IN_BITS = 8,
    parameter integer IN_LANES = 1,
    parameter integer CODE_BYTES = 1,
    parameter integer OUT_BITS = 16,
    parameter integer OUT_LANES = 1,
    parameter integer OUT_BEATS = 10      // output beats per image
) (
    input  wire clk,
    input  wire uart_rx,
    output wire uart_tx,
    output wire overrun
);
    localparam integer DIV = CLK_HZ / BAUD;           // clocks per bit
    localparam integer DIV_W = $clog2(DIV + 1);
    localparam integer IN_W = IN_LANES * IN_BITS;
    localparam integer WORD_BYTES = IN_LANES * CODE_BYTES;
    localparam integer WB_W = $clog2(WORD_BYTES + 1);
    localparam integer CLASSES = OUT_LANES * OUT_BEATS;
    localparam integer IDX_W = (CLASSES > 1) ? $clog2(CLASSES) : 1;
    localparam integer LANE_W = $clog2(OUT_LANES + 1);
    localparam integer BEAT_W = $clog2(OUT_BEATS + 1);
    // Constants at the width of the registers they load or are compared with: they fit by
    // construction of those widths (each holds the constant's upper bound), so the waived
    // truncation only drops zero bits of the 32-bit integer expressions.
    /* verilator lint_off WIDTHTRUNC */
    localparam [DIV_W-1:0] DIV_HALF = DIV / 2;
    localparam [DIV_W-1:0] DIV_LAST = DIV - 1;
    localparam [WB_W-1:0] LAST_BYTE = WORD_BYTES - 1;
    localparam [LANE_W-1:0] LANES = OUT_LANES;
    localparam [BEAT_W-1:0] LAST_BEAT = OUT_BEATS - 1;
    /* verilator lint_on WIDTHTRUNC */

    generate
        if (DIV < 4 || CLASSES > 256 || IN_BITS > 8 * CODE_BYTES) begin : g_bad
            af_uart_top_error_baud_too_high_or_over_256_classes_or_code_bytes u_error ();
        end
    endgenerate

    // ---- power-on reset --------------------------------------------------------------
    // The flip-flops' configuration values are the only reset an FPGA board without a
    // reset pin has: the counter must both start from an initial value and count.
    /* verilator lint_off PROCASSINIT */
    reg [3:0] por = 4'd0;
    /* verilator lint_on PROCASSINIT */
    wire rst = ~&por;
    always @(posedge clk)
        if (rst) por <= por + 4'd1;

    // ---- UART receiver (8N1, sampled mid-bit) -----------------------------------------
    reg [1:0] rx_sync;                // ignored until the power-on reset has passed
    always @(posedge clk) rx_sync <= {rx_sync[0], uart_rx};
    wire rx = rx_sync[1];

    reg [DIV_W-1:0] rx_cnt;
    reg [3:0] rx_bit;                 // 0: idle; 1: start; 2..9: data; 10: stop
    reg [7:0] rx_shift;
    reg rx_done;
    always @(posedge clk) begin
        rx_done <= 1'b0;
        if (rst) begin
            rx_bit <= 4'd0;
            rx_cnt <= {DIV_W{1'b0}};
        end else if (rx_bit == 4'd0) begin
            if (!rx) begin            // start bit edge: sample its middle next
                rx_bit <= 4'd1;
                rx_cnt <= DIV_HALF;
            end
        end else if (rx_cnt != {DIV_W{1'b0}}) begin
            rx_cnt <= rx_cnt - 1'b1;
        end else begin
            rx_cnt <= DIV_LAST;
            if (rx_bit == 4'd1) begin
                rx_bit <= rx ? 4'd0 : 4'd2;          // a glitch, not a start bit
            end else if (rx_bit == 4'd10) begin
                rx_bit <= 4'd0;
                rx_done <= rx;                        // a byte without stop bit is dropped
            end else begin
                rx_shift <= {rx, rx_shift[7:1]};      // LSB first
                rx_bit <= rx_bit + 4'd1;
            end
        end
    end

    // ---- bytes -> one input word (lane 0, byte 0 first) ---------------------------------
    reg [8*WORD_BYTES-1:0] bytes;
    reg [WB_W-1:0] nbytes;
    reg word_valid;
    reg overrun_r;
    wire in_ready;
    wire [IN_W-1:0] in_data;
    // The new byte enters at the top; after WORD_BYTES bytes the first one is at bit 0.
    wire [8*WORD_BYTES-1:0] next_bytes;
    genvar i;
    generate
        if (WORD_BYTES == 1) begin : g_one_byte
            assign next_bytes = rx_shift;
        end else begin : g_bytes
            assign next_bytes = {rx_shift, bytes[8*WORD_BYTES-1:8]};
        end
        for (i = 0; i < IN_LANES; i = i + 1) begin : g_lane
            assign in_data[i*IN_BITS +: IN_BITS] = bytes[i*8*CODE_BYTES +: IN_BITS];
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            nbytes <= {WB_W{1'b0}};
            word_valid <= 1'b0;
            overrun_r <= 1'b0;
        end else begin
            if (word_valid && in_ready) word_valid <= 1'b0;
            if (rx_done) begin
                if (word_valid) begin
                    overrun_r <= 1'b1;
                end else begin
                    bytes <= next_bytes;
                    nbytes <= (nbytes == LAST_BYTE) ? {WB_W{1'b0}} : nbytes + 1'b1;
                    if (nbytes == LAST_BYTE) word_valid <= 1'b1;
                end
            end
        end
    end
    assign overrun = overrun_r;

    // ---- the network ---------------------------------------------------------------------
    wire out_valid;
    wire [OUT_LANES*OUT_BITS-1:0] out_data;
    reg out_ready;

    af_network u_net (
        .clk(clk),
        .rst(rst),
        .in_valid(word_valid),
        .in_ready(in_ready),
        .in_data(in_data),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );

    // ---- argmax over the output beats, one lane a cycle --------------------------------
    reg [OUT_LANES*OUT_BITS-1:0] scan;
    reg [LANE_W-1:0] lanes_left;
    reg [IDX_W-1:0] idx, best_idx;
    reg signed [OUT_BITS-1:0] best;
    reg have_best, beat_last, send;
    reg [BEAT_W-1:0] beat;
    wire signed [OUT_BITS-1:0] lane = scan[OUT_BITS-1:0];
    wire tx_busy;
    reg [7:0] best_byte;              // best_idx zero-extended (IDX_W <= 8)
    always @(*) begin
        best_byte = 8'd0;
        best_byte[IDX_W-1:0] = best_idx;
    end

    always @(posedge clk) begin
        send <= 1'b0;
        if (rst) begin
            out_ready <= 1'b0;
            lanes_left <= {LANE_W{1'b0}};
            beat <= {BEAT_W{1'b0}};
            idx <= {IDX_W{1'b0}};
            have_best <= 1'b0;
        end else if (lanes_left != {LANE_W{1'b0}}) begin
            if (!have_best || lane > best) begin
                best <= lane;
                best_idx <= idx;
            end
            have_best <= 1'b1;
            idx <= idx + 1'b1;
            scan <= scan >> OUT_BITS;
            lanes_left <= lanes_left - 1'b1;
            if (lanes_left == 1) begin
                if (beat_last) begin
                    send <= 1'b1;
                    idx <= {IDX_W{1'b0}};
                    have_best <= 1'b0;
                end else begin
                    out_ready <= 1'b1;
                end
            end
        end else if (out_valid && out_ready) begin
            out_ready <= 1'b0;
            scan <= out_data;
            lanes_left <= LANES;
            beat_last <= (beat == LAST_BEAT);
            beat <= (beat == LAST_BEAT) ? {BEAT_W{1'b0}} : beat + 1'b1;
        end else if (!send && !tx_busy && !out_ready) begin
            out_ready <= 1'b1;        // idle, and the last reply is on its way
        end
    end

    // ---- UART transmitter ------------------------------------------------------------------
    // The line idles high from configuration on, not only once the power-on reset ends
    // (a low line during reset would read as a start bit): an initial value and a reset.
    /* verilator lint_off PROCASSINIT */
    reg [9:0] tx_shift = 10'h3ff;
    /* verilator lint_on PROCASSINIT */
    reg [3:0] tx_left;
    reg [DIV_W-1:0] tx_cnt;
    assign tx_busy = (tx_left != 4'd0);
    assign uart_tx = tx_shift[0];
    always @(posedge clk) begin
        if (rst) begin
            tx_shift <= 10'h3ff;
            tx_left <= 4'd0;
            tx_cnt <= {DIV_W{1'b0}};
        end else if (send) begin
            tx_shift <= {1'b1, best_byte, 1'b0};  // stop bit, class index, start bit
            tx_left <= 4'd10;
            tx_cnt <= DIV_LAST;
        end else if (tx_busy) begin
            if (tx_cnt != {DIV_W{1'b0}}) begin
                tx_cnt <= tx_cnt - 1'b1;
            end else begin
                tx_cnt <= DIV_LAST;
                tx_shift <= {1'b1, tx_shift[9:1]};
                tx_left <= tx_left - 4'd1;
            end
        end
    end
endmodule

`default_nettype wire
