#ifndef NNET_ADDER_CONV2D_H_
#define NNET_ADDER_CONV2D_H_

// Adder and integer 2-D convolution, channels-last. CONFIG_T::op picks the term:
// af_adder_op (-|x - w|) or af_mul_op (x * w). Weights are laid out
// [n_filt][kh][kw][n_chan / group] (af_matvec: output f reads its group's channels).

#include "nnet_adder_common.h"

namespace nnet {

// One output pixel: gather its window, then n_filt accumulations over reuse_factor cycles.
template <class x_T, class res_T, typename CONFIG_T, class Source>
void af_conv2d_pixel(const Source &src, unsigned oh, unsigned ow,
                     const typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_filt],
                     res_T out[CONFIG_T::n_filt]) {
    #pragma HLS INLINE
    x_T window[CONFIG_T::n_window];
    typename CONFIG_T::accum_t acc[CONFIG_T::n_filt];
    af_window<x_T, CONFIG_T>(src, oh, ow, window);
    af_matvec<x_T, typename CONFIG_T::weight_t, typename CONFIG_T::accum_t, CONFIG_T>(window, weights,
                                                                                      acc);
Store:
    for (unsigned f = 0; f < CONFIG_T::n_filt; f++) {
        #pragma HLS UNROLL
        out[f] = acc[f];
    }
}

// io_parallel: the whole feature map is an array.
template <class data_T, class res_T, typename CONFIG_T>
void af_conv2d(data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
               res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_filt],
               const typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_filt]) {
    const af_frame<data_T, CONFIG_T> frame = {data};
OutRows:
    for (unsigned oh = 0; oh < CONFIG_T::out_height; oh++) {
    OutCols:
        for (unsigned ow = 0; ow < CONFIG_T::out_width; ow++) {
            af_conv2d_pixel<data_T, res_T, CONFIG_T>(
                frame, oh, ow, weights, &res[(oh * CONFIG_T::out_width + ow) * CONFIG_T::n_filt]);
        }
    }
}

// io_stream: pixels arrive row by row as arrays of n_chan; a line buffer of filt_height rows
// feeds every output row as soon as its last input row is in.
template <class data_T, class res_T, typename CONFIG_T>
void af_conv2d(hls::stream<data_T> &data, hls::stream<res_T> &res,
               const typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_filt]) {
    typedef typename data_T::value_type x_T;
    static af_line_buffer<x_T, CONFIG_T> lines;
    unsigned next = 0;
InRows:
    for (unsigned row = 0; row < CONFIG_T::in_height; row++) {
        lines.read_row(data, row);
    ReadyRows:
        for (unsigned k = 0; k < CONFIG_T::max_rows_per_input; k++) {
            if (next >= CONFIG_T::out_height || !af_row_ready<CONFIG_T>(next, row))
                break;
        OutCols:
            for (unsigned ow = 0; ow < CONFIG_T::out_width; ow++) {
                typename res_T::value_type out[CONFIG_T::n_filt];
                af_conv2d_pixel<x_T, typename res_T::value_type, CONFIG_T>(lines, next, ow,
                                                                           weights, out);
                res_T packet;
                for (unsigned f = 0; f < CONFIG_T::n_filt; f++) {
                    #pragma HLS UNROLL
                    packet[f] = out[f];
                }
                res.write(packet);
            }
            next++;
        }
    }
}

} // namespace nnet

#endif
