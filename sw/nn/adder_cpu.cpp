// Compiled CPU kernels for the ℓ1 "adder" product on rows: a "distance GEMM".
//
// Rows x [L, K] against filters w [O, K] (both row-major, float32 or float64):
//   l1_distance:     d[l, o]  = sum_k |x[l, k] - w[o, k]|
//   grad_input:      gx[l, k] = sum_o g[l, o] * phi(w[o, k] - x[l, k]),
//                    phi = clamp(-1, 1) (AdderNet's HardTanh) or sign
//   grad_weight_sign gw[o, k] = sum_l g[l, o] * sign(x[l, k] - w[o, k])
// The full-precision filter gradient (sum_l g (x - w)) is two matrix products and stays in
// torch (BLAS); so does the "full" input gradient.
//
// Blocking follows a GEMM's: the operand a micro-kernel streams over its reduction axis is
// packed (filters into [panel][k][W] for the forward, zero-padded filter rows for the
// gradients), a micro-tile of MR rows x one W-wide vector is held in registers, and the
// reduction is cache-blocked (KC for the forward). Vectors are GCC/Clang vector extensions
// of 64 bytes: -march=native turns them into AVX-512 or pairs of AVX2 registers, and a
// plain build into SSE or scalar code, so one source is also the portable path.
//
// Threads: one parallel region per call (at::parallel_for over the threads, so it follows
// torch.set_num_threads), handing out tasks from an atomic counter. When another process
// deschedules one thread, the others take its remaining tasks instead of waiting at the end
// of each of many short regions.

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace {

constexpr int kVecBytes = 64;
#if defined(__AVX512F__)
constexpr int kRows = 8;  // MR: 32 vector registers hold 2 x 8 accumulators + operands
#else
constexpr int kRows = 4;  // 16 registers (AVX2): a 64-byte vector is two of them
#endif
constexpr int64_t kForwardKc = 256;   // forward reduction block: panel and rows stay in L1/L2
constexpr int64_t kForwardRows = 64;  // rows per forward task

template <typename T>
struct Simd {
  static constexpr int W = kVecBytes / static_cast<int>(sizeof(T));
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  typedef T V __attribute__((vector_size(kVecBytes)));
  typedef I IV __attribute__((vector_size(kVecBytes)));

  static V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(T* p, V v) { std::memcpy(p, &v, sizeof v); }
  static V splat(T s) { return V{} + s; }
  // V{} + s would turn -0.0 into +0.0, so the sign bit is made as an integer
  static V abs(V v) { return (V)((IV)v & ~(IV{} + (I(1) << (8 * sizeof(T) - 1)))); }
  static V clamp1(V v) {
    const V one = splat(T(1));
    v = v < one ? v : one;
    return v > -one ? v : -one;
  }
  // sign(v) = (v > 0) - (v < 0), through the comparisons' all-ones masks
  static V sign(V v) {
    const IV one = (IV)splat(T(1));
    return (V)((v > V{}) & one) - (V)((v < V{}) & one);
  }
};

template <class Task>
void run_tasks(int64_t n_tasks, const Task& task) {
  if (n_tasks <= 0) return;
  std::atomic<int64_t> next{0};
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), n_tasks);
  at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
    for (int64_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < n_tasks;) task(t);
  });
}

// ------------------------------------------------------------------------------ forward

// acc[i] += sum_k |x_i[k] - panel[k]| for MR rows, one W-wide panel of filters.
template <typename T>
inline void l1_micro(const T* const* rows, const T* panel, int64_t kc, T* acc) {
  using S = Simd<T>;
  using V = typename S::V;
  V a[kRows];
  for (int i = 0; i < kRows; ++i) a[i] = S::load(acc + i * S::W);
  for (int64_t k = 0; k < kc; ++k) {
    const V w = S::load(panel + k * S::W);
    for (int i = 0; i < kRows; ++i) a[i] += S::abs(S::splat(rows[i][k]) - w);
  }
  for (int i = 0; i < kRows; ++i) S::store(acc + i * S::W, a[i]);
}

