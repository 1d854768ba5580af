// af_fifo: a first-in first-out buffer of DEPTH words of W bits, registered on both sides.
//
// The words live in a simple dual-port memory (one write port, one read port with a
// registered read and a read enable) that yosys maps to ECP5 block RAM (DP16KD /
// PDPW16KD) when deep, LUT RAM when shallow. The memory's read register is the output
// register: out_data holds while out_valid && !out_ready (the read enable is low), and a
// read is issued whenever the memory holds a word and the output register is free or
// being emptied, so out_ready reaches only the read enable, never in_ready.
//
// DEPTH counts every word held, the one in the output register included: in_ready is
// a register, high while fewer than DEPTH words are held after the last edge. So the
// depth a schedule needs is one more than the words held in the cycle of any write
// (adderflow.hw.units.fifo.FifoModel.depth_needed). A word written at clock edge t is
// read into the output register at edge t+1 and offered from then on: with the input
// always valid and the output always ready, B beats take B + 2 cycles from the first
// input transfer to the last output transfer inclusive when DEPTH >= 3 (DEPTH 1 and 2
// cannot sustain a word a cycle; adderflow.hw.units.fifo.fifo_cycles).
//
// No read and write ever meet at one address: the pointers are equal only when the memory
// is empty (no read is issued) or holds DEPTH words (then in_ready is low, no write). So
// the memory's read-during-write behaviour does not matter.
//
// Fault injection for the testbench's mutation check only: compiling with the define
// AF_FIFO_READ_IGNORES_READY reads whenever the memory holds a word, overwriting an
// output word that its consumer has not taken. It is not a supported mode.
`default_nettype none

module af_fifo #(
    parameter integer DEPTH = 16,
    parameter integer W = 8
) (
    input  wire         clk,
    input  wire         rst,        // synchronous, active high
    input  wire         in_valid,
    output wire         in_ready,
    input  wire [W-1:0] in_data,
    output reg          out_valid,
    input  wire         out_ready,
    output reg  [W-1:0] out_data
);
    localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;   // memory address bits
    localparam integer CW = $clog2(DEPTH + 1);                  // counts 0..DEPTH

    generate
        if (DEPTH < 1 || W < 1) begin : g_bad_shape
            af_fifo_error_DEPTH_or_W_below_1 u_error ();
        end
    endgenerate

    /* verilator lint_off WIDTHTRUNC */
    localparam [AW-1:0] LAST = DEPTH - 1;
    localparam [CW-1:0] FULL = DEPTH;
    /* verilator lint_on WIDTHTRUNC */

    reg [W-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] wp, rp;
    reg [CW-1:0] stored;        // words in the memory
    reg [CW-1:0] held;          // words held: the memory's and the output register's
    reg full;

    assign in_ready = !rst && !full;   // no transfer is taken during reset
    wire wr = in_valid && in_ready;
`ifdef AF_FIFO_READ_IGNORES_READY
    wire rd = stored != {CW{1'b0}};
`else
    wire rd = stored != {CW{1'b0}} && (!out_valid || out_ready);
`endif
    wire leave = out_valid && out_ready;
    // held after this edge: + the written word, - the word that leaves the output
    wire [CW-1:0] held_next = held + {{(CW - 1){1'b0}}, wr} - {{(CW - 1){1'b0}}, leave};

    always @(posedge clk) begin
        if (wr) mem[wp] <= in_data;
        if (rd) out_data <= mem[rp];
    end

    always @(posedge clk) begin
        if (rst) begin
            wp <= {AW{1'b0}};
            rp <= {AW{1'b0}};
            stored <= {CW{1'b0}};
            held <= {CW{1'b0}};
            full <= 1'b0;
            out_valid <= 1'b0;
        end else begin
            if (wr) wp <= (wp == LAST) ? {AW{1'b0}} : wp + 1'b1;
            if (rd) rp <= (rp == LAST) ? {AW{1'b0}} : rp + 1'b1;
            stored <= stored + {{(CW - 1){1'b0}}, wr} - {{(CW - 1){1'b0}}, rd};
            held <= held_next;
            full <= held_next == FULL;
            out_valid <= rd || (out_valid && !out_ready);
        end
    end
`ifdef VERILATOR
    // Under Verilator only: no register of this unit changes at the next rising edge while
    // rst and in_valid are low. The generated top (adderflow.hw.network.gating) gives the unit a
    // clock that skips those edges, so Verilator skips its logic.
    /* verilator lint_off UNUSEDSIGNAL */
    wire af_idle = !rd && !(out_valid && out_ready);
    /* verilator lint_on UNUSEDSIGNAL */
`endif
endmodule

`default_nettype wire
