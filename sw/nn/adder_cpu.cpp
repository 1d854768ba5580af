// Compiled CPU kernels for the ℓ1 "adder" product: a "distance GEMM" (direct convolution).
//
// Rows x [L, K] against filters w [O, K] (float32 or float64):
//   forward:          d[l, o]  = sum_k |x[l, k] - w[o, k]|
//   grad_input:       gx[l, k] = sum_o g[l, o] * phi(w[o, k] - x[l, k]),
//                     phi = clamp(-1, 1) (AdderNet's HardTanh) or sign
//   grad_weight_sign: gw[o, k] = sum_l g[l, o] * sign(x[l, k] - w[o, k])
// where the rows x are the patches of a padded channels-last image (see Geometry), read in
// place: no patch matrix, and the input gradient is added straight into the image.
// The full-precision filter gradient (sum_l g (x - w)) is a convolution's weight gradient
// (or two matrix products for rows) and stays in torch; so does the "full" input gradient.
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

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

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
  // s - 0 is s for every s (V{} + s would compute 0 + s, which -0.0 keeps the compiler
  // from folding: a scalar add before every broadcast)
  static V splat(T s) { return s - V{}; }
  // V{} + s would turn -0.0 into +0.0, so the sign bit is made as an integer
  static V abs(V v) { return (V)((IV)v & ~(IV{} + (I(1) << (8 * sizeof(T) - 1)))); }
  static V clamp1(V v) {
#if defined(__AVX512DQ__)
    // vrange, imm 0b0010: of v and 1 the one of smaller magnitude, with v's sign, which is
    // clamp(v, -1, 1) in one instruction where min and max take two (they share the two
    // vector ports with the subtraction and the FMA: 4 ops a term become 3)
    if constexpr (sizeof(T) == 4)
      return (V)_mm512_range_ps((__m512)v, _mm512_set1_ps(1.0f), 0b0010);
    else
      return (V)_mm512_range_pd((__m512d)v, _mm512_set1_pd(1.0), 0b0010);
#else
    const V one = splat(T(1));
    v = v < one ? v : one;
    return v > -one ? v : -one;
#endif
  }
  // sign(v) = (v > 0) - (v < 0), through the comparisons' all-ones masks
  static V sign(V v) {
    const IV one = (IV)splat(T(1));
    return (V)((v > V{}) & one) - (V)((v < V{}) & one);
  }
};

// Runs task(0 .. n_tasks - 1); returns how many threads took part. at::parallel_for is a
// header template: with torch's OpenMP backend it is parallel only when this file is
// compiled with -fopenmp (adder_cpu.py adds it), else it runs everything on the caller.
template <class Task>
int64_t run_tasks(int64_t n_tasks, const Task& task) {
  if (n_tasks <= 0) return 0;
  std::atomic<int64_t> next{0}, workers{0};
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), n_tasks);
  at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
    workers.fetch_add(1, std::memory_order_relaxed);
    for (int64_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < n_tasks;) task(t);
  });
  return workers.load();
}

// ------------------------------------------------------------------------------ geometry

// Rows are patches of a zero-padded channels-last image xp [N, Hp, Wp, C]: row l = (n, i, j)
// starts at offset row_offset(l), and its K = kh·kw·C columns are kh·kw taps of C contiguous
// channels, tap t at tap_offset(t) from there. Plain rows x [L, K] are the 1x1 case:
// N = L images of one pixel with K channels. No patch matrix is ever built.
struct Geometry {
  int64_t n, hp, wp, c, kh, kw, sh, sw, dh, dw, ho, wo;

