#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx2")
// argmax_f32's AVX-512 path (greedy sampling over a vocabulary of logits): the maximum by 16-lane
// max, then the first index holding it by 16-lane compares. vmaxps(x, m) is x > m ? x : m, the
// portable loop's select, so a NaN in x is skipped and a tie keeps the earlier value; the index
// pass treats -0 and +0 as equal, as the portable pass does. The portable find pass was a scalar
// loop: ~18 µs a row at 49152 logits, most of it finding the index.
// GCC 12 warns inside its own AVX-512 headers (the self-initialised _mm512_undefined_* values).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "elementwise.h"

namespace rrt {

int64_t argmax_avx512(const float* x, int64_t n) {
  __m512 mv = _mm512_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) mv = _mm512_max_ps(_mm512_loadu_ps(x + i), mv);
  float m = _mm512_reduce_max_ps(mv);  // never NaN: NaNs were skipped
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  if (!(m > -INFINITY)) return 0;
  const __m512 mb = _mm512_set1_ps(m);
  for (i = 0; i + 16 <= n; i += 16) {
    const __mmask16 eq = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), mb, _CMP_EQ_OQ);
    if (eq) return i + __builtin_ctz((unsigned)eq);
  }
  for (; i < n; i++)
    if (x[i] == m) return i;
  return 0;  // unreachable: m is one of x
}

}  // namespace rrt
