#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,avx2")
// bf16 GEMM micro-kernel with vdpbf16ps (AVX512-BF16), and its pair packer. Only called when
// active_isa() == avx512bf16. Each packed step is a (k, k+1) bf16 pair; vdpbf16ps adds both
// exact products into fp32 lanes (the instruction flushes denormals and rounds each step to
// nearest even), so results match fp32 math on the bf16 inputs up to summation order.
// GCC 12 warns inside its own AVX-512 headers (the self-initialised _mm512_undefined_* values).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "gemm.h"

namespace rrt {
namespace gemm {

// 12 rows × 32 columns as in the fp32 kernel, but each FMA covers two k-values.
constexpr int kMr = 12, kNr = 32;

static void ukernel_bf16_12x32(int64_t kp, const void* av, const void* bv, float* c, int64_t ldc, int load_c) {
  const uint32_t* a = (const uint32_t*)av;
  const uint32_t* b = (const uint32_t*)bv;
  __m512 c0[kMr], c1[kMr];
#pragma GCC unroll 12
  for (int i = 0; i < kMr; i++) {
    _mm_prefetch((const char*)(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch((const char*)(c + i * ldc + kNr - 1), _MM_HINT_T0);
    c0[i] = _mm512_setzero_ps();
    c1[i] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < kp; k++) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 16);
    _mm_prefetch((const char*)(b + 8 * kNr), _MM_HINT_T0);
    _mm_prefetch((const char*)(b + 8 * kNr + 16), _MM_HINT_T0);
#pragma GCC unroll 12
    for (int i = 0; i < kMr; i++) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i]);
      c0[i] = _mm512_dpbf16_ps(c0[i], ai, b0);
      c1[i] = _mm512_dpbf16_ps(c1[i], ai, b1);
    }
    a += kMr;
    b += kNr;
  }
#pragma GCC unroll 12
  for (int i = 0; i < kMr; i++) {
    float* cr = c + i * ldc;
    if (load_c) {
      c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(cr));
      c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(cr + 16));
    }
    _mm512_storeu_ps(cr, c0[i]);
    _mm512_storeu_ps(cr + 16, c1[i]);
  }
}

// kc counts bf16 k-values (1024 make 512 packed pairs, the fp32 kit's bytes): A block 144×512 pairs
// = 288 KiB stays in L2, the 12×32 C tile is loaded and stored once per 512 pairs.
const Kit kit_bf16_avx512 = {kMr, kNr, 1024, 144, 4096, 2, ukernel_bf16_12x32};

// Rows contiguous along k: whole pairs move as 32-bit units through the shared transposer; an odd
// kc leaves a last half pair, filled here with a zero high half.
void pack_bf16_pairs_avx512(void* dstv, const void* srcv, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w) {
  if (ks != 1 || (rs & 1)) return pack_bf16_pairs(dstv, srcv, rs, ks, rows, kc, w);
  const int64_t full = kc / 2, kp = (kc + 1) / 2;
  for (int64_t r0 = 0; r0 < rows; r0 += w) {
    uint32_t* dst = (uint32_t*)dstv + r0 * kp;
    const uint16_t* src = (const uint16_t*)srcv + r0 * rs;
    const int64_t n = rows - r0 < w ? rows - r0 : w;
    pack_t32_avx512(dst, (const uint32_t*)src, rs / 2, n, full, w);
    if (kc & 1)
      for (int64_t r = 0; r < w; r++) dst[full * w + r] = r < n ? src[r * rs + kc - 1] : 0;
  }
}

}  // namespace gemm
}  // namespace rrt
