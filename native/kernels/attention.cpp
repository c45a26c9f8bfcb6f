// Causal grouped-query attention over a key/value cache, flash-style, optionally with a sliding
// window and logit soft-capping (Gemma 2/3): attention_fwd_f32 and attention_bwd_f32 (contract in
// src/tensor/kernels.ts; reference in src/tensor/ref/attention.ts).
// This file checks arguments, splits the work into blocks of ≤ R query rows that share a kv head
// (R = 16, 8 or 4 lanes by ISA), runs them on the OpenMP pool and picks the ISA build of the
// block kernels (attention_impl.h). No T×S matrix exists: scores live in one (64 × R) tile per
// thread; other scratch is O(R·Dh) per thread (per block for decode), plus T·H floats in backward.
// A single query (T = 1, one decode step) takes decode_heads instead: lanes over the head dim, the
// scores of one head at a time (S floats), threads over heads; the fused decode layer uses it too.
// Legend: T queries, S keys, H query heads, Hkv key/value heads, Dh head dim, G = H/Hkv.
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "check.h"
#include "cpu.h"
#include "kernels/attention.h"
#include "kernels/attention_args.h"
#include "registry.h"

// The baseline x86-64 (SSE2) build of the block kernels: 4 lanes.
#define RRT_ATTN_NS attn_base
#define RRT_ATTN_LANES 4
#include "kernels/attention_impl.h"
#undef RRT_ATTN_NS
#undef RRT_ATTN_LANES

