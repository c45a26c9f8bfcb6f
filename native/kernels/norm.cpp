// RMSNorm and LayerNorm, forward and backward, f32. Contract: src/tensor/kernels.ts.
// Rows are independent (OpenMP over rows); row sums in fp32 with SIMD partial sums.
// Parameter gradients (dw, db) accumulate, summed over rows in double by column
// panels so threads never share a column; dx is overwritten. Outputs must not
// overlap inputs. Legend: x, y, dx, dy (rows, D); w, b, dw, db (D); mean, rstd (rows).
#include <algorithm>
#include <cmath>

#include "check.h"
#include "fused.h"
#include "norm.h"
#include "registry.h"

namespace rrt {

constexpr int64_t kCols = 256;  // columns per panel in the parameter-gradient passes

// dw[c] += Σ_r dy[r,c]·xhat(r,c), and db[c] += Σ_r dy[r,c] when db is non-null,
// with xhat = (x − mean[r])·rstd[r] (mean null: RMSNorm, xhat = x·rstd).
static void param_grads(float* dw, float* db, const float* dy, const float* x, const float* mean, const float* rstd,
                        int64_t rows, int64_t D) {
  const int64_t panels = (D + kCols - 1) / kCols;
#pragma omp parallel for if (rows * D > kParallelMin) schedule(static)
  for (int64_t p = 0; p < panels; p++) {
    const int64_t c0 = p * kCols, w = std::min(kCols, D - c0);
    double accw[kCols] = {}, accb[kCols] = {};
    for (int64_t r = 0; r < rows; r++) {
      const float* dyr = dy + r * D + c0;
      const float* xr = x + r * D + c0;
      const double mu = mean ? mean[r] : 0.0, rs = rstd[r];
      if (dw)
        for (int64_t c = 0; c < w; c++) accw[c] += (double)dyr[c] * ((xr[c] - mu) * rs);
      if (db)
        for (int64_t c = 0; c < w; c++) accb[c] += dyr[c];
    }
    if (dw)
      for (int64_t c = 0; c < w; c++) dw[c0 + c] = (float)(dw[c0 + c] + accw[c]);
    if (db)
      for (int64_t c = 0; c < w; c++) db[c0 + c] = (float)(db[c0 + c] + accb[c]);
  }
}

// y = x·rstd·w  (plusOne: x·rstd·(1+w)),  rstd = 1/sqrt(mean(x²) + eps)
static Napi::Value js_rmsnorm_fwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnorm_fwd_f32", 8);
  int64_t rows = a.size(4, "rows");
  int64_t D = a.integer(5, "D", 1, kMaxDim);
  double eps = a.number(6, "eps");
  if (eps < 0) a.range_error("eps must be ≥ 0, got %g", eps);
  bool plus_one = a.flag(7, "plusOne");
  int64_t n = a.mul(rows, D);
  float* y = a.f32(0, "y", n, "rows·D");
  float* rstd = a.f32_opt(1, "rstd", rows, "rows");
  const float* x = a.f32(2, "x", n, "rows·D");
  const float* w = a.f32(3, "w", D, "D");
  check_disjoint(a, {{y, n, "y"}, {rstd, rows, "rstd"}}, {{x, n, "x"}, {w, D, "w"}});
  const float epsf = (float)eps;
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float rs = rmsnorm_row(y + r * D, x + r * D, w, D, epsf, plus_one);
    if (rstd) rstd[r] = rs;
  }
  return info.Env().Undefined();
}

// dx = rstd·w'·dy − x·rstd³·Σ(dy·w'·x)/D  with w' = w or 1+w;  dw += Σ_rows dy·x·rstd
static Napi::Value js_rmsnorm_bwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnorm_bwd_f32", 9);
  int64_t rows = a.size(6, "rows");
  int64_t D = a.integer(7, "D", 1, kMaxDim);
  bool plus_one = a.flag(8, "plusOne");
  int64_t n = a.mul(rows, D);
  float* dx = a.f32(0, "dx", n, "rows·D");
  float* dw = a.f32_opt(1, "dw", D, "D");
  const float* dy = a.f32(2, "dy", n, "rows·D");
  const float* x = a.f32(3, "x", n, "rows·D");
  const float* w = a.f32(4, "w", D, "D");
  const float* rstd = a.f32(5, "rstd", rows, "rows");
  check_disjoint(a, {{dx, n, "dx"}, {dw, D, "dw"}},
                 {{dy, n, "dy"}, {x, n, "x"}, {w, D, "w"}, {rstd, rows, "rstd"}});
  const float add = plus_one ? 1.0f : 0.0f;
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * D;
    const float* dyr = dy + r * D;
    float* dxr = dx + r * D;
    const float rs = rstd[r];
    float dot = 0.f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < D; j++) dot += dyr[j] * (w[j] + add) * xr[j];
    const float coef = rs * rs * rs * dot / (float)D;
