// dtype conversions f32 ↔ bf16 and f32 ↔ f16 (bf16/f16 travel as uint16 bit patterns).
// Contract (same as src/tensor/ref/gemm.ts, bit for bit): f32 → bf16 and f32 → f16 round to
// nearest even; f16 overflow gives ±inf and subnormals are exact; a NaN stays a NaN with its
// quiet bit set and its top payload bits kept. bf16 → f32 is a 16-bit shift. dst never overlaps src.
#include <napi.h>
#include <omp.h>

#include <cstring>

#include "check.h"
#include "cpu.h"
#include "gemm.h"
#include "registry.h"

namespace rrt {
namespace gemm {

// ---- scalar conversions ----

static inline uint32_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
static inline float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

uint16_t f32_to_bf16_one(float x) {
  const uint32_t u = bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);  // carries into the exponent as RNE requires
}

static inline float bf16_to_f32_one(uint16_t h) { return from_bits((uint32_t)h << 16); }

uint16_t f32_to_f16_one(float x) {
  const uint32_t u = bits(x);
  const uint32_t sign = (u >> 16) & 0x8000u, exp = (u >> 23) & 0xffu, mant = u & 0x7fffffu;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
  const int e = (int)exp - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00u);
  if (e <= 0) {            // f16 subnormal (or zero): count units of 2^-24
    if (e < -10) return (uint16_t)sign;  // below 2^-25: rounds to zero
    const uint32_t m = mant | 0x800000u;
    const int shift = 14 - e;
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) r++;  // r = 0x400 is the smallest normal, encoded right
    return (uint16_t)(sign | r);
  }
  uint32_t h = sign | (uint32_t)e << 10 | mant >> 13;
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;  // may carry up to 0x7c00 = inf
  return (uint16_t)h;
}

float f16_to_f32_one(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0x1f) return from_bits(sign | 0x7f800000u | (mant ? 0x400000u | mant << 13 : 0));
  if (exp == 0) {
    if (mant == 0) return from_bits(sign);
    exp = 127 - 15 + 1;  // normalise the subnormal
    while (!(mant & 0x400u)) {
      mant <<= 1;
      exp--;
    }
    return from_bits(sign | exp << 23 | (mant & 0x3ffu) << 13);
  }
  return from_bits(sign | (exp + 127 - 15) << 23 | mant << 13);
}

// ---- dispatch: AVX-512 loops when active, scalar otherwise ----

void f32_to_bf16_n(uint16_t* dst, const float* src, int64_t n) {
  if (active_isa() >= Isa::avx512) return f32_to_bf16_avx512(dst, src, n);
  for (int64_t i = 0; i < n; i++) dst[i] = f32_to_bf16_one(src[i]);
}

static void bf16_to_f32_n(float* dst, const uint16_t* src, int64_t n) {
  if (active_isa() >= Isa::avx512) return bf16_to_f32_avx512(dst, src, n);
  for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32_one(src[i]);
}

static void f32_to_f16_n(uint16_t* dst, const float* src, int64_t n) {
  if (active_isa() >= Isa::avx512) return f32_to_f16_avx512(dst, src, n);
  for (int64_t i = 0; i < n; i++) dst[i] = f32_to_f16_one(src[i]);
}

static void f16_to_f32_n(float* dst, const uint16_t* src, int64_t n) {
  if (active_isa() >= Isa::avx512) return f16_to_f32_avx512(dst, src, n);
  for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32_one(src[i]);
}

// Large conversions (whole checkpoints) split into contiguous chunks, one per thread.
constexpr int64_t kMinParallel = 1 << 18;

template <typename D, typename S>
static void convert_parallel(void (*fn)(D*, const S*, int64_t), D* dst, const S* src, int64_t n) {
  int nt = n < kMinParallel ? 1 : omp_get_max_threads();
  if (nt <= 1) return fn(dst, src, n);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), nthr = omp_get_num_threads();
    const int64_t i0 = n * t / nthr / 16 * 16, i1 = t == nthr - 1 ? n : n * (t + 1) / nthr / 16 * 16;
    fn(dst + i0, src + i0, i1 - i0);
  }
}

// ---- JS entry points: (dst, src, n) ----

template <typename D, typename S>
static Napi::Value convert_entry(const Napi::CallbackInfo& info, const char* op, void (*fn)(D*, const S*, int64_t)) {
  Args g(info, op, 3);
  const int64_t n = g.size(2, "n");
  D* dst;
  const S* src;
  if constexpr (sizeof(D) == 4) {
    dst = (D*)g.f32(0, "dst", n, "n");
    src = (const S*)g.u16(1, "src", n, "n");
  } else {
    dst = (D*)g.u16(0, "dst", n, "n");
    src = (const S*)g.f32(1, "src", n, "n");
  }
  g.no_overlap(dst, n * (int64_t)sizeof(D), "dst", src, n * (int64_t)sizeof(S), "src");
  if (n > 0) convert_parallel(fn, dst, src, n);
  return info.Env().Undefined();
}

static Napi::Value js_f32_to_bf16(const Napi::CallbackInfo& info) {
  return convert_entry<uint16_t, float>(info, "f32_to_bf16", f32_to_bf16_n);
}
static Napi::Value js_bf16_to_f32(const Napi::CallbackInfo& info) {
  return convert_entry<float, uint16_t>(info, "bf16_to_f32", bf16_to_f32_n);
}
static Napi::Value js_f32_to_f16(const Napi::CallbackInfo& info) {
  return convert_entry<uint16_t, float>(info, "f32_to_f16", f32_to_f16_n);
}
static Napi::Value js_f16_to_f32(const Napi::CallbackInfo& info) {
  return convert_entry<float, uint16_t>(info, "f16_to_f32", f16_to_f32_n);
}

RRT_EXPORT("f32_to_bf16", js_f32_to_bf16);
RRT_EXPORT("bf16_to_f32", js_bf16_to_f32);
RRT_EXPORT("f32_to_f16", js_f32_to_f16);
RRT_EXPORT("f16_to_f32", js_f16_to_f32);

}  // namespace gemm
}  // namespace rrt
