// Token embedding lookup (f32 or bf16 table) and its backward, a scatter-add; and the plain row
// scatter the KV pool stores a step's keys and values with (one call instead of one copy per row).
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

// scatter_rows_f32(dst, src, rows_at, rows, D): dst row rows_at[t] = src row t, for t < rows
// (the inverse of embedding_fwd_f32). Every destination row is checked against dst's length
// before anything is written; rows are copied in order, so a repeated index keeps its last row.
static Napi::Value js_scatter_rows_f32(const Napi::CallbackInfo& info) {
  Args a(info, "scatter_rows_f32", 5);
  const int64_t T = a.size(3, "rows"), D = a.size(4, "D");
  const int64_t n = a.mul(T, D);
  float* dst = a.f32(0, "dst", 0);
  const int64_t dst_rows = D == 0 ? 0 : a.length(0) / D;
  const float* src = a.f32(1, "src", n, "rows·D");
  const int32_t* at = a.i32(2, "rows_at", T, "rows");
  check_disjoint(a, {{dst, dst_rows * D, "dst"}}, {{src, n, "src"}, {at, T, "rows_at"}});
  for (int64_t t = 0; t < T; t++)
    if (at[t] < 0 || at[t] >= dst_rows)
      a.range_error("rows_at[%lld] = %d is outside dst's %lld rows of D = %lld", (long long)t, at[t], (long long)dst_rows, (long long)D);
  // Destination rows are usually cold and scattered (a KV pool's pages): ask for all their lines
  // first so the misses overlap, rather than one row's at a time inside memcpy.
  for (int64_t t = 0; t < T; t++)
    for (int64_t c = 0; c < D; c += 16) __builtin_prefetch(dst + (int64_t)at[t] * D + c, 1, 3);
  for (int64_t t = 0; t < T; t++) std::memcpy(dst + (int64_t)at[t] * D, src + t * D, D * sizeof(float));
  return info.Env().Undefined();
}

RRT_EXPORT("embedding_fwd_f32", js_embedding_fwd_f32);
RRT_EXPORT("embedding_fwd_bf16", js_embedding_fwd_bf16);
RRT_EXPORT("embedding_bwd_f32", js_embedding_bwd_f32);
RRT_EXPORT("scatter_rows_f32", js_scatter_rows_f32);

}  // namespace rrt