  Geometry(const at::Tensor& xp, const std::vector<int64_t>& g)
      : n(xp.size(0)), hp(xp.size(1)), wp(xp.size(2)), c(xp.size(3)), kh(g.at(0)), kw(g.at(1)),
        sh(g.at(2)), sw(g.at(3)), dh(g.at(4)), dw(g.at(5)),
        ho((hp - dh * (kh - 1) - 1) / sh + 1), wo((wp - dw * (kw - 1) - 1) / sw + 1) {}
  int64_t taps() const { return kh * kw; }
  int64_t k() const { return taps() * c; }
  int64_t image_rows() const { return ho * wo; }
  int64_t rows() const { return n * ho * wo; }
  int64_t row_offset(int64_t l) const {
    const int64_t img = l / image_rows(), r = l % image_rows();
    return ((img * hp + (r / wo) * sh) * wp + (r % wo) * sw) * c;
  }
  int64_t tap_offset(int64_t t) const { return ((t / kw) * dh * wp + (t % kw) * dw) * c; }
};

// Where element (row l, filter f) of a per-row tensor [N, O, Ho, Wo] lives, any strides:
// the output and its gradient stay NCHW (or channels-last), never copied to rows.
struct RowLayout {
  int64_t s_img, s_f, s_h, s_w, ho, wo;

  RowLayout(const at::Tensor& t)
      : s_img(t.stride(0)), s_f(t.stride(1)), s_h(t.stride(2)), s_w(t.stride(3)), ho(t.size(2)),
        wo(t.size(3)) {}
  int64_t offset(int64_t l) const {
    const int64_t r = l % (ho * wo);
    return l / (ho * wo) * s_img + (r / wo) * s_h + (r % wo) * s_w;
  }
};

// One reduction block of the forward: taps [t0, t0 + nt), channels [c0, c0 + len) of each.
struct KBlock {
  int64_t t0, nt, c0, len;
};

std::vector<KBlock> k_blocks(const Geometry& geo) {
  std::vector<KBlock> blocks;
  if (geo.c >= kForwardKc) {
    for (int64_t t = 0; t < geo.taps(); ++t)
      for (int64_t c0 = 0; c0 < geo.c; c0 += kForwardKc)
        blocks.push_back({t, 1, c0, std::min(kForwardKc, geo.c - c0)});
  } else {
    const int64_t per = std::max<int64_t>(1, kForwardKc / geo.c);
    for (int64_t t = 0; t < geo.taps(); t += per)
      blocks.push_back({t, std::min(per, geo.taps() - t), 0, geo.c});
  }
  return blocks;
}

// ------------------------------------------------------------------------------ forward

// The difference x - w of one row value and one panel vector. The panel holds -w, so it is
// x + (-w) (the same rounding as x - w); with AVX-512 it is fma(x, 1, -w), also the same
// value (the product is exact), which moves the subtraction from the two add ports to the
// two FMA ports, leaving the add ports to the accumulation: 1.4-1.5x on Zen 4.
template <typename T>
struct Diff {
  using V = typename Simd<T>::V;
  static V of(const T* x, V nw) { return Simd<T>::splat(*x) + nw; }
};
#if defined(__AVX512F__)
template <>
struct Diff<float> {
  using V = Simd<float>::V;
  static V of(const float* x, V nw) {
    return (V)_mm512_fmadd_ps(_mm512_set1_ps(*x), _mm512_set1_ps(1.0f), (__m512)nw);
  }
};
template <>
struct Diff<double> {
  using V = Simd<double>::V;
  static V of(const double* x, V nw) {
    return (V)_mm512_fmadd_pd(_mm512_set1_pd(*x), _mm512_set1_pd(1.0), (__m512d)nw);
  }
};
#endif

