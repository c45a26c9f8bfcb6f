// GEMM family entry points: gemm_f32, linear_bf16w, gemm_bf16. Each validates every argument,
// then dispatches on active_isa() to the blocked driver (gemm_driver.cpp) with that ISA's kit,
// or, for few rows (gemm.h) against a [N,K] weight, to the GEMV paths that stream W once without packing.
// Precision: fp32 accumulation everywhere. linear_bf16w rounds A to bf16 (nearest even) for every
// M, as src/tensor/ref/gemm.ts specifies, so every product is an exact bf16 × bf16 one and the
// AVX512-BF16 path can use vdpbf16ps for the GEMV too (decode is not only bound by weight bytes:
// at 4-8 rows, and for one row on cache-resident weights, the widening GEMV was compute-bound).
#include <napi.h>
#include <omp.h>

#include <algorithm>
#include <new>
#include <string>
#include <vector>

#include "check.h"
#include "cpu.h"
#include "gemm.h"
#include "registry.h"

namespace rrt {
namespace gemm {

// ---- dispatch helpers ----

static const Kit& f32_kit(Isa isa) {
  return isa >= Isa::avx512 ? kit_f32_avx512 : isa == Isa::avx2 ? kit_f32_avx2 : kit_f32_scalar;
}

static pack_fn f32_packer(Isa isa) { return isa >= Isa::avx512 ? pack_f32_avx512 : pack_f32; }

// GEMV work below this many multiply-adds stays on the calling thread: a fork/join costs tens of
// µs on this VM, more than such a GEMV takes on one thread (measured: 192 columns × 576, 3 rows).
constexpr int64_t kMinParallelGemv = 1 << 22;

// Splits N between threads in slices of 16 columns (one cache line of C per row for M = 1).
template <typename X, typename W, typename Fn>
static void gemv_parallel(Fn fn, float* c, const X* a, const W* w, int64_t M, int64_t N, int64_t K,
                          int accumulate) {
  int nt = omp_get_max_threads();
  const int64_t slices = (N + 15) / 16;
  if (M * N * K < kMinParallelGemv) nt = 1;
  if (nt > slices) nt = (int)slices;
  if (nt <= 1) return fn(c, a, w, M, N, K, 0, N, accumulate);
#pragma omp parallel num_threads(nt)
  {
    int64_t n0, n1;
    gemv_slice(N, omp_get_thread_num(), omp_get_num_threads(), &n0, &n1);
    fn(c, a, w, M, N, K, n0, n1, accumulate);
  }
}

static gemv_f32_fn gemv_f32_for(Isa isa) {
  return isa >= Isa::avx512 ? gemv_f32_avx512 : isa == Isa::avx2 ? gemv_f32_avx2 : gemv_f32_scalar;
}

static gemv_bf16_fn gemv_bf16_for(Isa isa) {
  return isa == Isa::avx512bf16 ? gemv_bf16_avx512bf16
         : isa == Isa::avx512   ? gemv_bf16_avx512
         : isa == Isa::avx2     ? gemv_bf16_avx2
                                : gemv_bf16_scalar;
}

gemv_f32_fn active_gemv_f32() { return gemv_f32_for(active_isa()); }
gemv_bf16_fn active_gemv_bf16() { return gemv_bf16_for(active_isa()); }

static void gemv_f32(Isa isa, float* c, const float* a, const float* w, int64_t M, int64_t N, int64_t K,
                     int accumulate) {
  gemv_parallel(gemv_f32_for(isa), c, a, w, M, N, K, accumulate);
}

static void gemv_bf16(Isa isa, float* c, const uint16_t* a, const uint16_t* w, int64_t M, int64_t N, int64_t K,
                      int accumulate) {
  gemv_parallel(gemv_bf16_for(isa), c, a, w, M, N, K, accumulate);
}

// Small per-call buffers (A transposed or rounded), grow-only per calling thread.
template <typename T>
static T* scratch(size_t n) {
  thread_local std::vector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// ---- kernels (inputs validated) ----

// The degenerate shapes: nothing to write, or K = 0 (C = 0 unless accumulating). True when done.
static bool empty_product(float* c, int64_t M, int64_t N, int64_t K, bool accumulate) {
  if (M == 0 || N == 0) return true;
  if (K > 0) return false;
  if (!accumulate) std::fill(c, c + M * N, 0.0f);
  return true;
}

static void gemm_f32_run(float* c, const float* a, const float* b, int64_t M, int64_t N, int64_t K, bool trans_a,
                         bool trans_b, bool accumulate) {
  if (empty_product(c, M, N, K, accumulate)) return;
  const Isa isa = active_isa();
  if (trans_b && M <= kGemvMaxRowsF32) {
    if (trans_a) {  // A is [K,M]: make its few rows contiguous
      float* at = scratch<float>((size_t)(M * K));
      for (int64_t k = 0; k < K; k++)
        for (int64_t m = 0; m < M; m++) at[m * K + k] = a[k * M + m];
      a = at;
    }
    return gemv_f32(isa, c, a, b, M, N, K, accumulate);
  }
  const pack_fn pack = f32_packer(isa);
  // A as M×K rows; B as N×K rows (op(B) transposed).
  const Operand A = trans_a ? Operand{a, 1, M, 4, pack} : Operand{a, K, 1, 4, pack};
  const Operand B = trans_b ? Operand{b, K, 1, 4, pack} : Operand{b, 1, N, 4, pack};
  gemm_blocked(f32_kit(isa), c, A, B, M, N, K, accumulate);
}

// C (+)= A·Bᵀ with A [M,K] and B [N,K] in bf16.
static void gemm_bf16_run(float* c, const uint16_t* a, const uint16_t* b, int64_t M, int64_t N, int64_t K,
                          bool accumulate) {
  if (empty_product(c, M, N, K, accumulate)) return;
  const Isa isa = active_isa();
  if (M <= kGemvMaxRowsBf16) return gemv_bf16(isa, c, a, b, M, N, K, accumulate);
  if (isa == Isa::avx512bf16) {
    const Operand A{a, K, 1, 2, pack_bf16_pairs_avx512}, B{b, K, 1, 2, pack_bf16_pairs_avx512};
    return gemm_blocked(kit_bf16_avx512, c, A, B, M, N, K, accumulate);
  }
  const Operand A{a, K, 1, 2, pack_bf16_to_f32}, B{b, K, 1, 2, pack_bf16_to_f32};
  gemm_blocked(f32_kit(isa), c, A, B, M, N, K, accumulate);
}

static void linear_bf16w_run(float* c, const float* a, const uint16_t* w, int64_t M, int64_t N, int64_t K,
                             bool accumulate) {
  if (empty_product(c, M, N, K, accumulate)) return;
  uint16_t* ab = scratch<uint16_t>((size_t)(M * K));
  f32_to_bf16_n(ab, a, M * K);
  gemm_bf16_run(c, ab, w, M, N, K, accumulate);
}

// ---- JS entry points ----

// Turns an allocation failure into a JS error instead of terminating the process.
template <typename Fn>
static Napi::Value guarded(const Args& args, Fn fn) {
  try {
    fn();
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(args.env(), std::string("[") + args.op() + "] out of memory for packing buffers");
  }
  return args.env().Undefined();
}

// gemm_f32(c, a, b, M, N, K, transA, transB, accumulate)
static Napi::Value js_gemm_f32(const Napi::CallbackInfo& info) {
  Args g(info, "gemm_f32", 9);
  const int64_t M = g.size(3, "M"), N = g.size(4, "N"), K = g.size(5, "K");
  const bool ta = g.flag(6, "transA"), tb = g.flag(7, "transB"), acc = g.flag(8, "accumulate");
  const int64_t mn = g.mul(M, N), mk = g.mul(M, K), kn = g.mul(K, N);
  float* c = g.f32(0, "c", mn, "M·N");
  const float* a = g.f32(1, "a", mk, "M·K");
  const float* b = g.f32(2, "b", kn, "K·N");
  g.no_overlap(c, mn * 4, "c", a, mk * 4, "a");
  g.no_overlap(c, mn * 4, "c", b, kn * 4, "b");
  return guarded(g, [&] { gemm_f32_run(c, a, b, M, N, K, ta, tb, acc); });
}

// linear_bf16w(c, a, w, M, N, K, accumulate)
static Napi::Value js_linear_bf16w(const Napi::CallbackInfo& info) {
  Args g(info, "linear_bf16w", 7);
  const int64_t M = g.size(3, "M"), N = g.size(4, "N"), K = g.size(5, "K");
  const bool acc = g.flag(6, "accumulate");
  const int64_t mn = g.mul(M, N), mk = g.mul(M, K), nk = g.mul(N, K);
  float* c = g.f32(0, "c", mn, "M·N");
  const float* a = g.f32(1, "a", mk, "M·K");
  const uint16_t* w = g.u16(2, "w", nk, "N·K");
  g.no_overlap(c, mn * 4, "c", a, mk * 4, "a");
  g.no_overlap(c, mn * 4, "c", w, nk * 2, "w");
  return guarded(g, [&] { linear_bf16w_run(c, a, w, M, N, K, acc); });
}

// gemm_bf16(c, a, b, M, N, K)
static Napi::Value js_gemm_bf16(const Napi::CallbackInfo& info) {
  Args g(info, "gemm_bf16", 6);
  const int64_t M = g.size(3, "M"), N = g.size(4, "N"), K = g.size(5, "K");
  const int64_t mn = g.mul(M, N), mk = g.mul(M, K), nk = g.mul(N, K);
  float* c = g.f32(0, "c", mn, "M·N");
  const uint16_t* a = g.u16(1, "a", mk, "M·K");
  const uint16_t* b = g.u16(2, "b", nk, "N·K");
  g.no_overlap(c, mn * 4, "c", a, mk * 2, "a");
  g.no_overlap(c, mn * 4, "c", b, nk * 2, "b");
  return guarded(g, [&] { gemm_bf16_run(c, a, b, M, N, K, false); });
}

RRT_EXPORT("gemm_f32", js_gemm_f32);
RRT_EXPORT("linear_bf16w", js_linear_bf16w);
RRT_EXPORT("gemm_bf16", js_gemm_bf16);

}  // namespace gemm
}  // namespace rrt
