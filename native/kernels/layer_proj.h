// The projections of a fused decoder layer, shared by decode_layer_f32 (one token) and
// batch_layer_f32 (a serving step's rows): y = x·Wᵀ (+ b) (+ (x·Aᵀ)·Bᵀ) over M rows, a thread
// computing a range of output columns, with the GEMV routines linear_bf16w / gemm_f32 use, so
// the results are the bits of the composed ops. Also the JS-argument readers for weights and
// LoRA adapters. Weights may be f32, bf16 or packed q8_0/q4_0 (quant/quant.h; their input rows are
// quantized once per input, as linear_q does); adapters are f32 or bf16. Portable code only.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstdio>

#include "check.h"
#include "fused.h"
#include "gemm/gemm.h"
#include "quant/quant.h"

namespace rrt {
namespace layer {

// A projection W [N, K] in f32, bf16 or a packed block type (qtype ≠ 0), an optional bias (N), and
// optional LoRA factors A [r, K] and B [N, r], each in f32 or bf16.
struct Proj {
  const void* w;
  bool bf16;
  int qtype;  // 0, or GGUF's id of a packed block type
  const float* b;  // (N) or null
  int64_t N, K;
  const void *la, *lb;  // null: no adapter
  bool la_bf16, lb_bf16;
  int64_t r;
};

// Input rows for the projections, [M, K]: f32, rounded to bf16 for bf16 weights (linear_bf16w's
// contract), and quantized per block for packed weights (linear_q's; q8.q null when unused).
struct Input {
  const float* f32;
  const uint16_t* bf16;
  quant::QRows q8{};