namespace rrt {

namespace {

struct FwdFns {
  int lanes;
  void (*begin)(const AttnProblem&, const AttnBlock&, float*);
  void (*keys)(const AttnProblem&, const AttnBlock&, int64_t, int64_t, float*, float*);
};
struct BwdFns {
  int lanes;
  void (*dq)(float*, float*, const AttnProblem&, const AttnBlock&, float*);
  void (*dkv)(float*, float*, const float*, const AttnProblem&, int64_t, int64_t, float*);
};

FwdFns pick_fwd() {
  switch (active_isa()) {
    case Isa::avx512:
    case Isa::avx512bf16: return {attn_avx512::lanes, attn_avx512::fwd_begin, attn_avx512::fwd_keys};
    case Isa::avx2: return {attn_avx2::lanes, attn_avx2::fwd_begin, attn_avx2::fwd_keys};
    default: return {attn_base::lanes, attn_base::fwd_begin, attn_base::fwd_keys};
  }
}

BwdFns pick_bwd() {
  switch (active_isa()) {
    case Isa::avx512:
    case Isa::avx512bf16: return {attn_avx512::lanes, attn_avx512::bwd_dq_block, attn_avx512::bwd_dkv_block};
    case Isa::avx2: return {attn_avx2::lanes, attn_avx2::bwd_dq_block, attn_avx2::bwd_dkv_block};
    default: return {attn_base::lanes, attn_base::bwd_dq_block, attn_base::bwd_dkv_block};
  }
}

// Scratch or block states, 64-byte aligned for the block kernels.
struct Scratch {
  std::vector<float> buf;
  explicit Scratch(int64_t floats) : buf((size_t)floats + 16) {}
  float* data() {
    auto a = (reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t(63);
    return reinterpret_cast<float*>(a);
  }
};

// The query rows of each kv head, cut into blocks of ≤ R rows: nh heads of the group (all G of
// them when G ≤ R, so decode reads each kv head once for the whole group) times nt consecutive
// queries. Later queries attend more keys, so they come first (longest work first).
std::vector<AttnBlock> make_blocks(int64_t T, int64_t H, int64_t Hkv, int R) {
  const int64_t G = H / Hkv;
  std::vector<AttnBlock> blocks;
  for (int64_t kvh = 0; kvh < Hkv; kvh++)
    for (int64_t g0 = 0; g0 < G; g0 += R) {
      const int64_t nh = std::min<int64_t>(R, G - g0), nt = R / nh;
      for (int64_t t0 = 0; t0 < T; t0 += nt) blocks.push_back({kvh * G + g0, nh, t0, std::min(nt, T - t0)});
    }
  std::stable_sort(blocks.begin(), blocks.end(),
                   [](const AttnBlock& a, const AttnBlock& b) { return a.t0 + a.nt > b.t0 + b.nt; });
  return blocks;
}

// out and lse rows of a block from its state's (m, l, accᵀ).
void write_fwd_rows(float* out, float* lse, const AttnProblem& p, const AttnBlock& b, const float* res, int R) {
  const float *m = res, *l = res + R, *acc = res + 2 * R;
  for (int64_t ti = 0; ti < b.nt; ti++)
    for (int64_t gi = 0; gi < b.nh; gi++) {
      const int64_t t = b.t0 + ti, h = b.h0 + gi, r = ti * b.nh + gi;
      float* row = out + (t * p.H + h) * p.Dh;
      const float inv = 1.0f / l[r];
      for (int64_t d = 0; d < p.Dh; d++) row[d] = acc[d * R + r] * inv;
      if (lse) lse[h * p.T + t] = m[r] + std::log(l[r]);
    }
}

// Merges the (m, l, accᵀ) of one block's key chunks, `stride` floats apart, into the first, as
// the online softmax would have: every chunk is rescaled to the common max.
void merge_partials(float* first, int64_t chunks, int64_t stride, int64_t Dh, int R) {
  for (int r = 0; r < R; r++) {
    float mx = -INFINITY;
    for (int64_t c = 0; c < chunks; c++) mx = std::max(mx, first[c * stride + r]);
    if (mx == -INFINITY) continue;  // padding lane
    float l = 0.0f;
    for (int64_t c = 0; c < chunks; c++) {
      const float* part = first + c * stride;
      const float w = std::exp(part[r] - mx);
      l += w * part[R + r];
      for (int64_t d = 0; d < Dh; d++) {
        float& acc = first[2 * R + d * R + r];
        acc = (c == 0 ? 0.0f : acc) + w * part[2 * R + d * R + r];
      }
    }
    first[r] = mx;
    first[R + r] = l;
  }
}

// Shared size checks: H % Hkv, pos0 + T ≤ S, Dh ≥ 1, a scale that fits a float, window and
// softcap. Fills the problem's sizes and options (the caller adds the arrays) and S.
AttnProblem check_sizes(const Args& a, size_t i0, int64_t& S) {
  AttnProblem p{};
  p.T = a.size(i0, "T");
  S = a.size(i0 + 1, "S");
  p.H = a.size(i0 + 2, "H");
  p.Hkv = a.size(i0 + 3, "Hkv");
  p.Dh = a.size(i0 + 4, "Dh");
  p.pos0 = a.size(i0 + 5, "pos0");
  const double scale = a.number(i0 + 6, "scale");
  if (p.Hkv < 1) a.range_error("Hkv must be ≥ 1, got %lld", (long long)p.Hkv);
  if (p.H < 1 || p.H % p.Hkv != 0)
    a.range_error("H = %lld must be a positive multiple of Hkv = %lld", (long long)p.H, (long long)p.Hkv);
  if (p.Dh < 1) a.range_error("Dh must be ≥ 1, got %lld", (long long)p.Dh);
  if (p.pos0 + p.T > S)
    a.range_error("pos0 + T = %lld exceeds the S = %lld keys in the cache", (long long)(p.pos0 + p.T), (long long)S);
  if (!std::isfinite((float)scale)) a.range_error("scale %g does not fit a float", scale);
  p.scale = (float)scale;
  p.window = check_window(a, i0 + 7);
  p.softcap = check_softcap(a, i0 + 8);
  return p;
}

// A float array the kernel touches: n elements from p.
struct Buf {
  const void* p;
  int64_t n;
  const char* name;
};

// An output must share no memory with what the kernel reads or with another output.
void check_disjoint(const Args& a, Buf out, std::initializer_list<Buf> others) {
  for (const Buf& x : others) a.no_overlap(out.p, out.n * 4, out.name, x.p, x.n * 4, x.name);
}

}  // namespace

void attention_decode_heads(float* out, float* lse, const AttnProblem& p, int64_t h0, int64_t h1, float* scratch) {
  switch (active_isa()) {
    case Isa::avx512:
    case Isa::avx512bf16:
      // decode puts the head dim in the lanes: a head dim of 8, 24, 40 … leaves 8 dims to a scalar
      // loop with 16 lanes (all of them at 8) and none with 8 lanes (stories260K, 16 rows × 8 heads ×
      // 50 keys: 77 → 21 µs)
      if (p.Dh % 16 != 0 && p.Dh % 8 == 0) return attn_avx2::decode_heads(out, lse, p, h0, h1, scratch);
      return attn_avx512::decode_heads(out, lse, p, h0, h1, scratch);
    case Isa::avx2: return attn_avx2::decode_heads(out, lse, p, h0, h1, scratch);
    default: return attn_base::decode_heads(out, lse, p, h0, h1, scratch);
  }
}

// Decode attention below this many multiply-adds (H·S·Dh, about 20 µs on one core) per thread stays
// on one thread: waking the pool costs several µs.
constexpr double kMinParallelDecode = 1 << 18;

// attention_fwd_f32(out, lse|null, q, k, v, T, S, H, Hkv, Dh, pos0, scale, window, softcap)
static Napi::Value js_attention_fwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "attention_fwd_f32", 14);
  int64_t S;
  AttnProblem p = check_sizes(a, 5, S);
  const int64_t nq = a.mul(p.T, p.H, p.Dh), nkv = a.mul(S, p.Hkv, p.Dh), nl = a.mul(p.H, p.T);
  float* out = a.f32(0, "out", nq, "T·H·Dh");
  float* lse = a.f32_opt(1, "lse", nl, "H·T");
  p.q = a.f32(2, "q", nq, "T·H·Dh");
  p.k = a.f32(3, "k", nkv, "S·Hkv·Dh");
  p.v = a.f32(4, "v", nkv, "S·Hkv·Dh");
  const Buf q{p.q, nq, "q"}, k{p.k, nkv, "k"}, v{p.v, nkv, "v"};
  check_disjoint(a, {out, nq, "out"}, {q, k, v, {lse, lse ? nl : 0, "lse"}});
  if (lse) check_disjoint(a, {lse, nl, "lse"}, {q, k, v});
  if (p.T == 0) return info.Env().Undefined();