// acc[i] += sum over the block's columns of |x_i - w| for MR rows and one W-wide panel of
// negated filters; rows[i] point at channel c0 of row i's first pixel, tap t at toff[t]
// from it, and the panel steps c·W a tap.
template <typename T>
inline void l1_micro(const T* const* rows, const int64_t* toff, const KBlock& b, int64_t c,
                     const T* panel, T* acc) {
  using S = Simd<T>;
  using V = typename S::V;
  V a[kRows];
  for (int i = 0; i < kRows; ++i) a[i] = S::load(acc + i * S::W);
  for (int64_t tt = 0; tt < b.nt; ++tt) {
    const T* r[kRows];
    for (int i = 0; i < kRows; ++i) r[i] = rows[i] + toff[b.t0 + tt];
    const T* pw = panel + tt * c * S::W;
    for (int64_t j = 0; j < b.len; ++j) {
      const V nw = S::load(pw + j * S::W);
      for (int i = 0; i < kRows; ++i) a[i] += S::abs(Diff<T>::of(r[i] + j, nw));
    }
  }
  for (int i = 0; i < kRows; ++i) S::store(acc + i * S::W, a[i]);
}

template <typename T>
void forward_impl(const T* xp, const T* w, T* out, const Geometry& geo, const RowLayout& lay,
                  int64_t o, bool negate) {
  constexpr int W = Simd<T>::W;
  const int64_t k = geo.k(), n = geo.rows(), panels = (o + W - 1) / W;
  // negated filters packed [panel][k][W], zero past o (their outputs are never stored)
  std::vector<T> packed(panels * k * W, T(0));
  for (int64_t f = 0; f < o; ++f)
    for (int64_t j = 0; j < k; ++j) packed[((f / W) * k + j) * W + f % W] = -w[f * k + j];
  std::vector<int64_t> toff(geo.taps());
  for (int64_t t = 0; t < geo.taps(); ++t) toff[t] = geo.tap_offset(t);
  const std::vector<KBlock> blocks = k_blocks(geo);
  run_tasks((n + kForwardRows - 1) / kForwardRows, [&](int64_t task) {
    const int64_t r0 = task * kForwardRows, r1 = std::min(n, r0 + kForwardRows);
    const int64_t groups = (r1 - r0 + kRows - 1) / kRows;
    std::vector<T> acc(groups * panels * kRows * W, T(0));
    std::vector<const T*> bases(groups * kRows);
    for (int64_t i = 0; i < groups * kRows; ++i)  // past the last row: repeat it, never stored
      bases[i] = xp + geo.row_offset(std::min(r0 + i, r1 - 1));
    for (const KBlock& b : blocks)
      for (int64_t g = 0; g < groups; ++g) {
        const T* rows[kRows];
        for (int i = 0; i < kRows; ++i) rows[i] = bases[g * kRows + i] + b.c0;
        for (int64_t p = 0; p < panels; ++p)
          l1_micro<T>(rows, toff.data(), b, geo.c,
                      packed.data() + (p * k + b.t0 * geo.c + b.c0) * W,
                      acc.data() + (g * panels + p) * kRows * W);
      }
    const T sign = negate ? T(-1) : T(1);
    for (int64_t r = r0; r < r1; ++r) {
      T* dst = out + lay.offset(r);
      const T* src = acc.data() + (r - r0) / kRows * panels * kRows * W + (r - r0) % kRows * W;
      for (int64_t f = 0; f < o; ++f) dst[f * lay.s_f] = sign * src[f / W * kRows * W + f % W];
    }
  });
}

// ------------------------------------------------------------------------ input gradient

// Filters [O, taps, C] as [O, taps, cp] with cp >= C a multiple of W, zero past C, so every
// channel block loads whole vectors.
template <typename T>
std::vector<T> padded_taps(const T* w, int64_t o, int64_t taps, int64_t c, int64_t cp) {
  std::vector<T> out(o * taps * cp, T(0));
  for (int64_t f = 0; f < o * taps; ++f)
    std::memcpy(out.data() + f * cp, w + f * c, c * sizeof(T));
  return out;
}

// One vector of W channels from c0 of a pixel of c channels, zero past c.
template <typename T>
inline typename Simd<T>::V load_cols(const T* px, int64_t c0, int64_t c) {
  constexpr int W = Simd<T>::W;
  if (c0 + W <= c) return Simd<T>::load(px + c0);
  T buf[W] = {};
  std::memcpy(buf, px + c0, (c - c0) * sizeof(T));
  return Simd<T>::load(buf);
}

