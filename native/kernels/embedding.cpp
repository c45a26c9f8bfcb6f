// Token embedding lookup (f32 or bf16 table) and its backward, a scatter-add.
// Contract: src/tensor/kernels.ts. Every id is checked against [0, V) before
// anything is written; a bad one throws a RangeError naming its position.
// The backward accumulates into dtable; threads own disjoint column panels, so
// repeated ids never race and the summation order is fixed.
// Legend: ids (T); table, dtable (V, D); out, dout (T, D).
#include <algorithm>
#include <cstring>

#include "check.h"
#include "fused.h"
#include "registry.h"

namespace rrt {

static void check_ids(const Args& a, const int32_t* ids, int64_t T, int64_t V) {
  for (int64_t t = 0; t < T; t++)
    if (ids[t] < 0 || ids[t] >= V)
      a.range_error("ids[%lld] = %d is outside [0, V = %lld)", (long long)t, ids[t], (long long)V);
}

static Napi::Value js_embedding_fwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "embedding_fwd_f32", 6);
  int64_t T = a.size(3, "T"), V = a.size(4, "V"), D = a.size(5, "D");
  int64_t n = a.mul(T, D), nt = a.mul(V, D);
  float* out = a.f32(0, "out", n, "T·D");
  const float* table = a.f32(1, "table", nt, "V·D");
  const int32_t* ids = a.i32(2, "ids", T, "T");
  check_disjoint(a, {{out, n, "out"}}, {{table, nt, "table"}, {ids, T, "ids"}});
  check_ids(a, ids, T, V);
  if (n == 0) return info.Env().Undefined();
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t t = 0; t < T; t++) std::memcpy(out + t * D, table + (int64_t)ids[t] * D, D * sizeof(float));
  return info.Env().Undefined();
}

// bf16 → f32 is exact: the 16 bits become the high half of the float.
static Napi::Value js_embedding_fwd_bf16(const Napi::CallbackInfo& info) {
  Args a(info, "embedding_fwd_bf16", 6);
  int64_t T = a.size(3, "T"), V = a.size(4, "V"), D = a.size(5, "D");
  int64_t n = a.mul(T, D), nt = a.mul(V, D);
  float* out = a.f32(0, "out", n, "T·D");
  const uint16_t* table = a.u16(1, "table", nt, "V·D");
  const int32_t* ids = a.i32(2, "ids", T, "T");
  check_disjoint(a, {{out, n, "out"}}, {{table, nt, "table"}, {ids, T, "ids"}});
  check_ids(a, ids, T, V);
  if (n == 0) return info.Env().Undefined();
  uint32_t* o = reinterpret_cast<uint32_t*>(out);
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t t = 0; t < T; t++) {
    const uint16_t* row = table + (int64_t)ids[t] * D;
    uint32_t* ot = o + t * D;
#pragma omp simd
    for (int64_t j = 0; j < D; j++) ot[j] = (uint32_t)row[j] << 16;
  }
  return info.Env().Undefined();
}

static Napi::Value js_embedding_bwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "embedding_bwd_f32", 6);
  int64_t T = a.size(3, "T"), V = a.size(4, "V"), D = a.size(5, "D");
  int64_t n = a.mul(T, D), nt = a.mul(V, D);
  float* dtable = a.f32(0, "dtable", nt, "V·D");
  const float* dout = a.f32(1, "dout", n, "T·D");
  const int32_t* ids = a.i32(2, "ids", T, "T");
  check_disjoint(a, {{dtable, nt, "dtable"}}, {{dout, n, "dout"}, {ids, T, "ids"}});
  check_ids(a, ids, T, V);
  if (n == 0) return info.Env().Undefined();
  constexpr int64_t kCols = 256;
  const int64_t panels = (D + kCols - 1) / kCols;
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t p = 0; p < panels; p++) {
    const int64_t c0 = p * kCols, w = std::min(kCols, D - c0);
    for (int64_t t = 0; t < T; t++) {
      float* dst = dtable + (int64_t)ids[t] * D + c0;
      const float* src = dout + t * D + c0;
#pragma omp simd
      for (int64_t c = 0; c < w; c++) dst[c] += src[c];
    }
  }
  return info.Env().Undefined();
}

RRT_EXPORT("embedding_fwd_f32", js_embedding_fwd_f32);
RRT_EXPORT("embedding_fwd_bf16", js_embedding_fwd_bf16);
RRT_EXPORT("embedding_bwd_f32", js_embedding_bwd_f32);

}  // namespace rrt
