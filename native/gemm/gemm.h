// GEMM family: the prototypes shared by the portable files (gemm.cpp entry points,
// gemm_driver.cpp blocking/packing, gemm_scalar.cpp) and the per-ISA kernel files.
// Plain C types only, so ISA files can include it without pulling in any STL.
// Legend: M rows of C, N columns of C, K the reduction; every array is row-major.
#pragma once
#include <cstddef>
#include <cstdint>

namespace rrt {
namespace gemm {

// ---- blocked GEMM (gemm_driver.cpp) ----

// Micro-kernel: C[mr×nr] (+)= Ã·B̃ over kp packed k-steps, Ã packed [kp][mr], B̃ packed [kp][nr]
// (one packed k-step is one f32, or one bf16 pair). load_c = 0 overwrites C, 1 adds to it.
typedef void (*ukernel_fn)(int64_t kp, const void* a, const void* b, float* c, int64_t ldc, int load_c);

// Packs `rows` operand rows × kc k-values into ceil(rows/w) panels dst[q][kp][w] (the rows of panel q
// are q·w.., missing ones zero-filled). Element (r, k) of the source is src[r·rs + k·ks], in the
// packer's source type; the packed elements are 4 bytes (f32, or a u32 bf16 pair).
typedef void (*pack_fn)(void* dst, const void* src, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w);

// One ISA's micro-kernel with its tile and cache-block sizes (kc counts source k-values).
struct Kit {
  int mr, nr;
  int kc, mc, nc;
  int kstep;  // source k-values per packed k-step: 1 for f32 panels, 2 for bf16 pairs
  ukernel_fn kernel;
};

// An operand seen as rows × K: element (r, k) at p[r·rs + k·ks] (elements of the packer's type).
struct Operand {
  const void* p;
  int64_t rs, ks;
  size_t elem_bytes;
  pack_fn pack;
};

// C[M,N] (+)= A·Bᵀ with A as M×K rows and B as N×K rows (so op(B) is the transpose of the
// N×K view). Threads: OpenMP's current setting; M tiles or N panels are split between them.
void gemm_blocked(const Kit& kit, float* c, const Operand& a, const Operand& b, int64_t M, int64_t N, int64_t K,
                  int accumulate);

// Portable packers (gemm_driver.cpp).
void pack_f32(void* dst, const void* src, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w);
void pack_bf16_to_f32(void* dst, const void* src, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w);
void pack_bf16_pairs(void* dst, const void* src, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w);

// ---- kits, one per ISA ----
extern const Kit kit_f32_scalar;   // gemm_scalar.cpp
extern const Kit kit_f32_avx2;     // gemm_avx2.cpp
extern const Kit kit_f32_avx512;   // gemm_avx512.cpp
extern const Kit kit_bf16_avx512;  // gemm_bf16_avx512.cpp (vdpbf16ps)

// Fast packers for the layouts training uses; pack_t32_avx512 transposes 32-bit units from rows
// contiguous along k (row stride rs units) into dst[kc][w], w ≤ 32.
void pack_t32_avx512(uint32_t* dst, const uint32_t* src, int64_t rs, int64_t rows, int64_t kc, int w);
void pack_f32_avx512(void* dst, const void* src, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w);
void pack_bf16_pairs_avx512(void* dst, const void* src, int64_t rs, int64_t ks, int64_t rows, int64_t kc, int w);

// ---- small-M matrix-vector paths: C[M,N] (+)= A[M,K]·W[N,K]ᵀ for few rows ----
// Each call computes the columns [n0, n1) of C for every row; callers split N between threads.
// Up to these row counts they beat the packing GEMM, which repacks W on every call (measured on
// this Zen 4, 2 threads, SmolLM-135M's projections and its 49152 × 576 head): bf16 1.3-2x at
// 17-32 rows, even or better to 64 (the head 1.3x at 48-64), about even at 96-128; fp32 1.2-1.5x
// at 17-32 rows, slower from 48. Serving batches and prompt chunks live in this range.
constexpr int64_t kGemvMaxRowsF32 = 32;
constexpr int64_t kGemvMaxRowsBf16 = 64;

// Thread t's share [*n0, *n1) of N output columns, in slices of 16 (one cache line of C each).
// Plain arithmetic, no STL: ISA translation units include this header.
static inline void gemv_slice(int64_t N, int t, int nt, int64_t* n0, int64_t* n1) {
  const int64_t slices = (N + 15) / 16, a = slices * t / nt * 16, b = slices * (t + 1) / nt * 16;
  *n0 = a < N ? a : N;
  *n1 = b < N ? b : N;
}
void gemv_f32_scalar(float* c, const float* a, const float* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                     int64_t n1, int accumulate);
void gemv_f32_avx2(float* c, const float* a, const float* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                   int64_t n1, int accumulate);
void gemv_f32_avx512(float* c, const float* a, const float* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                     int64_t n1, int accumulate);
// bf16 A and bf16 W (the caller rounds A once): exact products, fp32 sums. The AVX512-BF16 one
// uses vdpbf16ps (gemv_avx512bf16.cpp); the others widen both operands to fp32.
void gemv_bf16_scalar(float* c, const uint16_t* a, const uint16_t* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                      int64_t n1, int accumulate);
void gemv_bf16_avx2(float* c, const uint16_t* a, const uint16_t* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                    int64_t n1, int accumulate);
void gemv_bf16_avx512(float* c, const uint16_t* a, const uint16_t* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                      int64_t n1, int accumulate);
void gemv_bf16_avx512bf16(float* c, const uint16_t* a, const uint16_t* w, int64_t M, int64_t N, int64_t K,
                          int64_t n0, int64_t n1, int accumulate);

// The active ISA's GEMV of each weight type (one of the above; gemm.cpp), for callers that split N
// between threads themselves. Each column's result does not depend on the split.
typedef void (*gemv_f32_fn)(float* c, const float* a, const float* w, int64_t M, int64_t N, int64_t K, int64_t n0,
                            int64_t n1, int accumulate);
typedef void (*gemv_bf16_fn)(float* c, const uint16_t* a, const uint16_t* w, int64_t M, int64_t N, int64_t K,
                             int64_t n0, int64_t n1, int accumulate);
gemv_f32_fn active_gemv_f32();
gemv_bf16_fn active_gemv_bf16();

// ---- conversions (convert.cpp; the AVX-512 loops in convert_avx512.cpp) ----
// bf16: round to nearest even, NaN stays NaN (quiet bit set). f16: IEEE binary16, nearest even,
// overflow → ±inf, subnormals exact; NaN → quiet NaN keeping the top payload bits.
void f32_to_bf16_n(uint16_t* dst, const float* src, int64_t n);  // one thread, best active ISA
uint16_t f32_to_f16_one(float x);
float f16_to_f32_one(uint16_t h);
void f32_to_bf16_avx512(uint16_t* dst, const float* src, int64_t n);
void bf16_to_f32_avx512(float* dst, const uint16_t* src, int64_t n);
void f32_to_f16_avx512(uint16_t* dst, const float* src, int64_t n);
void f16_to_f32_avx512(float* dst, const uint16_t* src, int64_t n);

}  // namespace gemm
}  // namespace rrt
