// af_harness_top: the C++ harness's top (adderflow.hw.harness), never synthesised.
//
// It registers the network's inputs: the harness decides cycle c+1's rst, in_valid and
// in_data before the rising edge that ends cycle c, and this module presents them to
// af_network from that edge on, so af_network sees the very values hw/rtl/af_network_tb.v
// drives, cycle by cycle. Why: Verilator evaluates all logic that reads a top-level input
// (rst reaches every handshake) in its input region on every eval() call, twice a cycle,
// and once more after the edge; driven from registers, that logic is evaluated once a
// cycle, after the edge. out_ready is always 1, as in the bench.
`default_nettype none

module af_harness_top #(
    parameter integer IN_W = 8,
    parameter integer OUT_W = 8
) (
    input  wire             clk,
    input  wire             rst_next,
    input  wire             in_valid_next,
    input  wire [IN_W-1:0]  in_data_next,
    output wire             in_ready,
    output wire             out_valid,
    output wire [OUT_W-1:0] out_data
);
    reg            rst_q, in_valid_q;
    reg [IN_W-1:0] in_data_q;
    // Cycle 0's inputs: the ports' values at the first eval().
    initial begin
        rst_q = rst_next;
        in_valid_q = in_valid_next;
        in_data_q = in_data_next;
    end
    // The registers take a new value only on the edges where one changes: logic that reads
    // rst (every handshake) is then evaluated on those few edges, not on every one. No latch
    // (adderflow.hw.network.gating's stages have one): the harness sets the *_next ports
    // before it raises clk, in the same eval() call, and changes them only while clk is
    // low, so `change` can only fall while clk is high (when the registers take them).
    wire change = rst_next != rst_q || in_valid_next != in_valid_q || in_data_next != in_data_q;
    wire in_clk = clk && change;
    always @(posedge in_clk) begin
        rst_q <= rst_next;
        in_valid_q <= in_valid_next;
        in_data_q <= in_data_next;
    end
    af_network u_network (
        .clk(clk),
        .rst(rst_q),
        .in_valid(in_valid_q),
        .in_ready(in_ready),
        .in_data(in_data_q),
        .out_valid(out_valid),
        .out_ready(1'b1),
        .out_data(out_data)
    );
endmodule

`default_nettype wire
