#pragma GCC target("avx2,fma")
// AVX2 build of the attention block kernels (attention_impl.h); chosen by attention.cpp when
// rrt::active_isa() is avx2: blocks of 8 query rows, one ymm register each.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/attention.h"

#define RRT_ATTN_NS attn_avx2
#define RRT_ATTN_LANES 8
#include "kernels/attention_impl.h"
