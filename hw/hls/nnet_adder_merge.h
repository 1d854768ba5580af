#ifndef NNET_ADDER_MERGE_H_
#define NNET_ADDER_MERGE_H_

// Element-wise and join layers on integer codes, channels-last: the residual add,
// the squeeze-excite gate product, a reshape that keeps the channels-last order, and the
// table lookup (the channel concatenation is hls4ml's own concatenate3d). In io_stream a
// tensor is n_pixels packets of n_chan codes; every kernel reads and writes whole packets.

#include "nnet_adder_common.h"

namespace nnet {

// (a << shift_a) + (b << shift_b) in out_bits (DESIGN.md rule 10): ap_int's << keeps the
// width, so each operand is first widened to out_bits, which holds it shifted and the sum.
template <class res_T, typename CONFIG_T, class a_T, class b_T> res_T af_add_one(a_T a, b_T b) {
    #pragma HLS INLINE
    typedef ap_int<CONFIG_T::out_bits> acc_t;
    return res_T((acc_t(a) << CONFIG_T::shift_a) + (acc_t(b) << CONFIG_T::shift_b));
}

template <class a_T, class b_T, class res_T, typename CONFIG_T>
void af_add(a_T a[CONFIG_T::n_elem], b_T b[CONFIG_T::n_elem], res_T res[CONFIG_T::n_elem]) {
Elements:
    for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
        #pragma HLS UNROLL
        res[i] = af_add_one<res_T, CONFIG_T>(a[i], b[i]);
    }
}

template <class a_T, class b_T, class res_T, typename CONFIG_T>
void af_add(hls::stream<a_T> &a, hls::stream<b_T> &b, hls::stream<res_T> &res) {
Pixels:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        #pragma HLS PIPELINE II=1
        const a_T in_a = a.read();
        const b_T in_b = b.read();
        res_T out;
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            out[c] = af_add_one<typename res_T::value_type, CONFIG_T>(in_a[c], in_b[c]);
        }
        res.write(out);
    }
}

// x * gate[c], the gate broadcast over the pixels: ap_int products are exact, and out_bits
// holds them (DESIGN.md rule 10).
template <class x_T, class g_T, class res_T, typename CONFIG_T>
void af_mul(x_T x[CONFIG_T::n_elem], g_T gate[CONFIG_T::n_chan], res_T res[CONFIG_T::n_elem]) {
Pixels:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            res[p * CONFIG_T::n_chan + c] = res_T(x[p * CONFIG_T::n_chan + c] * gate[c]);
        }
    }
}

// io_stream: the gate's one packet first (it is computed from the whole frame of x, so a
// synthesized dataflow needs x's stream deep enough to hold the frame meanwhile).
template <class x_T, class g_T, class res_T, typename CONFIG_T>
void af_mul(hls::stream<x_T> &x, hls::stream<g_T> &gate, hls::stream<res_T> &res) {
    const g_T g = gate.read();
Pixels:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        #pragma HLS PIPELINE II=1
        const x_T in = x.read();
        res_T out;
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            out[c] = typename res_T::value_type(in[c] * g[c]);
        }
        res.write(out);
    }
}

// A reshape that keeps the channels-last order (same channels, pixels renumbered): a copy.
template <class data_T, class res_T, typename CONFIG_T>
void af_copy(data_T data[CONFIG_T::n_elem], res_T res[CONFIG_T::n_elem]) {
Elements:
    for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
        #pragma HLS UNROLL
        res[i] = data[i];
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void af_copy(hls::stream<data_T> &data, hls::stream<res_T> &res) {
Pixels:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        #pragma HLS PIPELINE II=1
        const data_T in = data.read();
        res_T out;
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            out[c] = in[c];
        }
        res.write(out);
    }
}

// table[x + 2^(in_bits - 1)]: the code's offset from the smallest in_bits code indexes the
// table the quantizer computed.
template <class data_T, class res_T, typename CONFIG_T>
res_T af_lut_one(data_T x, const typename CONFIG_T::table_t table[CONFIG_T::n_table]) {
    #pragma HLS INLINE
    return res_T(table[int(x) + int(CONFIG_T::offset)]);
}

template <class data_T, class res_T, typename CONFIG_T>
void af_lut(data_T data[CONFIG_T::n_elem], res_T res[CONFIG_T::n_elem],
            const typename CONFIG_T::table_t table[CONFIG_T::n_table]) {
Elements:
    for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
        #pragma HLS UNROLL
        res[i] = af_lut_one<data_T, res_T, CONFIG_T>(data[i], table);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void af_lut(hls::stream<data_T> &data, hls::stream<res_T> &res,
            const typename CONFIG_T::table_t table[CONFIG_T::n_table]) {
Pixels:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        #pragma HLS PIPELINE II=1
        const data_T in = data.read();
        res_T out;
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            out[c] = af_lut_one<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(
                in[c], table);
        }
        res.write(out);
    }
}

} // namespace nnet

#endif
