// Machine probes exported for bench/kernels.ts, so kernel speeds are reported as a fraction of
// what this machine does in the same run: bench_fma_peak(seconds) → best fp32 GFLOP/s of
// independent FMA chains on all threads; bench_read_bw(data, seconds) → best GB/s summing the
// Float32Array `data` on all threads. Both use the widest active ISA and repeat until `seconds` pass.
#include <napi.h>
#include <omp.h>

#include "check.h"
#include "cpu.h"
#include "probe.h"
#include "registry.h"

namespace rrt {
namespace probe {

static float fma_loop_scalar(int64_t iters, double* flops) {
  constexpr int kFmaChains = 12;
  float acc[kFmaChains];
  for (int i = 0; i < kFmaChains; i++) acc[i] = (float)i;
  for (int64_t it = 0; it < iters; it++)
    for (int i = 0; i < kFmaChains; i++) acc[i] = acc[i] * 0.999999f + 1e-7f;
  float s = 0;
  for (int i = 0; i < kFmaChains; i++) s += acc[i];
  *flops = (double)iters * kFmaChains * 2;
  return s;
}

static float sum_scalar(const float* p, int64_t n) {
  float s[4] = {};
  for (int64_t i = 0; i < n; i += 4)
    for (int j = 0; j < 4; j++) s[j] += p[i + j];
  return s[0] + s[1] + s[2] + s[3];
}

static volatile float g_sink;  // keeps the measured loops alive

// bench_fma_peak(seconds)
static Napi::Value js_bench_fma_peak(const Napi::CallbackInfo& info) {
  Args g(info, "bench_fma_peak", 1);
  const double seconds = g.number(0, "seconds");
  if (!(seconds > 0 && seconds <= 60)) g.range_error("seconds must be in (0, 60], got %g", seconds);
  const Isa isa = active_isa();
  auto loop = isa >= Isa::avx512 ? fma_loop_avx512 : isa == Isa::avx2 ? fma_loop_avx2 : fma_loop_scalar;
  const int nt = omp_get_max_threads();
  const int64_t iters = 1 << 21;  // ~10 ms per trial at one FMA per cycle
  double best = 0;
  const double start = omp_get_wtime();
  do {
    double flops = 0;
    const double t0 = omp_get_wtime();
#pragma omp parallel num_threads(nt) reduction(+ : flops)
    {
      double f;
      g_sink = loop(iters, &f);
      flops += f;
    }
    const double dt = omp_get_wtime() - t0;
    if (flops / dt > best) best = flops / dt;
  } while (omp_get_wtime() - start < seconds);
  return Napi::Number::New(info.Env(), best / 1e9);
}

// bench_read_bw(data, seconds): data is a caller-owned Float32Array (≥ 1 MiB, best far larger
// than L3 and not all one value), so the caller can interleave probe passes with the kernels it
// compares against, and both read memory the same allocator handed out.
static Napi::Value js_bench_read_bw(const Napi::CallbackInfo& info) {
  Args g(info, "bench_read_bw", 2);
  const double seconds = g.number(1, "seconds");
  if (!(seconds > 0 && seconds <= 60)) g.range_error("seconds must be in (0, 60], got %g", seconds);
  const float* p = g.f32(0, "data", 0);  // checks the kind; the length is the array's own
  const int64_t len = (int64_t)info[0].As<Napi::TypedArray>().ElementLength();
  if (len < (1 << 18)) g.range_error("data has %lld elements, expected at least 2^18 (1 MiB)", (long long)len);
  const Isa isa = active_isa();
  auto sum = isa >= Isa::avx512 ? sum_avx512 : isa == Isa::avx2 ? sum_avx2 : sum_scalar;
  const int nt = omp_get_max_threads();
  double best = 0;
  const double start = omp_get_wtime();
  do {
    const double t0 = omp_get_wtime();
    int64_t bytes = 0;
    float s = 0;
#pragma omp parallel num_threads(nt) reduction(+ : s, bytes)
    {  // 64-float chunks, one contiguous run per thread
      const int t = omp_get_thread_num(), nthr = omp_get_num_threads();
      const int64_t i0 = len / 64 * t / nthr * 64, i1 = len / 64 * (t + 1) / nthr * 64;
      s += sum(p + i0, i1 - i0);
      bytes += (i1 - i0) * 4;
    }
    const double dt = omp_get_wtime() - t0;
    g_sink = s;
    if (bytes / dt > best) best = bytes / dt;
  } while (omp_get_wtime() - start < seconds);
  return Napi::Number::New(info.Env(), best / 1e9);
}

RRT_EXPORT("bench_fma_peak", js_bench_fma_peak);
RRT_EXPORT("bench_read_bw", js_bench_read_bw);

}  // namespace probe
}  // namespace rrt
