#ifndef NNET_ADDER_POOL_H_
#define NNET_ADDER_POOL_H_

// Integer max pooling without padding (IntMaxPool), channels-last; the window machinery is
// the convolution's, so both io types share its indexing.

#include "nnet_adder_common.h"

namespace nnet {

template <class x_T, class res_T, typename CONFIG_T, class Source>
void af_maxpool_pixel(const Source &src, unsigned oh, unsigned ow, res_T out[CONFIG_T::n_chan]) {
    #pragma HLS INLINE
    const unsigned taps = CONFIG_T::filt_height * CONFIG_T::filt_width;
    x_T window[taps * CONFIG_T::n_chan];
    af_window<x_T, CONFIG_T>(src, oh, ow, window);
Channels:
    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
        #pragma HLS UNROLL
        x_T best = window[c];
    Taps:
        for (unsigned t = 1; t < taps; t++) {
            const x_T v = window[t * CONFIG_T::n_chan + c];
            best = v > best ? v : best;
        }
        out[c] = best;
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void af_maxpool2d(data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
                  res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_chan]) {
    const af_frame<data_T, CONFIG_T> frame = {data};
OutRows:
    for (unsigned oh = 0; oh < CONFIG_T::out_height; oh++) {
    OutCols:
        for (unsigned ow = 0; ow < CONFIG_T::out_width; ow++) {
            #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
            af_maxpool_pixel<data_T, res_T, CONFIG_T>(
                frame, oh, ow, &res[(oh * CONFIG_T::out_width + ow) * CONFIG_T::n_chan]);
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void af_maxpool2d(hls::stream<data_T> &data, hls::stream<res_T> &res) {
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
                #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
                typename res_T::value_type out[CONFIG_T::n_chan];
                af_maxpool_pixel<x_T, typename res_T::value_type, CONFIG_T>(lines, next, ow, out);
                res_T packet;
                for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                    #pragma HLS UNROLL
                    packet[c] = out[c];
                }
                res.write(packet);
            }
            next++;
        }
    }
}

} // namespace nnet

#endif