template <typename T>
inline void store_cols(T* px, int64_t c0, int64_t c, typename Simd<T>::V v) {
  constexpr int W = Simd<T>::W;
  if (c0 + W <= c) return Simd<T>::store(px + c0, v);
  T buf[W];
  Simd<T>::store(buf, v);
  std::memcpy(px + c0, buf, (c - c0) * sizeof(T));
}

// gxp[rows, tap, c0:c0+W] += sum_o g[row, o] * phi(w[o, tap, c0:] - x[row, tap, c0:]) for MR
// rows (offsets `rows`, already at the tap); a repeated last row is computed, not added.
template <typename T, bool kSign>
inline void grad_input_micro(const T* xp, const T* const* grow, int64_t gs, const T* wt,
                             int64_t wstride, T* gxp, const int64_t* rows, int64_t c0,
                             int64_t c, int64_t o) {
  using S = Simd<T>;
  using V = typename S::V;
  V xv[kRows], a[kRows];
  for (int i = 0; i < kRows; ++i) {
    xv[i] = load_cols(xp + rows[i], c0, c);
    a[i] = V{};
  }
  for (int64_t f = 0; f < o; ++f) {
    const V w = S::load(wt + f * wstride);
    for (int i = 0; i < kRows; ++i) {
      const V d = w - xv[i];
      a[i] += S::splat(grow[i][f * gs]) * (kSign ? S::sign(d) : S::clamp1(d));
    }
  }
  for (int i = 0; i < kRows; ++i)
    if (i == 0 || rows[i] != rows[i - 1])
      store_cols(gxp + rows[i], c0, c, load_cols(gxp + rows[i], c0, c) + a[i]);
}

template <typename T, bool kSign>
void grad_input_impl(const T* xp, const T* w, const T* g, T* gxp, const Geometry& geo,
                     const RowLayout& lay, int64_t o) {
  constexpr int W = Simd<T>::W;
  const int64_t taps = geo.taps(), c = geo.c, cp = (c + W - 1) / W * W;
  const std::vector<T> wp = padded_taps(w, o, taps, c, cp);
  const int64_t pixels = geo.hp * geo.wp * c;  // one padded image
  // Tasks are whole images, so no two threads add into the same pixel.
  const int64_t per_task = std::max<int64_t>(1, kForwardRows / geo.image_rows());
  run_tasks((geo.n + per_task - 1) / per_task, [&](int64_t task) {
    const int64_t n0 = task * per_task, n1 = std::min(geo.n, n0 + per_task);
    std::fill(gxp + n0 * pixels, gxp + n1 * pixels, T(0));
    const int64_t r0 = n0 * geo.image_rows(), r1 = n1 * geo.image_rows();
    std::vector<int64_t> base(r1 - r0);
    for (int64_t r = r0; r < r1; ++r) base[r - r0] = geo.row_offset(r);
    // channel blocks outside the rows: one block's filter strip (o x W) stays in L1
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t toff = geo.tap_offset(t);
      for (int64_t c0 = 0; c0 < c; c0 += W)
        for (int64_t r = r0; r < r1; r += kRows) {
          int64_t rows[kRows];
          const T* grow[kRows];
          for (int i = 0; i < kRows; ++i) {
            const int64_t l = std::min(r + i, r1 - 1);
            rows[i] = base[l - r0] + toff;
            grow[i] = g + lay.offset(l);
          }
          grad_input_micro<T, kSign>(xp, grow, lay.s_f, wp.data() + t * cp + c0, taps * cp,
                                     gxp, rows, c0, c, o);
        }
    }
  });
}

// ----------------------------------------------------------------------- filter gradient

