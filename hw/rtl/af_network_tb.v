// af_network_tb: bulk-run testbench of a generated af_network (adderflow.hw.network).
//
// Reads input beats (one hex word a line) from +in=FILE, streams +images=N images of
// BEATS_IN beats into the network with the output always ready, and writes every output
// beat to +out=FILE (one hex word a line), then per image "latency <cycles>" (first input
// transfer to last output transfer of that image, inclusive) and finally "cycles <total>".
// +serial=1 feeds an image only after the previous one has left, so every latency is the
// single-image figure of the cycle model; +serial=0 streams images back to back. Widths are
// parameters; everything else is a plusarg, so one build serves any run. Plain
// Verilog-2005 with one clock delay: Icarus runs it, and Verilator with --binary --timing.
`timescale 1ns / 1ps
`default_nettype none

module af_network_tb #(
    parameter integer IN_W = 8,
    parameter integer OUT_W = 8,
    parameter integer BEATS_IN = 1,
    parameter integer BEATS_OUT = 1
);
    reg clk = 1'b0;
    reg rst = 1'b1;
    reg [IN_W-1:0] word;
    reg [IN_W-1:0] next_word;
    reg [1023:0] in_file;
    reg [1023:0] out_file;
    integer images = 1;
    integer serial = 1;
    integer max_cycles = 100000000;
    integer n_in = 0;
    integer n_out = 0;
    integer cycle = 0;
    integer start = 0;
    integer fd_in;
    integer fd_out;
    integer got;

    wire in_ready;
    wire out_valid;
    wire [OUT_W-1:0] out_data;
    wire allowed = (serial == 0) || (n_in < (n_out / BEATS_OUT + 1) * BEATS_IN);
    wire in_valid = !rst && (n_in < images * BEATS_IN) && allowed;

    af_network dut (
        .clk(clk),
        .rst(rst),
        .in_valid(in_valid),
        .in_ready(in_ready),
        .in_data(word),
        .out_valid(out_valid),
        .out_ready(1'b1),
        .out_data(out_data)
    );

    always #5 clk = !clk;

    initial begin
        if (!$value$plusargs("in=%s", in_file) || !$value$plusargs("out=%s", out_file)) begin
            $display("af_network_tb: +in=FILE and +out=FILE are required");
            $finish;
        end
        got = $value$plusargs("images=%d", images);
        got = $value$plusargs("serial=%d", serial);
        got = $value$plusargs("max_cycles=%d", max_cycles);
        fd_in = $fopen(in_file, "r");
        fd_out = $fopen(out_file, "w");
        if (fd_in == 0 || fd_out == 0) begin
            $display("af_network_tb: cannot open %0s or %0s", in_file, out_file);
            $finish;
        end
        got = $fscanf(fd_in, "%h\n", word);
    end

    always @(posedge clk) begin
        cycle <= cycle + 1;
        if (cycle == 3) rst <= 1'b0;
        if (in_valid && in_ready) begin
            if (n_in % BEATS_IN == 0) start <= cycle;
            n_in <= n_in + 1;
            if (n_in + 1 < images * BEATS_IN) begin
                got = $fscanf(fd_in, "%h\n", next_word);
                word <= next_word;
            end
        end
        if (out_valid) begin
            $fwrite(fd_out, "%h\n", out_data);
            n_out <= n_out + 1;
            if (n_out % BEATS_OUT == BEATS_OUT - 1)
                $fwrite(fd_out, "latency %0d\n", cycle - start + 1);
            if (n_out == images * BEATS_OUT - 1) begin
                $fwrite(fd_out, "cycles %0d\n", cycle);
                $fclose(fd_out);
                $finish;
            end
        end
        if (cycle == max_cycles) begin
            $fwrite(fd_out, "timeout %0d\n", cycle);
            $fclose(fd_out);
            $finish;
        end
    end
endmodule

`default_nettype wire
