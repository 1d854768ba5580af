#ifndef NNET_ADDER_REQUANT_H_
#define NNET_ADDER_REQUANT_H_

// Per-channel requantization sat(round_half_even((acc * M + B) * 2^-shift)) (DESIGN.md rule 4),
// and the channels-last flatten that precedes a dense layer.

#include "nnet_adder_common.h"

namespace nnet {

// CONFIG_T::prod_t (ap_int) holds acc * M + B exactly; scaled_t is the same bits read with
// `shift` fraction bits; assigning it to round_t (AP_RND_CONV, AP_SAT) rounds half to even
// and saturates, which is the contract's rule 5 in ap_fixed's own terms.
template <class acc_T, class res_T, typename CONFIG_T>
res_T af_requant_one(acc_T acc, typename CONFIG_T::mult_t m, typename CONFIG_T::bias_t b) {
    #pragma HLS INLINE
    const typename CONFIG_T::prod_t v = typename CONFIG_T::prod_t(acc) * m + b;
    typename CONFIG_T::scaled_t scaled;
    scaled.range(CONFIG_T::prod_bits - 1, 0) = v.range(CONFIG_T::prod_bits - 1, 0);
    typename CONFIG_T::round_t rounded = scaled;
    // ReLU after rounding is saturation at zero from below.
    if (CONFIG_T::relu && rounded < 0)
        rounded = 0;
    return res_T(rounded);
}

template <class data_T, class res_T, typename CONFIG_T>
void af_requant(data_T data[CONFIG_T::n_pixels * CONFIG_T::n_chan],
                res_T res[CONFIG_T::n_pixels * CONFIG_T::n_chan],
                const typename CONFIG_T::mult_t mult[CONFIG_T::n_chan],
                const typename CONFIG_T::bias_t bias[CONFIG_T::n_chan]) {
Pixels:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
    Channels:
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            const unsigned i = p * CONFIG_T::n_chan + c;
            res[i] = af_requant_one<data_T, res_T, CONFIG_T>(data[i], mult[c], bias[c]);
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void af_requant(hls::stream<data_T> &data, hls::stream<res_T> &res,
                const typename CONFIG_T::mult_t mult[CONFIG_T::n_chan],
                const typename CONFIG_T::bias_t bias[CONFIG_T::n_chan]) {
Pixels:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
        const data_T in = data.read();
        res_T out;
    Channels:
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            out[c] = af_requant_one<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(
                in[c], mult[c], bias[c]);
        }
        res.write(out);
    }
}

// io_parallel: channels-last memory order already is the flattened order (the converter
// permutes the next dense layer's weights to match, DESIGN.md rule 8).
template <class data_T, class res_T, typename CONFIG_T>
void af_flatten(data_T data[CONFIG_T::n_pixels * CONFIG_T::n_chan],
                res_T res[CONFIG_T::n_pixels * CONFIG_T::n_chan]) {
Copy:
    for (unsigned i = 0; i < CONFIG_T::n_pixels * CONFIG_T::n_chan; i++) {
        #pragma HLS UNROLL
        res[i] = data[i];
    }
}

// io_stream: n_pixels packets of n_chan become one packet of the whole vector.
template <class data_T, class res_T, typename CONFIG_T>
void af_flatten(hls::stream<data_T> &data, hls::stream<res_T> &res) {
    res_T out;
Pixels:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        #pragma HLS PIPELINE II=1
        const data_T in = data.read();
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            #pragma HLS UNROLL
            out[p * CONFIG_T::n_chan + c] = in[c];
        }
    }
    res.write(out);
}

} // namespace nnet

#endif