  // Rows r0 .. of the same input, each K wide.
  Input rows(int64_t r0, int64_t K) const {
    Input in{f32 + r0 * K, bf16 ? bf16 + r0 * K : nullptr};
    if (q8.q) in.q8 = {q8.q + r0 * K, q8.d + r0 * (K / quant::kBlock), q8.s + r0 * (K / quant::kBlock), q8.M - r0, K};
    return in;
  }
};

// Bytes of the quantized copy of M rows of K values (int8 values, then a float scale and an int32
// sum per block), and the copy itself in buf.
inline int64_t q8_bytes(int64_t M, int64_t K) { return M * K + 8 * M * (K / quant::kBlock); }
inline quant::QRows quantize_input(void* buf, const float* x, int64_t M, int64_t K) {
  char* p = (char*)buf;
  const int64_t nb = M * (K / quant::kBlock);
  quant::QRows q{(int8_t*)p, (float*)(p + M * K), (int32_t*)(p + M * K + 4 * nb), M, K};
  quant::quantize_act((int8_t*)q.q, (float*)q.d, (int32_t*)q.s, x, M, K);
  return q;
}

// The GEMV of each weight type, and a thread's room for a LoRA projection's middle t [M, r].
struct Gemv {
  gemm::gemv_f32_fn f32;
  gemm::gemv_bf16_fn bf16;
  quant::qgemv_fn q;
  float* t;
  uint16_t* t_bf16;
};

// c[M, N] columns [n0, n1) (+)= a·W[n]ᵀ for W [N, K] in f32, bf16 or a packed block type.
inline void gemv_rows(const Gemv& g, float* c, Input a, const void* w, bool bf16, int64_t M, int64_t N, int64_t K,
                      int64_t n0, int64_t n1, int accumulate, int qtype = 0) {
  if (qtype) {
    quant::QRows x = a.q8;
    x.M = M;
    g.q(c, x, (const uint8_t*)w, (quant::QType)qtype, N, n0, n1, accumulate);
  } else if (bf16) g.bf16(c, a.bf16, (const uint16_t*)w, M, N, K, n0, n1, accumulate);
  else g.f32(c, a.f32, (const float*)w, M, N, K, n0, n1, accumulate);
}

// c[M, N] columns [n0, n1) += (a·Aᵀ)·Bᵀ, p's adapter on the M rows of a. The thread computes the
// whole middle t = a·Aᵀ; adding B·t by accumulating into c rounds the sum c + B·t once, as
// add_f32 does.
inline void lora_rows(const Proj& p, float* c, Input a, int64_t M, int64_t n0, int64_t n1, const Gemv& g) {
  if (n1 <= n0 || M == 0 || !p.la) return;
  gemv_rows(g, g.t, a, p.la, p.la_bf16, M, p.r, p.K, 0, p.r, 0);
  if (p.lb_bf16) gemm::f32_to_bf16_n(g.t_bf16, g.t, M * p.r);
  gemv_rows(g, c, Input{g.t, g.t_bf16}, p.lb, p.lb_bf16, M, p.N, p.r, n0, n1, 1);
}

// Columns [n0, n1) of p applied to the M rows of a: c = a·Wᵀ (+ b) (+ (a·Aᵀ)·Bᵀ), in the order
// models/decoder.ts composes them (linear with bias, then the adapter's two linears, then add).
// `lora` false leaves the adapter out (batch_layer applies one per group of rows).
inline void proj_rows(const Proj& p, float* c, Input a, int64_t M, int64_t n0, int64_t n1, const Gemv& g,
                      bool lora = true) {
  if (n1 <= n0 || M == 0) return;
  gemv_rows(g, c, a, p.w, p.bf16, M, p.N, p.K, n0, n1, 0, p.qtype);
  if (p.b)
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = n0; n < n1; n++) c[m * p.N + n] += p.b[n];
  if (lora) lora_rows(p, c, a, M, n0, n1, g);
}

// The sizes and flags of a llama-style layer, as both fused layers take them.
struct Shape {
  int64_t D, H, Hkv, Dh, F, half;  // half = rotDim/2 rotated pairs per head
  bool interleaved, plus_one, parallel_residual;
  float eps, scale;
  int act;
};

// Reads D, H, Hkv, Dh, F from arguments dims..dims+4 and rotDim, interleaved, eps, plusOne, act,
// parallelResidual, scale from rot..rot+6, and checks them.
inline Shape read_shape(const Args& a, size_t dims, size_t rot) {
  Shape s{};
  s.D = a.integer(dims, "D", 1, kMaxDim);
  s.H = a.integer(dims + 1, "H", 1, kMaxDim);
  s.Hkv = a.integer(dims + 2, "Hkv", 1, kMaxDim);
  s.Dh = a.integer(dims + 3, "Dh", 1, kMaxDim);
  s.F = a.integer(dims + 4, "F", 1, kMaxDim);
  const int64_t rot_dim = a.size(rot, "rotDim");
  s.interleaved = a.flag(rot + 1, "interleaved");
  const double eps = a.number(rot + 2, "eps");
  s.plus_one = a.flag(rot + 3, "plusOne");
  s.act = (int)a.integer(rot + 4, "act", 0, 3);
  s.parallel_residual = a.flag(rot + 5, "parallelResidual");
  const double scale = a.number(rot + 6, "scale");
  if (s.H % s.Hkv != 0) a.range_error("H = %lld must be a multiple of Hkv = %lld", (long long)s.H, (long long)s.Hkv);
  if (rot_dim % 2 != 0) a.range_error("rotDim must be even, got %lld", (long long)rot_dim);
  if (rot_dim > s.Dh) a.range_error("rotDim %lld exceeds the head dim Dh = %lld", (long long)rot_dim, (long long)s.Dh);
  if (eps < 0) a.range_error("eps must be ≥ 0, got %g", eps);
  if (!std::isfinite((float)eps) || !std::isfinite((float)scale)) a.range_error("eps and scale must fit a float");
  s.half = rot_dim / 2;
  s.eps = (float)eps;
  s.scale = (float)scale;
  return s;
}

// True for a bf16 (Uint16Array) matrix, false for f32 (Float32Array); anything else is a TypeError.
inline bool is_bf16(const Args& a, const Napi::Value v, const char* fmt, const char* name) {
  const napi_typedarray_type t = v.IsTypedArray() ? v.As<Napi::TypedArray>().TypedArrayType() : napi_int8_array;
  if (t != napi_uint16_array && t != napi_float32_array) a.type_error(fmt, name);
  return t == napi_uint16_array;
}

// A weight [N, K] that may be f32 or bf16, or, when qtype ≠ 0, a packed q8_0/q4_0 Uint8Array.
inline Proj weight(const Args& a, const Napi::CallbackInfo& info, size_t i, const char* name, int64_t N, int64_t K,
                   const char* what, int qtype = 0) {
  if (qtype) {
    if (K % quant::kBlock != 0)
      a.range_error("%s is %s but its rows (%lld values) are not whole 32-value blocks", name,
                    qtype == (int)quant::QType::q8_0 ? "q8_0" : "q4_0", (long long)K);
    const uint8_t* p = a.u8(i, name, a.mul(quant::panels(N), K / quant::kBlock, quant::panel_block_bytes((quant::QType)qtype)), "packed bytes");
    return {p, false, qtype, nullptr, N, K, nullptr, nullptr, false, false, 0};
  }
  const bool bf16 = is_bf16(a, info[i], "%s must be a Float32Array (f32) or a Uint16Array (bf16)", name);
  const int64_t need = a.mul(N, K);
  const void* p = bf16 ? (const void*)a.u16(i, name, need, what) : (const void*)a.f32(i, name, need, what);
  return {p, bf16, 0, nullptr, N, K, nullptr, nullptr, false, false, 0};
}

// An optional q or k norm (null/undefined: none), a Float32Array whose length says what it norms:
// Dh values each of the `heads` heads (Qwen3, Gemma 3), heads·Dh the whole projection (OLMo-2; the
// same thing for one head). `name` may carry an index, e.g. "kNorms[2]".
inline const float* qk_norm(const Args& a, const Napi::Value v, const char* name, int64_t Dh, int64_t heads, bool* whole) {
  *whole = false;
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) a.type_error("%s must be a Float32Array", name);
  const Napi::Float32Array f = v.As<Napi::Float32Array>();
  const int64_t len = (int64_t)f.ElementLength(), all = a.mul(heads, Dh);
  if (len != Dh && len != all)
    a.range_error("%s has %lld elements, expected Dh = %lld (each head) or heads·Dh = %lld (the whole projection)", name,
                  (long long)len, (long long)Dh, (long long)all);
  *whole = len != Dh;
  return f.Data();
}

