// af_lut: a table lookup per lane, out = table[x + 2^(IN_BITS-1)].
//
// Bit-exact with adderflow.fixed.table_lookup: the IR's table (an initializer of
// 2^IN_BITS entries, computed by the quantizer) is a ROM read from TABLE_FILE with
// $readmemh, word j the OUT_BITS two's-complement code of entry j; the index of a signed
// IN_BITS code x is x + 2^(IN_BITS-1), x with its sign bit inverted (no adder).
//
// Streams: LANES codes a beat, IN_BITS in (bits [i*IN_BITS +: IN_BITS]), OUT_BITS out, any
// frame (the unit does not count beats). Pipeline: a registered ROM read per lane (block
// RAM's read port; each lane its own port, so yosys replicates the ROM for LANES > 1),
// then the output slice: latency 2, one beat a cycle while out_ready is high. N beats take
// N + 2 cycles from the first input transfer to the last output transfer inclusive.
//
// Fault injection for the testbench's mutation check only: the define AF_LUT_NO_OFFSET
// indexes the table with x's bits as they are (no offset). Not a supported mode.
`default_nettype none

module af_lut #(
    parameter integer LANES = 1,
    parameter integer IN_BITS = 8,
    parameter integer OUT_BITS = 8,
    parameter TABLE_FILE = "table.hex"
) (
    input  wire                      clk,
    input  wire                      rst,        // synchronous, active high
    input  wire                      in_valid,
    output wire                      in_ready,
    input  wire [LANES*IN_BITS-1:0]  in_data,
    output wire                      out_valid,
    input  wire                      out_ready,
    output wire [LANES*OUT_BITS-1:0] out_data
);
    localparam integer ENTRIES = 1 << IN_BITS;

    generate
        if (LANES < 1 || IN_BITS < 2 || IN_BITS > 12 || OUT_BITS < 2) begin : g_bad
            af_lut_error_bad_lanes_or_width u_error ();
        end
    endgenerate

    reg [OUT_BITS-1:0] rom [0:ENTRIES-1];
    initial $readmemh(TABLE_FILE, rom);

    wire en;                               // the pipeline advances (the slice has room)
    assign in_ready = !rst && en;
    reg v1;
    reg [LANES*OUT_BITS-1:0] q1;

    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            wire [IN_BITS-1:0] x = in_data[i*IN_BITS +: IN_BITS];
`ifdef AF_LUT_NO_OFFSET
            wire [IN_BITS-1:0] index = x;
`else
            wire [IN_BITS-1:0] index = {~x[IN_BITS-1], x[IN_BITS-2:0]};
`endif
            always @(posedge clk)
                if (en) q1[i*OUT_BITS +: OUT_BITS] <= rom[index];
        end
    endgenerate

    always @(posedge clk)
        if (rst) v1 <= 1'b0;
        else if (en) v1 <= in_valid && in_ready;

    af_skid #(.WIDTH(LANES * OUT_BITS)) u_out (
        .clk(clk),
        .rst(rst),
        .in_valid(v1),
        .in_ready(en),
        .in_data(q1),
        .out_valid(out_valid),
        .out_ready(out_ready),
        .out_data(out_data)
    );
endmodule

`default_nettype wire
