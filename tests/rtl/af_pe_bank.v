// af_pe_bank: test-only wrapper holding one af_pe per (MODE, BITS) of the sweep, so one
// simulator build checks them all: adder and mac at BITS 2, 4, 8, 16, and xnor with 1-bit
// lanes and with 2-bit codes (+1/-1/0 against 1-bit weights). Every element shares clk, ce
// and first; each has its own x, w and acc ports, named <kind><bits>: a = adder, m = mac,
// x = xnor. Accumulators take af_pe's default width.
`default_nettype none

module af_pe_bank #(
    parameter integer SIMD = 4,
    parameter integer K = 16
) (
    input  wire clk,
    input  wire ce,
    input  wire first,
    input  wire [SIMD*2-1:0] x_a2,
    input  wire [SIMD*2-1:0] w_a2,
    output wire [2 + $clog2(K) + 1-1:0] acc_a2,
    input  wire [SIMD*4-1:0] x_a4,
    input  wire [SIMD*4-1:0] w_a4,
    output wire [4 + $clog2(K) + 1-1:0] acc_a4,
    input  wire [SIMD*8-1:0] x_a8,
    input  wire [SIMD*8-1:0] w_a8,
    output wire [8 + $clog2(K) + 1-1:0] acc_a8,
    input  wire [SIMD*16-1:0] x_a16,
    input  wire [SIMD*16-1:0] w_a16,
    output wire [16 + $clog2(K) + 1-1:0] acc_a16,
    input  wire [SIMD*2-1:0] x_m2,
    input  wire [SIMD*2-1:0] w_m2,
    output wire [2 * 2 + $clog2(K)-1:0] acc_m2,
    input  wire [SIMD*4-1:0] x_m4,
    input  wire [SIMD*4-1:0] w_m4,
    output wire [2 * 4 + $clog2(K)-1:0] acc_m4,
    input  wire [SIMD*8-1:0] x_m8,
    input  wire [SIMD*8-1:0] w_m8,
    output wire [2 * 8 + $clog2(K)-1:0] acc_m8,
    input  wire [SIMD*16-1:0] x_m16,
    input  wire [SIMD*16-1:0] w_m16,
    output wire [2 * 16 + $clog2(K)-1:0] acc_m16,
    input  wire [SIMD*1-1:0] x_x1,
    input  wire [SIMD*1-1:0] w_x1,
    output wire [$clog2(K + 1) + 1-1:0] acc_x1,
    input  wire [SIMD*2-1:0] x_x2,
    input  wire [SIMD*1-1:0] w_x2,
    output wire [$clog2(K + 1) + 1-1:0] acc_x2
);
    af_pe #(.MODE("adder"), .SIMD(SIMD), .BITS(2), .K(K)) u_a2 (
        .clk(clk), .ce(ce), .first(first), .x(x_a2), .w(w_a2), .acc(acc_a2)
    );
    af_pe #(.MODE("adder"), .SIMD(SIMD), .BITS(4), .K(K)) u_a4 (
        .clk(clk), .ce(ce), .first(first), .x(x_a4), .w(w_a4), .acc(acc_a4)
    );
    af_pe #(.MODE("adder"), .SIMD(SIMD), .BITS(8), .K(K)) u_a8 (
        .clk(clk), .ce(ce), .first(first), .x(x_a8), .w(w_a8), .acc(acc_a8)
    );
    af_pe #(.MODE("adder"), .SIMD(SIMD), .BITS(16), .K(K)) u_a16 (
        .clk(clk), .ce(ce), .first(first), .x(x_a16), .w(w_a16), .acc(acc_a16)
    );
    af_pe #(.MODE("mac"), .SIMD(SIMD), .BITS(2), .K(K)) u_m2 (
        .clk(clk), .ce(ce), .first(first), .x(x_m2), .w(w_m2), .acc(acc_m2)
    );
    af_pe #(.MODE("mac"), .SIMD(SIMD), .BITS(4), .K(K)) u_m4 (
        .clk(clk), .ce(ce), .first(first), .x(x_m4), .w(w_m4), .acc(acc_m4)
    );
    af_pe #(.MODE("mac"), .SIMD(SIMD), .BITS(8), .K(K)) u_m8 (
        .clk(clk), .ce(ce), .first(first), .x(x_m8), .w(w_m8), .acc(acc_m8)
    );
    af_pe #(.MODE("mac"), .SIMD(SIMD), .BITS(16), .K(K)) u_m16 (
        .clk(clk), .ce(ce), .first(first), .x(x_m16), .w(w_m16), .acc(acc_m16)
    );
    af_pe #(.MODE("xnor"), .SIMD(SIMD), .BITS(1), .K(K)) u_x1 (
        .clk(clk), .ce(ce), .first(first), .x(x_x1), .w(w_x1), .acc(acc_x1)
    );
    af_pe #(.MODE("xnor"), .SIMD(SIMD), .BITS(2), .K(K)) u_x2 (
        .clk(clk), .ce(ce), .first(first), .x(x_x2), .w(w_x2), .acc(acc_x2)
    );
endmodule

`default_nettype wire
