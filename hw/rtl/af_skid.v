// af_skid: a two-entry ready/valid register slice (skid buffer) of WIDTH bits.
//
// Both directions are registered: out_valid/out_data come from a register and in_ready is
// a register (not a function of out_ready), so chains of stages have no combinational
// ready path. Full throughput: one transfer per cycle when out_ready stays high. A word
// accepted at clock edge t is offered at the output from edge t+1 on.
`default_nettype none

module af_skid #(
    parameter integer WIDTH = 8
) (
    input  wire             clk,
    input  wire             rst,        // synchronous, active high
    input  wire             in_valid,
    output wire             in_ready,
    input  wire [WIDTH-1:0] in_data,
    output reg              out_valid,
    input  wire             out_ready,
    output reg  [WIDTH-1:0] out_data
);
    reg             full;       // the skid register holds a word
    reg [WIDTH-1:0] skid_data;

    assign in_ready = !full;

`ifdef VERILATOR
    // The same registers at every edge, written so that a cycle-based simulator (Verilator)
    // updates full and out_valid in place: each is read before any write to it in the
    // text, and their next values are those of the `else` form's branches,
    //   out_valid: 0 in reset, else held while stalled (out_valid && !out_ready), else
    //              full || in_valid;
    //   full:      set only while stalled, by a parked word or one already parked.
    // The `else` form's nested writes after reads make Verilator keep a shadow copy of
    // both, copied on every clock edge, in each of the network's many slices
    // (bench/rtl_throughput.py). The data registers move under the same conditions as there.
    // valid_n is this block's temporary, read after it is assigned: blocking on purpose.
    reg valid_n;
    /* verilator lint_off BLKSEQ */
    always @(posedge clk) begin
        valid_n = !rst && (full || in_valid || (out_valid && !out_ready));
        if (!rst && (!out_valid || out_ready)) begin
            if (full) out_data <= skid_data;
            else if (in_valid) out_data <= in_data;
        end else if (!rst && in_valid && !full) begin
            skid_data <= in_data;
        end
        full <= !rst && out_valid && !out_ready && (full || in_valid);
        out_valid <= valid_n;
    end
    /* verilator lint_on BLKSEQ */
`else
    always @(posedge clk) begin
        if (rst) begin
            out_valid <= 1'b0;
            full <= 1'b0;
        end else if (!out_valid || out_ready) begin
            // The output register is free (or being emptied): refill it, skid word first.
            if (full) begin
                out_data <= skid_data;
                out_valid <= 1'b1;
                full <= 1'b0;
            end else begin
                out_valid <= in_valid;
                if (in_valid) out_data <= in_data;
            end
        end else if (in_valid && !full) begin
            // The output is stalled: park the incoming word.
            skid_data <= in_data;
            full <= 1'b1;
        end
    end
`endif
`ifdef VERILATOR
    // Under Verilator only: no register of this unit changes at the next rising edge while
    // rst and in_valid are low. The generated top (adderflow.hw.network.gating) gives the unit a
    // clock that skips those edges, so Verilator skips its logic.
    /* verilator lint_off UNUSEDSIGNAL */
    wire af_idle = out_valid ? !out_ready : !full;
    /* verilator lint_on UNUSEDSIGNAL */
`endif
endmodule

`default_nettype wire
