// af_fork: duplicates one stream onto N outputs, each behind its own register slice.
//
// A beat is taken when every output slice can take it (in_ready is the AND of the
// slices' registered in_ready, so it comes from registers); each output then drains at
// its own consumer's pace, so a stalled consumer holds back the others only once its
// two-entry slice is full. out_data carries the same word on every output: output p at
// bits [p*W +: W]. A beat taken at clock edge t is offered on every output from edge t+1
// on: with the input always valid and every output always ready, B beats take B + 1
// cycles from the first input transfer to the last output transfer inclusive
// (adderflow.hw.units.fork.fork_cycles).
//
// Fault injection for the testbench's mutation check only: compiling with the define
// AF_FORK_READY_FROM_FIRST takes in_ready from output 0's slice alone, so a beat offered
// while another slice is full is lost there. It is not a supported mode.
`default_nettype none

module af_fork #(
    parameter integer N = 2,
    parameter integer W = 8
) (
    input  wire           clk,
    input  wire           rst,        // synchronous, active high
    input  wire           in_valid,
    output wire           in_ready,
    input  wire [W-1:0]   in_data,
    output wire [N-1:0]   out_valid,
    input  wire [N-1:0]   out_ready,
    output wire [N*W-1:0] out_data
);
    generate
        if (N < 1 || W < 1) begin : g_bad_shape
            af_fork_error_N_or_W_below_1 u_error ();
        end
    endgenerate

    wire [N-1:0] slice_ready;
`ifdef AF_FORK_READY_FROM_FIRST
    wire all_ready = slice_ready[0];
`else
    wire all_ready = &slice_ready;
`endif
    assign in_ready = !rst && all_ready;   // no transfer is taken during reset
    wire take = in_valid && in_ready;

`ifdef VERILATOR
    // Under Verilator only: no register of this unit changes at the next rising edge while rst
    // and in_valid are low (see adderflow.hw.network.gating).
    wire [N-1:0] slice_idle;
    /* verilator lint_off UNUSEDSIGNAL */
    wire af_idle = &slice_idle;
    /* verilator lint_on UNUSEDSIGNAL */
`endif

    genvar p;
    generate
        for (p = 0; p < N; p = p + 1) begin : g_out
            af_skid #(.WIDTH(W)) u_slice (
                .clk(clk),
                .rst(rst),
                .in_valid(take),
                .in_ready(slice_ready[p]),
                .in_data(in_data),
                .out_valid(out_valid[p]),
                .out_ready(out_ready[p]),
                .out_data(out_data[p*W +: W])
            );
`ifdef VERILATOR
            assign slice_idle[p] = u_slice.af_idle;
`endif
        end
    endgenerate
endmodule

`default_nettype wire