  if (p.T == 1) {  // decode: one query per head, vectorised over the head dim
    const int64_t keys = attn_decode_keys(p.pos0, p.window);
    const int64_t heads_per_thread = std::max<int64_t>(1, (int64_t)(kMinParallelDecode / ((double)keys * p.Dh)));
    const int nt = (int)std::min<int64_t>(omp_get_max_threads(), (p.H + heads_per_thread - 1) / heads_per_thread);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      Scratch scratch(attn_decode_scratch_floats(keys, p.Dh));
      const int t = omp_get_thread_num(), n = omp_get_num_threads();
      attention_decode_heads(out, lse, p, p.H * t / n, p.H * (t + 1) / n, scratch.data());
    }
    return info.Env().Undefined();
  }

  const FwdFns fwd = pick_fwd();
  const std::vector<AttnBlock> blocks = make_blocks(p.T, p.H, p.Hkv, fwd.lanes);
  const int64_t nblocks = (int64_t)blocks.size(), keys = p.pos0 + p.T, state = attn_fwd_state_floats(p.Dh, fwd.lanes);
  const int64_t seen = p.window > 0 ? std::min(keys, p.window) : keys;  // keys per query, at most
  const bool threaded = (double)p.T * (double)p.H * (double)seen * (double)p.Dh > 65536.0;
  const bool decode = std::all_of(blocks.begin(), blocks.end(), [](const AttnBlock& b) { return b.t0 == 0; });

  if (!decode) {
#pragma omp parallel if (threaded)
    {
      Scratch st(state + attn_fwd_tile_floats(fwd.lanes));
#pragma omp for schedule(dynamic, 1)
      for (int64_t bi = 0; bi < nblocks; bi++) {
        fwd.begin(p, blocks[bi], st.data());
        fwd.keys(p, blocks[bi], 0, keys, st.data(), st.data() + state);
        write_fwd_rows(out, lse, p, blocks[bi], st.data(), fwd.lanes);
      }
    }
    return info.Env().Undefined();
  }

  // Decode-like (each block holds all T queries of its heads: one block per head group, many
  // keys): threads split the keys instead of the blocks, and each walks its key chunk one tile
  // at a time through every block, so the cache is read in memory order (all kv heads of a tile)
  // rather than one strided head at a time. Chunks are merged afterwards. With a window, keys
  // before the first query's window are left out of the chunks.
  constexpr int64_t kMinChunkKeys = 256;
  const int64_t klo = attn_first_key(p.pos0, p.window), span = keys - klo;
  const int64_t want = threaded ? std::min<int64_t>(omp_get_max_threads(), (span + kMinChunkKeys - 1) / kMinChunkKeys) : 1;
  const int64_t chunk_keys = ((span + want - 1) / want + kAttnKeyTile - 1) / kAttnKeyTile * kAttnKeyTile;
  const int64_t chunks = (span + chunk_keys - 1) / chunk_keys;
  Scratch states(chunks * nblocks * state);
