// Shared by the attention driver (attention.cpp) and the per-ISA builds of its block kernels
// (attention_impl.h): the problem, the unit of work, and the scratch each unit needs.
// Plain C++ with no STL, so ISA-targeted files may include it.
// Legend: T queries, S keys, H query heads, Hkv key/value heads, Dh head dim, G = H/Hkv,
// R lanes: the native vector width of the ISA build in floats (16 AVX-512, 8 AVX2, 4 baseline).
#pragma once
#include <cstdint>

namespace rrt {

// Keys per tile: scores for one tile are the only score storage (kAttnKeyTile × R floats).
constexpr int kAttnKeyTile = 64;

struct AttnProblem {
  const float* q;     // (T, H, Dh)
  const float* k;     // (S, Hkv, Dh)
  const float* v;     // (S, Hkv, Dh)
  const float* dout;  // (T, H, Dh)  backward only
  const float* out;   // (T, H, Dh)  backward only
  const float* lse;   // (H, T)      backward only
  int64_t T, H, Hkv, Dh, pos0;
  float scale;
  // Sliding window (0: none): the query at position P sees keys j with P − window < j ≤ P, at most
  // `window` keys counting itself (transformers' sliding_window). Keys before the window of a
  // block's first query are not read (decode scores from the group of R keys holding its first
  // key, on the same page, and masks the ones before it).
  int64_t window;
  // Logit soft-capping (0: none): a score x = scale·q·k becomes softcap·tanh(x / softcap) before
  // the mask and the softmax (Gemma 2).
  float softcap;
  // decode_heads only, when non-null: k and v are a paged pool, and key j lives in pool row
  // pages[j / page_rows]·page_rows + j % page_rows (page_rows a multiple of 16, so no group of R
  // keys straddles two pages; the results are the bits of the same keys stored contiguously).
  const int32_t* pages;
  int64_t page_rows;
};

// A block of query rows sharing one kv head, one row per lane: lane r = ti·nh + gi is query
// t0+ti of head h0+gi (ti < nt, gi < nh, nt·nh ≤ R; lanes beyond nt·nh are padding, masked).
struct AttnBlock {
  int64_t h0, nh, t0, nt;
};

// Forward state of one block: running max m (R), running sum l (R), unnormalised output accᵀ
// (Dh × R) — together the block's result — then scale·Qᵀ (Dh × R). Plus a (BK × R) score tile.
inline int64_t attn_fwd_state_floats(int64_t Dh, int R) { return 2 * R + 2 * Dh * R; }
inline int64_t attn_fwd_tile_floats(int R) { return kAttnKeyTile * R; }

// The first key the query at position pos sees.
inline int64_t attn_first_key(int64_t pos, int64_t window) { return window > 0 && pos >= window ? pos - window + 1 : 0; }

// Keys a decode query at position pos scores: from its first key rounded down to a multiple of 16
// (a group of R keys then never straddles a page), to pos. pos + 1 without a window.
inline int64_t attn_decode_keys(int64_t pos, int64_t window) { return pos + 1 - attn_first_key(pos, window) / 16 * 16; }

// Decode scratch (one query per head, S keys scored): the scores padded to R lanes, and scale·q.
inline int64_t attn_decode_scratch_floats(int64_t S, int64_t Dh) { return (S + 15) / 16 * 16 + Dh; }

// Backward scratch, either pass: four (Dh × R) transposed tiles and two (BK × R) score tiles.
inline int64_t attn_bwd_scratch_floats(int64_t Dh, int R) { return 4 * Dh * R + 2 * kAttnKeyTile * R; }

// One build per ISA (attention.cpp, attention_avx2.cpp, attention_avx512.cpp). State and scratch
// must be 64-byte aligned.
//   lanes:         R of this build.
//   fwd_begin:     initialises the state of block b.
//   fwd_keys:      online-softmax update of that state with keys [jb, je) ∩ the block's causal
//                  (and window) range.
//   decode_heads:  T = 1 (the query at position pos0 sees keys 0..pos0, or its window of them):
//                  overwrites the out rows of heads [h0, h1) and, when lse is non-null, lse[h];
//                  scratch holds attn_decode_scratch_floats(attn_decode_keys(pos0, window), Dh)
//                  floats (any alignment).
//   bwd_dq_block:  overwrites the dq rows of block b; stores D = dout·out of its rows in rowdot
//                  (T, H) for the second pass.
//   bwd_dkv_block: adds to dk, dv the gradients of keys j0..j0+R−1 of kv head kvh, from every
//                  query row that sees them.
#define RRT_ATTN_DECLARE(ns)                                                                          \
  namespace ns {                                                                                      \
  extern const int lanes;                                                                             \
  void fwd_begin(const AttnProblem& p, const AttnBlock& b, float* state);                            \
  void fwd_keys(const AttnProblem& p, const AttnBlock& b, int64_t jb, int64_t je, float* state,      \
                float* tile);                                                                        \
  void decode_heads(float* out, float* lse, const AttnProblem& p, int64_t h0, int64_t h1, float* scratch); \
  void bwd_dq_block(float* dq, float* rowdot, const AttnProblem& p, const AttnBlock& b, float* scratch); \
  void bwd_dkv_block(float* dk, float* dv, const float* rowdot, const AttnProblem& p, int64_t kvh,     \
                     int64_t j0, float* scratch);                                                     \
  }
RRT_ATTN_DECLARE(attn_base)
RRT_ATTN_DECLARE(attn_avx2)
RRT_ATTN_DECLARE(attn_avx512)
#undef RRT_ATTN_DECLARE

// decode_heads of the active ISA's build (attention.cpp), for callers that split the heads themselves.
void attention_decode_heads(float* out, float* lse, const AttnProblem& p, int64_t h0, int64_t h1, float* scratch);

}  // namespace rrt
