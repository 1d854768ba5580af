#ifndef NNET_ADDER_POOL_H_
#define NNET_ADDER_POOL_H_

// Integer pooling, channels-last: max (padded taps hold CONFIG_T::pad, the smallest code, so
// they never win), the contract's rounded mean or the exact window sum (no padding), chosen
// by CONFIG_T::op. The window machinery is the
// convolution's, so both io types share its indexing.

#include "nnet_adder_common.h"

namespace nnet {

// Max pooling: the largest code of the window, channel c.
struct af_pool_max {
    template <class x_T, class res_T, typename CONFIG_T> static res_T reduce(const x_T *window, unsigned c) {
        #pragma HLS INLINE
        x_T best = window[c];
    Taps:
        for (unsigned t = 1; t < CONFIG_T::filt_height * CONFIG_T::filt_width; t++) {
            const x_T v = window[t * CONFIG_T::n_chan + c];
            best = v > best ? v : best;
        }
        return res_T(best);
    }
};

// Mean pooling: round_half_even(sum / 2^shift), 2^shift the window area. sum_t (ap_int of
// sum_bits = code bits + shift) holds the sum exactly; the rounding is adderflow.fixed's
// round_shift in integers: floor, remainder, and ties to the even neighbour.
struct af_pool_avg {
    template <class x_T, class res_T, typename CONFIG_T> static res_T reduce(const x_T *window, unsigned c) {
        #pragma HLS INLINE
        typedef ap_int<CONFIG_T::sum_bits> sum_t;
        sum_t sum = 0;
    Taps:
        for (unsigned t = 0; t < CONFIG_T::filt_height * CONFIG_T::filt_width; t++)
            sum += window[t * CONFIG_T::n_chan + c];
        if (CONFIG_T::shift == 0)
            return res_T(sum);
        const sum_t floor = sum >> CONFIG_T::shift; // arithmetic: floor for negative sums
        const sum_t rem = sum - (floor << CONFIG_T::shift);
        const sum_t half = sum_t(1) << (CONFIG_T::shift > 0 ? CONFIG_T::shift - 1 : 0);
        const bool up = rem > half || (rem == half && floor[0] == 1);
        return res_T(floor + (up ? 1 : 0));
    }
};

// Window sum (also a global pool's sum): exact in res_T, the IR's out_bits.
struct af_pool_sum {
    template <class x_T, class res_T, typename CONFIG_T> static res_T reduce(const x_T *window, unsigned c) {
        #pragma HLS INLINE
        res_T sum = 0;
    Taps:
        for (unsigned t = 0; t < CONFIG_T::filt_height * CONFIG_T::filt_width; t++)
            sum += window[t * CONFIG_T::n_chan + c];
        return sum;
    }
};

template <class x_T, class res_T, typename CONFIG_T, class Source>
void af_pool_pixel(const Source &src, unsigned oh, unsigned ow, res_T out[CONFIG_T::n_chan]) {
    #pragma HLS INLINE
    const unsigned taps = CONFIG_T::filt_height * CONFIG_T::filt_width;
    x_T window[taps * CONFIG_T::n_chan];
    af_window<x_T, CONFIG_T>(src, oh, ow, window, x_T(CONFIG_T::pad));
Channels:
    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
        #pragma HLS UNROLL
        out[c] = CONFIG_T::op::template reduce<x_T, res_T, CONFIG_T>(window, c);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void af_pool2d(data_T data[CONFIG_T::in_height * CONFIG_T::in_width * CONFIG_T::n_chan],
                  res_T res[CONFIG_T::out_height * CONFIG_T::out_width * CONFIG_T::n_chan]) {
    const af_frame<data_T, CONFIG_T> frame = {data};
OutRows:
    for (unsigned oh = 0; oh < CONFIG_T::out_height; oh++) {
    OutCols:
        for (unsigned ow = 0; ow < CONFIG_T::out_width; ow++) {
            #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
            af_pool_pixel<data_T, res_T, CONFIG_T>(
                frame, oh, ow, &res[(oh * CONFIG_T::out_width + ow) * CONFIG_T::n_chan]);
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void af_pool2d(hls::stream<data_T> &data, hls::stream<res_T> &res) {
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
                af_pool_pixel<x_T, typename res_T::value_type, CONFIG_T>(lines, next, ow, out);
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
