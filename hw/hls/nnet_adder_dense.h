#ifndef NNET_ADDER_DENSE_H_
#define NNET_ADDER_DENSE_H_

// Adder and multiply dense layers: weights [n_out][n_in].

#include "nnet_adder_common.h"

namespace nnet {

template <class x_T, class res_T, typename CONFIG_T>
void af_dense_vector(x_T x[CONFIG_T::n_in], res_T out[CONFIG_T::n_out],
                     const typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out]) {
    #pragma HLS INLINE
    typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
    af_matvec<x_T, typename CONFIG_T::weight_t, typename CONFIG_T::accum_t, CONFIG_T>(x, weights, acc);
Store:
    for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
        #pragma HLS UNROLL
        out[o] = acc[o];
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void af_dense(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
              const typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out]) {
    af_dense_vector<data_T, res_T, CONFIG_T>(data, res, weights);
}

// io_stream: the input vector arrives in packets of data_T::size; one packet of n_out leaves.
template <class data_T, class res_T, typename CONFIG_T>
void af_dense(hls::stream<data_T> &data, hls::stream<res_T> &res,
              const typename CONFIG_T::weight_t weights[CONFIG_T::n_in * CONFIG_T::n_out]) {
    typedef typename data_T::value_type x_T;
    x_T x[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=x complete
ReadPackets:
    for (unsigned p = 0; p < CONFIG_T::n_in / data_T::size; p++) {
        #pragma HLS PIPELINE II=1
        const data_T packet = data.read();
        for (unsigned i = 0; i < data_T::size; i++) {
            #pragma HLS UNROLL
            x[p * data_T::size + i] = packet[i];
        }
    }
    typename res_T::value_type out[CONFIG_T::n_out];
    af_dense_vector<x_T, typename res_T::value_type, CONFIG_T>(x, out, weights);
    res_T packet;
    for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
        #pragma HLS UNROLL
        packet[o] = out[o];
    }
    res.write(packet);
}

} // namespace nnet

#endif