#pragma omp simd
    for (int64_t j = 0; j < D; j++) dxr[j] = rs * (w[j] + add) * dyr[j] - coef * xr[j];
  }
  if (dw) param_grads(dw, nullptr, dy, x, nullptr, rstd, rows, D);
  return info.Env().Undefined();
}

// y = (x − mean)·rstd·w + b,  rstd = 1/sqrt(var + eps), var the biased (population) variance
static Napi::Value js_layernorm_fwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "layernorm_fwd_f32", 9);
  int64_t rows = a.size(6, "rows");
  int64_t D = a.integer(7, "D", 1, kMaxDim);
  double eps = a.number(8, "eps");
  if (eps < 0) a.range_error("eps must be ≥ 0, got %g", eps);
  int64_t n = a.mul(rows, D);
  float* y = a.f32(0, "y", n, "rows·D");
  float* mean = a.f32_opt(1, "mean", rows, "rows");
  float* rstd = a.f32_opt(2, "rstd", rows, "rows");
  const float* x = a.f32(3, "x", n, "rows·D");
  const float* w = a.f32(4, "w", D, "D");
  const float* b = a.f32_opt(5, "b", D, "D");
  check_disjoint(a, {{y, n, "y"}, {mean, rows, "mean"}, {rstd, rows, "rstd"}},
                 {{x, n, "x"}, {w, D, "w"}, {b, D, "b"}});
  const float epsf = (float)eps;
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < D; j++) s += xr[j];
    const float mu = s / (float)D;
    float ss = 0.f;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < D; j++) ss += (xr[j] - mu) * (xr[j] - mu);
    const float rs = 1.0f / std::sqrt(ss / (float)D + epsf);
    if (b) {
#pragma omp simd
      for (int64_t j = 0; j < D; j++) yr[j] = (xr[j] - mu) * rs * w[j] + b[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < D; j++) yr[j] = (xr[j] - mu) * rs * w[j];
    }
    if (mean) mean[r] = mu;
    if (rstd) rstd[r] = rs;
  }
  return info.Env().Undefined();
}

// g = dy·w, xhat = (x − mean)·rstd:  dx = rstd·(g − mean(g) − xhat·mean(g·xhat));
// dw += Σ_rows dy·xhat;  db += Σ_rows dy
static Napi::Value js_layernorm_bwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "layernorm_bwd_f32", 10);
  int64_t rows = a.size(8, "rows");
  int64_t D = a.integer(9, "D", 1, kMaxDim);
  int64_t n = a.mul(rows, D);
  float* dx = a.f32(0, "dx", n, "rows·D");
  float* dw = a.f32_opt(1, "dw", D, "D");
  float* db = a.f32_opt(2, "db", D, "D");
  const float* dy = a.f32(3, "dy", n, "rows·D");
  const float* x = a.f32(4, "x", n, "rows·D");
  const float* w = a.f32(5, "w", D, "D");
  const float* mean = a.f32(6, "mean", rows, "rows");
  const float* rstd = a.f32(7, "rstd", rows, "rows");
  check_disjoint(a, {{dx, n, "dx"}, {dw, D, "dw"}, {db, D, "db"}},
                 {{dy, n, "dy"}, {x, n, "x"}, {w, D, "w"}, {mean, rows, "mean"}, {rstd, rows, "rstd"}});
#pragma omp parallel for if (n > kParallelMin) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * D;
    const float* dyr = dy + r * D;
    float* dxr = dx + r * D;
    const float mu = mean[r], rs = rstd[r];
    float sg = 0.f, sgx = 0.f;
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t j = 0; j < D; j++) {
      const float g = dyr[j] * w[j];
      sg += g;
      sgx += g * ((xr[j] - mu) * rs);
    }
    const float mg = sg / (float)D, mgx = sgx / (float)D;
#pragma omp simd
    for (int64_t j = 0; j < D; j++) dxr[j] = rs * (dyr[j] * w[j] - mg - ((xr[j] - mu) * rs) * mgx);
  }
  if (dw || db) param_grads(dw, db, dy, x, mean, rstd, rows, D);
  return info.Env().Undefined();
}

RRT_EXPORT("rmsnorm_fwd_f32", js_rmsnorm_fwd_f32);
RRT_EXPORT("rmsnorm_bwd_f32", js_rmsnorm_bwd_f32);
RRT_EXPORT("layernorm_fwd_f32", js_layernorm_fwd_f32);
RRT_EXPORT("layernorm_bwd_f32", js_layernorm_bwd_f32);

}  // namespace rrt
