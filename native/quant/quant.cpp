// Entry points of the quantized path: weight quantization (llama.cpp's reference rounding),
// conversion between GGUF's blocks and the packed layout (quant.h), dequantization, the embedding
// lookup from a quantized table, activation quantization and linear_q (C[M,N] (+)= A·Wᵀ with W
// packed q8_0 or q4_0). Each validates every argument before writing anything.
#include <napi.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <new>
#include <string>

#include "check.h"
#include "cpu.h"
#include "kernels/fused.h"
#include "gemm/gemm.h"
#include "quant.h"
#include "registry.h"
#include "scratch.h"

namespace rrt {
namespace quant {

static bool has_vnni() {
  static const bool v = (__builtin_cpu_init(), __builtin_cpu_supports("avx512vnni"));
  return v;
}

static bool use_vnni() { return active_isa() >= Isa::avx512 && has_vnni(); }

qgemv_fn active_qgemv() {
  return use_vnni() ? qgemv_avx512vnni : active_isa() >= Isa::avx2 ? qgemv_avx2 : qgemv_scalar;
}

const char* active_qgemv_name() { return use_vnni() ? "avx512-vnni" : active_isa() >= Isa::avx2 ? "avx2" : "scalar"; }

void quantize_act(int8_t* q, float* d, int32_t* s, const float* x, int64_t M, int64_t K) {
  if (use_vnni()) quantize_rows_avx512(q, d, s, x, M, K);
  else quantize_rows(q, d, s, x, M, K);
}

// ---- the packed layout, one value at a time ----

// Row n's panel-block b of a packed W with K/32 = nb blocks per row, and n's lane in it.
static inline uint8_t* panel_block(uint8_t* w, QType t, int64_t nb, int64_t n, int64_t b) {
  return w + ((n / kPanel) * nb + b) * panel_block_bytes(t);
}

static inline void put_f16(uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); }
static inline uint16_t get_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}

// GGUF block (d, then 32 int8 or 16 nibble bytes) → row c of a panel-block, and back.
static void block_to_panel(uint8_t* pb, int c, const uint8_t* g, QType t) {
  std::memcpy(pb + 2 * c, g, 2);
  uint8_t* v = pb + 2 * kPanel;
  if (t == QType::q8_0) {
    for (int k = 0; k < 32; k++) v[64 * (k / 4) + 4 * c + k % 4] = (uint8_t)(g[2 + k] ^ 0x80);
  } else {
    for (int j = 0; j < 16; j++) v[64 * (j / 4) + 4 * c + j % 4] = g[2 + j];
  }
}

static void panel_to_block(uint8_t* g, const uint8_t* pb, int c, QType t) {
  std::memcpy(g, pb + 2 * c, 2);
  const uint8_t* v = pb + 2 * kPanel;
  if (t == QType::q8_0) {
    for (int k = 0; k < 32; k++) g[2 + k] = (uint8_t)(v[64 * (k / 4) + 4 * c + k % 4] ^ 0x80);
  } else {
    for (int j = 0; j < 16; j++) g[2 + j] = v[64 * (j / 4) + 4 * c + j % 4];
  }
}

// Padding rows of the last panel: scale 0 and the value that means 0.
static void pad_panel_rows(uint8_t* w, QType t, int64_t N, int64_t K) {
  const int64_t nb = K / kBlock;
  uint8_t zero[34] = {};
  if (t == QType::q4_0) std::memset(zero + 2, 0x88, 16);
  for (int64_t n = N; n < panels(N) * kPanel; n++)
    for (int64_t b = 0; b < nb; b++) block_to_panel(panel_block(w, t, nb, n, b), (int)(n % kPanel), zero, t);
}