template <typename T>
void l1_distance_impl(const T* x, const T* w, T* out, int64_t n, int64_t o, int64_t k) {
  constexpr int W = Simd<T>::W;
  const int64_t panels = (o + W - 1) / W;
  // filters packed [panel][k][W], zero filters past o (their outputs are never stored)
  std::vector<T> packed(panels * k * W, T(0));
  for (int64_t f = 0; f < o; ++f)
    for (int64_t j = 0; j < k; ++j) packed[((f / W) * k + j) * W + f % W] = w[f * k + j];
  const int64_t tasks = (n + kForwardRows - 1) / kForwardRows;
  run_tasks(tasks, [&](int64_t t) {
    const int64_t r0 = t * kForwardRows, r1 = std::min(n, r0 + kForwardRows);
    const int64_t groups = (r1 - r0 + kRows - 1) / kRows;
    // per row group and panel, kRows x W accumulators
    std::vector<T> acc(groups * panels * kRows * W, T(0));
    for (int64_t k0 = 0; k0 < k; k0 += kForwardKc) {
      const int64_t kc = std::min(kForwardKc, k - k0);
      for (int64_t g = 0; g < groups; ++g) {
        const T* rows[kRows];
        for (int i = 0; i < kRows; ++i)  // past the last row: repeat it, never stored
          rows[i] = x + std::min(r0 + g * kRows + i, r1 - 1) * k + k0;
        for (int64_t p = 0; p < panels; ++p)
          l1_micro<T>(rows, packed.data() + (p * k + k0) * W, kc,
                      acc.data() + (g * panels + p) * kRows * W);
      }
    }
    for (int64_t g = 0; g < groups; ++g)
      for (int i = 0; i < kRows && r0 + g * kRows + i < r1; ++i)
        for (int64_t p = 0; p < panels; ++p) {
          const int64_t cols = std::min<int64_t>(W, o - p * W);
          std::memcpy(out + (r0 + g * kRows + i) * o + p * W,
                      acc.data() + ((g * panels + p) * kRows + i) * W, cols * sizeof(T));
        }
  });
}

// ------------------------------------------------------------------------ input gradient

// Filters as rows of kp >= k columns, zero past k, so every column block loads whole vectors.
template <typename T>
std::vector<T> padded_rows(const T* w, int64_t o, int64_t k, int64_t kp) {
  std::vector<T> out(o * kp, T(0));
  for (int64_t f = 0; f < o; ++f) std::memcpy(out.data() + f * kp, w + f * k, k * sizeof(T));
  return out;
}

// One vector of W columns from a row of k columns starting at k0, zero past k.
template <typename T>
inline typename Simd<T>::V load_cols(const T* row, int64_t k0, int64_t k) {
  constexpr int W = Simd<T>::W;
  if (k0 + W <= k) return Simd<T>::load(row + k0);
  T buf[W] = {};
  std::memcpy(buf, row + k0, (k - k0) * sizeof(T));
  return Simd<T>::load(buf);
}

template <typename T>
inline void store_cols(T* row, int64_t k0, int64_t k, typename Simd<T>::V v) {
  constexpr int W = Simd<T>::W;
  if (k0 + W <= k) return Simd<T>::store(row + k0, v);
  T buf[W];
  Simd<T>::store(buf, v);
  std::memcpy(row + k0, buf, (k - k0) * sizeof(T));
}

// gx[rows, k0:k0+W] = sum_o g[row, o] * phi(w[o, k0:] - x[row, k0:]) for MR rows.
template <typename T, bool kSign>
inline void grad_input_micro(const T* x, const T* g, const T* wp, T* gx, const int64_t* rows,
                             int64_t k0, int64_t o, int64_t k, int64_t kp) {
  using S = Simd<T>;
  using V = typename S::V;
  V xv[kRows], a[kRows];
  const T* grow[kRows];
  for (int i = 0; i < kRows; ++i) {
    xv[i] = load_cols(x + rows[i] * k, k0, k);
    grow[i] = g + rows[i] * o;
    a[i] = V{};
  }
  for (int64_t f = 0; f < o; ++f) {
    const V w = S::load(wp + f * kp + k0);
    for (int i = 0; i < kRows; ++i) {
      const V d = w - xv[i];
      a[i] += S::splat(grow[i][f]) * (kSign ? S::sign(d) : S::clamp1(d));
    }
  }
  for (int i = 0; i < kRows; ++i)
    if (i == 0 || rows[i] != rows[i - 1]) store_cols(gx + rows[i] * k, k0, k, a[i]);
}

template <typename T, bool kSign>
void grad_input_impl(const T* x, const T* w, const T* g, T* gx, int64_t n, int64_t o,
                     int64_t k) {
  constexpr int W = Simd<T>::W;
  const int64_t kp = (k + W - 1) / W * W;
  const std::vector<T> wp = padded_rows(w, o, k, kp);
  const int64_t tasks = (n + kForwardRows - 1) / kForwardRows;
  run_tasks(tasks, [&](int64_t t) {
    const int64_t r0 = t * kForwardRows, r1 = std::min(n, r0 + kForwardRows);
    // column blocks outermost: one block's filter strip (o x W) stays in L1 for all rows
    for (int64_t k0 = 0; k0 < k; k0 += W)
      for (int64_t r = r0; r < r1; r += kRows) {
        int64_t rows[kRows];
        for (int i = 0; i < kRows; ++i) rows[i] = std::min(r + i, r1 - 1);
        grad_input_micro<T, kSign>(x, g, wp.data(), gx, rows, k0, o, k, kp);
      }
  });
}

// ----------------------------------------------------------------------- filter gradient

