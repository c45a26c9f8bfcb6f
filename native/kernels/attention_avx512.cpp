#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")
// AVX-512 build of the attention block kernels (attention_impl.h); chosen by attention.cpp when
// rrt::active_isa() is avx512 or above: blocks of 16 query rows, one zmm register each.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/attention.h"

#define RRT_ATTN_NS attn_avx512
#define RRT_ATTN_LANES 16
#include "kernels/attention_impl.h"