#pragma omp parallel for num_threads((int)chunks) schedule(static, 1)
  for (int64_t c = 0; c < chunks; c++) {
    Scratch tile(attn_fwd_tile_floats(fwd.lanes));
    float* mine = states.data() + c * nblocks * state;
    for (int64_t bi = 0; bi < nblocks; bi++) fwd.begin(p, blocks[bi], mine + bi * state);
    const int64_t end = std::min(keys, klo + (c + 1) * chunk_keys);
    for (int64_t jt = klo + c * chunk_keys; jt < end; jt += kAttnKeyTile)
      for (int64_t bi = 0; bi < nblocks; bi++)
        fwd.keys(p, blocks[bi], jt, std::min(end, jt + kAttnKeyTile), mine + bi * state, tile.data());
  }
  for (int64_t bi = 0; bi < nblocks; bi++) {
    float* first = states.data() + bi * state;
    if (chunks > 1) merge_partials(first, chunks, nblocks * state, p.Dh, fwd.lanes);
    write_fwd_rows(out, lse, p, blocks[bi], first, fwd.lanes);
  }
  return info.Env().Undefined();
}

// attention_bwd_f32(dq, dk, dv, dout, q, k, v, out, lse, T, S, H, Hkv, Dh, pos0, scale, window, softcap)
// Two passes, each free of write conflicts (FlashAttention-2 recomputation, no atomics, results
// independent of the thread count): query blocks compute dq (and D = dout·out per row); then
// blocks of R keys of one kv head compute dk, dv from every query row of the group that sees
// them. Scores and dP are recomputed in both passes (7 matrix products instead of 5).
static Napi::Value js_attention_bwd_f32(const Napi::CallbackInfo& info) {
  Args a(info, "attention_bwd_f32", 18);
  int64_t S;
  AttnProblem p = check_sizes(a, 9, S);
  const int64_t nq = a.mul(p.T, p.H, p.Dh), nkv = a.mul(S, p.Hkv, p.Dh), nl = a.mul(p.H, p.T);
  float* dq = a.f32(0, "dq", nq, "T·H·Dh");
  float* dk = a.f32(1, "dk", nkv, "S·Hkv·Dh");
  float* dv = a.f32(2, "dv", nkv, "S·Hkv·Dh");
  p.dout = a.f32(3, "dout", nq, "T·H·Dh");
  p.q = a.f32(4, "q", nq, "T·H·Dh");
  p.k = a.f32(5, "k", nkv, "S·Hkv·Dh");
  p.v = a.f32(6, "v", nkv, "S·Hkv·Dh");
  p.out = a.f32(7, "out", nq, "T·H·Dh");
  p.lse = a.f32(8, "lse", nl, "H·T");
  const Buf g{p.dout, nq, "dout"}, q{p.q, nq, "q"}, k{p.k, nkv, "k"}, v{p.v, nkv, "v"}, o{p.out, nq, "out"},
      l{p.lse, nl, "lse"}, dkb{dk, nkv, "dk"}, dvb{dv, nkv, "dv"};
  check_disjoint(a, {dq, nq, "dq"}, {g, q, k, v, o, l, dkb, dvb});
  check_disjoint(a, dkb, {g, q, k, v, o, l, dvb});
  check_disjoint(a, dvb, {g, q, k, v, o, l});
  if (p.T == 0) return info.Env().Undefined();

  const BwdFns bwd = pick_bwd();
  const std::vector<AttnBlock> blocks = make_blocks(p.T, p.H, p.Hkv, bwd.lanes);
  const int64_t nblocks = (int64_t)blocks.size(), keys = p.pos0 + p.T;
  // key blocks from the one holding the first query's first key: earlier keys get no gradient
  const int64_t kb0 = attn_first_key(p.pos0, p.window) / bwd.lanes, key_blocks = (keys + bwd.lanes - 1) / bwd.lanes - kb0;
  const int64_t seen = p.window > 0 ? std::min(keys, p.window) : keys;
  const bool threaded = (double)p.T * (double)p.H * (double)seen * (double)p.Dh > 65536.0;
  std::vector<float> rowdot((size_t)nl);

#pragma omp parallel if (threaded)
  {
    Scratch scratch(attn_bwd_scratch_floats(p.Dh, bwd.lanes));
#pragma omp for schedule(dynamic, 1)
    for (int64_t bi = 0; bi < nblocks; bi++) bwd.dq(dq, rowdot.data(), p, blocks[bi], scratch.data());
    // Early keys are seen by more queries: with j0 ascending the longest items go first.
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < key_blocks * p.Hkv; item++)
      bwd.dkv(dk, dv, rowdot.data(), p, item % p.Hkv, (kb0 + item / p.Hkv) * bwd.lanes, scratch.data());
  }
  return info.Env().Undefined();
}