// llama.cpp's reference rounding of one block of 32 values into GGUF's block bytes g.
static void quantize_block(uint8_t* g, const float* x, QType t) {
  if (t == QType::q8_0) {
    float amax = 0.0f;
    for (int i = 0; i < 32; i++) amax = std::fmax(amax, std::fabs(x[i]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(g, gemm::f32_to_f16_one(d));
    for (int i = 0; i < 32; i++) g[2 + i] = (uint8_t)(int8_t)std::round(x[i] * id);
  } else {
    float amax = 0.0f, max = 0.0f;  // the value of largest magnitude, with its sign (first on ties)
    for (int i = 0; i < 32; i++)
      if (std::fabs(x[i]) > amax) {
        amax = std::fabs(x[i]);
        max = x[i];
      }
    const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(g, gemm::f32_to_f16_one(d));
    for (int j = 0; j < 16; j++) {
      const float a = x[j] * id + 8.5f, b = x[16 + j] * id + 8.5f;  // ≥ 0.5: truncation is floor
      const int qa = a > 15.0f ? 15 : (int)a, qb = b > 15.0f ? 15 : (int)b;
      g[2 + j] = (uint8_t)(qa | qb << 4);
    }
  }
}

static float block_value(const uint8_t* pb, int c, int k, QType t) {
  const float d = gemm::f16_to_f32_one(get_f16(pb + 2 * c));
  const uint8_t* v = pb + 2 * kPanel;
  if (t == QType::q8_0) return d * (float)((int)v[64 * (k / 4) + 4 * c + k % 4] - 128);
  const uint8_t byte = v[64 * ((k % 16) / 4) + 4 * c + k % 4];
  return d * (float)((k < 16 ? byte & 15 : byte >> 4) - 8);
}

static void dequantize_row(float* dst, const uint8_t* w, QType t, int64_t K, int64_t n) {
  const int64_t nb = K / kBlock;
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* pb = panel_block((uint8_t*)w, t, nb, n, b);
    for (int k = 0; k < 32; k++) dst[b * kBlock + k] = block_value(pb, (int)(n % kPanel), k, t);
  }
}

// ---- argument checks shared by the entry points ----

static QType read_qtype(const Args& a, size_t i) {
  const int64_t t = a.integer(i, "qtype", 0, 255);
  if (t != (int)QType::q8_0 && t != (int)QType::q4_0)
    a.range_error("qtype must be 8 (q8_0) or 2 (q4_0), got %lld", (long long)t);
  return (QType)t;
}

static void check_k(const Args& a, int64_t K) {
  if (K % kBlock != 0) a.range_error("K = %lld is not a multiple of the block size %lld", (long long)K, (long long)kBlock);
}

static int64_t packed_size(const Args& a, QType t, int64_t N, int64_t K) {
  return a.mul(panels(N), K / kBlock, panel_block_bytes(t));
}

// ---- JS entry points ----

// The sizes every (dst, src, N, K, qtype) entry point takes, K whole blocks: blocks per row, and the
// bytes of W [N, K] packed and as GGUF blocks.
struct Repack {
  int64_t N, K, nb, packed, blocks;  // nb blocks per row; bytes of the packed and the GGUF forms
  QType t;
};

static Repack read_repack(const Args& a) {
  Repack r{};
  r.N = a.size(2, "N"), r.K = a.size(3, "K");
  r.t = read_qtype(a, 4);
  check_k(a, r.K);
  r.nb = r.K / kBlock;
  r.packed = packed_size(a, r.t, r.N, r.K);
  r.blocks = a.mul(r.N, r.nb, ggml_block_bytes(r.t));
  return r;
}

// quantize_q(dst, src, N, K, qtype): f32 W [N, K] → packed.
static Napi::Value js_quantize_q(const Napi::CallbackInfo& info) {
  Args a(info, "quantize_q", 5);
  const Repack r = read_repack(a);
  const int64_t N = r.N, K = r.K, nb = r.nb, bytes = r.packed, n = a.mul(N, K);
  const QType t = r.t;
  uint8_t* dst = a.u8(0, "dst", bytes, "packed bytes");
  const float* src = a.f32(1, "src", n, "N·K");
  a.no_overlap(dst, bytes, "dst", src, n * 4, "src");
  for (int64_t i = 0; i < n; i++)
    if (!std::isfinite(src[i]))
      a.range_error("src[%lld] (row %lld) is %g: only finite weights can be quantized", (long long)i,
                    (long long)(i / K), (double)src[i]);
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t row = 0; row < N; row++)
    for (int64_t b = 0; b < nb; b++) {
      uint8_t g[34];
      quantize_block(g, src + row * K + b * kBlock, t);
      block_to_panel(panel_block(dst, t, nb, row, b), (int)(row % kPanel), g, t);
    }
  pad_panel_rows(dst, t, N, K);
  return info.Env().Undefined();
}

