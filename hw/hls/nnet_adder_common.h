#ifndef NNET_ADDER_COMMON_H_
#define NNET_ADDER_COMMON_H_

// adderflow kernels for hls4ml: integer codes in, integer codes out. Every type comes from
// the Python side (adderflow.hw.hls4ml_backend), which derives it from the numeric contract
// (DESIGN.md); nothing here widens or narrows a value on its own.

#include "ap_fixed.h"
#include "ap_int.h"
#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

// One term of an adder layer: -|x - w| (DESIGN.md rule 2). The accumulator has at least
// b + 1 bits, so it holds x - w and its negation exactly.
struct af_adder_op {
    template <class acc_T, class x_T, class w_T> static acc_T term(x_T x, w_T w) {
        #pragma HLS INLINE
        acc_T d = x - w;
        return d < 0 ? acc_T(d) : acc_T(-d);
    }
};

// One term of a multiplication layer (first conv, classifier): ap_int products are exact.
struct af_mul_op {
    template <class acc_T, class x_T, class w_T> static acc_T term(x_T x, w_T w) {
        #pragma HLS INLINE
        return acc_T(x * w);
    }
};

// acc[o] = sum_k op(x[index(o, k)], w[o * n_in + k]), k over the n_in terms of output o.
// x is the window [taps][n_chan] (a dense layer: one tap); a grouped convolution's output o
// reads the n_chan / group channels of its group o / (n_out / group), so
// index(o, k) = (k / cg) * n_chan + (o / per_group) * cg + k % cg with cg = n_chan / group
// (group 1: index(o, k) = k). The n_in * n_out terms are spread over reuse_factor pipelined
// cycles, ceil(n_terms / reuse_factor) per cycle (hls4ml's resource strategy indexing, so
// the weights reshape into `block` banks); any reuse factor is valid.
template <class x_T, class w_T, class acc_T, typename CONFIG_T>
void af_matvec(x_T x[CONFIG_T::n_window], const w_T w[CONFIG_T::n_in * CONFIG_T::n_out],
               acc_T acc[CONFIG_T::n_out]) {
    const unsigned n_terms = CONFIG_T::n_in * CONFIG_T::n_out;
    const unsigned block = (n_terms + CONFIG_T::reuse_factor - 1) / CONFIG_T::reuse_factor;
    const unsigned cg = CONFIG_T::n_chan / CONFIG_T::group;
    const unsigned per_group = CONFIG_T::n_out / CONFIG_T::group;
    #pragma HLS ARRAY_RESHAPE variable=w block factor=block
    #pragma HLS ARRAY_PARTITION variable=x complete
    #pragma HLS ARRAY_PARTITION variable=acc complete
Init:
    for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
        #pragma HLS UNROLL
        acc[o] = 0;
    }
Reuse:
    for (unsigned r = 0; r < CONFIG_T::reuse_factor; r++) {
        #pragma HLS PIPELINE II=1
    Block:
        for (unsigned i = 0; i < block; i++) {
            #pragma HLS UNROLL
            const unsigned t = i * CONFIG_T::reuse_factor + r;
            if (t < n_terms) {
                const unsigned o = t / CONFIG_T::n_in, k = t % CONFIG_T::n_in;
                const unsigned xi = (k / cg) * CONFIG_T::n_chan + (o / per_group) * cg + k % cg;
                acc[o] += CONFIG_T::op::template term<acc_T>(x[xi], w[t]);
            }
        }
    }
}

// Is input row `row` the last one output row `oh` needs? Rows below the image are padding,
// so the bottom output rows all become ready with the last input row; rows above it are
// padding too, so an output row that sees only top padding (pad_top >= filt_height) is ready
// with the first input row (adderflow.hw.hls4ml_backend.convert.last_input_row, the Python
// twin that sizes the loop, clips the same way).
template <typename CONFIG_T> bool af_row_ready(unsigned oh, unsigned row) {
    #pragma HLS INLINE
    const int last = int(oh * CONFIG_T::stride_height + CONFIG_T::filt_height) - 1 -
                     int(CONFIG_T::pad_top);
    const int below = last < int(CONFIG_T::in_height) ? last : int(CONFIG_T::in_height) - 1;
    const int clipped = below < 0 ? 0 : below;
    return clipped == int(row);
}

// The window of output pixel (oh, ow), laid out [kh][kw][C] like the weights. A tap outside
// the image holds `pad`: a convolution's zero padding is the quantized zero and takes part in
// the layer (DESIGN.md rule 3); a max pool's is the smallest code, which never wins. `Source`
// reads (ih, iw, c) from a whole feature map (io_parallel) or from the line buffer (io_stream).
template <class x_T, typename CONFIG_T, class Source>
void af_window(const Source &src, unsigned oh, unsigned ow,
               x_T window[CONFIG_T::filt_height * CONFIG_T::filt_width * CONFIG_T::n_chan],
               x_T pad = x_T(0)) {
    #pragma HLS INLINE
KernelRows:
    for (unsigned i = 0; i < CONFIG_T::filt_height; i++) {
    KernelCols:
        for (unsigned j = 0; j < CONFIG_T::filt_width; j++) {
        Channels:
            for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                #pragma HLS UNROLL
                const int ih = int(oh * CONFIG_T::stride_height + i) - int(CONFIG_T::pad_top);
                const int iw = int(ow * CONFIG_T::stride_width + j) - int(CONFIG_T::pad_left);
                const bool inside = ih >= 0 && ih < int(CONFIG_T::in_height) && iw >= 0 &&
                                    iw < int(CONFIG_T::in_width);
                window[(i * CONFIG_T::filt_width + j) * CONFIG_T::n_chan + c] =
                    inside ? x_T(src.at(ih, iw, c)) : pad;
            }
        }
    }
}

// A whole channels-last feature map (io_parallel).
template <class x_T, typename CONFIG_T> struct af_frame {
    const x_T *data;
    x_T at(int ih, int iw, unsigned c) const {
        return data[(ih * CONFIG_T::in_width + iw) * CONFIG_T::n_chan + c];
    }
};

// The last filt_height input rows of a stream (io_stream): row r lives in slot r % filt_height.
template <class x_T, typename CONFIG_T> struct af_line_buffer {
    x_T rows[CONFIG_T::filt_height][CONFIG_T::in_width * CONFIG_T::n_chan];

    template <class data_T> void read_row(hls::stream<data_T> &data, unsigned row) {
        #pragma HLS INLINE
    ReadRow:
        for (unsigned iw = 0; iw < CONFIG_T::in_width; iw++) {
            #pragma HLS PIPELINE II=1
            const data_T pixel = data.read();
            for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                #pragma HLS UNROLL
                rows[row % CONFIG_T::filt_height][iw * CONFIG_T::n_chan + c] = pixel[c];
            }
        }
    }

    x_T at(int ih, int iw, unsigned c) const {
        return rows[ih % CONFIG_T::filt_height][iw * CONFIG_T::n_chan + c];
    }
};

} // namespace nnet

#endif