// A paged call covers a whole step's decode rows, whose keys are usually cold (the weights pass
// through the cache between layers): threads pay off sooner than for one cache-warm row.
constexpr double kMinParallelPagedDecode = 1 << 16;

// attention_decode_paged_f32(out, q, k_pool, v_pool, pages, page_start, pos, rows, H, Hkv, Dh, page_rows, scale,
//                            window, softcap)
// One query per row (decode) against a paged KV pool, without gathering it: row r is the token at
// position pos[r] of a sequence whose page table is pages[page_start[r] ..]; it attends to keys
// 0..pos[r] (with a window, the last `window` of them). out, q: (rows, H, Dh); pools: (pool pages ·
// page_rows, Hkv, Dh). The same bits as attention_fwd_f32 with T = 1 on the gathered keys. Every
// page index it reads is checked against the pool; table entries wholly before a row's window are
// neither read nor checked (a pool may have reused those pages).
static Napi::Value js_attention_decode_paged_f32(const Napi::CallbackInfo& info) {
  Args a(info, "attention_decode_paged_f32", 15);
  const int64_t rows = a.size(7, "rows"), H = a.size(8, "H"), Hkv = a.size(9, "Hkv"), Dh = a.size(10, "Dh");
  const int64_t P = a.size(11, "page_rows");
  const double scale = a.number(12, "scale");
  if (Hkv < 1) a.range_error("Hkv must be ≥ 1, got %lld", (long long)Hkv);
  if (H < 1 || H % Hkv != 0) a.range_error("H = %lld must be a positive multiple of Hkv = %lld", (long long)H, (long long)Hkv);
  if (Dh < 1) a.range_error("Dh must be ≥ 1, got %lld", (long long)Dh);
  if (P < 16 || P % 16 != 0) a.range_error("page_rows must be a positive multiple of 16, got %lld", (long long)P);
  if (!std::isfinite((float)scale)) a.range_error("scale %g does not fit a float", scale);
  const int64_t window = check_window(a, 13);
  const float softcap = check_softcap(a, 14);
  const int64_t nq = a.mul(rows, H, Dh), page_floats = a.mul(P, Hkv, Dh);
  float* out = a.f32(0, "out", nq, "rows·H·Dh");
  const float* q = a.f32(1, "q", nq, "rows·H·Dh");
  const float* k_pool = a.f32(2, "k_pool", 0);
  const int64_t pool_floats = a.length(2);
  if (pool_floats % page_floats != 0)
    a.range_error("k_pool has %lld elements, not a whole number of pages of page_rows·Hkv·Dh = %lld", (long long)pool_floats, (long long)page_floats);
  const int64_t pool_pages = pool_floats / page_floats;
  const float* v_pool = a.f32(3, "v_pool", pool_floats, "the k_pool length");
  const int32_t* pages = a.i32(4, "pages", 0);
  const int64_t n_pages = a.length(4);
  const int32_t* page_start = a.i32(5, "page_start", rows, "rows");
  const int32_t* pos = a.i32(6, "pos", rows, "rows");
  for (int64_t r = 0; r < rows; r++) {
    if (pos[r] < 0) a.range_error("pos[%lld] = %d is negative", (long long)r, pos[r]);
    const int64_t used = ((int64_t)pos[r] + P) / P;  // pages holding positions 0..pos[r]
    if (page_start[r] < 0 || page_start[r] + used > n_pages)
      a.range_error("row %lld needs pages[%d .. %lld), but pages has %lld entries", (long long)r, page_start[r],
                    (long long)(page_start[r] + used), (long long)n_pages);
    for (int64_t i = attn_first_key(pos[r], window) / P; i < used; i++) {
      const int32_t pg = pages[page_start[r] + i];
      if (pg < 0 || pg >= pool_pages)
        a.range_error("row %lld: page %d outside the pool's %lld pages", (long long)r, pg, (long long)pool_pages);
    }
  }
  const Buf o{out, nq, "out"};
  check_disjoint(a, o, {{q, nq, "q"}, {k_pool, pool_floats, "k_pool"}, {v_pool, pool_floats, "v_pool"}, {pages, n_pages, "pages"},
                       {page_start, rows, "page_start"}, {pos, rows, "pos"}});

  // (row, head) units split between threads when the whole call is worth a fork
  double work = 0;
  int64_t max_keys = 0;
  for (int64_t r = 0; r < rows; r++) {
    const int64_t keys = attn_decode_keys(pos[r], window);
    work += (double)keys * H * Dh;
    max_keys = std::max(max_keys, keys);
  }
  const int64_t units = rows * H;
  const int nt = (int)std::min<int64_t>(omp_get_max_threads(), std::max<int64_t>(1, (int64_t)(work / kMinParallelPagedDecode)));
#pragma omp parallel num_threads(std::max<int64_t>(1, std::min<int64_t>(nt, units))) if (nt > 1)
  {
    Scratch scratch(attn_decode_scratch_floats(max_keys, Dh));
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    for (int64_t u = units * t / n, end = units * (t + 1) / n; u < end;) {
      const int64_t r = u / H, h0 = u % H, h1 = std::min(H, h0 + (end - u));
      AttnProblem p{};
      p.q = q + r * H * Dh, p.k = k_pool, p.v = v_pool;
      p.T = 1, p.H = H, p.Hkv = Hkv, p.Dh = Dh, p.pos0 = pos[r], p.scale = (float)scale, p.window = window, p.softcap = softcap;
      p.pages = pages + page_start[r], p.page_rows = P;
      attention_decode_heads(out + r * H * Dh, nullptr, p, h0, h1, scratch.data());
      u += h1 - h0;
    }
  }
  return info.Env().Undefined();
}

RRT_EXPORT("attention_fwd_f32", js_attention_fwd_f32);
RRT_EXPORT("attention_decode_paged_f32", js_attention_decode_paged_f32);
RRT_EXPORT("attention_bwd_f32", js_attention_bwd_f32);

}  // namespace rrt