// The bytes of an f32 or bf16 matrix of n values, for the aliasing checks.
inline Span matrix_span(const void* p, bool bf16, int64_t n, const char* name) {
  return bf16 ? Span((const uint16_t*)p, n, name) : Span((const float*)p, n, name);
}

inline Span weight_span(const Proj& p, const char* name) {
  if (p.qtype) return Span((const uint8_t*)p.w, quant::packed_bytes((quant::QType)p.qtype, p.N, p.K), name);
  return matrix_span(p.w, p.bf16, p.N * p.K, name);
}

// A qtypes argument: null (every weight f32 or bf16), or an Int32Array of 7 entries, one per
// projection in kProjNames order: 0 (f32/bf16), 8 (q8_0) or 2 (q4_0).
inline void read_qtypes(const Args& a, const Napi::CallbackInfo& info, size_t i, int (&out)[7]) {
  for (int& q : out) q = 0;
  if (info[i].IsNull() || info[i].IsUndefined()) return;
  const int32_t* q = a.i32(i, "qtypes", 7, "7 projections");
  for (int j = 0; j < 7; j++) {
    if (q[j] != 0 && q[j] != (int)quant::QType::q8_0 && q[j] != (int)quant::QType::q4_0)
      a.range_error("qtypes[%d] must be 0, 8 (q8_0) or 2 (q4_0), got %d", j, q[j]);
    out[j] = q[j];
  }
}