// gw[filters, tap, c0:c0+W] = sum_l g[l, f] * sign(x[l, tap, c0:] - w[f, tap, c0:]) for MR
// filters (a repeated last filter is computed, stored once).
template <typename T>
inline void grad_weight_sign_micro(const T* xp, const T* g, const int64_t* goff, int64_t gs,
                                   const T* const* wt, const int64_t* filters,
                                   const int64_t* base, int64_t n, int64_t c0, int64_t c,
                                   T* const* out) {
  using S = Simd<T>;
  using V = typename S::V;
  V wv[kRows], a[kRows];
  for (int i = 0; i < kRows; ++i) {
    wv[i] = S::load(wt[i]);
    a[i] = V{};
  }
  for (int64_t l = 0; l < n; ++l) {
    const V xv = load_cols(xp + base[l], c0, c);
    const T* grow = g + goff[l];
    for (int i = 0; i < kRows; ++i) a[i] += S::splat(grow[filters[i] * gs]) * S::sign(xv - wv[i]);
  }
  for (int i = 0; i < kRows; ++i)
    if (i == 0 || filters[i] != filters[i - 1]) store_cols(out[i], c0, c, a[i]);
}

template <typename T>
void grad_weight_sign_impl(const T* xp, const T* w, const T* g, T* gw, const Geometry& geo,
                           const RowLayout& lay, int64_t o) {
  constexpr int W = Simd<T>::W;
  const int64_t taps = geo.taps(), c = geo.c, cp = (c + W - 1) / W * W, n = geo.rows();
  const std::vector<T> wp = padded_taps(w, o, taps, c, cp);
  std::vector<int64_t> base(n), goff(n);
  for (int64_t l = 0; l < n; ++l) base[l] = geo.row_offset(l), goff[l] = lay.offset(l);
  const int64_t filter_groups = (o + kRows - 1) / kRows, col_blocks = cp / W;
  run_tasks(filter_groups * taps * col_blocks, [&](int64_t task) {
    const int64_t f0 = task / (taps * col_blocks) * kRows;
    const int64_t t = task / col_blocks % taps, c0 = task % col_blocks * W;
    const int64_t toff = geo.tap_offset(t);
    std::vector<int64_t> at_tap(n);
    for (int64_t l = 0; l < n; ++l) at_tap[l] = base[l] + toff;
    int64_t filters[kRows];
    const T* wt[kRows];
    T* out[kRows];
    for (int i = 0; i < kRows; ++i) {
      filters[i] = std::min<int64_t>(f0 + i, o - 1);
      wt[i] = wp.data() + (filters[i] * taps + t) * cp + c0;
      out[i] = gw + (filters[i] * taps + t) * c;
    }
    grad_weight_sign_micro<T>(xp, g, goff.data(), lay.s_f, wt, filters, at_tap.data(), n, c0, c,
                              out);
  });
}

// --------------------------------------------------------------------------- bindings

// xp [N, Hp, Wp, C] (padded, channels last), w [O, kh·kw·C] (taps major, channels minor),
// geometry {kh, kw, sh, sw, dh, dw}; grads and outputs per row are [N·Ho·Wo, O].
Geometry checked(const at::Tensor& xp, const at::Tensor& w, const std::vector<int64_t>& g) {
  TORCH_CHECK(xp.device().is_cpu() && w.device().is_cpu(), "adder_cpu: CPU tensors only");
  TORCH_CHECK(xp.dim() == 4 && w.dim() == 2, "adder_cpu: wants xp [N, Hp, Wp, C], w [O, K]");
  TORCH_CHECK(xp.scalar_type() == w.scalar_type(), "adder_cpu: x and w differ in dtype");
  TORCH_CHECK(g.size() == 6, "adder_cpu: geometry is {kh, kw, sh, sw, dh, dw}");
  const Geometry geo(xp, g);
  TORCH_CHECK(w.size(1) == geo.k(), "adder_cpu: filters have ", w.size(1), " columns, not ",
              geo.k());
  TORCH_CHECK(geo.kh > 0 && geo.kw > 0 && geo.sh > 0 && geo.sw > 0 && geo.dh > 0 &&
                  geo.dw > 0 && geo.ho > 0 && geo.wo > 0,
              "adder_cpu: bad geometry");
  return geo;
}

