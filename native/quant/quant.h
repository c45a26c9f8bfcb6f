// Block-quantized weights (q8_0, q4_0) and the kernels that multiply by them: the layout shared by
// the portable entry points (quant.cpp) and the per-ISA dot kernels (quant_*.cpp). Plain C types
// only, so ISA translation units can include it.
//
// Values: GGUF's block types. A block is 32 consecutive values of one weight row with one f16
// scale d: q8_0 holds int8 q (value = d·q), q4_0 holds 4-bit q in [0, 15] (value = d·(q − 8)).
//
// Packed layout (what kernels read; same bytes as GGUF, rearranged once at load): the rows of
// W [N, K] go in panels of 16 (the last padded with zero rows), and each panel stores, block by
// block along K, a panel-block:
//   16 f16 scales, one per row of the panel (32 bytes), then the 16 rows' values interleaved in
//   4-byte groups: 64-byte vectors whose lane c (4 bytes) belongs to row c of the panel.
//   q8_0: 8 vectors; vector g, lane c = values 4g .. 4g+3 of row c, stored as q + 128 (unsigned).
//   q4_0: 4 vectors; vector h, lane c, byte i = GGUF's byte 4h+i of row c's block: the low nibble
//         is value 4h+i, the high nibble value 16+4h+i.
// One int8 dot instruction then adds 4 products into each of 16 lanes, one lane per output column,
// so a 16-column tile needs no horizontal sums (the GGUF layout needs one per block).
//
// Activations are quantized per row and block to int8 like the weights (q = round-half-even(x/d),
// d = max|x|/127): the dot product of a block is exact in int32, scaled by d_w·d_x in fp32.
#pragma once
#include <cstdint>

namespace rrt {
namespace quant {

enum class QType : int { q4_0 = 2, q8_0 = 8 };  // GGUF's type ids

constexpr int64_t kBlock = 32;  // values per block
constexpr int64_t kPanel = 16;  // weight rows per panel

constexpr int64_t ggml_block_bytes(QType t) { return t == QType::q8_0 ? 34 : 18; }
// One panel-block: 16 scales + 16 rows × one block of values.
constexpr int64_t panel_block_bytes(QType t) { return kPanel * ggml_block_bytes(t); }
constexpr int64_t panels(int64_t N) { return (N + kPanel - 1) / kPanel; }
constexpr int64_t packed_bytes(QType t, int64_t N, int64_t K) { return panels(N) * (K / kBlock) * panel_block_bytes(t); }
// Stored values are unsigned: the kernels subtract this times Σx of the block.
constexpr int32_t value_offset(QType t) { return t == QType::q8_0 ? 128 : 8; }

// M activation rows quantized per block: q [M, K] int8, d and s [M, K/32] (scale, Σq of the block).
struct QRows {
  const int8_t* q;
  const float* d;
  const int32_t* s;
  int64_t M, K;
};

// c[m, n] (+)= Σ_b d_w[n,b]·d_x[m,b]·(q_x[m]·q_w[n] over block b), for the rows of x and the
// columns [n0, n1) (c has N columns). A range that cuts a panel computes the whole panel and
// stores its own columns; every column's bits are independent of the split.
typedef void (*qgemv_fn)(float* c, const QRows& x, const uint8_t* w, QType t, int64_t N, int64_t n0, int64_t n1,
                         int accumulate);
void qgemv_scalar(float* c, const QRows& x, const uint8_t* w, QType t, int64_t N, int64_t n0, int64_t n1,
                  int accumulate);
void qgemv_avx2(float* c, const QRows& x, const uint8_t* w, QType t, int64_t N, int64_t n0, int64_t n1,
                int accumulate);
void qgemv_avx512vnni(float* c, const QRows& x, const uint8_t* w, QType t, int64_t N, int64_t n0, int64_t n1,
                      int accumulate);

// Quantizes rows of x [M, K] (K a multiple of 32) into q, d, s; the same bits on every ISA.
void quantize_rows(int8_t* q, float* d, int32_t* s, const float* x, int64_t M, int64_t K);
void quantize_rows_avx512(int8_t* q, float* d, int32_t* s, const float* x, int64_t M, int64_t K);

// The active ISA's kernel (quant.cpp): VNNI needs AVX512-VNNI on top of the avx512 level; an
// AVX-512 CPU without it takes the AVX2 kernel.
qgemv_fn active_qgemv();
// Its name, for `rrt info --cpu`: "avx512-vnni", "avx2" or "scalar".
const char* active_qgemv_name();

// quantize_rows on the active ISA (the same bits on each).
void quantize_act(int8_t* q, float* d, int32_t* s, const float* x, int64_t M, int64_t K);

// C[M, N] (+)= A[M, K]·Wᵀ, W packed; threads split the panels (inputs validated by the caller).
void linear_q_run(float* c, const float* a, const uint8_t* w, QType t, int64_t M, int64_t N, int64_t K,
                  bool accumulate);

// Thread t's share [*n0, *n1) of N columns, in whole panels.
static inline void panel_slice(int64_t N, int t, int nt, int64_t* n0, int64_t* n1) {
  const int64_t P = panels(N), a = P * t / nt * kPanel, b = P * (t + 1) / nt * kPanel;
  *n0 = a < N ? a : N;
  *n1 = b < N ? b : N;
}

}  // namespace quant
}  // namespace rrt
