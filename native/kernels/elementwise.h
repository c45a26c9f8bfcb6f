// Element-wise kernels' ISA-specific paths (elementwise.cpp dispatches).
#pragma once
#include <cstdint>

namespace rrt {

// The index in [0, n) of the first maximum of x[0..n), NaN ignored, 0 when nothing beats −inf.
int64_t argmax_avx512(const float* x, int64_t n);

}  // namespace rrt