void check_rows_tensor(const at::Tensor& t, const Geometry& geo, const at::Tensor& w) {
  TORCH_CHECK(t.dim() == 4 && t.size(0) == geo.n && t.size(1) == w.size(0) &&
                  t.size(2) == geo.ho && t.size(3) == geo.wo,
              "adder_cpu: per-row tensor is not [N, O, Ho, Wo]");
  TORCH_CHECK(t.scalar_type() == w.scalar_type(), "adder_cpu: grad differs in dtype");
}

// Writes into `out` [N, O, Ho, Wo] (any strides; e.g. NCHW or channels-last), negated if
// asked: the layer's output is the negative distance.
void forward(const at::Tensor& xp_in, const at::Tensor& w_in, std::vector<int64_t> g,
             at::Tensor out, bool negate) {
  const auto xp = xp_in.contiguous(), w = w_in.contiguous();
  const Geometry geo = checked(xp, w, g);
  check_rows_tensor(out, geo, w);
  if (out.numel() == 0) return;
  if (geo.k() == 0) return void(out.zero_());
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "adder_forward", [&] {
    forward_impl<scalar_t>(xp.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
                           out.data_ptr<scalar_t>(), geo, RowLayout(out), w.size(0), negate);
  });
}

at::Tensor grad_input(const at::Tensor& xp_in, const at::Tensor& w_in, const at::Tensor& g_in,
                      std::vector<int64_t> g, bool sign) {
  const auto xp = xp_in.contiguous(), w = w_in.contiguous();
  const Geometry geo = checked(xp, w, g);
  const auto& grad = g_in;
  check_rows_tensor(grad, geo, w);
  auto gxp = at::empty_like(xp);  // zeroed image by image by the task that adds into it
  if (gxp.numel() == 0 || w.size(0) == 0) return gxp.zero_();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "adder_grad_input", [&] {
    auto fn = sign ? grad_input_impl<scalar_t, true> : grad_input_impl<scalar_t, false>;
    fn(xp.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(),
       gxp.data_ptr<scalar_t>(), geo, RowLayout(grad), w.size(0));
  });
  return gxp;
}

at::Tensor grad_weight_sign(const at::Tensor& xp_in, const at::Tensor& w_in,
                            const at::Tensor& g_in, std::vector<int64_t> g) {
  const auto xp = xp_in.contiguous(), w = w_in.contiguous();
  const Geometry geo = checked(xp, w, g);
  const auto& grad = g_in;
  check_rows_tensor(grad, geo, w);
  auto gw = at::empty_like(w);  // every element is stored
  if (gw.numel() == 0 || geo.rows() == 0) return gw.zero_();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "adder_grad_weight_sign", [&] {
    grad_weight_sign_impl<scalar_t>(xp.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
                                    grad.data_ptr<scalar_t>(), gw.data_ptr<scalar_t>(), geo,
                                    RowLayout(grad), w.size(0));
  });
  return gw;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "out[n, o, i, j] = (-) sum_k |x[l, k] - w[o, k]| over xp's patches");
  m.def("grad_input", &grad_input,
        "into the padded image: sum_o g[l, o] * clamp or sign of (w[o, k] - x[l, k])");
  m.def("grad_weight_sign", &grad_weight_sign, "sum_l g[l, o] * sign(x[l, k] - w[o, k])");
  m.def("task_threads", [](int64_t n_tasks) { return run_tasks(n_tasks, [](int64_t) {}); },
        "how many threads a call with n_tasks tasks runs them on");
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
