// Machine probes for bench/kernels.ts: the per-ISA inner loops behind bench_fma_peak and
// bench_read_bw (probe.cpp times them). Plain C types only, for the ISA files.
#pragma once
#include <cstdint>

namespace rrt {
namespace probe {

// Runs `iters` rounds of independent FMA chains (16 zmm chains with AVX-512; 12 with AVX2, which
// has 16 registers); returns a value that depends on all of them (so the loop cannot be removed)
// and sets *flops to the floating-point ops done.
float fma_loop_avx512(int64_t iters, double* flops);
float fma_loop_avx2(int64_t iters, double* flops);

// Sum of n floats (n a multiple of 64), read with full-width unaligned loads and 4 accumulators.
float sum_avx512(const float* p, int64_t n);
float sum_avx2(const float* p, int64_t n);

}  // namespace probe
}  // namespace rrt