// One LoRA factor from an adapters array: a Float32Array or Uint16Array of exactly `need` values
// (need < 0: any whole multiple of -need, the rank read from its length). Returns its length.
inline int64_t lora_factor(const Args& a, const Napi::Value v, const char* name, int64_t need, const void** p,
                           bool* bf16) {
  const bool is_u16 = is_bf16(a, v, "adapter %s must be a Float32Array (f32) or a Uint16Array (bf16)", name);
  const int64_t len = (int64_t)v.As<Napi::TypedArray>().ElementLength();
  if (need >= 0 ? len != need : len == 0 || len % -need != 0)
    a.range_error("adapter %s has %lld elements, expected %s%lld", name, (long long)len,
                  need >= 0 ? "" : "a positive multiple of ", (long long)(need >= 0 ? need : -need));
  *bf16 = is_u16;
  *p = is_u16 ? (const void*)v.As<Napi::Uint16Array>().Data() : (const void*)v.As<Napi::Float32Array>().Data();
  return len;
}

// A layer's projections in the order every fused-layer argument list uses.
constexpr const char* kProjNames[7] = {"q", "k", "v", "o", "gate", "up", "down"};
constexpr const char* kBiasNames[7] = {"bq", "bk", "bv", "bo", "bgate", "bup", "bdown"};

// The seven weights of a layer of shape s (q, k, v, o, gate, up, down) from arguments at[0..6],
// each f32, bf16 or of qtypes[i], and their optional f32 biases from arguments bias_at .. bias_at + 6.
inline void read_projections(const Args& a, const Napi::CallbackInfo& info, const size_t (&at)[7], size_t bias_at,
                             const Shape& s, const int (&qtypes)[7], Proj* const (&out)[7]) {
  const int64_t qd = a.mul(s.H, s.Dh), kvd = a.mul(s.Hkv, s.Dh);
  const int64_t rows[7] = {qd, kvd, kvd, s.D, s.F, s.F, s.D}, cols[7] = {s.D, s.D, s.D, qd, s.D, s.D, s.F};
  const char* const weights[7] = {"wq", "wk", "wv", "wo", "wgate", "wup", "wdown"};
  const char* const shapes[7] = {"H·Dh·D", "Hkv·Dh·D", "Hkv·Dh·D", "D·H·Dh", "F·D", "F·D", "D·F"};
  for (int i = 0; i < 7; i++) {
    *out[i] = weight(a, info, at[i], weights[i], rows[i], cols[i], shapes[i], qtypes[i]);
    out[i]->b = a.f32_opt(bias_at + i, kBiasNames[i], rows[i], "its weight's rows");
  }
}

// An adapters argument: null, or an Array of 14 entries (A, B of q, k, v, o, gate, up, down),
// each pair null or both factors of that projection: A [r, K], B [N, r].
inline void lora_factors(const Args& a, const Napi::Value v, Proj* const (&projs)[7]) {
  const auto& names = kProjNames;
  if (v.IsNull() || v.IsUndefined()) return;
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 14) a.type_error("adapters must be null or an Array of 14 entries");
  const Napi::Array arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < 7; i++) {
    const Napi::Value av = arr.Get(2 * i), bv = arr.Get(2 * i + 1);
    if ((av.IsNull() || av.IsUndefined()) && (bv.IsNull() || bv.IsUndefined())) continue;
    Proj& p = *projs[i];
    char an[32], bn[32];
    std::snprintf(an, sizeof an, "A of %s", names[i]);
    std::snprintf(bn, sizeof bn, "B of %s", names[i]);
    p.r = lora_factor(a, av, an, -p.K, &p.la, &p.la_bf16) / p.K;
    lora_factor(a, bv, bn, a.mul(p.N, p.r), &p.lb, &p.lb_bf16);
  }
}

// The adapters' spans, for the aliasing checks of a call's outputs.
inline Span lora_span_a(const Proj& p) { return matrix_span(p.la, p.la_bf16, p.la ? p.r * p.K : 0, "an adapter"); }
inline Span lora_span_b(const Proj& p) { return matrix_span(p.lb, p.lb_bf16, p.lb ? p.N * p.r : 0, "an adapter"); }

}  // namespace layer
}  // namespace rrt