// pack_q(dst, src, N, K, qtype): GGUF blocks of W [N, K] (row-major) → packed.
static Napi::Value js_pack_q(const Napi::CallbackInfo& info) {
  Args a(info, "pack_q", 5);
  const Repack r = read_repack(a);
  uint8_t* dst = a.u8(0, "dst", r.packed, "packed bytes");
  const uint8_t* src = a.u8(1, "src", r.blocks, "GGUF block bytes");
  a.no_overlap(dst, r.packed, "dst", src, r.blocks, "src");
  for (int64_t n = 0; n < r.N; n++)
    for (int64_t b = 0; b < r.nb; b++)
      block_to_panel(panel_block(dst, r.t, r.nb, n, b), (int)(n % kPanel), src + (n * r.nb + b) * ggml_block_bytes(r.t), r.t);
  pad_panel_rows(dst, r.t, r.N, r.K);
  return info.Env().Undefined();
}

// unpack_q(dst, src, N, K, qtype): packed → GGUF blocks.
static Napi::Value js_unpack_q(const Napi::CallbackInfo& info) {
  Args a(info, "unpack_q", 5);
  const Repack r = read_repack(a);
  uint8_t* dst = a.u8(0, "dst", r.blocks, "GGUF block bytes");
  const uint8_t* src = a.u8(1, "src", r.packed, "packed bytes");
  a.no_overlap(dst, r.blocks, "dst", src, r.packed, "src");
  for (int64_t n = 0; n < r.N; n++)
    for (int64_t b = 0; b < r.nb; b++)
      panel_to_block(dst + (n * r.nb + b) * ggml_block_bytes(r.t), panel_block((uint8_t*)src, r.t, r.nb, n, b), (int)(n % kPanel), r.t);
  return info.Env().Undefined();
}

// dequantize_q(dst, src, N, K, qtype): packed → f32 [N, K].
static Napi::Value js_dequantize_q(const Napi::CallbackInfo& info) {
  Args a(info, "dequantize_q", 5);
  const Repack rp = read_repack(a);
  const int64_t N = rp.N, K = rp.K, bytes = rp.packed, n = a.mul(N, K);
  const QType t = rp.t;
  float* dst = a.f32(0, "dst", n, "N·K");
  const uint8_t* src = a.u8(1, "src", bytes, "packed bytes");
  a.no_overlap(dst, n * 4, "dst", src, bytes, "src");
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t r = 0; r < N; r++) dequantize_row(dst + r * K, src, t, K, r);
  return info.Env().Undefined();
}

// embedding_fwd_q(out, table, ids, T, V, D, qtype): out[t] = row ids[t] of a packed table [V, D].
static Napi::Value js_embedding_fwd_q(const Napi::CallbackInfo& info) {
  Args a(info, "embedding_fwd_q", 7);
  const int64_t T = a.size(3, "T"), V = a.size(4, "V"), D = a.size(5, "D");
  const QType t = read_qtype(a, 6);
  check_k(a, D);
  const int64_t n = a.mul(T, D), bytes = packed_size(a, t, V, D);
  float* out = a.f32(0, "out", n, "T·D");
  const uint8_t* table = a.u8(1, "table", bytes, "packed bytes");
  const int32_t* ids = a.i32(2, "ids", T, "T");
  a.no_overlap(out, n * 4, "out", table, bytes, "table");
  a.no_overlap(out, n * 4, "out", ids, T * 4, "ids");
  for (int64_t i = 0; i < T; i++)
    if (ids[i] < 0 || ids[i] >= V)
      a.range_error("ids[%lld] = %d is outside [0, V = %lld)", (long long)i, ids[i], (long long)V);
  for (int64_t i = 0; i < T; i++) dequantize_row(out + i * D, table, t, D, ids[i]);
  return info.Env().Undefined();
}