// gw[filters, k0:k0+W] = sum_l g[l, f] * sign(x[l, k0:] - w[f, k0:]) for MR filters.
template <typename T>
inline void grad_weight_sign_micro(const T* x, const T* g, const T* wp, T* gw,
                                   const int64_t* filters, int64_t k0, int64_t n, int64_t o,
                                   int64_t k, int64_t kp) {
  using S = Simd<T>;
  using V = typename S::V;
  V wv[kRows], a[kRows];
  for (int i = 0; i < kRows; ++i) {
    wv[i] = S::load(wp + filters[i] * kp + k0);
    a[i] = V{};
  }
  for (int64_t l = 0; l < n; ++l) {
    const V xv = load_cols(x + l * k, k0, k);
    const T* grow = g + l * o;
    for (int i = 0; i < kRows; ++i) a[i] += S::splat(grow[filters[i]]) * S::sign(xv - wv[i]);
  }
  for (int i = 0; i < kRows; ++i)
    if (i == 0 || filters[i] != filters[i - 1]) store_cols(gw + filters[i] * k, k0, k, a[i]);
}

template <typename T>
void grad_weight_sign_impl(const T* x, const T* w, const T* g, T* gw, int64_t n, int64_t o,
                           int64_t k) {
  constexpr int W = Simd<T>::W;
  const int64_t kp = (k + W - 1) / W * W;
  const std::vector<T> wp = padded_rows(w, o, k, kp);
  const int64_t filter_groups = (o + kRows - 1) / kRows, col_blocks = kp / W;
  run_tasks(filter_groups * col_blocks, [&](int64_t t) {
    const int64_t f0 = (t / col_blocks) * kRows, k0 = (t % col_blocks) * W;
    int64_t filters[kRows];
    for (int i = 0; i < kRows; ++i) filters[i] = std::min<int64_t>(f0 + i, o - 1);
    grad_weight_sign_micro<T>(x, g, wp.data(), gw, filters, k0, n, o, k, kp);
  });
}

// --------------------------------------------------------------------------- bindings

void check_rows(const at::Tensor& x, const at::Tensor& w) {
  TORCH_CHECK(x.device().is_cpu() && w.device().is_cpu(), "adder_cpu: CPU tensors only");
  TORCH_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1),
              "adder_cpu: wants x [L, K] and w [O, K]");
  TORCH_CHECK(x.scalar_type() == w.scalar_type(), "adder_cpu: x and w differ in dtype");
}

at::Tensor l1_distance(const at::Tensor& x_in, const at::Tensor& w_in) {
  check_rows(x_in, w_in);
  const auto x = x_in.contiguous(), w = w_in.contiguous();
  const int64_t n = x.size(0), o = w.size(0), k = x.size(1);
  auto out = at::zeros({n, o}, x.options());
  if (n == 0 || o == 0 || k == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "adder_l1_distance", [&] {
    l1_distance_impl<scalar_t>(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
                               out.data_ptr<scalar_t>(), n, o, k);
  });
  return out;
}

at::Tensor grad_input(const at::Tensor& x_in, const at::Tensor& w_in, const at::Tensor& g_in,
                      bool sign) {
  check_rows(x_in, w_in);
  const auto x = x_in.contiguous(), w = w_in.contiguous();
  const auto g = g_in.to(x.scalar_type()).contiguous();
  const int64_t n = x.size(0), o = w.size(0), k = x.size(1);
  TORCH_CHECK(g.dim() == 2 && g.size(0) == n && g.size(1) == o, "adder_cpu: grad is not [L, O]");
  auto gx = at::zeros_like(x);
  if (n == 0 || o == 0 || k == 0) return gx;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "adder_grad_input", [&] {
    auto fn = sign ? grad_input_impl<scalar_t, true> : grad_input_impl<scalar_t, false>;
    fn(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(),
       gx.data_ptr<scalar_t>(), n, o, k);
  });
  return gx;
}

at::Tensor grad_weight_sign(const at::Tensor& x_in, const at::Tensor& w_in,
                            const at::Tensor& g_in) {
  check_rows(x_in, w_in);
  const auto x = x_in.contiguous(), w = w_in.contiguous();
  const auto g = g_in.to(x.scalar_type()).contiguous();
  const int64_t n = x.size(0), o = w.size(0), k = x.size(1);
  TORCH_CHECK(g.dim() == 2 && g.size(0) == n && g.size(1) == o, "adder_cpu: grad is not [L, O]");
  auto gw = at::zeros_like(w);
  if (n == 0 || o == 0 || k == 0) return gw;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "adder_grad_weight_sign", [&] {
    grad_weight_sign_impl<scalar_t>(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
                                    g.data_ptr<scalar_t>(), gw.data_ptr<scalar_t>(), n, o, k);
  });
  return gw;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("l1_distance", &l1_distance, "d[l, o] = sum_k |x[l, k] - w[o, k]|");
  m.def("grad_input", &grad_input, "sum_o g[l, o] * clamp or sign of (w[o, k] - x[l, k])");
  m.def("grad_weight_sign", &grad_weight_sign, "sum_l g[l, o] * sign(x[l, k] - w[o, k])");
  m.def("vector_isa", [] {
#if defined(__AVX512F__)
    return "avx512";
#elif defined(__AVX2__)
    return "avx2";
#else
    return "portable";
#endif
  });
}
