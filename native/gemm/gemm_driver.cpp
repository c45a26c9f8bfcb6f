// Blocked GEMM driver (BLIS/GotoBLAS loop nest) and the portable panel packers.
// Contract: gemm_blocked computes C[M,N] (+)= A·Bᵀ for any strides, with any Kit's micro-kernel;
// the caller has validated sizes and handled K = 0. Packed B blocks are shared by all threads,
// packed A blocks are private; threads split M tiles (or N panels when M is small).
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "gemm.h"
#include "scratch.h"

namespace rrt {
namespace gemm {

// ---- packers (see pack_fn in gemm.h); each single-panel helper fills one dst[kp][w] ----

static void pack_f32_panel(float* dst, const float* src, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w) {
  for (int64_t k = 0; k < kc; k++)
    for (int64_t r = 0; r < w; r++) dst[k * w + r] = r < rows ? src[k * ks + r * rs] : 0.0f;
}

static void pack_bf16_to_f32_panel(float* dst, const uint16_t* src, int64_t rs, int64_t ks, int64_t rows, int64_t kc,
                                   int w) {
  for (int64_t k = 0; k < kc; k++)
    for (int64_t r = 0; r < w; r++) {
      const uint32_t u = r < rows ? (uint32_t)src[k * ks + r * rs] << 16 : 0;
      std::memcpy(&dst[k * w + r], &u, 4);
    }
}

// One packed step holds the bf16 pair (k, k+1) of a row as a u32 (k in the low half), the operand
// layout of vdpbf16ps; an odd kc pads the last pair with +0.
static void pack_bf16_pairs_panel(uint32_t* dst, const uint16_t* src, int64_t rs, int64_t ks, int64_t rows,
                                  int64_t kc, int w) {
  const int64_t kp = (kc + 1) / 2;
  for (int64_t p = 0; p < kp; p++)
    for (int64_t r = 0; r < w; r++) {
      const uint32_t lo = r < rows ? src[r * rs + 2 * p * ks] : 0;
      const uint32_t hi = r < rows && 2 * p + 1 < kc ? src[r * rs + (2 * p + 1) * ks] : 0;
      dst[p * w + r] = lo | hi << 16;
    }
}

void pack_f32(void* dst, const void* src, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w) {
  for (int64_t r = 0; r < rows; r += w)
    pack_f32_panel((float*)dst + r * kc, (const float*)src + r * rs, rs, ks, rows - r, kc, w);
}

void pack_bf16_to_f32(void* dst, const void* src, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w) {
  for (int64_t r = 0; r < rows; r += w)
    pack_bf16_to_f32_panel((float*)dst + r * kc, (const uint16_t*)src + r * rs, rs, ks, rows - r, kc, w);
}

void pack_bf16_pairs(void* dst, const void* src, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w) {
  const int64_t kp = (kc + 1) / 2;
  for (int64_t r = 0; r < rows; r += w)
    pack_bf16_pairs_panel((uint32_t*)dst + r * kp, (const uint16_t*)src + r * rs, rs, ks, rows - r, kc, w);
}

// Packed blocks live in a per-calling-thread scratch, so repeated calls do not page-fault fresh mmaps.
static thread_local AlignedScratch t_pack;

static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Work below this many multiply-adds (~40 µs on one core) runs on the calling thread: waking the
// pool and the barriers cost tens of µs when the workers sleep (OMP_WAIT_POLICY=passive) or the
// machine is shared.
constexpr double kMinParallelMacs = 1 << 22;

// Thread grid tm × tn over nthr threads: split M tiles while each thread gets at least two, the
// N panels otherwise. Threads beyond tm·tn (more threads than panels) stay idle.
static void thread_grid(int nthr, int64_t m_tiles, int64_t panels, int* tm, int* tn) {
  int m = nthr;
  while (m > 1 && (nthr % m != 0 || m_tiles < 2 * m)) m--;
  *tm = m;
  *tn = (int)(nthr / m < panels ? nthr / m : panels);
}

void gemm_blocked(const Kit& kit, float* c, const Operand& a, const Operand& b, int64_t M, int64_t N, int64_t K,
                  int accumulate) {
  const int64_t mr = kit.mr, nr = kit.nr, kstep = kit.kstep;
  const int64_t m_tiles = ceil_div(M, mr);
  const int64_t kp_max = ceil_div(K < kit.kc ? K : kit.kc, kstep);
  const int64_t np_max = ceil_div(N < kit.nc ? N : kit.nc, nr);
  const int nt = (double)M * N * K < kMinParallelMacs ? 1 : omp_get_max_threads();

  // Two shared B blocks (block i packs into buffer i % 2, so packing the next one never races with
  // threads still reading the last, and one barrier per block suffices), then one A block
  // (≤ kit.mc rows) per thread.
  const size_t b_bytes = (size_t)(kp_max * np_max * nr) * 4;
  const size_t a_bytes = (size_t)(kp_max * ceil_div(kit.mc, mr) * mr) * 4;
  char* buf = (char*)t_pack.get(2 * b_bytes + a_bytes * nt);

#pragma omp parallel num_threads(nt)
  {
    // The grid uses the threads OpenMP actually gave, which may be fewer than asked for.
    const int tid = omp_get_thread_num();
    int tm, tn;
    thread_grid(omp_get_num_threads(), m_tiles, np_max, &tm, &tn);
    const bool active = tid < tm * tn;
    const int ti = tid / tn, tj = tid % tn;
    float* apack = (float*)(buf + 2 * b_bytes + a_bytes * tid);
    int64_t block = 0;
    const int64_t tile0 = active ? m_tiles * ti / tm : 0, tile1 = active ? m_tiles * (ti + 1) / tm : 0;
    // A blocks: equal runs of whole tiles, each ≤ kit.mc rows.
    const int64_t mc_blocks = ceil_div((tile1 - tile0) * mr, kit.mc);
    const int64_t mc_tiles = mc_blocks > 0 ? ceil_div(tile1 - tile0, mc_blocks) : 1;
    alignas(64) float edge[16 * 64];  // one partial C tile; every kit has mr·nr ≤ 16·64

    for (int64_t jc = 0; jc < N; jc += kit.nc) {
      const int64_t nc = N - jc < kit.nc ? N - jc : kit.nc;
      const int64_t np = ceil_div(nc, nr);
      const int64_t p0 = active ? np * tj / tn : 0, p1 = active ? np * (tj + 1) / tn : 0;
      for (int64_t pc = 0; pc < K; pc += kit.kc, block++) {
        const int64_t kc = K - pc < kit.kc ? K - pc : kit.kc;
        const int64_t kp = ceil_div(kc, kstep);
        const int load_c = accumulate || pc > 0;
        float* bpack = (float*)(buf + (block % 2) * b_bytes);

        {  // B block: each thread packs a contiguous run of panels, then all wait for the whole block
          const int nthr = omp_get_num_threads();
          const int64_t q0 = np * tid / nthr, q1 = np * (tid + 1) / nthr;
          if (q1 > q0) {
            const int64_t j = jc + q0 * nr;
            b.pack(bpack + q0 * kp * nr, (const char*)b.p + (j * b.rs + pc * b.ks) * b.elem_bytes, b.rs, b.ks,
                   std::min(N, jc + q1 * nr) - j, kc, (int)nr);
          }
        }
#pragma omp barrier

        for (int64_t t0 = tile0; t0 < tile1; t0 += mc_tiles) {
          const int64_t t1 = t0 + mc_tiles < tile1 ? t0 + mc_tiles : tile1;
          a.pack(apack, (const char*)a.p + (t0 * mr * a.rs + pc * a.ks) * a.elem_bytes, a.rs, a.ks,
                 std::min(M, t1 * mr) - t0 * mr, kc, (int)mr);
          for (int64_t p = p0; p < p1; p++) {
            const int64_t j = jc + p * nr;
            const int64_t cols = N - j < nr ? N - j : nr;
            const float* bp = bpack + p * kp * nr;
            for (int64_t t = t0; t < t1; t++) {
              const int64_t i = t * mr;
              const int64_t rows = M - i < mr ? M - i : mr;
              const float* ap = apack + (t - t0) * kp * mr;
              float* cp = c + i * N + j;
              if (rows == mr && cols == nr) {
                kit.kernel(kp, ap, bp, cp, N, load_c);
              } else {
                kit.kernel(kp, ap, bp, edge, nr, 0);
                for (int64_t r = 0; r < rows; r++)
                  for (int64_t q = 0; q < cols; q++)
                    cp[r * N + q] = load_c ? cp[r * N + q] + edge[r * nr + q] : edge[r * nr + q];
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace gemm
}  // namespace rrt