// quantize_rows_q8(q, d, s, x, M, K): the activation quantization linear_q applies, for tests.
static Napi::Value js_quantize_rows_q8(const Napi::CallbackInfo& info) {
  Args a(info, "quantize_rows_q8", 6);
  const int64_t M = a.size(4, "M"), K = a.size(5, "K");
  check_k(a, K);
  const int64_t n = a.mul(M, K), nb = a.mul(M, K / kBlock);
  int8_t* q = a.i8(0, "q", n, "M·K");
  float* d = a.f32(1, "d", nb, "M·K/32");
  int32_t* s = a.i32(2, "s", nb, "M·K/32");
  const float* x = a.f32(3, "x", n, "M·K");
  a.no_overlap(q, n, "q", x, n * 4, "x");
  a.no_overlap(d, nb * 4, "d", x, n * 4, "x");
  a.no_overlap(s, nb * 4, "s", x, n * 4, "x");
  a.no_overlap(q, n, "q", d, nb * 4, "d");
  a.no_overlap(q, n, "q", s, nb * 4, "s");
  a.no_overlap(d, nb * 4, "d", s, nb * 4, "s");
  quantize_act(q, d, s, x, M, K);
  return info.Env().Undefined();
}

// Quantized activations of the current call, grow-only per calling thread.
static thread_local AlignedScratch t_act;

// Work below this many multiply-adds stays on the calling thread (as the float GEMVs do).
constexpr int64_t kMinParallelMacs = 1 << 22;
// Rows quantized and multiplied per pass, so their int8 copy stays in L2 while the panels stream.
constexpr int64_t kRowChunk = 64;

void linear_q_run(float* c, const float* a, const uint8_t* w, QType t, int64_t M, int64_t N, int64_t K,
                  bool accumulate) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    if (!accumulate) std::memset(c, 0, (size_t)(M * N) * 4);
    return;
  }
  const int64_t nb = K / kBlock;
  char* buf = (char*)t_act.get((size_t)(M * K + M * nb * 8));
  QRows all{(int8_t*)buf, (float*)(buf + M * K), (int32_t*)(buf + M * K + M * nb * 4), M, K};
  const qgemv_fn fn = active_qgemv();
  int nt = omp_get_max_threads();
  if (M * N * K < kMinParallelMacs) nt = 1;
  if (nt > panels(N)) nt = (int)panels(N);
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();
    const int64_t r0 = M * tid / nthr, r1 = M * (tid + 1) / nthr;
    quantize_act((int8_t*)all.q + r0 * K, (float*)all.d + r0 * nb, (int32_t*)all.s + r0 * nb, a + r0 * K, r1 - r0, K);
#pragma omp barrier
    int64_t n0, n1;
    panel_slice(N, tid, nthr, &n0, &n1);
    for (int64_t m = 0; m < M; m += kRowChunk) {
      const int64_t rows = M - m < kRowChunk ? M - m : kRowChunk;
      const QRows x{all.q + m * K, all.d + m * nb, all.s + m * nb, rows, K};
      if (n1 > n0) fn(c + m * N, x, w, t, N, n0, n1, accumulate);
    }
  }
}

// linear_q(c, a, w, M, N, K, qtype, accumulate): C[M, N] (+)= A[M, K]·Wᵀ, W packed [N, K].
static Napi::Value js_linear_q(const Napi::CallbackInfo& info) {
  Args g(info, "linear_q", 8);
  const int64_t M = g.size(3, "M"), N = g.size(4, "N"), K = g.size(5, "K");
  const QType t = read_qtype(g, 6);
  const bool acc = g.flag(7, "accumulate");
  check_k(g, K);
  const int64_t mn = g.mul(M, N), mk = g.mul(M, K), bytes = packed_size(g, t, N, K);
  float* c = g.f32(0, "c", mn, "M·N");
  const float* a = g.f32(1, "a", mk, "M·K");
  const uint8_t* w = g.u8(2, "w", bytes, "packed bytes");
  g.no_overlap(c, mn * 4, "c", a, mk * 4, "a");
  g.no_overlap(c, mn * 4, "c", w, bytes, "w");
  try {
    linear_q_run(c, a, w, t, M, N, K, acc);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "[linear_q] out of memory for the quantized activations");
  }
  return info.Env().Undefined();
}

RRT_EXPORT("quantize_q", js_quantize_q);
RRT_EXPORT("pack_q", js_pack_q);
RRT_EXPORT("unpack_q", js_unpack_q);
RRT_EXPORT("dequantize_q", js_dequantize_q);
RRT_EXPORT("embedding_fwd_q", js_embedding_fwd_q);
RRT_EXPORT("quantize_rows_q8", js_quantize_rows_q8);
RRT_EXPORT("linear_q", js_linear_q);

}  // namespace quant
}  // namespace rrt
